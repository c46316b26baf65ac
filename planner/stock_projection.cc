#include "planner/stock_projection.h"

#include <algorithm>
#include <numeric>

namespace bloodgrid::planner {

StockProjection ProjectStock(const std::vector<SupplySource>& sources, double daily_demand,
                             double horizon_hours, double lookahead_hours) {
  StockProjection result;
  const size_t n = sources.size();
  result.served_by_source.assign(n, 0.0);
  const double horizon = std::max(0.0, horizon_hours);
  const double lookahead = std::max(horizon, lookahead_hours);
  const double rate = std::max(0.0, daily_demand) / 24.0;  // per hour
  result.demand = rate * horizon;

  std::vector<double> left(n);
  std::vector<double> served_in_horizon(n, 0.0);
  std::vector<double> breakpoints{0.0, horizon, lookahead};
  for (size_t i = 0; i < n; ++i) {
    left[i] = std::max(0.0, sources[i].quantity);
    const double a = std::max(0.0, sources[i].available_from_hours);
    if (a < lookahead) breakpoints.push_back(a);
    const double e = sources[i].expires_at_hours;
    if (e > 0.0 && e < lookahead) breakpoints.push_back(e);
  }
  std::sort(breakpoints.begin(), breakpoints.end());
  breakpoints.erase(std::unique(breakpoints.begin(), breakpoints.end()), breakpoints.end());

  // Sources in first-expire-first-out order (ties: earlier arrival, then input order).
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    if (sources[x].expires_at_hours != sources[y].expires_at_hours) {
      return sources[x].expires_at_hours < sources[y].expires_at_hours;
    }
    return sources[x].available_from_hours < sources[y].available_from_hours;
  });

  for (size_t b = 0; b + 1 < breakpoints.size(); ++b) {
    const double t0 = breakpoints[b];
    const double t1 = breakpoints[b + 1];
    if (t1 <= t0 || t0 >= lookahead) continue;
    double need = rate * (t1 - t0);
    for (size_t idx : order) {
      if (need <= 0.0) break;
      const SupplySource& s = sources[idx];
      if (left[idx] <= 0.0) continue;
      if (std::max(0.0, s.available_from_hours) > t0) continue;
      if (s.expires_at_hours < t1) continue;  // gone during (or before) this interval
      const double take = std::min(need, left[idx]);
      left[idx] -= take;
      need -= take;
      result.served_by_source[idx] += take;
      if (t1 <= horizon) {
        served_in_horizon[idx] += take;
        result.served += take;
      }
    }
  }
  result.unmet = std::max(0.0, result.demand - result.served);
  result.served_in_horizon_by_source = served_in_horizon;
  for (size_t i = 0; i < n; ++i) {
    const double a = std::max(0.0, sources[i].available_from_hours);
    if (a >= lookahead) continue;
    const double e = sources[i].expires_at_hours;
    if (e < lookahead) result.outdated += left[i];
    if (a <= horizon && (e > horizon || e >= lookahead)) {
      result.end_stock += std::max(0.0, sources[i].quantity) - served_in_horizon[i];
    }
  }
  return result;
}

}  // namespace bloodgrid::planner
