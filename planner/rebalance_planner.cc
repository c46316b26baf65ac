#include "planner/rebalance_planner.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/blood.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "planner/mip_solver.h"
#include "planner/stock_projection.h"

namespace bloodgrid::planner {
namespace {

constexpr int kMaxHorizonHours = 336;
// Weights inside the shortage objective: a stock-out outweighs a gap below par minimum, which
// outweighs thin cover, which outweighs a gap below par target; each weight exceeds the sum of
// the milder ones, so a transfer never trades a worse kind of shortage for a milder one. Kept
// small so that the solver's tolerance (half a bag) stays meaningful in every tier.
constexpr double kWeightUnmet = 4.0;
constexpr double kWeightBelowPar = 2.0;
constexpr double kWeightThinCover = 1.0;
constexpr double kWeightBelowTarget = 0.5;
// Tie-break inside stages 1 and 2 (per bag moved), so that no bag moves for nothing: small
// enough never to outweigh a shortage or an outdate (the solver's tolerance is larger).
constexpr double kMoveCost = 1e-4;
constexpr double kEpsilon = 1e-6;

// ---------------------------------------------------------------------------------------------
// The region, parsed and validated.

struct Lot {
  absl::Time expires_at;
  double expiry_hours = 0.0;  // from as_of
  bool beyond_horizon = false;
  int64_t units = 0;
  int64_t quantity = 0;
  double bag() const { return static_cast<double>(quantity) / static_cast<double>(units); }
};

struct Cell {
  double demand = 0.0;  // per day, floor applied
  int64_t par_minimum = 0;
  int64_t par_target = 0;
  int64_t quarantined = 0;
  int64_t in_transit = 0;
  std::vector<Lot> lots;  // unexpired, soonest first
  int64_t available = 0;  // sum of lot quantities
  double DaysOfCover(double quantity) const { return demand > 0.0 ? quantity / demand : -1.0; }
};

struct Group {
  v1::Component component = v1::COMPONENT_UNSPECIFIED;
  BloodType blood_type;
  double min_cover_days = 0.0;
  double bag = 1.0;         // average bag over the region's lots (1 when there are none)
  std::vector<Cell> cells;  // by station index
};

// The stock a cell should still hold at the end of the horizon: min_cover_days of demand plus
// a safety stock of z standard deviations of that demand (counted in bags, as Poisson).
double CoverLevel(const Group& group, const Cell& cell, const PlannerOptions& options) {
  const double mean = group.min_cover_days * cell.demand;
  if (mean <= 0.0) return 0.0;
  return mean + options.cover_safety_factor * std::sqrt(mean * group.bag);
}

struct Region {
  absl::Time as_of;
  int horizon_hours = 0;
  double horizon = 0.0;                   // planning horizon, hours (shortage, end stock)
  double lookahead = 0.0;                 // the inputs' horizon, hours (outdates); >= horizon
  std::vector<std::string> stations;      // active ones, sorted
  std::vector<std::vector<int>> minutes;  // [from][to]; -1 = unknown
  std::vector<Group> groups;              // by component, ABO, RhD
  int only_station = -1;
};

absl::StatusOr<Region> ParseRegion(const v1::GetRebalanceInputsResponse& inputs,
                                   const PlannerOptions& options) {
  Region region;
  if (inputs.horizon_hours() < 1 || inputs.horizon_hours() > kMaxHorizonHours) {
    return InvalidField("horizon_hours", absl::StrCat("must be 1..", kMaxHorizonHours, ", got ",
                                                      inputs.horizon_hours()));
  }
  if (!inputs.has_as_of()) return InvalidField("as_of", "required");
  region.as_of = FromTimestamp(inputs.as_of());
  if (options.horizon_hours < 0 || options.horizon_hours > inputs.horizon_hours()) {
    return InvalidField("options.horizon_hours", absl::StrCat("must be 0..", inputs.horizon_hours(),
                                                              " (the inputs' horizon_hours)"));
  }
  region.horizon_hours = options.horizon_hours > 0 ? options.horizon_hours : inputs.horizon_hours();
  region.horizon = region.horizon_hours;
  region.lookahead = inputs.horizon_hours();

  std::set<std::string> known;
  for (int i = 0; i < inputs.stations_size(); ++i) {
    const v1::Station& station = inputs.stations(i);
    const std::string field = absl::StrCat("stations[", i, "].station_id");
    if (station.station_id().empty()) return InvalidField(field, "required");
    if (!known.insert(station.station_id()).second) {
      return InvalidField(field, absl::StrCat("station ", station.station_id(), " listed twice"));
    }
    if (station.active()) region.stations.push_back(station.station_id());
  }
  std::sort(region.stations.begin(), region.stations.end());
  std::map<std::string, int> index;
  for (int s = 0; s < static_cast<int>(region.stations.size()); ++s) {
    index[region.stations[s]] = s;
  }
  const int n = static_cast<int>(region.stations.size());
  region.minutes.assign(n, std::vector<int>(n, -1));

  if (!options.station_id.empty()) {
    auto it = index.find(options.station_id);
    if (it == index.end()) {
      return InvalidField("station_id",
                          absl::StrCat("unknown or inactive station ", options.station_id));
    }
    region.only_station = it->second;
  }

  std::set<std::pair<std::string, std::string>> pairs;
  for (int i = 0; i < inputs.transport_times_size(); ++i) {
    const v1::TransportTime& tt = inputs.transport_times(i);
    const std::string field = absl::StrCat("transport_times[", i, "]");
    if (!known.count(tt.from_station_id())) {
      return InvalidField(absl::StrCat(field, ".from_station_id"),
                          absl::StrCat("unknown station ", tt.from_station_id()));
    }
    if (!known.count(tt.to_station_id())) {
      return InvalidField(absl::StrCat(field, ".to_station_id"),
                          absl::StrCat("unknown station ", tt.to_station_id()));
    }
    if (tt.from_station_id() == tt.to_station_id()) {
      return InvalidField(field, "from and to are the same station");
    }
    if (tt.minutes() < 0) return InvalidField(absl::StrCat(field, ".minutes"), "must be >= 0");
    if (!pairs.insert({tt.from_station_id(), tt.to_station_id()}).second) {
      return InvalidField(field, "pair of stations listed twice");
    }
    auto from = index.find(tt.from_station_id());
    auto to = index.find(tt.to_station_id());
    if (from == index.end() || to == index.end()) continue;  // an inactive station
    region.minutes[from->second][to->second] = tt.minutes();
  }

  std::map<std::tuple<int, int, int>, Group> groups;  // by (component, ABO, RhD)
  std::set<std::tuple<std::string, int, int, int>> seen;
  for (int i = 0; i < inputs.positions_size(); ++i) {
    const v1::StockPosition& p = inputs.positions(i);
    const std::string field = absl::StrCat("positions[", i, "]");
    if (!known.count(p.station_id())) {
      return InvalidField(absl::StrCat(field, ".station_id"),
                          absl::StrCat("unknown station ", p.station_id()));
    }
    if (p.component() == v1::COMPONENT_UNSPECIFIED || !LookupComponent(p.component()).ok()) {
      return InvalidField(absl::StrCat(field, ".component"), "must be a known component");
    }
    absl::StatusOr<BloodType> type = BloodType::FromProto(p.blood_type());
    if (!type.ok() || !type->IsKnown()) {
      return InvalidField(absl::StrCat(field, ".blood_type"), "must be fully specified");
    }
    if (!seen.insert({p.station_id(), p.component(), type->abo, type->rhd}).second) {
      return InvalidField(field, "station x component x blood type listed twice");
    }
    const std::pair<const char*, int64_t> counts[] = {
        {"reserved_quantity", p.reserved_quantity()},
        {"quarantined_quantity", p.quarantined_quantity()},
        {"in_transit_in_quantity", p.in_transit_in_quantity()},
        {"par_minimum", p.par_minimum()},
        {"par_target", p.par_target()}};
    for (const auto& [name, value] : counts) {
      if (value < 0) return InvalidField(absl::StrCat(field, ".", name), "must be >= 0");
    }
    if (p.par_target() < p.par_minimum()) {
      return InvalidField(absl::StrCat(field, ".par_target"), "must be >= par_minimum");
    }
    if (!std::isfinite(p.daily_demand()) || p.daily_demand() < 0.0) {
      return InvalidField(absl::StrCat(field, ".daily_demand"), "must be a finite number >= 0");
    }
    Cell cell;
    cell.par_minimum = p.par_minimum();
    cell.par_target = p.par_target();
    cell.quarantined = p.quarantined_quantity();
    cell.in_transit = p.in_transit_in_quantity();
    cell.demand = p.daily_demand();
    if (options.demand_floor_par_days > 0.0) {
      cell.demand = std::max(cell.demand, p.par_minimum() / options.demand_floor_par_days);
    }
    for (int j = 0; j < p.available_lots_size(); ++j) {
      const v1::ExpiryLot& lot = p.available_lots(j);
      const std::string lot_field = absl::StrCat(field, ".available_lots[", j, "]");
      if (!lot.has_expires_at()) {
        return InvalidField(absl::StrCat(lot_field, ".expires_at"), "required");
      }
      const int64_t units = lot.count().units();
      const int64_t quantity = lot.count().quantity();
      if (units < 0 || quantity < 0 || (units == 0) != (quantity == 0)) {
        return InvalidField(absl::StrCat(lot_field, ".count"),
                            "units and quantity must be both 0 or both > 0");
      }
      Lot parsed;
      parsed.expires_at = FromTimestamp(lot.expires_at());
      parsed.expiry_hours = absl::ToDoubleHours(parsed.expires_at - region.as_of);
      parsed.beyond_horizon = lot.beyond_horizon() || parsed.expiry_hours >= region.lookahead;
      parsed.units = units;
      parsed.quantity = quantity;
      if (units == 0 || parsed.expiry_hours <= 0.0) continue;  // empty, or already expired
      cell.lots.push_back(parsed);
    }
    std::sort(cell.lots.begin(), cell.lots.end(), [](const Lot& a, const Lot& b) {
      return std::tie(a.expires_at, a.quantity, a.units) <
             std::tie(b.expires_at, b.quantity, b.units);
    });
    for (const Lot& lot : cell.lots) cell.available += lot.quantity;
    auto station = index.find(p.station_id());
    if (station == index.end()) continue;  // inactive: not planned
    Group& group = groups[std::make_tuple(
        static_cast<int>(p.component()), static_cast<int>(type->abo), static_cast<int>(type->rhd))];
    if (group.cells.empty()) {
      group.component = p.component();
      group.blood_type = *type;
      auto by_component = options.min_days_of_cover_by_component.find(p.component());
      group.min_cover_days = by_component != options.min_days_of_cover_by_component.end()
                                 ? by_component->second
                                 : options.min_days_of_cover;
      group.cells.assign(n, Cell());
    }
    group.cells[station->second] = std::move(cell);
  }
  for (auto& [key, group] : groups) {
    double bags = 0.0, quantity = 0.0;
    for (const Cell& cell : group.cells) {
      for (const Lot& lot : cell.lots) {
        bags += static_cast<double>(lot.units);
        quantity += static_cast<double>(lot.quantity);
      }
    }
    if (bags > 0.0) group.bag = quantity / bags;
    region.groups.push_back(std::move(group));
  }
  return region;
}

// ---------------------------------------------------------------------------------------------
// Projections (the measure the solver optimises, recomputed for the reply).

// Stock arriving at a station with a plan.
struct Arrival {
  double arrival_hours = 0.0;
  const Lot* lot = nullptr;
  int64_t bags = 0;
};

// A change to one cell: bags taken from its lots, lots brought in.
struct CellChange {
  std::vector<int64_t> taken;  // per lot; empty = none
  std::vector<Arrival> arrivals;
};

std::vector<SupplySource> CellSources(const Cell& cell, const CellChange* change,
                                      const PlannerOptions& options) {
  std::vector<SupplySource> sources;
  for (size_t k = 0; k < cell.lots.size(); ++k) {
    const Lot& lot = cell.lots[k];
    double quantity = static_cast<double>(lot.quantity);
    if (change != nullptr && !change->taken.empty()) quantity -= change->taken[k] * lot.bag();
    sources.push_back({0.0, lot.beyond_horizon ? kNeverExpires : lot.expiry_hours, quantity});
  }
  if (cell.in_transit > 0) {
    sources.push_back({0.0, kNeverExpires, static_cast<double>(cell.in_transit)});
  }
  if (cell.quarantined > 0) {
    sources.push_back({absl::ToDoubleHours(options.quarantine_release_delay), kNeverExpires,
                       cell.quarantined * options.quarantine_release_fraction});
  }
  if (change != nullptr) {
    for (const Arrival& a : change->arrivals) {
      sources.push_back({a.arrival_hours,
                         a.lot->beyond_horizon ? kNeverExpires : a.lot->expiry_hours,
                         a.bags * a.lot->bag()});
    }
  }
  return sources;
}

StockProjection ProjectCell(const Region& region, const Cell& cell, const CellChange* change,
                            const PlannerOptions& options) {
  return ProjectStock(CellSources(cell, change, options), cell.demand, region.horizon,
                      region.lookahead);
}

// The stage-1 measure of one cell's projection (see the header).
double ShortageScore(const Group& group, const Cell& cell, const StockProjection& p,
                     const PlannerOptions& options) {
  double score = kWeightUnmet * p.unmet;
  if (cell.par_minimum > 0) {
    score += kWeightBelowPar * std::max(0.0, cell.par_minimum - p.end_stock);
  }
  if (cell.demand > 0.0) {
    score += kWeightThinCover * std::max(0.0, CoverLevel(group, cell, options) - p.end_stock);
  }
  if (cell.par_target > 0) {
    score += kWeightBelowTarget * std::max(0.0, cell.par_target - p.end_stock);
  }
  return score;
}

// ---------------------------------------------------------------------------------------------
// The optimisation model of one component x blood type.

struct LinearExpr {
  std::vector<std::pair<int, double>> terms;
  double constant = 0.0;
  double Value(const std::vector<double>& values) const {
    double v = constant;
    for (const auto& [column, coefficient] : terms) v += coefficient * values[column];
    return v;
  }
};

using Arc = std::pair<int, int>;  // (origin, destination) station indices

struct Move {
  int from = 0;
  int lot = 0;
  int to = 0;
  int column = 0;
};

// What the columns of a group's model mean, for the rounding heuristic.
struct StockClassColumns {
  int station = 0;
  double from = 0.0;
  double expiry = kNeverExpires;
  double constant = 0.0;
  std::vector<std::pair<int, double>> terms;  // stock = constant + terms . x
  int served = -1;
  int served_later = -1;
};
struct GapColumn {
  int station = 0;
  int column = 0;
  double level = 0.0;
};
struct ChainColumn {
  int origin = 0;
  int lot = 0;  // z = 1 iff this lot is given up entirely
  int column = 0;
};
struct OriginLimits {
  double to_any = 0.0;
  double to_non_critical = 0.0;
};

// The model of one component x blood type: its columns and rows, and what they mean.
struct GroupModel {
  MipModel model;
  std::vector<Move> moves;
  LinearExpr shortage;
  LinearExpr outdate;
  std::vector<StockClassColumns> classes;
  std::vector<GapColumn> gaps;
  std::vector<ChainColumn> chains;
  std::vector<OriginLimits> limits;  // by station
  std::vector<bool> critical;        // by station
  std::vector<bool> short_of;        // by station: short in some way without transfers
};

double TransportHours(const Region& region, int from, int to) {
  return region.minutes[from][to] / 60.0;
}

bool ArcAllowed(const Region& region, int from, int to) {
  if (from == to || region.minutes[from][to] < 0) return false;
  if (TransportHours(region, from, to) >= region.horizon) return false;
  return region.only_station < 0 || from == region.only_station || to == region.only_station;
}

// `baseline` is the group's projection per station without any transfer.
GroupModel BuildGroupModel(const Region& region, const Group& group,
                           const std::vector<StockProjection>& baseline,
                           const PlannerOptions& options) {
  GroupModel gm;
  MipModel* model = &gm.model;
  const int n = static_cast<int>(region.stations.size());
  const double horizon = region.horizon;
  const double margin = absl::ToDoubleHours(options.expiry_safety_margin);
  const double release = absl::ToDoubleHours(options.quarantine_release_delay);

  std::vector<bool> critical(n, false);
  for (int j = 0; j < n; ++j) {
    const Cell& c = group.cells[j];
    critical[j] = c.demand > 0.0 && c.available / c.demand < options.critical_days_of_cover;
  }

  // What an origin may give: never below its par minimum to fill another station, except
  // for a critically short one, and then never below its own critical level.
  gm.critical = critical;
  gm.limits.assign(n, OriginLimits());
  for (int i = 0; i < n; ++i) {
    const Cell& origin = group.cells[i];
    const double par = static_cast<double>(origin.par_minimum);
    const double floor_all = options.allow_below_par_for_critical
                                 ? std::min(par, options.critical_days_of_cover * origin.demand)
                                 : par;
    gm.limits[i] = {std::max(0.0, origin.available - floor_all),
                    std::max(0.0, origin.available - par)};
  }

  // Moves: one integer column (bags) per lot x destination it may go to. Only where a move can
  // help: into a station short in some way, or, lots that would outdate at their origin, into
  // one that uses the kind.
  std::vector<bool>& short_of = gm.short_of;
  short_of.assign(n, false);
  std::vector<bool> outdating(n);
  for (int j = 0; j < n; ++j) {
    short_of[j] = ShortageScore(group, group.cells[j], baseline[j], options) > kEpsilon;
    outdating[j] = baseline[j].outdated > kEpsilon;
  }
  for (int i = 0; i < n; ++i) {
    const Cell& origin = group.cells[i];
    if (gm.limits[i].to_any <= 0.0) continue;
    for (int k = 0; k < static_cast<int>(origin.lots.size()); ++k) {
      const Lot& lot = origin.lots[k];
      for (int j = 0; j < n; ++j) {
        if (!ArcAllowed(region, i, j)) continue;
        const Cell& dest = group.cells[j];
        const bool rescue = outdating[i] && !lot.beyond_horizon && dest.demand > 0.0;
        if (!short_of[j] && !rescue) continue;
        if (lot.expiry_hours < TransportHours(region, i, j) + margin) continue;
        // No station can use more than its highest level plus its demand over the look-ahead:
        // a bound that loses no plan and tightens the relaxations.
        const double usable =
            std::max({static_cast<double>(dest.par_minimum), static_cast<double>(dest.par_target),
                      CoverLevel(group, dest, options)}) +
            dest.demand * region.lookahead / 24.0;
        const double bags =
            std::min(static_cast<double>(lot.units), std::ceil(usable / lot.bag() - 1e-9));
        if (bags < 1.0) continue;
        const int column = model->AddColumn(0.0, bags, VariableKind::kInteger);
        gm.moves.push_back({i, k, j, column});
      }
    }
  }

  // Per station: stock classes (available-from, expiry), what each serves in the horizon
  // [0, H) and in the rest of the look-ahead [H, L), the Hall conditions that make the serving
  // feasible, and the shortage and outdate terms.
  const double lookahead = region.lookahead;
  for (int s = 0; s < n; ++s) {
    const Cell& cell = group.cells[s];
    struct StockClass {
      double from = 0.0;
      double expiry = kNeverExpires;
      double constant = 0.0;
      std::vector<std::pair<int, double>> terms;
      int served = -1;        // within [0, H)
      int served_later = -1;  // within [H, L); -1 when L = H
      double end1 = 0.0, start2 = 0.0, end2 = 0.0;
    };
    std::map<std::pair<double, double>, StockClass> classes;
    auto klass = [&](double from, double expiry) -> StockClass& {
      StockClass& c = classes[{from, expiry}];
      c.from = from;
      c.expiry = expiry;
      return c;
    };
    auto capped = [&](const Lot& lot) {
      return lot.beyond_horizon ? kNeverExpires : lot.expiry_hours;
    };
    for (int k = 0; k < static_cast<int>(cell.lots.size()); ++k) {
      StockClass& c = klass(0.0, capped(cell.lots[k]));
      c.constant += static_cast<double>(cell.lots[k].quantity);
      for (const Move& m : gm.moves) {
        if (m.from == s && m.lot == k) c.terms.emplace_back(m.column, -cell.lots[k].bag());
      }
    }
    for (const Move& m : gm.moves) {
      if (m.to != s) continue;
      const Lot& lot = group.cells[m.from].lots[m.lot];
      klass(TransportHours(region, m.from, s), capped(lot)).terms.emplace_back(m.column, lot.bag());
    }
    if (cell.in_transit > 0) {
      klass(0.0, kNeverExpires).constant += static_cast<double>(cell.in_transit);
    }
    if (cell.quarantined > 0 && release < lookahead) {
      klass(release, kNeverExpires).constant +=
          cell.quarantined * options.quarantine_release_fraction;
    }
    if (classes.empty()) continue;

    const double rate = cell.demand / 24.0;
    std::set<double> starts1, ends1{horizon}, starts2, ends2{lookahead};
    for (auto& [key, c] : classes) {
      c.end1 = std::min(c.expiry, horizon);
      c.start2 = std::max(c.from, horizon);
      c.end2 = std::min(c.expiry, lookahead);
      const bool serves1 = rate > 0.0 && c.from < c.end1;
      const bool serves2 = rate > 0.0 && c.start2 < c.end2;
      c.served = model->AddColumn(0.0, serves1 ? kInfinity : 0.0, VariableKind::kContinuous);
      const int row = model->AddRow(-kInfinity, c.constant);  // served <= stock
      model->AddTerm(row, c.served, 1.0);
      if (lookahead > horizon) {
        c.served_later =
            model->AddColumn(0.0, serves2 ? kInfinity : 0.0, VariableKind::kContinuous);
        model->AddTerm(row, c.served_later, 1.0);
      }
      for (const auto& [column, coefficient] : c.terms) model->AddTerm(row, column, -coefficient);
      if (serves1) {
        starts1.insert(c.from);
        ends1.insert(c.end1);
      }
      if (serves2 && lookahead > horizon) {
        starts2.insert(c.start2);
        ends2.insert(c.end2);
      }
    }
    // Hall's condition for interval windows, per period: whatever is served by stock
    // available only within [t1, t2) fits in the demand of [t1, t2).
    auto hall = [&](const std::set<double>& starts, const std::set<double>& ends, bool later) {
      for (double t1 : starts) {
        for (double t2 : ends) {
          if (t2 <= t1) continue;
          std::vector<int> members;
          for (const auto& [key, c] : classes) {
            const double from = later ? c.start2 : c.from;
            const double end = later ? c.end2 : c.end1;
            if (from >= t1 && end <= t2 && from < end) {
              members.push_back(later ? c.served_later : c.served);
            }
          }
          if (members.empty()) continue;
          const int row = model->AddRow(-kInfinity, rate * (t2 - t1));
          for (int column : members) model->AddTerm(row, column, 1.0);
        }
      }
    };
    hall(starts1, ends1, /*later=*/false);
    if (lookahead > horizon) hall(starts2, ends2, /*later=*/true);

    // unmet = demand of [0, H) - served in it; end stock at H; outdate by L.
    gm.shortage.constant += kWeightUnmet * rate * horizon;
    LinearExpr end_stock;
    for (const auto& [key, c] : classes) {
      gm.shortage.terms.emplace_back(c.served, -kWeightUnmet);
      if (c.expiry > horizon && c.from <= horizon) {
        end_stock.constant += c.constant;
        for (const auto& term : c.terms) end_stock.terms.push_back(term);
        end_stock.terms.emplace_back(c.served, -1.0);
      }
      if (c.expiry != kNeverExpires) {
        gm.outdate.constant += c.constant;
        for (const auto& term : c.terms) gm.outdate.terms.push_back(term);
        gm.outdate.terms.emplace_back(c.served, -1.0);
        if (c.served_later >= 0) gm.outdate.terms.emplace_back(c.served_later, -1.0);
      }
    }
    for (const auto& [key, c] : classes) {
      gm.classes.push_back({s, c.from, c.expiry, c.constant, c.terms, c.served, c.served_later});
    }
    auto add_gap = [&](double level, double weight) {
      // gap >= level - end_stock, gap >= 0
      const int gap = model->AddColumn(0.0, kInfinity, VariableKind::kContinuous);
      gm.gaps.push_back({s, gap, level});
      const int row = model->AddRow(level - end_stock.constant, kInfinity);
      model->AddTerm(row, gap, 1.0);
      for (const auto& [column, coefficient] : end_stock.terms) {
        model->AddTerm(row, column, coefficient);
      }
      gm.shortage.terms.emplace_back(gap, weight);
    };
    if (cell.par_minimum > 0) add_gap(static_cast<double>(cell.par_minimum), kWeightBelowPar);
    if (cell.demand > 0.0 && group.min_cover_days > 0.0) {
      add_gap(CoverLevel(group, cell, options), kWeightThinCover);
    }
    if (cell.par_target > 0) add_gap(static_cast<double>(cell.par_target), kWeightBelowTarget);
  }

  // Origins: par protection and first-expire-first-out giving.
  for (int i = 0; i < n; ++i) {
    const Cell& origin = group.cells[i];
    std::vector<const Move*> out;
    for (const Move& m : gm.moves) {
      if (m.from == i) out.push_back(&m);
    }
    if (out.empty()) continue;
    const int to_any = model->AddRow(-kInfinity, gm.limits[i].to_any);
    const int to_non_critical = model->AddRow(-kInfinity, gm.limits[i].to_non_critical);
    for (const Move* m : out) {
      const double bag = origin.lots[m->lot].bag();
      model->AddTerm(to_any, m->column, bag);
      if (!critical[m->to]) model->AddTerm(to_non_critical, m->column, bag);
    }
    // Lot k+1 may be touched only once lot k is given up entirely (binary z_k).
    std::vector<int> lots;
    for (const Move* m : out) {
      if (lots.empty() || lots.back() != m->lot) lots.push_back(m->lot);
    }
    for (size_t q = 0; q + 1 < lots.size(); ++q) {
      const int z = model->AddColumn(0.0, 1.0, VariableKind::kBinary);
      gm.chains.push_back({i, lots[q], z});
      const int exhausted = model->AddRow(0.0, kInfinity);
      const int touched = model->AddRow(-kInfinity, 0.0);
      model->AddTerm(exhausted, z, -static_cast<double>(origin.lots[lots[q]].units));
      model->AddTerm(touched, z, -static_cast<double>(origin.lots[lots[q + 1]].units));
      for (const Move* m : out) {
        if (m->lot == lots[q]) model->AddTerm(exhausted, m->column, 1.0);
        if (m->lot == lots[q + 1]) model->AddTerm(touched, m->column, 1.0);
      }
    }
  }
  return gm;
}

// Adds `expr` (but its constant) to the objective.
void AddObjective(MipModel* model, const LinearExpr& expr) {
  for (const auto& [column, coefficient] : expr.terms) {
    model->SetObjective(column, model->columns()[column].objective + coefficient);
  }
}

double Tolerance(double value) { return kEpsilon * std::max(1.0, std::abs(value)); }

// The rounding heuristic: a whole-bag plan near an LP solution. Bags per (origin,
// destination) are rounded (down, to the nearest, up: the best of the three), then (with
// `top_up`) topped up greedily one bag at a time towards short stations while that helps. Each
// candidate is picked from the origin's lots first-expire-first-out (a lot is touched only once the
// earlier ones are given up) within the origin's limits, and the served, gap and chain
// columns follow from the exact projection of every station, so the result satisfies the
// group's model (the solver checks it anyway).
using BagMatrix = std::vector<std::vector<int64_t>>;  // [origin][destination]

std::vector<double> PlanFromBags(const Region& region, const Group& group, const GroupModel& gm,
                                 size_t num_columns, BagMatrix remaining) {
  const int n = static_cast<int>(region.stations.size());
  // Columns beyond the group's own (added by a stage) are left at 0.
  std::vector<double> x(num_columns, 0.0);
  for (int i = 0; i < n; ++i) {
    const Cell& origin = group.cells[i];
    std::vector<const Move*> out;
    for (const Move& m : gm.moves) {
      if (m.from == i) out.push_back(&m);
    }
    if (out.empty()) continue;
    double given = 0.0, given_non_critical = 0.0;
    const OriginLimits& limit = gm.limits[i];
    for (size_t q = 0; q < out.size();) {
      const int lot = out[q]->lot;
      int64_t left = origin.lots[lot].units;
      const double bag = origin.lots[lot].bag();
      for (; q < out.size() && out[q]->lot == lot; ++q) {
        const Move& m = *out[q];
        int64_t take = std::min(
            {left, remaining[i][m.to], static_cast<int64_t>(gm.model.columns()[m.column].upper)});
        // Within the origin's limits (par protection).
        while (take > 0 && (given + take * bag > limit.to_any + 1e-9 ||
                            (!gm.critical[m.to] &&
                             given_non_critical + take * bag > limit.to_non_critical + 1e-9))) {
          --take;
        }
        x[m.column] = static_cast<double>(take);
        left -= take;
        remaining[i][m.to] -= take;
        given += take * bag;
        if (!gm.critical[m.to]) given_non_critical += take * bag;
      }
      if (left > 0) break;  // not given up entirely: later lots stay
    }
  }
  for (const ChainColumn& chain : gm.chains) {
    double moved = 0.0;
    for (const Move& m : gm.moves) {
      if (m.from == chain.origin && m.lot == chain.lot) moved += x[m.column];
    }
    x[chain.column] = moved >= group.cells[chain.origin].lots[chain.lot].units ? 1.0 : 0.0;
  }
  // Serve each station's demand first-expire-first-out from its classes.
  std::vector<std::vector<const StockClassColumns*>> by_station(n);
  for (const StockClassColumns& c : gm.classes) by_station[c.station].push_back(&c);
  std::vector<double> end_stock(n, 0.0);
  for (int s = 0; s < n; ++s) {
    std::vector<SupplySource> sources;
    for (const StockClassColumns* c : by_station[s]) {
      double stock = c->constant;
      for (const auto& [column, coefficient] : c->terms) stock += coefficient * x[column];
      sources.push_back({c->from, c->expiry, std::max(0.0, stock)});
    }
    const StockProjection p =
        ProjectStock(sources, group.cells[s].demand, region.horizon, region.lookahead);
    for (size_t k = 0; k < by_station[s].size(); ++k) {
      const StockClassColumns& c = *by_station[s][k];
      const double in_horizon = std::min(p.served_in_horizon_by_source[k], sources[k].quantity);
      x[c.served] = in_horizon;
      if (c.served_later >= 0) {
        x[c.served_later] = std::max(0.0, p.served_by_source[k] - in_horizon);
      }
      if (c.expiry > region.horizon && c.from <= region.horizon) {
        end_stock[s] += sources[k].quantity - in_horizon;
      }
    }
  }
  for (const GapColumn& gap : gm.gaps) {
    x[gap.column] = std::max(0.0, gap.level - end_stock[gap.station]);
  }
  return x;
}

std::vector<double> RoundPlan(const Region& region, const Group& group, const GroupModel& gm,
                              const std::vector<double>& relaxed, bool top_up) {
  const int n = static_cast<int>(region.stations.size());
  std::vector<double> wanted_lp(static_cast<size_t>(n) * n, 0.0);
  for (const Move& m : gm.moves) wanted_lp[m.from * n + m.to] += std::max(0.0, relaxed[m.column]);
  using Key = std::tuple<double, double, double>;  // shortage, outdate, bags
  auto evaluate = [&](const BagMatrix& bags, std::vector<double>* x) {
    *x = PlanFromBags(region, group, gm, relaxed.size(), bags);
    double moved = 0.0;
    for (const Move& m : gm.moves) moved += (*x)[m.column];
    return Key{gm.shortage.Value(*x), gm.outdate.Value(*x), moved};
  };
  BagMatrix best_bags;
  std::vector<double> best;
  Key best_key{};
  for (int mode = 0; mode < 3; ++mode) {
    BagMatrix bags(n, std::vector<int64_t>(n, 0));
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        const double w = wanted_lp[i * n + j];
        bags[i][j] = static_cast<int64_t>(mode == 0   ? std::floor(w + 1e-6)
                                          : mode == 1 ? std::round(w)
                                                      : std::ceil(w - 1e-6));
      }
    }
    std::vector<double> x;
    const Key key = evaluate(bags, &x);
    if (best.empty() || key < best_key) {
      best = std::move(x);
      best_key = key;
      best_bags = std::move(bags);
    }
  }
  // Top up, one bag at a time, towards short stations while it reduces shortage or outdate.
  std::set<Arc> pairs;
  for (const Move& m : gm.moves) {
    if (top_up && gm.short_of[m.to]) pairs.insert({m.from, m.to});
  }
  constexpr int kMaxTopUps = 8;
  for (int step = 0; step < kMaxTopUps && !pairs.empty(); ++step) {
    BagMatrix step_bags;
    std::vector<double> step_x;
    Key step_key = best_key;
    for (const auto& [i, j] : pairs) {
      BagMatrix bags = best_bags;
      ++bags[i][j];
      std::vector<double> x;
      const Key key = evaluate(bags, &x);
      if (std::make_pair(std::get<0>(key), std::get<1>(key)) <
          std::make_pair(std::get<0>(step_key), std::get<1>(step_key))) {
        step_key = key;
        step_x = std::move(x);
        step_bags = std::move(bags);
      }
    }
    if (step_x.empty()) break;
    best = std::move(step_x);
    best_key = step_key;
    best_bags = std::move(step_bags);
  }
  return best;
}

// Stages 1 and 2 for one group: the least shortage, then the least outdate with it.
struct GroupSolution {
  bool active = false;
  double shortage = 0.0;
  double outdate = 0.0;
  std::vector<double> values;  // one per column of the group's model
};

absl::StatusOr<GroupSolution> SolveGroup(const Region& region, const Group& group,
                                         const GroupModel& gm, const PlannerOptions& options) {
  GroupSolution result;
  if (gm.moves.empty()) return result;
  MipModel model = gm.model;
  MipSolveOptions solve;
  solve.node_limit = options.max_solver_nodes;
  solve.time_limit = options.solver_time_limit;
  // Whole bags cannot match the fractional optimum of expected values exactly; the search
  // stops within half a bag (of the group's average bag) of thin cover (an eighth of a bag of
  // stock-out) in stage 1, and of outdate in stage 2.
  solve.absolute_gap = 0.5 * group.bag;

  int roundings = 0;  // the greedy top-up at the root only: it costs many projections
  solve.rounding = [&](const std::vector<double>& relaxed) {
    return RoundPlan(region, group, gm, relaxed, /*top_up=*/roundings++ == 0);
  };
  AddObjective(&model, gm.shortage);
  for (const Move& m : gm.moves) {
    model.SetObjective(m.column, model.columns()[m.column].objective + kMoveCost);
  }
  absl::StatusOr<MipSolution> first = SolveMip(model, solve);
  if (absl::IsNotFound(first.status())) return result;  // keep the group as it is
  if (!first.ok()) return first.status();
  result.shortage = gm.shortage.Value(first->values);
  result.outdate = gm.outdate.Value(first->values);
  if (result.outdate <= kEpsilon) {  // nothing left to save: stage 2 would change nothing
    result.values = first->values;
    for (const Move& m : gm.moves) {
      if (result.values[m.column] > 0.5) result.active = true;
    }
    return result;
  }

  const int bound =
      model.AddRow(-kInfinity, result.shortage - gm.shortage.constant + Tolerance(result.shortage));
  for (const auto& [column, coefficient] : gm.shortage.terms) {
    model.AddTerm(bound, column, coefficient);
  }
  model.ClearObjective();
  AddObjective(&model, gm.outdate);
  for (const Move& m : gm.moves) {
    model.SetObjective(m.column, model.columns()[m.column].objective + kMoveCost);
  }
  solve.start = &first->values;
  solve.absolute_gap = 0.5 * group.bag;
  absl::StatusOr<MipSolution> second = SolveMip(model, solve);
  const std::vector<double>& values = second.ok() ? second->values : first->values;
  if (!second.ok() && !absl::IsNotFound(second.status())) return second.status();
  result.outdate = gm.outdate.Value(values);
  result.values = values;
  for (const Move& m : gm.moves) {
    if (values[m.column] > 0.5) result.active = true;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Stage 3: trips.

struct PlannedMove {
  int group = 0;
  int from = 0;
  int lot = 0;
  int to = 0;
  int64_t bags = 0;
};

// One group's stage 3: the fewest trips not already `open` (used by other groups), at the
// group's optimal shortage and outdate, then the fewest bags over the shortest roads.
// `values` holds the group's current solution and receives the new one.
absl::Status ReduceGroupTrips(const Region& region, const GroupModel& gm,
                              const GroupSolution& optimum, const PlannerOptions& options,
                              const std::set<Arc>& open, std::vector<double>* values) {
  MipModel model = gm.model;
  const int s_row = model.AddRow(
      -kInfinity, optimum.shortage - gm.shortage.constant + Tolerance(optimum.shortage));
  for (const auto& [column, coefficient] : gm.shortage.terms) {
    model.AddTerm(s_row, column, coefficient);
  }
  const int o_row =
      model.AddRow(-kInfinity, optimum.outdate - gm.outdate.constant + Tolerance(optimum.outdate));
  for (const auto& [column, coefficient] : gm.outdate.terms) {
    model.AddTerm(o_row, column, coefficient);
  }
  double total_bags = 1.0;
  int max_minutes = 1;
  for (const Move& m : gm.moves) {
    total_bags += model.columns()[m.column].upper;
    max_minutes = std::max(max_minutes, region.minutes[m.from][m.to]);
  }
  // Tie-break below one trip: at most 0.5 in all.
  const double per_bag = 0.5 / total_bags;
  std::vector<double> start = *values;
  std::map<Arc, int> trip_column;
  for (const Move& m : gm.moves) {
    const Arc arc{m.from, m.to};
    model.SetObjective(m.column,
                       per_bag * (0.5 + 0.5 * region.minutes[m.from][m.to] / max_minutes));
    if (open.count(arc)) continue;
    auto [it, inserted] = trip_column.emplace(arc, -1);
    if (inserted) {
      it->second = model.AddColumn(0.0, 1.0, VariableKind::kBinary, 1.0);
      start.push_back(0.0);
    }
    // x <= bags of the lot x y: one row per move, tighter than one per trip.
    const int row = model.AddRow(-kInfinity, 0.0);
    model.AddTerm(row, m.column, 1.0);
    model.AddTerm(row, it->second, -model.columns()[m.column].upper);
    if (start[m.column] > 0.5) start[it->second] = 1.0;
  }
  MipSolveOptions solve;
  solve.node_limit = options.max_solver_nodes;
  solve.time_limit = options.solver_time_limit;
  solve.start = &start;
  solve.absolute_gap = 0.5;  // one trip less is 1 less; the tie-break is below 0.5
  // The fixed-charge relaxation is weak: the search improves on the start rather than proves
  // it optimal, and half the budget finds nearly all it would.
  solve.node_limit = std::max(1, options.max_solver_nodes / 2);
  absl::StatusOr<MipSolution> best = SolveMip(model, solve);
  if (absl::IsNotFound(best.status())) return absl::OkStatus();  // keep the current plan
  if (!best.ok()) return best.status();
  values->assign(best->values.begin(),
                 best->values.begin() + static_cast<std::ptrdiff_t>(values->size()));
  return absl::OkStatus();
}

std::set<Arc> ArcsUsed(const GroupModel& gm, const std::vector<double>& values) {
  std::set<Arc> arcs;
  for (const Move& m : gm.moves) {
    if (values[m.column] > 0.5) arcs.insert({m.from, m.to});
  }
  return arcs;
}

// Trips are shared by every component x blood type, so they are minimised group by group
// against the trips the other groups use (a trip already made is free): first building up,
// largest groups first, then one more pass in which each group may drop trips the others make
// anyway. Each step keeps the group's optimal shortage and outdate, so the plan only gets
// fewer trips (or fewer bags on shorter roads).
absl::StatusOr<std::vector<PlannedMove>> ConsolidateTrips(
    const Region& region, const PlannerOptions& options, const std::vector<GroupModel>& models,
    const std::vector<GroupSolution>& solutions) {
  const int num_groups = static_cast<int>(region.groups.size());
  std::vector<std::vector<double>> values(num_groups);
  std::vector<std::set<Arc>> used(num_groups);
  std::vector<std::pair<double, int>> order;  // (-bags moved, group)
  for (int g = 0; g < num_groups; ++g) {
    if (!solutions[g].active) continue;
    values[g] = solutions[g].values;
    used[g] = ArcsUsed(models[g], values[g]);
    double bags = 0.0;
    for (const Move& m : models[g].moves) bags += values[g][m.column];
    order.emplace_back(-bags, g);
  }
  std::sort(order.begin(), order.end());
  auto open_except = [&](int g, bool built_only, size_t position) {
    std::set<Arc> open;
    for (size_t k = 0; k < order.size(); ++k) {
      const int other = order[k].second;
      if (other == g || (built_only && k >= position)) continue;
      open.insert(used[other].begin(), used[other].end());
    }
    return open;
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t k = 0; k < order.size(); ++k) {
      const int g = order[k].second;
      const std::set<Arc> open = open_except(g, /*built_only=*/pass == 0, k);
      // Trips the others make anyway cost this group nothing: if it uses no other, it cannot
      // save one.
      if (std::includes(open.begin(), open.end(), used[g].begin(), used[g].end())) continue;
      BG_RETURN_IF_ERROR(
          ReduceGroupTrips(region, models[g], solutions[g], options, open, &values[g]));
      used[g] = ArcsUsed(models[g], values[g]);
    }
  }
  std::vector<PlannedMove> planned;
  for (int g = 0; g < num_groups; ++g) {
    if (!solutions[g].active) continue;
    for (const Move& m : models[g].moves) {
      const int64_t bags = std::llround(values[g][m.column]);
      if (bags > 0) planned.push_back({g, m.from, m.lot, m.to, bags});
    }
  }
  return planned;
}

// ---------------------------------------------------------------------------------------------
// The reply.

std::string QuantityText(const Group& group, double quantity) {
  const int64_t q = std::llround(quantity);
  absl::StatusOr<ComponentInfo> info = LookupComponent(group.component);
  std::string unit = info.ok() ? std::string(OrderingMeasureSymbol(info->measure)) : "";
  if (info.ok() && info->measure == OrderingMeasure::kDoses && q != 1) unit = "doses";
  return absl::StrCat(q, " ", unit);
}

std::string GroupText(const Group& group) {
  absl::StatusOr<ComponentInfo> info = LookupComponent(group.component);
  return absl::StrCat(group.blood_type.ToString(), " ",
                      info.ok() ? std::string(info->name) : "component");
}

void FillCoverChange(const Region& region, const Group& group, int station, int64_t delta,
                     const StockProjection& before, const StockProjection& after,
                     v1::CoverChange* out) {
  const Cell& cell = group.cells[station];
  out->set_station_id(region.stations[station]);
  out->set_component(group.component);
  *out->mutable_blood_type() = group.blood_type.ToProto();
  out->set_available_before(cell.available);
  out->set_available_after(cell.available + delta);
  out->set_days_of_cover_before(cell.DaysOfCover(static_cast<double>(cell.available)));
  out->set_days_of_cover_after(cell.DaysOfCover(static_cast<double>(cell.available + delta)));
  out->set_expected_shortage_before(std::llround(before.unmet));
  out->set_expected_shortage_after(std::llround(after.unmet));
  out->set_expected_outdate_before(std::llround(before.outdated));
  out->set_expected_outdate_after(std::llround(after.outdated));
}

struct ProposalDraft {
  v1::TransferProposal proposal;
  bool fixes_shortage = false;
  double urgency = 0.0;  // days of cover (shortage) or hours to expiry (outdate)
};

}  // namespace

absl::Status ValidatePlannerOptions(const PlannerOptions& options) {
  auto non_negative = [](double v) { return std::isfinite(v) && v >= 0.0; };
  if (!non_negative(options.min_days_of_cover)) {
    return InvalidField("options.min_days_of_cover", "must be a finite number >= 0");
  }
  for (const auto& [component, days] : options.min_days_of_cover_by_component) {
    if (component == v1::COMPONENT_UNSPECIFIED || !LookupComponent(component).ok()) {
      return InvalidField("options.min_days_of_cover_by_component", "unknown component");
    }
    if (!non_negative(days)) {
      return InvalidField("options.min_days_of_cover_by_component", "must be finite numbers >= 0");
    }
  }
  if (!non_negative(options.cover_safety_factor)) {
    return InvalidField("options.cover_safety_factor", "must be a finite number >= 0");
  }
  if (!non_negative(options.critical_days_of_cover)) {
    return InvalidField("options.critical_days_of_cover", "must be a finite number >= 0");
  }
  if (options.expiry_safety_margin < absl::ZeroDuration() ||
      options.expiry_safety_margin == absl::InfiniteDuration()) {
    return InvalidField("options.expiry_safety_margin", "must be finite and >= 0");
  }
  if (!non_negative(options.demand_floor_par_days)) {
    return InvalidField("options.demand_floor_par_days", "must be a finite number >= 0");
  }
  if (options.quarantine_release_delay < absl::ZeroDuration() ||
      options.quarantine_release_delay == absl::InfiniteDuration()) {
    return InvalidField("options.quarantine_release_delay", "must be finite and >= 0");
  }
  if (!(options.quarantine_release_fraction >= 0.0 && options.quarantine_release_fraction <= 1.0)) {
    return InvalidField("options.quarantine_release_fraction", "must be 0..1");
  }
  if (options.max_solver_nodes < 1) {
    return InvalidField("options.max_solver_nodes", "must be >= 1");
  }
  if (options.solver_time_limit <= absl::ZeroDuration()) {
    return InvalidField("options.solver_time_limit", "must be > 0");
  }
  return absl::OkStatus();
}

double EstimateDailyDemand(int64_t issued_quantity, int window_days, int64_t par_minimum,
                           double floor_par_days) {
  double demand = window_days > 0
                      ? static_cast<double>(std::max<int64_t>(0, issued_quantity)) / window_days
                      : 0.0;
  if (floor_par_days > 0.0) demand = std::max(demand, par_minimum / floor_par_days);
  return demand;
}

absl::StatusOr<v1::PlanRebalanceResponse> PlanRebalance(
    const v1::GetRebalanceInputsResponse& inputs, const PlannerOptions& options) {
  BG_RETURN_IF_ERROR(ValidatePlannerOptions(options));
  BG_ASSIGN_OR_RETURN(Region region, ParseRegion(inputs, options));
  const int n = static_cast<int>(region.stations.size());
  const int num_groups = static_cast<int>(region.groups.size());

  // Baseline projections.
  std::vector<std::vector<StockProjection>> baseline(num_groups);
  for (int g = 0; g < num_groups; ++g) {
    for (int s = 0; s < n; ++s) {
      baseline[g].push_back(ProjectCell(region, region.groups[g].cells[s], nullptr, options));
    }
  }

  // Stages 1 and 2 per group (skipping groups with nothing to fix).
  std::vector<GroupModel> models(num_groups);
  std::vector<GroupSolution> solutions(num_groups);
  for (int g = 0; g < num_groups; ++g) {
    const Group& group = region.groups[g];
    double shortage = 0.0, outdate = 0.0;
    for (int s = 0; s < n; ++s) {
      shortage += ShortageScore(group, group.cells[s], baseline[g][s], options);
      outdate += baseline[g][s].outdated;
    }
    if (shortage <= kEpsilon && outdate <= kEpsilon) continue;
    models[g] = BuildGroupModel(region, group, baseline[g], options);
    BG_ASSIGN_OR_RETURN(solutions[g], SolveGroup(region, group, models[g], options));
  }

  // Stage 3: fewest trips at the same shortage and outdate.
  BG_ASSIGN_OR_RETURN(std::vector<PlannedMove> planned,
                      ConsolidateTrips(region, options, models, solutions));

  // Changes with every proposal applied, for the summary.
  std::vector<std::vector<CellChange>> all_changes(num_groups, std::vector<CellChange>(n));
  for (const PlannedMove& pm : planned) {
    const Group& group = region.groups[pm.group];
    CellChange& from = all_changes[pm.group][pm.from];
    if (from.taken.empty()) from.taken.assign(group.cells[pm.from].lots.size(), 0);
    from.taken[pm.lot] += pm.bags;
    all_changes[pm.group][pm.to].arrivals.push_back(
        {TransportHours(region, pm.from, pm.to), &group.cells[pm.from].lots[pm.lot], pm.bags});
  }

  // One proposal per (origin, destination).
  std::map<std::pair<int, int>, std::vector<PlannedMove>> trips;
  for (const PlannedMove& pm : planned) trips[{pm.from, pm.to}].push_back(pm);
  std::vector<ProposalDraft> drafts;
  for (const auto& [arc, moves] : trips) {
    const auto [from, to] = arc;
    ProposalDraft draft;
    v1::TransferProposal& proposal = draft.proposal;
    proposal.set_from_station_id(region.stations[from]);
    proposal.set_to_station_id(region.stations[to]);
    proposal.set_transport_minutes(region.minutes[from][to]);
    double shortage_urgency = kInfinity, outdate_urgency = kInfinity;
    std::map<int, std::vector<PlannedMove>> by_group;  // groups are sorted: items come in order
    for (const PlannedMove& pm : moves) by_group[pm.group].push_back(pm);
    for (const auto& [g, group_moves] : by_group) {
      const Group& group = region.groups[g];
      const Cell& origin = group.cells[from];
      const Cell& dest = group.cells[to];
      CellChange origin_change, dest_change;
      origin_change.taken.assign(origin.lots.size(), 0);
      double moved = 0.0;
      for (const PlannedMove& pm : group_moves) {
        origin_change.taken[pm.lot] += pm.bags;
        dest_change.arrivals.push_back(
            {TransportHours(region, from, to), &origin.lots[pm.lot], pm.bags});
        moved += pm.bags * origin.lots[pm.lot].bag();
      }
      const int64_t quantity = std::llround(moved);
      v1::TransferLot* lot = proposal.add_items()->mutable_lot();
      lot->set_component(group.component);
      *lot->mutable_blood_type() = group.blood_type.ToProto();
      lot->set_quantity(static_cast<int32_t>(quantity));

      const StockProjection& origin_before = baseline[g][from];
      const StockProjection& dest_before = baseline[g][to];
      const StockProjection origin_after = ProjectCell(region, origin, &origin_change, options);
      const StockProjection dest_after = ProjectCell(region, dest, &dest_change, options);
      FillCoverChange(region, group, from, -quantity, origin_before, origin_after,
                      proposal.add_expected_effect());
      FillCoverChange(region, group, to, quantity, dest_before, dest_after,
                      proposal.add_expected_effect());

      // Reasons.
      const double dest_cover = dest.DaysOfCover(static_cast<double>(dest.available));
      const double required = CoverLevel(group, dest, options);
      const double end = dest_before.end_stock;
      const bool thin = dest.demand > 0.0 && end < required - kEpsilon;
      const bool below_par_at_end = dest.par_minimum > 0 && end < dest.par_minimum - kEpsilon;
      const bool below_target_at_end = dest.par_target > 0 && end < dest.par_target - kEpsilon;
      const bool dest_short =
          dest_before.unmet > kEpsilon || thin || below_par_at_end || below_target_at_end;
      auto base_reason = [&](v1::RebalanceReasonKind kind, int station, const Cell& cell) {
        v1::RebalanceReason* r = proposal.add_reasons();
        r->set_kind(kind);
        r->set_station_id(region.stations[station]);
        r->set_component(group.component);
        *r->mutable_blood_type() = group.blood_type.ToProto();
        r->set_days_of_cover(cell.DaysOfCover(static_cast<double>(cell.available)));
        r->set_available_quantity(cell.available);
        r->set_par_minimum(cell.par_minimum);
        return r;
      };
      bool has_reason = false;
      if (dest_short) {
        v1::RebalanceReason* r = base_reason(v1::REBALANCE_REASON_KIND_SHORTAGE, to, dest);
        std::string text = absl::StrFormat(
            "shortage at %s for %s: %.1f days of cover (minimum %.1f)", region.stations[to],
            GroupText(group), std::max(0.0, dest_cover), group.min_cover_days);
        if (dest_before.unmet >= 0.5) {
          absl::StrAppend(&text, "; ", QuantityText(group, dest_before.unmet),
                          " of demand unmet within ", region.horizon_hours, " h");
        } else if (thin) {
          absl::StrAppend(&text, absl::StrFormat("; %.1f days left at the end of %d h",
                                                 end / dest.demand, region.horizon_hours));
        } else if (below_par_at_end || below_target_at_end) {
          absl::StrAppend(
              &text, "; ", QuantityText(group, end), " left at the end of ", region.horizon_hours,
              " h, par ", below_par_at_end ? "minimum " : "target ",
              QuantityText(group, static_cast<double>(below_par_at_end ? dest.par_minimum
                                                                       : dest.par_target)));
        }
        r->set_message(text);
        shortage_urgency = std::min(shortage_urgency, std::max(0.0, dest_cover));
        draft.fixes_shortage = true;
        has_reason = true;
      }
      if (dest.par_minimum > 0 && dest.available < dest.par_minimum) {
        v1::RebalanceReason* r = base_reason(v1::REBALANCE_REASON_KIND_BELOW_PAR, to, dest);
        r->set_message(absl::StrCat(region.stations[to], " below par for ", GroupText(group), ": ",
                                    QuantityText(group, static_cast<double>(dest.available)),
                                    " available, par minimum ",
                                    QuantityText(group, static_cast<double>(dest.par_minimum))));
        shortage_urgency = std::min(shortage_urgency, std::max(0.0, dest_cover));
        draft.fixes_shortage = true;
        has_reason = true;
      }
      if (origin_before.outdated > kEpsilon &&
          (origin_after.outdated < origin_before.outdated - kEpsilon || !has_reason)) {
        v1::RebalanceReason* r = base_reason(v1::REBALANCE_REASON_KIND_OUTDATE_RISK, from, origin);
        r->set_expiring_quantity(std::llround(origin_before.outdated));
        absl::Time earliest = absl::InfiniteFuture();
        for (size_t k = 0; k < origin.lots.size(); ++k) {
          const Lot& l = origin.lots[k];
          if (!l.beyond_horizon && l.quantity - origin_before.served_by_source[k] > kEpsilon) {
            earliest = std::min(earliest, l.expires_at);
          }
        }
        if (earliest == absl::InfiniteFuture()) earliest = region.as_of;
        ToTimestamp(earliest, r->mutable_earliest_expiry());
        const double hours = absl::ToDoubleHours(earliest - region.as_of);
        std::string text = absl::StrFormat(
            "%s of %s expire%s in %.0f h at %s ", QuantityText(group, origin_before.outdated),
            GroupText(group), std::llround(origin_before.outdated) == 1 ? "s" : "", hours,
            region.stations[from]);
        if (origin.demand <= 0.0) {
          absl::StrAppend(&text, "with no demand there");
        } else {
          absl::StrAppend(&text, "unused there (demand ", absl::StrFormat("%.1f", origin.demand),
                          " a day)");
        }
        r->set_message(text);
        outdate_urgency = std::min(outdate_urgency, hours);
        has_reason = true;
      }
      if (!has_reason) {
        // A move that only helps with the others of the plan: name the destination's state.
        v1::RebalanceReason* r = base_reason(v1::REBALANCE_REASON_KIND_SHORTAGE, to, dest);
        r->set_message(absl::StrFormat("cover at %s for %s: %.1f days (minimum %.1f)",
                                       region.stations[to], GroupText(group),
                                       std::max(0.0, dest_cover), group.min_cover_days));
        shortage_urgency = std::min(shortage_urgency, std::max(0.0, dest_cover));
        draft.fixes_shortage = true;
      }
    }
    draft.urgency = draft.fixes_shortage ? shortage_urgency : outdate_urgency;
    drafts.push_back(std::move(draft));
  }
  std::stable_sort(drafts.begin(), drafts.end(),
                   [](const ProposalDraft& a, const ProposalDraft& b) {
                     if (a.fixes_shortage != b.fixes_shortage) return a.fixes_shortage;
                     if (a.urgency != b.urgency) return a.urgency < b.urgency;
                     return std::tie(a.proposal.from_station_id(), a.proposal.to_station_id()) <
                            std::tie(b.proposal.from_station_id(), b.proposal.to_station_id());
                   });

  v1::PlanRebalanceResponse response;
  *response.mutable_generated_at() = inputs.as_of();
  response.set_horizon_hours(region.horizon_hours);
  for (size_t p = 0; p < drafts.size(); ++p) {
    drafts[p].proposal.set_proposal_id(absl::StrCat("P", p + 1));
    *response.add_proposals() = std::move(drafts[p].proposal);
  }
  response.set_trips(static_cast<int32_t>(drafts.size()));

  std::map<v1::Component, std::array<double, 4>> totals;  // shortage/outdate before/after
  for (int g = 0; g < num_groups; ++g) {
    std::array<double, 4>& t = totals[region.groups[g].component];
    for (int s = 0; s < n; ++s) {
      const StockProjection after =
          ProjectCell(region, region.groups[g].cells[s], &all_changes[g][s], options);
      t[0] += baseline[g][s].unmet;
      t[1] += after.unmet;
      t[2] += baseline[g][s].outdated;
      t[3] += after.outdated;
    }
  }
  for (const auto& [component, t] : totals) {
    v1::ComponentEffect* effect = response.add_summary();
    effect->set_component(component);
    effect->set_expected_shortage_before(std::llround(t[0]));
    effect->set_expected_shortage_after(std::llround(t[1]));
    effect->set_expected_outdate_before(std::llround(t[2]));
    effect->set_expected_outdate_after(std::llround(t[3]));
  }
  return response;
}

}  // namespace bloodgrid::planner
