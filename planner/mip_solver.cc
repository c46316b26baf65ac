#include "planner/mip_solver.h"

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace bloodgrid::planner {

int MipModel::AddColumn(double lower, double upper, VariableKind kind, double objective) {
  if (kind == VariableKind::kBinary) {
    lower = std::max(lower, 0.0);
    upper = std::min(upper, 1.0);
  }
  columns_.push_back(Column{lower, upper, kind, objective});
  return static_cast<int>(columns_.size()) - 1;
}

int MipModel::AddRow(double lower, double upper) {
  rows_.push_back(Row{lower, upper, {}});
  return static_cast<int>(rows_.size()) - 1;
}

void MipModel::AddTerm(int row, int column, double coefficient) {
  if (coefficient == 0.0) return;
  rows_[row].terms.emplace_back(column, coefficient);
}

void MipModel::SetObjective(int column, double coefficient) {
  columns_[column].objective = coefficient;
}

void MipModel::ClearObjective() {
  for (Column& column : columns_) column.objective = 0.0;
}

void MipModel::SetColumnUpper(int column, double upper) { columns_[column].upper = upper; }

bool MipModel::has_integers() const {
  return std::any_of(columns_.begin(), columns_.end(),
                     [](const Column& c) { return c.kind != VariableKind::kContinuous; });
}

namespace {

struct ProblemDeleter {
  void operator()(glp_prob* problem) const { glp_delete_prob(problem); }
};
using ProblemPtr = std::unique_ptr<glp_prob, ProblemDeleter>;

// glpk keeps an environment per thread (its memory pool, terminal settings) that deleting the
// problems does not free; plans are solved on whatever thread asks, so each thread that used
// glpk frees its environment when it ends. No problem object outlives SolveMip, so none is
// invalidated by that.
struct GlpkEnvironmentGuard {
  GlpkEnvironmentGuard() = default;
  GlpkEnvironmentGuard(const GlpkEnvironmentGuard&) = delete;
  GlpkEnvironmentGuard& operator=(const GlpkEnvironmentGuard&) = delete;
  ~GlpkEnvironmentGuard() { glp_free_env(); }
};

int BoundType(double lower, double upper) {
  const bool has_lower = std::isfinite(lower);
  const bool has_upper = std::isfinite(upper);
  if (has_lower && has_upper) return lower == upper ? GLP_FX : GLP_DB;
  if (has_lower) return GLP_LO;
  if (has_upper) return GLP_UP;
  return GLP_FR;
}

double Finite(double v) { return std::isfinite(v) ? v : 0.0; }

// State shared with the branch-and-bound callback.
struct SearchState {
  const MipModel* model = nullptr;
  const MipSolveOptions* options = nullptr;
  int rounding_calls = 0;
  int node_limit = 0;
  double absolute_gap = 0.0;
  bool gap_reached = false;
  const std::vector<double>* start = nullptr;  // 1-based copy lives in start_1
  std::vector<double> start_1;
  bool start_offered = false;
};

// Whether `x` satisfies every bound and row of `model` (to a small tolerance): a heuristic's
// solution is offered to the search only then, as GLPK takes it on trust.
bool Feasible(const MipModel& model, const std::vector<double>& x) {
  auto within = [](double v, double lower, double upper) {
    double scale = 1.0;
    if (std::isfinite(lower)) scale = std::max(scale, std::abs(lower));
    if (std::isfinite(upper)) scale = std::max(scale, std::abs(upper));
    const double tolerance = 1e-6 * scale;
    return v >= lower - tolerance && v <= upper + tolerance;
  };
  for (int j = 0; j < model.num_columns(); ++j) {
    const MipModel::Column& c = model.columns()[j];
    if (!std::isfinite(x[j]) || !within(x[j], c.lower, c.upper)) return false;
    if (c.kind != VariableKind::kContinuous && x[j] != std::floor(x[j])) return false;
  }
  for (const MipModel::Row& r : model.rows()) {
    double activity = 0.0;
    for (const auto& [column, coefficient] : r.terms) activity += coefficient * x[column];
    if (!within(activity, r.lower, r.upper)) return false;
  }
  return true;
}

void SearchCallback(glp_tree* tree, void* info) {
  auto* state = static_cast<SearchState*>(info);
  if (glp_ios_reason(tree) == GLP_IHEUR) {
    if (!state->start_offered && !state->start_1.empty() &&
        Feasible(*state->model,
                 std::vector<double>(state->start_1.begin() + 1, state->start_1.end()))) {
      state->start_offered = true;
      glp_ios_heur_sol(tree, state->start_1.data());
    }
    // Rounding at the first nodes only: deeper nodes differ little from their parents.
    constexpr int kRoundingNodes = 8;
    if (state->options->rounding && state->rounding_calls < kRoundingNodes) {
      ++state->rounding_calls;
      glp_prob* lp = glp_ios_get_prob(tree);
      const int n = glp_get_num_cols(lp);
      std::vector<double> relaxed(n);
      for (int j = 0; j < n; ++j) relaxed[j] = glp_get_col_prim(lp, j + 1);
      std::vector<double> rounded = state->options->rounding(relaxed);
      if (static_cast<int>(rounded.size()) == n && Feasible(*state->model, rounded)) {
        rounded.insert(rounded.begin(), 0.0);  // GLPK arrays are 1-based
        glp_ios_heur_sol(tree, rounded.data());
      }
    }
  }
  int active = 0, current = 0, total = 0;
  glp_ios_tree_size(tree, &active, &current, &total);
  if (total >= state->node_limit) {
    glp_ios_terminate(tree);
    return;
  }
  glp_prob* problem = glp_ios_get_prob(tree);
  const int best_node = glp_ios_best_node(tree);
  if (state->absolute_gap > 0.0 && best_node != 0 && glp_mip_status(problem) == GLP_FEAS &&
      glp_mip_obj_val(problem) - glp_ios_node_bound(tree, best_node) <= state->absolute_gap) {
    state->gap_reached = true;
    glp_ios_terminate(tree);
  }
}

absl::StatusOr<ProblemPtr> BuildProblem(const MipModel& model) {
  ProblemPtr problem(glp_create_prob());
  glp_set_obj_dir(problem.get(), GLP_MIN);
  const int n = model.num_columns();
  const int m = static_cast<int>(model.rows().size());
  if (n > 0) glp_add_cols(problem.get(), n);
  if (m > 0) glp_add_rows(problem.get(), m);
  for (int j = 0; j < n; ++j) {
    const MipModel::Column& c = model.columns()[j];
    if (std::isnan(c.lower) || std::isnan(c.upper) || !std::isfinite(c.objective) ||
        c.lower > c.upper) {
      return absl::InternalError(absl::StrCat("planner model: bad column ", j));
    }
    if (c.kind == VariableKind::kBinary) {
      glp_set_col_kind(problem.get(), j + 1, GLP_BV);
    } else if (c.kind == VariableKind::kInteger) {
      glp_set_col_kind(problem.get(), j + 1, GLP_IV);
    }
    glp_set_col_bnds(problem.get(), j + 1, BoundType(c.lower, c.upper), Finite(c.lower),
                     Finite(c.upper));
    glp_set_obj_coef(problem.get(), j + 1, c.objective);
  }
  // GLPK refuses duplicate (row, column) entries: merge them first.
  std::vector<int> ia{0}, ja{0};
  std::vector<double> ar{0.0};
  for (int i = 0; i < m; ++i) {
    const MipModel::Row& r = model.rows()[i];
    if (std::isnan(r.lower) || std::isnan(r.upper) || r.lower > r.upper) {
      return absl::InternalError(absl::StrCat("planner model: bad row ", i));
    }
    glp_set_row_bnds(problem.get(), i + 1, BoundType(r.lower, r.upper), Finite(r.lower),
                     Finite(r.upper));
    std::vector<std::pair<int, double>> terms = r.terms;
    std::sort(terms.begin(), terms.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t t = 0; t < terms.size();) {
      const int column = terms[t].first;
      double sum = 0.0;
      for (; t < terms.size() && terms[t].first == column; ++t) sum += terms[t].second;
      if (column < 0 || column >= n || !std::isfinite(sum)) {
        return absl::InternalError(absl::StrCat("planner model: bad term in row ", i));
      }
      if (sum == 0.0) continue;
      ia.push_back(i + 1);
      ja.push_back(column + 1);
      ar.push_back(sum);
    }
  }
  glp_load_matrix(problem.get(), static_cast<int>(ia.size()) - 1, ia.data(), ja.data(), ar.data());
  return problem;
}

absl::Status SolveRelaxation(glp_prob* problem, absl::Duration time_limit) {
  glp_smcp params;
  glp_init_smcp(&params);
  params.msg_lev = GLP_MSG_OFF;
  params.presolve = GLP_OFF;  // the branch-and-bound needs the relaxation's basis
  params.tm_lim =
      static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(time_limit), INT32_MAX));
  int rc = glp_simplex(problem, &params);
  if (rc != 0 || glp_get_status(problem) != GLP_OPT) {
    // Retry from the standard basis with the dual simplex; numerically harder models can
    // stall the primal from the advanced basis.
    glp_std_basis(problem);
    params.meth = GLP_DUALP;
    rc = glp_simplex(problem, &params);
  }
  if (rc != 0) return absl::InternalError(absl::StrCat("planner model: simplex failed, rc ", rc));
  const int status = glp_get_status(problem);
  if (status == GLP_NOFEAS || status == GLP_INFEAS) {
    return absl::NotFoundError("planner model: infeasible");
  }
  if (status != GLP_OPT) {
    return absl::InternalError(absl::StrCat("planner model: relaxation status ", status));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MipSolution> SolveMip(const MipModel& model, const MipSolveOptions& options) {
  thread_local GlpkEnvironmentGuard glpk_environment;
  glp_term_out(GLP_OFF);
  absl::StatusOr<ProblemPtr> built = BuildProblem(model);
  if (!built.ok()) return built.status();
  glp_prob* problem = built->get();
  const int n = model.num_columns();
  glp_scale_prob(problem, GLP_SF_AUTO);

  absl::Status relaxed = SolveRelaxation(problem, options.time_limit);
  if (!relaxed.ok()) return relaxed;

  MipSolution solution;
  solution.values.resize(n);
  if (!model.has_integers()) {
    for (int j = 0; j < n; ++j) solution.values[j] = glp_get_col_prim(problem, j + 1);
    solution.objective = glp_get_obj_val(problem);
    solution.proven_optimal = true;
    return solution;
  }

  SearchState state;
  state.options = &options;
  state.model = &model;
  state.node_limit = std::max(1, options.node_limit);
  state.absolute_gap = options.absolute_gap;
  if (options.start != nullptr && static_cast<int>(options.start->size()) == n) {
    state.start_1.assign(n + 1, 0.0);
    for (int j = 0; j < n; ++j) state.start_1[j + 1] = (*options.start)[j];
  }
  glp_iocp params;
  glp_init_iocp(&params);
  params.msg_lev = GLP_MSG_OFF;
  params.presolve = GLP_OFF;
  params.tm_lim =
      static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(options.time_limit), INT32_MAX));
  // Branching on the first fractional column: with the caller's rounding supplying the
  // incumbents, cheap nodes beat the default's costly penalty estimates (measured on the
  // planner's models: same plans in two thirds of the time).
  params.br_tech = GLP_BR_FFV;
  params.cb_func = SearchCallback;
  params.cb_info = &state;
  const int rc = glp_intopt(problem, &params);
  if (rc != 0 && rc != GLP_ETMLIM && rc != GLP_ESTOP && rc != GLP_EMIPGAP) {
    return absl::InternalError(absl::StrCat("planner model: branch-and-bound failed, rc ", rc));
  }
  const int status = glp_mip_status(problem);
  if (status != GLP_OPT && status != GLP_FEAS) {
    return absl::NotFoundError("planner model: no integer solution found");
  }
  for (int j = 0; j < n; ++j) {
    double v = glp_mip_col_val(problem, j + 1);
    if (model.columns()[j].kind != VariableKind::kContinuous) v = std::round(v);
    solution.values[j] = v;
  }
  solution.objective = glp_mip_obj_val(problem);
  solution.proven_optimal = (status == GLP_OPT && rc == 0) || state.gap_reached;
  return solution;
}

}  // namespace bloodgrid::planner
