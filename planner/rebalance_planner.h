// The rebalance planner: proposes transfers between stations that reduce, in this order,
// expected shortages, expected outdates and the number of trips (issue 9; DispatchApi.
// PlanRebalance in protos/bloodgrid/v1/dispatch_api.proto).
//
// Input is exactly InventoryService.GetRebalanceInputs' reply; output is exactly
// DispatchApi.PlanRebalance's. PlanRebalance is a pure function: no I/O, no clock (the plan's
// instant is inputs.as_of), the same output for the same input (whatever the order of the
// input's repeated fields), and thread-safe.
//
// Model. For each station x component x blood type ("cell"):
//   - daily demand d = max(position.daily_demand, par_minimum / demand_floor_par_days);
//     days of cover = available / d (-1 when d = 0);
//   - supply over the horizon: the available lots (each until its expiry), stock in transit
//     towards the station (from now), quarantined stock (quarantine_release_fraction of it,
//     from quarantine_release_delay on), and the lots a plan brings in (from arrival on).
//     Reserved stock serves its orders, not new demand. No future collections are assumed.
//   - the demand is served first-expire-first-out (stock_projection.h): expected shortage =
//     demand of the horizon left unmet; end stock = what is left at the end of the horizon;
//     expected outdate = stock expiring unused before the end of the look-ahead.
// Two horizons: the planning horizon H (options.horizon_hours, by default the inputs') for
// shortages, and the look-ahead L = inputs.horizon_hours >= H for outdates. Future
// collections are unknown, but served first-expire-first-out they never take demand from
// older stock, so a lot's outdate can be projected over its whole life: ask GetRebalanceInputs
// for a horizon as long as the shortest shelf life of interest (e.g. 120 h for platelets) to
// see lots individually that far, and plan shortages over a shorter H.
// A cell is short when it has unmet demand, or would end the horizon below its par minimum,
// below its cover level (min_days_of_cover days of demand plus cover_safety_factor standard
// deviations of it) or below its par target (what rebalancing fills towards, ParLevel.target).
// The plan minimises, lexicographically:
//   1. shortage = sum over cells of 4 x unmet + 2 x (par minimum - end stock)+ +
//      1 x (cover level - end stock)+ + 0.5 x (par target - end stock)+, so a stock-out is
//      fixed before a par gap, a par gap before thin cover, thin cover before a gap below
//      target (each weight exceeds the sum of the milder ones);
//   2. outdate = sum of expected outdates;
//   3. trips = number of (origin, destination) pairs used; then, as a tie-break, fewer bags
//      moved over shorter roads.
// Hard rules: only AVAILABLE lots move (reserved, quarantined and in-transit stock never
// does); a lot moves only to a destination it reaches at least expiry_safety_margin before it
// expires, and only if it arrives within the planning horizon; an origin never goes below its
// own par minimum to fill another station, except for a destination whose days of cover are
// below critical_days_of_cover when allow_below_par_for_critical (and even then it keeps
// min(par minimum, critical_days_of_cover x its own demand)); the lots an origin gives up are
// its soonest-expiring eligible ones (CreateTransfer picks lots first-expire-first-out).
//
// Solution. Quantities are whole bags (of each lot's average bag size). Stages 1 and 2 are
// mixed-integer programs per component x blood type (they are independent), solved by GLPK
// with a rounding heuristic; the search stops within half a bag of the optimum (whole bags
// cannot match the fractional optimum of expected values exactly) or after max_solver_nodes
// nodes. Stage 3 shares trips between components and blood types: each component x blood type
// in turn, largest first, minimises the trips that the others do not already make, keeping
// its stage-1 and stage-2 optimum; then once more in the same order. The result is a good
// plan, not a proven lexicographic optimum; with a node budget instead of a clock it is the
// same plan on every machine.
#ifndef BLOODGRID_PLANNER_REBALANCE_PLANNER_H_
#define BLOODGRID_PLANNER_REBALANCE_PLANNER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/dispatch_api.pb.h"
#include "bloodgrid/v1/inventory.pb.h"

namespace bloodgrid::planner {

// Planning policy. The defaults are the shipped policy; every field is checked by
// ValidatePlannerOptions.
struct PlannerOptions {
  // Planning horizon, hours: 0 = inputs.horizon_hours; else 1..inputs.horizon_hours (the
  // inputs' longer horizon is then the outdate look-ahead).
  int horizon_hours = 0;
  // Days of demand a station should still hold at the end of the horizon (>= 0).
  double min_days_of_cover = 3.0;
  // Per-component override of min_days_of_cover (e.g. platelets, which keep 5 days only).
  std::map<v1::Component, double> min_days_of_cover_by_component;
  // Safety stock on top of that cover, in standard deviations of its demand (counted in bags,
  // as Poisson): the level is D + z x sqrt(D) bags for D bags of demand (>= 0). Matters for
  // the small, lumpy demand of rare types.
  double cover_safety_factor = 1.0;
  // A destination with fewer days of cover than this now is critically short (>= 0).
  double critical_days_of_cover = 1.0;
  // Whether an origin may go below its own par minimum for a critically short destination.
  bool allow_below_par_for_critical = true;
  // A lot moves only if it expires at least this long after its arrival (>= 0).
  absl::Duration expiry_safety_margin = absl::Hours(12);
  // Demand floor: daily demand is at least par_minimum / this many days; 0 = no floor.
  double demand_floor_par_days = 7.0;
  // Quarantined stock counts as released this long after as_of (>= 0), in this fraction
  // (0..1; some donations test reactive).
  absl::Duration quarantine_release_delay = absl::Hours(24);
  double quarantine_release_fraction = 0.95;
  // Only proposals from or to this station; "" = the whole region. INVALID_ARGUMENT
  // ("station_id: ...") when it names no active station of the inputs.
  std::string station_id;
  // Branch-and-bound budget per solve (>= 1; stage 3 gets half). A node budget keeps the
  // output deterministic; when it is reached the best plan found so far is used.
  int max_solver_nodes = 50;
  // Backstop per solve (> 0); never reached on regional sizes (see docs/performance.md).
  absl::Duration solver_time_limit = absl::Seconds(20);
};

// OK, or INVALID_ARGUMENT naming the first bad field ("options.min_days_of_cover: ...").
absl::Status ValidatePlannerOptions(const PlannerOptions& options);

// Proposes transfers for the planning horizon after inputs.as_of (see the model above).
// Proposals come most urgent first (those fixing a shortage before those preventing outdates,
// then by the destination's days of cover or the earliest expiry), numbered "P1", "P2", ...;
// each proposal's expected_effect is that trip alone applied to the current stock, while
// summary compares no proposal with all of them; expected shortages are over the planning
// horizon, expected outdates over the look-ahead (OUTDATE_RISK reasons likewise). Nothing is
// proposed when moving stock would not reduce an expected shortage or outdate. INVALID_ARGUMENT
// naming the field for: horizon_hours outside 1..336 (or options.horizon_hours outside
// 0..inputs.horizon_hours), as_of unset, a station without id or listed twice, a transport time
// with an unknown or equal pair of stations, negative minutes or a pair listed twice, a position
// with an unknown station, an unspecified component, a blood type not fully specified, a negative
// quantity or demand, par_target < par_minimum, a cell listed twice, a lot without expiry or with
// bags and quantity not both zero or both positive; and for bad options (ValidatePlannerOptions).
// Inactive stations are left out of the plan. INTERNAL only if the solver fails (a defect, never
// the input).
absl::StatusOr<v1::PlanRebalanceResponse> PlanRebalance(
    const v1::GetRebalanceInputsResponse& inputs, const PlannerOptions& options);

// The demand estimate of StockPosition.daily_demand: issued quantity over the trailing window
// divided by its days, at least par_minimum / floor_par_days (no floor when floor_par_days is
// 0). 0 for a window of 0 days with no par floor.
double EstimateDailyDemand(int64_t issued_quantity, int window_days, int64_t par_minimum,
                           double floor_par_days);

}  // namespace bloodgrid::planner

#endif  // BLOODGRID_PLANNER_REBALANCE_PLANNER_H_
