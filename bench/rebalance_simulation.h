// A region simulation to evaluate stock balancing between blood stations (issue 9).
//
// A region of stations collects blood and serves hospital demand per component x blood type,
// hour by hour, over a number of days. Three strategies run on the SAME random streams
// (collections and requests are drawn once from the seed, then replayed for each):
//   - none:      stations never transfer;
//   - threshold: once a day, every station below its par minimum gets, from the station with
//                the most days of cover (and stock above its own par), enough to reach its par
//                target;
//   - planner:   once a day, planner::PlanRebalance on the region's GetRebalanceInputs, and
//                every proposal executed as DispatchApi.CreateTransfer would (lots picked
//                first-expire-first-out among units that outlive arrival + the safety margin).
// Reported per strategy and component: bags requested, bags requested but not filled
// (shortage), bags expired (outdate), bags moved and trips.
//
// Model (documented in docs/performance.md): requests are filled first-expire-first-out from
// the station's own AVAILABLE stock of the exact blood type; what cannot be filled is lost.
// Collections happen 08:00-18:00, are quarantined and released at 08:00 the next day; shelf
// lives and expiry instants come from the policy profile (ExpiresAt, UTC). Balancing runs at
// 20:00. Everything is deterministic for a seed.
#ifndef BLOODGRID_BENCH_REBALANCE_SIMULATION_H_
#define BLOODGRID_BENCH_REBALANCE_SIMULATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "planner/rebalance_planner.h"

namespace bloodgrid::bench {

struct SimulationOptions {
  // 5..10 stations (the first is the central station), 30..90 simulated days.
  int stations = 7;
  int days = 60;
  uint64_t seed = 1;
  // Planning horizon handed to the planner (hours, 1..336), and the horizon of its inputs
  // (GetRebalanceInputs.horizon_hours: lots expiring within it are seen one by one), which is
  // its outdate look-ahead (>= horizon_hours).
  int horizon_hours = 48;
  int lookahead_hours = 120;
  // Planner policy; the simulation sets station_id = "" and the quarantine release delay.
  planner::PlannerOptions planner;
};

// Totals of one strategy for one component and blood type, one component (blood_type "") or
// all (component UNSPECIFIED), in bags.
struct Tally {
  v1::Component component = v1::COMPONENT_UNSPECIFIED;
  std::string blood_type;
  int64_t requested = 0;
  int64_t shortage = 0;
  int64_t outdated = 0;
  int64_t moved = 0;
};

struct StrategyResult {
  std::string name;
  Tally total;
  std::vector<Tally> by_component;
  std::vector<Tally> by_blood_type;
  int64_t trips = 0;
  // Planner only: wall time spent planning and the slowest plan, milliseconds.
  double planning_ms = 0.0;
  double slowest_plan_ms = 0.0;
  int plan_errors = 0;
};

struct SimulationResult {
  SimulationOptions options;
  std::string policy_name;
  // Mean daily demand of the region, bags, per simulated component (for context).
  std::vector<std::pair<v1::Component, double>> daily_demand;
  // none, threshold, planner, and the bound "pooled": the whole region as one shelf (no
  // transport), which no balancing can beat.
  std::vector<StrategyResult> strategies;
};

// INVALID_ARGUMENT naming the option for stations, days or horizon out of range; other codes
// when the policy lacks a shelf life for a simulated component.
absl::StatusOr<SimulationResult> RunRebalanceSimulation(const SimulationOptions& options,
                                                        const v1::PolicyProfile& policy);

// The result as a text table or as one JSON object.
std::string FormatTable(const SimulationResult& result);
std::string FormatJson(const SimulationResult& result);

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_REBALANCE_SIMULATION_H_
