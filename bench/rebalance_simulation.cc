#include "bench/rebalance_simulation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/blood.h"
#include "common/policy.h"
#include "common/status.h"

namespace bloodgrid::bench {
namespace {

// ---------------------------------------------------------------------------------------------
// The region's parameters. Demand and supply are in bags per station per day before the
// station's weight; one bag is 2 U of red cells (a 400 mL donation), one platelet dose, or
// 200 mL of plasma.

struct ComponentModel {
  v1::Component component;
  int bag_quantity;                   // in the ordering measure
  double daily_demand;                // bags per station per day (mean over stations)
  double supply_ratio;                // region's collections / region's demand
  std::vector<double> request_sizes;  // bags per request, equally likely
  double par_days;                    // par minimum, days of mean demand
  double target_days;                 // par target, days of mean demand
  int initial_age_days;               // initial stock collected uniformly within this many days
};

const std::array<ComponentModel, 3>& Components() {
  static const std::array<ComponentModel, 3> kModels = {{
      {v1::COMPONENT_RED_CELLS, 2, 10.0, 1.04, {1, 1, 1, 2, 2}, 3.0, 5.0, 20},
      {v1::COMPONENT_PLATELETS, 1, 2.0, 1.12, {1}, 1.5, 2.5, 2},
      {v1::COMPONENT_PLASMA, 200, 4.0, 1.05, {1, 2, 3}, 3.0, 6.0, 100},
  }};
  return kModels;
}

// Blood-type mix of donors and patients (Han Chinese: RhD-negative about 0.3-0.4 %; the
// issue asks for a mix with the RhD-negatives around 6 % together, as in many regions).
struct TypeShare {
  const char* type;
  double share;
};
constexpr std::array<TypeShare, 8> kTypeMix = {{{"O+", 0.38},
                                                {"A+", 0.27},
                                                {"B+", 0.22},
                                                {"AB+", 0.07},
                                                {"O-", 0.025},
                                                {"A-", 0.018},
                                                {"B-", 0.012},
                                                {"AB-", 0.005}}};

constexpr int kCollectionStartHour = 8;
constexpr int kCollectionHours = 10;
constexpr int kReleaseHour = 8;
constexpr int kPlanningHour = 20;
constexpr int kDemandWindowDays = 28;

struct Group {
  int component = 0;  // index into Components()
  BloodType type;
  double share = 0.0;
};

struct Station {
  std::string id;
  double x_km = 0.0;
  double y_km = 0.0;
  double demand_weight = 1.0;
  double supply_weight = 1.0;
};

struct Region {
  absl::Time start;
  int days = 0;
  std::vector<Station> stations;
  std::vector<std::vector<int>> minutes;
  std::vector<Group> groups;
  // Per station x group: mean demand (bags/day), par minimum and target (bags).
  std::vector<std::vector<double>> mean_demand;
  std::vector<std::vector<int64_t>> par_minimum;
  std::vector<std::vector<int64_t>> par_target;
  // Events per hour: collections (station, group) and requests (station, group, bags).
  struct Collection {
    int station;
    int group;
    absl::Time expires_at;
  };
  struct Request {
    int station;
    int group;
    int bags;
  };
  std::vector<std::vector<Collection>> collections;  // by hour
  std::vector<std::vector<Request>> requests;        // by hour
  // Initial AVAILABLE stock per station x group: expiry instants.
  std::vector<std::vector<std::vector<absl::Time>>> initial_stock;
};

absl::StatusOr<Region> MakeRegion(const SimulationOptions& options,
                                  const v1::PolicyProfile& policy) {
  Region region;
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  region.start = absl::FromCivil(absl::CivilDay(2025, 3, 3), absl::UTCTimeZone());
  region.days = options.days;

  const int n = options.stations;
  double demand_sum = 0.0, supply_sum = 0.0;
  for (int s = 0; s < n; ++s) {
    Station st;
    st.id = s == 0 ? "CENTRAL" : absl::StrFormat("BR-%02d", s);
    const double angle = 2 * std::numbers::pi * unit(rng);
    const double radius = s == 0 ? 0.0 : 20.0 + 70.0 * unit(rng);
    st.x_km = radius * std::cos(angle);
    st.y_km = radius * std::sin(angle);
    st.demand_weight = 0.4 + 1.2 * unit(rng);
    // The central station collects most (fixed sites, mobile teams); branches vary.
    st.supply_weight = s == 0 ? 2.5 : 0.3 + 1.2 * unit(rng);
    demand_sum += st.demand_weight;
    supply_sum += st.supply_weight;
    region.stations.push_back(st);
  }
  for (Station& st : region.stations) {
    st.demand_weight *= n / demand_sum;
    st.supply_weight *= n / supply_sum;
  }
  region.minutes.assign(n, std::vector<int>(n, 0));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      const double km = std::hypot(region.stations[i].x_km - region.stations[j].x_km,
                                   region.stations[i].y_km - region.stations[j].y_km);
      // 20 min loading + road distance (x1.3) at 60 km/h.
      region.minutes[i][j] = 20 + static_cast<int>(std::lround(km * 1.3));
    }
  }
  for (int c = 0; c < static_cast<int>(Components().size()); ++c) {
    for (const TypeShare& t : kTypeMix) {
      region.groups.push_back({c, ParseBloodType(t.type).value(), t.share});
    }
  }
  const int num_groups = static_cast<int>(region.groups.size());
  region.mean_demand.assign(n, std::vector<double>(num_groups));
  region.par_minimum.assign(n, std::vector<int64_t>(num_groups));
  region.par_target.assign(n, std::vector<int64_t>(num_groups));
  for (int s = 0; s < n; ++s) {
    for (int g = 0; g < num_groups; ++g) {
      const ComponentModel& cm = Components()[region.groups[g].component];
      const double mean =
          cm.daily_demand * region.stations[s].demand_weight * region.groups[g].share;
      region.mean_demand[s][g] = mean;
      // A station keeps at least one of the largest requests of every type.
      const double largest = *std::max_element(cm.request_sizes.begin(), cm.request_sizes.end());
      region.par_minimum[s][g] =
          std::max<int64_t>(std::llround(largest), std::llround(std::ceil(cm.par_days * mean)));
      region.par_target[s][g] = std::max<int64_t>(region.par_minimum[s][g] + 1,
                                                  std::llround(std::ceil(cm.target_days * mean)));
    }
  }

  // Initial stock: each station at its par target, ages spread over the first days of life.
  region.initial_stock.assign(n, std::vector<std::vector<absl::Time>>(num_groups));
  for (int s = 0; s < n; ++s) {
    for (int g = 0; g < num_groups; ++g) {
      const ComponentModel& cm = Components()[region.groups[g].component];
      BG_ASSIGN_OR_RETURN(absl::Duration shelf, ShelfLife(policy, cm.component));
      for (int64_t b = 0; b < region.par_target[s][g]; ++b) {
        const double age_days =
            std::min(cm.initial_age_days, static_cast<int>(absl::ToDoubleHours(shelf) / 24.0) - 1) *
            unit(rng);
        const absl::Time collected = region.start - absl::Hours(24 * age_days) - absl::Hours(14);
        BG_ASSIGN_OR_RETURN(absl::Time expires,
                            ExpiresAt(policy, cm.component, collected, absl::UTCTimeZone()));
        region.initial_stock[s][g].push_back(expires);
      }
      std::sort(region.initial_stock[s][g].begin(), region.initial_stock[s][g].end());
    }
  }

  // Events, hour by hour, in a fixed order so that a seed always gives the same streams.
  const int hours = 24 * options.days;
  region.collections.resize(hours);
  region.requests.resize(hours);
  for (int h = 0; h < hours; ++h) {
    const int hour_of_day = h % 24;
    const absl::Time now = region.start + absl::Hours(h);
    for (int s = 0; s < n; ++s) {
      for (int g = 0; g < num_groups; ++g) {
        const ComponentModel& cm = Components()[region.groups[g].component];
        double mean_size = 0.0;
        for (double size : cm.request_sizes) mean_size += size;
        mean_size /= static_cast<double>(cm.request_sizes.size());
        const double request_rate = region.mean_demand[s][g] / 24.0 / mean_size;
        std::poisson_distribution<int> requests(request_rate);
        for (int k = requests(rng); k > 0; --k) {
          std::uniform_int_distribution<size_t> pick(0, cm.request_sizes.size() - 1);
          region.requests[h].push_back({s, g, static_cast<int>(cm.request_sizes[pick(rng)])});
        }
        if (hour_of_day >= kCollectionStartHour &&
            hour_of_day < kCollectionStartHour + kCollectionHours) {
          // Collections: the region's demand times the supply ratio, spread by supply weight.
          const double rate = cm.daily_demand * cm.supply_ratio * region.stations[s].supply_weight *
                              region.groups[g].share / kCollectionHours;
          std::poisson_distribution<int> collected(rate);
          for (int k = collected(rng); k > 0; --k) {
            const absl::Time at =
                now + absl::Minutes(std::uniform_int_distribution<int>(0, 59)(rng));
            BG_ASSIGN_OR_RETURN(absl::Time expires,
                                ExpiresAt(policy, cm.component, at, absl::UTCTimeZone()));
            region.collections[h].push_back({s, g, expires});
          }
        }
      }
    }
  }
  return region;
}

// ---------------------------------------------------------------------------------------------
// One strategy's run.

enum class Strategy { kNone, kThreshold, kPlanner, kPooled };

struct Pending {
  absl::Time at;  // release or arrival
  int station;
  int group;
  absl::Time expires_at;
};

class Run {
 public:
  Run(const Region& region, const SimulationOptions& options, Strategy strategy)
      : region_(region), options_(options), strategy_(strategy) {
    const int n = static_cast<int>(region.stations.size());
    const int num_groups = static_cast<int>(region.groups.size());
    stock_ = region.initial_stock;
    if (strategy == Strategy::kPooled) {
      // The bound: one shelf for the whole region, no transport.
      for (int s = 1; s < n; ++s) {
        for (int g = 0; g < num_groups; ++g) {
          stock_[0][g].insert(stock_[0][g].end(), stock_[s][g].begin(), stock_[s][g].end());
          std::sort(stock_[0][g].begin(), stock_[0][g].end());
          stock_[s][g].clear();
        }
      }
    }
    history_.assign(n, std::vector<std::deque<int64_t>>(num_groups));
    issued_today_.assign(n, std::vector<int64_t>(num_groups, 0));
    for (int s = 0; s < n; ++s) {
      for (int g = 0; g < num_groups; ++g) {
        // A station knows its past: the window starts filled with its mean demand.
        history_[s][g].assign(kDemandWindowDays, std::llround(region.mean_demand[s][g]));
      }
    }
    for (const Group& group : region.groups) {
      Tally t;
      t.component = Components()[group.component].component;
      t.blood_type = group.type.ToString();
      tallies_.push_back(t);
    }
  }

  StrategyResult Execute() {
    const int hours = 24 * region_.days;
    for (int h = 0; h < hours; ++h) {
      const absl::Time now = region_.start + absl::Hours(h);
      const int hour_of_day = h % 24;
      if (hour_of_day == 0 && h > 0) RollDay();
      Arrive(now);
      if (hour_of_day == kPlanningHour) Balance(now);
      for (const Region::Collection& c : region_.collections[h]) {
        // Quarantined until the morning after (testing), then AVAILABLE.
        const absl::CivilDay day = absl::ToCivilDay(now, absl::UTCTimeZone()) + 1;
        const absl::Time release = absl::FromCivil(
            absl::CivilHour(day.year(), day.month(), day.day(), kReleaseHour), absl::UTCTimeZone());
        quarantine_.push_back({release, Where(c.station), c.group, c.expires_at});
      }
      for (const Region::Request& r : region_.requests[h]) Fill(r);
      Expire(now + absl::Hours(1));
    }
    StrategyResult result;
    result.name = strategy_ == Strategy::kNone        ? "none"
                  : strategy_ == Strategy::kThreshold ? "threshold"
                  : strategy_ == Strategy::kPlanner   ? "planner"
                                                      : "pooled";
    for (const ComponentModel& cm : Components()) {
      Tally sum;
      sum.component = cm.component;
      for (const Tally& t : tallies_) {
        if (t.component == cm.component) Add(t, &sum);
      }
      result.by_component.push_back(sum);
      Add(sum, &result.total);
    }
    result.by_blood_type = tallies_;
    result.trips = trips_;
    result.planning_ms = planning_ms_;
    result.slowest_plan_ms = slowest_plan_ms_;
    result.plan_errors = plan_errors_;
    return result;
  }

 private:
  static void Add(const Tally& t, Tally* sum) {
    sum->requested += t.requested;
    sum->shortage += t.shortage;
    sum->outdated += t.outdated;
    sum->moved += t.moved;
  }
  int BagQuantity(int group) const {
    return Components()[region_.groups[group].component].bag_quantity;
  }

  void Insert(int station, int group, absl::Time expires_at) {
    std::vector<absl::Time>& shelf = stock_[station][group];
    shelf.insert(std::upper_bound(shelf.begin(), shelf.end(), expires_at), expires_at);
  }

  void RollDay() {
    for (size_t s = 0; s < history_.size(); ++s) {
      for (size_t g = 0; g < history_[s].size(); ++g) {
        history_[s][g].push_back(issued_today_[s][g]);
        history_[s][g].pop_front();
        issued_today_[s][g] = 0;
      }
    }
  }

  void Arrive(absl::Time now) {
    for (std::vector<Pending>* list : {&quarantine_, &in_flight_}) {
      std::vector<Pending> waiting;
      for (const Pending& p : *list) {
        if (p.at > now) {
          waiting.push_back(p);
        } else if (p.expires_at <= now) {
          ++tallies_[p.group].outdated;  // expired on the way
        } else {
          Insert(p.station, p.group, p.expires_at);
        }
      }
      *list = std::move(waiting);
    }
  }

  int Where(int station) const { return strategy_ == Strategy::kPooled ? 0 : station; }

  void Fill(const Region::Request& r) {
    std::vector<absl::Time>& shelf = stock_[Where(r.station)][r.group];
    const int taken = std::min<int>(r.bags, static_cast<int>(shelf.size()));
    shelf.erase(shelf.begin(), shelf.begin() + taken);  // first-expire-first-out
    tallies_[r.group].requested += r.bags;
    tallies_[r.group].shortage += r.bags - taken;
    issued_today_[r.station][r.group] += taken;
  }

  void Expire(absl::Time until) {
    for (size_t s = 0; s < stock_.size(); ++s) {
      for (size_t g = 0; g < stock_[s].size(); ++g) {
        std::vector<absl::Time>& shelf = stock_[s][g];
        const auto end = std::upper_bound(shelf.begin(), shelf.end(), until);
        tallies_[g].outdated += end - shelf.begin();
        shelf.erase(shelf.begin(), end);
      }
    }
  }

  double DemandEstimate(int station, int group) const {
    int64_t issued = 0;
    for (int64_t day : history_[station][group]) issued += day;
    return planner::EstimateDailyDemand(issued, kDemandWindowDays,
                                        region_.par_minimum[station][group],
                                        options_.planner.demand_floor_par_days);
  }

  // Moves up to `bags` bags first-expire-first-out among those that outlive arrival + margin
  // (as InventoryService.CreateTransfer picks lots). Returns the number moved.
  int64_t Ship(absl::Time now, int from, int to, int group, int64_t bags) {
    const absl::Time arrival = now + absl::Minutes(region_.minutes[from][to]);
    const absl::Time earliest_expiry = arrival + options_.planner.expiry_safety_margin;
    std::vector<absl::Time>& shelf = stock_[from][group];
    auto first = std::lower_bound(shelf.begin(), shelf.end(), earliest_expiry);
    const int64_t n = std::min<int64_t>(bags, shelf.end() - first);
    for (auto it = first; it != first + n; ++it) in_flight_.push_back({arrival, to, group, *it});
    shelf.erase(first, first + n);
    tallies_[group].moved += n;
    return n;
  }

  void Balance(absl::Time now) {
    if (strategy_ == Strategy::kThreshold) BalanceByThreshold(now);
    if (strategy_ == Strategy::kPlanner) BalanceByPlanner(now);
  }

  void BalanceByThreshold(absl::Time now) {
    const int n = static_cast<int>(region_.stations.size());
    std::set<std::pair<int, int>> trips;
    for (int g = 0; g < static_cast<int>(region_.groups.size()); ++g) {
      for (int j = 0; j < n; ++j) {
        const int64_t have = static_cast<int64_t>(stock_[j][g].size());
        if (have >= region_.par_minimum[j][g]) continue;
        int donor = -1;
        double best_cover = -1.0;
        for (int i = 0; i < n; ++i) {
          const int64_t stock = static_cast<int64_t>(stock_[i][g].size());
          if (i == j || stock <= region_.par_minimum[i][g]) continue;
          const double demand = DemandEstimate(i, g);
          const double cover = demand > 0.0 ? stock / demand : std::numeric_limits<double>::max();
          if (cover > best_cover) {
            best_cover = cover;
            donor = i;
          }
        }
        if (donor < 0) continue;
        const int64_t spare =
            static_cast<int64_t>(stock_[donor][g].size()) - region_.par_minimum[donor][g];
        const int64_t want = region_.par_target[j][g] - have;
        if (Ship(now, donor, j, g, std::min(spare, want)) > 0) trips.insert({donor, j});
      }
    }
    trips_ += static_cast<int64_t>(trips.size());
  }

  v1::GetRebalanceInputsResponse Inputs(absl::Time now) const {
    v1::GetRebalanceInputsResponse in;
    in.mutable_as_of()->set_seconds(absl::ToUnixSeconds(now));
    in.set_horizon_hours(options_.lookahead_hours);
    in.set_demand_window_days(kDemandWindowDays);
    const int n = static_cast<int>(region_.stations.size());
    for (int s = 0; s < n; ++s) {
      v1::Station* st = in.add_stations();
      st->set_station_id(region_.stations[s].id);
      st->set_name(region_.stations[s].id);
      st->set_kind(s == 0 ? v1::STATION_KIND_CENTRAL : v1::STATION_KIND_BRANCH);
      st->set_active(true);
      for (int j = 0; j < n; ++j) {
        if (j == s) continue;
        v1::TransportTime* t = in.add_transport_times();
        t->set_from_station_id(region_.stations[s].id);
        t->set_to_station_id(region_.stations[j].id);
        t->set_minutes(region_.minutes[s][j]);
      }
    }
    std::vector<std::vector<int64_t>> quarantined(n, std::vector<int64_t>(region_.groups.size()));
    std::vector<std::vector<int64_t>> in_transit = quarantined;
    for (const Pending& p : quarantine_) ++quarantined[p.station][p.group];
    for (const Pending& p : in_flight_) ++in_transit[p.station][p.group];
    const absl::Time horizon_end = now + absl::Hours(options_.lookahead_hours);
    for (int s = 0; s < n; ++s) {
      for (int g = 0; g < static_cast<int>(region_.groups.size()); ++g) {
        const int bag = BagQuantity(g);
        v1::StockPosition* p = in.add_positions();
        p->set_station_id(region_.stations[s].id);
        p->set_component(Components()[region_.groups[g].component].component);
        *p->mutable_blood_type() = region_.groups[g].type.ToProto();
        // Lots by expiry within the horizon; everything after it in one bucket.
        const std::vector<absl::Time>& shelf = stock_[s][g];
        for (size_t k = 0; k < shelf.size();) {
          size_t end = k + 1;
          const bool beyond = shelf[k] >= horizon_end;
          while (end < shelf.size() && (beyond || shelf[end] == shelf[k])) ++end;
          v1::ExpiryLot* lot = p->add_available_lots();
          lot->mutable_expires_at()->set_seconds(absl::ToUnixSeconds(shelf[k]));
          lot->mutable_count()->set_units(static_cast<int32_t>(end - k));
          lot->mutable_count()->set_quantity(static_cast<int64_t>(end - k) * bag);
          lot->set_beyond_horizon(beyond);
          k = end;
        }
        p->set_quarantined_quantity(quarantined[s][g] * bag);
        p->set_in_transit_in_quantity(in_transit[s][g] * bag);
        p->set_par_minimum(region_.par_minimum[s][g] * bag);
        p->set_par_target(region_.par_target[s][g] * bag);
        p->set_daily_demand(DemandEstimate(s, g) * bag);
      }
    }
    return in;
  }

  void BalanceByPlanner(absl::Time now) {
    const v1::GetRebalanceInputsResponse inputs = Inputs(now);
    planner::PlannerOptions options = options_.planner;
    options.station_id.clear();
    options.horizon_hours = options_.horizon_hours;
    const absl::Time started = absl::Now();
    absl::StatusOr<v1::PlanRebalanceResponse> plan = planner::PlanRebalance(inputs, options);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - started);
    planning_ms_ += ms;
    slowest_plan_ms_ = std::max(slowest_plan_ms_, ms);
    if (!plan.ok()) {
      ++plan_errors_;
      return;
    }
    std::map<std::string, int> index;
    for (int s = 0; s < static_cast<int>(region_.stations.size()); ++s)
      index[region_.stations[s].id] = s;
    for (const v1::TransferProposal& proposal : plan->proposals()) {
      const int from = index[proposal.from_station_id()];
      const int to = index[proposal.to_station_id()];
      int64_t moved = 0;
      for (const v1::TransferItem& item : proposal.items()) {
        const v1::TransferLot& lot = item.lot();
        for (int g = 0; g < static_cast<int>(region_.groups.size()); ++g) {
          if (Components()[region_.groups[g].component].component != lot.component() ||
              !(region_.groups[g].type.ToProto().abo() == lot.blood_type().abo() &&
                region_.groups[g].type.ToProto().rhd() == lot.blood_type().rhd())) {
            continue;
          }
          const int bag = BagQuantity(g);
          moved += Ship(now, from, to, g, (lot.quantity() + bag - 1) / bag);
        }
      }
      if (moved > 0) ++trips_;
    }
  }

  const Region& region_;
  const SimulationOptions& options_;
  const Strategy strategy_;
  std::vector<std::vector<std::vector<absl::Time>>> stock_;  // sorted expiry instants
  std::vector<Pending> quarantine_;
  std::vector<Pending> in_flight_;
  std::vector<std::vector<std::deque<int64_t>>> history_;
  std::vector<std::vector<int64_t>> issued_today_;
  std::vector<Tally> tallies_;  // by group
  int64_t trips_ = 0;
  double planning_ms_ = 0.0;
  double slowest_plan_ms_ = 0.0;
  int plan_errors_ = 0;
};

std::string ComponentName(v1::Component c) {
  absl::StatusOr<ComponentInfo> info = LookupComponent(c);
  return info.ok() ? std::string(info->name) : "all";
}

}  // namespace

absl::StatusOr<SimulationResult> RunRebalanceSimulation(const SimulationOptions& options,
                                                        const v1::PolicyProfile& policy) {
  if (options.stations < 5 || options.stations > 10) {
    return InvalidField("stations", "must be 5..10");
  }
  if (options.days < 30 || options.days > 90) return InvalidField("days", "must be 30..90");
  if (options.horizon_hours < 1 || options.horizon_hours > 336) {
    return InvalidField("horizon_hours", "must be 1..336");
  }
  if (options.lookahead_hours < options.horizon_hours || options.lookahead_hours > 336) {
    return InvalidField("lookahead_hours", "must be horizon_hours..336");
  }
  SimulationOptions effective = options;
  // What the model knows: today's collections are released 12 h after planning (08:00 the
  // next day), all of them; cover targets default to each component's par days.
  effective.planner.quarantine_release_delay = absl::Hours(24 + kReleaseHour - kPlanningHour);
  effective.planner.quarantine_release_fraction = 1.0;
  if (effective.planner.min_days_of_cover_by_component.empty()) {
    for (const ComponentModel& cm : Components()) {
      effective.planner.min_days_of_cover_by_component[cm.component] = cm.par_days;
    }
  }
  BG_RETURN_IF_ERROR(planner::ValidatePlannerOptions(effective.planner));
  BG_ASSIGN_OR_RETURN(Region region, MakeRegion(effective, policy));

  SimulationResult result;
  result.options = effective;
  result.policy_name = policy.name();
  for (size_t c = 0; c < Components().size(); ++c) {
    double total = 0.0;
    for (size_t s = 0; s < region.stations.size(); ++s) {
      for (size_t g = 0; g < region.groups.size(); ++g) {
        if (region.groups[g].component == static_cast<int>(c)) total += region.mean_demand[s][g];
      }
    }
    result.daily_demand.emplace_back(Components()[c].component, total);
  }
  for (Strategy s :
       {Strategy::kNone, Strategy::kThreshold, Strategy::kPlanner, Strategy::kPooled}) {
    result.strategies.push_back(Run(region, result.options, s).Execute());
  }
  return result;
}

std::string FormatTable(const SimulationResult& r) {
  std::string out = absl::StrFormat(
      "rebalancing simulation: seed %d, %d stations, %d days, horizon %d h (look-ahead %d h), "
      "policy %s\n",
      r.options.seed, r.options.stations, r.options.days, r.options.horizon_hours,
      r.options.lookahead_hours, r.policy_name);
  absl::StrAppend(&out, "mean regional demand, bags/day:");
  for (const auto& [component, demand] : r.daily_demand) {
    absl::StrAppend(&out, absl::StrFormat(" %s %.1f", ComponentName(component), demand));
  }
  absl::StrAppend(&out, "\n\n",
                  absl::StrFormat("%-10s %10s %9s %9s %7s %6s %12s\n", "strategy", "requested",
                                  "shortage", "outdated", "moved", "trips", "planning_ms"));
  for (const StrategyResult& s : r.strategies) {
    absl::StrAppend(
        &out,
        absl::StrFormat("%-10s %10d %9d %9d %7d %6d %12s\n", s.name, s.total.requested,
                        s.total.shortage, s.total.outdated, s.total.moved, s.trips,
                        s.name == "planner"
                            ? absl::StrFormat("%.0f (max %.0f)", s.planning_ms, s.slowest_plan_ms)
                            : std::string("-")));
  }
  absl::StrAppend(&out, "\nper component (shortage / outdated / moved, bags):\n");
  absl::StrAppend(&out, absl::StrFormat("%-10s", ""));
  for (const Tally& t : r.strategies[0].by_component) {
    absl::StrAppend(&out, absl::StrFormat(" %22s", ComponentName(t.component)));
  }
  absl::StrAppend(&out, "\n");
  for (const StrategyResult& s : r.strategies) {
    absl::StrAppend(&out, absl::StrFormat("%-10s", s.name));
    for (const Tally& t : s.by_component) {
      absl::StrAppend(&out, absl::StrFormat(" %22s", absl::StrFormat("%d / %d / %d", t.shortage,
                                                                     t.outdated, t.moved)));
    }
    absl::StrAppend(&out, "\n");
  }
  for (const StrategyResult& s : r.strategies) {
    if (s.plan_errors > 0) {
      absl::StrAppend(&out, absl::StrFormat("%s: %d plans failed\n", s.name, s.plan_errors));
    }
  }
  return out;
}

std::string FormatJson(const SimulationResult& r) {
  auto tally = [](const Tally& t) {
    return absl::StrFormat("{\"requested\":%d,\"shortage\":%d,\"outdated\":%d,\"moved\":%d}",
                           t.requested, t.shortage, t.outdated, t.moved);
  };
  std::string out = absl::StrFormat(
      "{\"seed\":%d,\"stations\":%d,\"days\":%d,\"horizon_hours\":%d,\"lookahead_hours\":%d,"
      "\"policy\":\"%s\",\"strategies\":[",
      r.options.seed, r.options.stations, r.options.days, r.options.horizon_hours,
      r.options.lookahead_hours, r.policy_name);
  for (size_t i = 0; i < r.strategies.size(); ++i) {
    const StrategyResult& s = r.strategies[i];
    absl::StrAppend(&out, i > 0 ? "," : "", "{\"name\":\"", s.name, "\",\"total\":", tally(s.total),
                    ",\"trips\":", s.trips,
                    absl::StrFormat(",\"planning_ms\":%.1f,\"slowest_plan_ms\":%.1f", s.planning_ms,
                                    s.slowest_plan_ms),
                    ",\"plan_errors\":", s.plan_errors, ",\"by_component\":{");
    for (size_t c = 0; c < s.by_component.size(); ++c) {
      absl::StrAppend(&out, c > 0 ? "," : "", "\"", ComponentName(s.by_component[c].component),
                      "\":", tally(s.by_component[c]));
    }
    absl::StrAppend(&out, "},\"by_blood_type\":{");
    for (size_t c = 0; c < s.by_blood_type.size(); ++c) {
      const Tally& t = s.by_blood_type[c];
      absl::StrAppend(&out, c > 0 ? "," : "", "\"", ComponentName(t.component), " ", t.blood_type,
                      "\":", tally(t));
    }
    absl::StrAppend(&out, "}}");
  }
  absl::StrAppend(&out, "]}\n");
  return out;
}

}  // namespace bloodgrid::bench
