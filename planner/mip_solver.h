// A small mixed-integer linear program and its solution by GLPK (Debian libglpk-dev 5.0).
//
// The planner describes its model with MipModel (plain C++ data, no solver types) and hands it
// to SolveMip, the only code that talks to GLPK. GLPK keeps its state per thread (it is built
// with thread-local storage on Debian 12), so SolveMip may run on several threads at once; one
// MipModel is not to be shared between threads while it is being changed.
#ifndef BLOODGRID_PLANNER_MIP_SOLVER_H_
#define BLOODGRID_PLANNER_MIP_SOLVER_H_

#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bloodgrid::planner {

inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

enum class VariableKind { kContinuous, kInteger, kBinary };

// Minimise c'x subject to lower_r <= a_r'x <= upper_r for every row r and
// lower_j <= x_j <= upper_j for every column j (either bound may be infinite).
class MipModel {
 public:
  // Adds a column (a variable) and returns its index (0, 1, ...).
  int AddColumn(double lower, double upper, VariableKind kind, double objective = 0.0);
  // Adds an empty row (a constraint) and returns its index (0, 1, ...).
  int AddRow(double lower, double upper);
  // Adds coefficient * column to a row; repeated terms of one column are summed.
  void AddTerm(int row, int column, double coefficient);
  // Objective coefficients.
  void SetObjective(int column, double coefficient);
  void ClearObjective();
  void SetColumnUpper(int column, double upper);

  struct Column {
    double lower = 0.0;
    double upper = kInfinity;
    VariableKind kind = VariableKind::kContinuous;
    double objective = 0.0;
  };
  struct Row {
    double lower = -kInfinity;
    double upper = kInfinity;
    std::vector<std::pair<int, double>> terms;
  };

  const std::vector<Column>& columns() const { return columns_; }
  const std::vector<Row>& rows() const { return rows_; }
  int num_columns() const { return static_cast<int>(columns_.size()); }
  bool has_integers() const;

 private:
  std::vector<Column> columns_;
  std::vector<Row> rows_;
};

struct MipSolveOptions {
  // Branch-and-bound budget: the search stops after this many nodes and the best solution found
  // is returned. A node budget (not a clock) keeps results identical from run to run.
  int node_limit = 5000;
  // The search stops once the best solution found is proven within this much of the optimum
  // (objective units; 0 = prove optimality).
  double absolute_gap = 0.0;
  // Backstop only; reaching it makes the result depend on machine speed.
  absl::Duration time_limit = absl::Seconds(20);
  // Optional known feasible solution (one value per column) offered to the search as its first
  // incumbent.
  const std::vector<double>* start = nullptr;
  // Optional rounding heuristic: given the LP solution of a search node (one value per
  // column), returns a feasible solution with whole values in the integer columns, or an empty
  // vector. Called at the first nodes of the search.
  std::function<std::vector<double>(const std::vector<double>&)> rounding;
};

struct MipSolution {
  // One value per column; integer columns hold whole numbers.
  std::vector<double> values;
  double objective = 0.0;
  // False when the search stopped at a limit before proving optimality (within
  // absolute_gap).
  bool proven_optimal = false;
};

// Solves `model`. NOT_FOUND when no feasible solution was found (infeasible, or none within the
// limits); INTERNAL when GLPK fails (a defect in the model: never caused by a caller).
absl::StatusOr<MipSolution> SolveMip(const MipModel& model, const MipSolveOptions& options);

}  // namespace bloodgrid::planner

#endif  // BLOODGRID_PLANNER_MIP_SOLVER_H_
