// Projection of one station's stock of one component and blood type: the expected demand (a
// constant rate) is served first-expire-first-out from the supply available at each moment,
// and what expires on the shelf is outdated. Pure and thread-safe.
//
// This is the planner's measure of "expected shortage" and "expected outdate", and the solver's
// model reproduces it exactly (serving the soonest-expiring available stock first is optimal
// for both), so the effects a plan reports are the ones its optimisation saw.
//
// Two horizons: shortage and end stock are judged at `horizon_hours`; outdates over a longer
// `lookahead_hours`. Future collections are not known, but they do not change which of today's
// units are used before they expire: served first-expire-first-out, fresher stock never takes
// demand away from older stock.
#ifndef BLOODGRID_PLANNER_STOCK_PROJECTION_H_
#define BLOODGRID_PLANNER_STOCK_PROJECTION_H_

#include <limits>
#include <vector>

namespace bloodgrid::planner {

// Expiry of stock that keeps beyond the look-ahead.
inline constexpr double kNeverExpires = std::numeric_limits<double>::infinity();

// Stock that can serve demand from `available_from_hours` (0 = now) until `expires_at_hours`
// (kNeverExpires, or anything >= the look-ahead: after it). Hours count from the plan's instant;
// quantities are in the component's ordering measure.
struct SupplySource {
  double available_from_hours = 0.0;
  double expires_at_hours = 0.0;
  double quantity = 0.0;
};

struct StockProjection {
  // Demand over the horizon (daily demand x horizon days).
  double demand = 0.0;
  // Demand served within the horizon, and demand left unmet there (expected shortage).
  double served = 0.0;
  double unmet = 0.0;
  // Stock at the station at the end of the horizon that has not expired by then.
  double end_stock = 0.0;
  // Stock expiring unused before the end of the look-ahead (expected outdate).
  double outdated = 0.0;
  // Per source, in the order given: quantity served from it up to the end of the look-ahead,
  // and the part of it served within the horizon.
  std::vector<double> served_by_source;
  std::vector<double> served_in_horizon_by_source;
};

// Serves `daily_demand` per day, spread evenly over [0, lookahead_hours), from `sources`.
// `lookahead_hours` < `horizon_hours` (e.g. the default -1) means equal to it. Sources that
// become available at or after the look-ahead are ignored. Negative quantities or demand count
// as 0.
StockProjection ProjectStock(const std::vector<SupplySource>& sources, double daily_demand,
                             double horizon_hours, double lookahead_hours = -1.0);

}  // namespace bloodgrid::planner

#endif  // BLOODGRID_PLANNER_STOCK_PROJECTION_H_
