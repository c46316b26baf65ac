#include "inventory_service/inventory_rules.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "common/donation_rules.h"
#include "common/policy.h"
#include "common/status.h"

namespace bloodgrid::inventory {
namespace {

BloodType FromProtoType(const v1::BloodType& type) { return BloodType{type.abo(), type.rhd()}; }

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<v1::ScreeningTest> RequiredReleaseTests(const v1::PolicyProfile& policy) {
  std::set<int> tests;
  for (int test : policy.release().mandatory_tests()) tests.insert(test);
  tests.insert(v1::SCREENING_TEST_ABO_RHD);  // typing is always needed before release
  std::vector<v1::ScreeningTest> out;
  for (int test : tests) out.push_back(static_cast<v1::ScreeningTest>(test));
  return out;
}

TestingState DeriveTestingState(absl::Span<const v1::ScreeningTest> required,
                                absl::Span<const CurrentResult> current) {
  TestingState state;
  std::map<int, const CurrentResult*> by_test;
  for (const CurrentResult& result : current) by_test[result.test] = &result;
  for (const auto& [test, result] : by_test) {
    if (test == v1::SCREENING_TEST_ABO_RHD) {
      if (result->typed.IsKnown()) state.typed = result->typed;
    } else if (result->reactive) {
      state.reactive.push_back(static_cast<v1::ScreeningTest>(test));
    }
  }
  std::set<int> required_sorted(required.begin(), required.end());
  for (int test : required_sorted) {
    auto it = by_test.find(test);
    const bool missing =
        it == by_test.end() || (test == v1::SCREENING_TEST_ABO_RHD && !it->second->typed.IsKnown());
    if (missing) state.pending.push_back(static_cast<v1::ScreeningTest>(test));
  }
  if (!state.reactive.empty()) {
    state.outcome = v1::TESTING_OUTCOME_REACTIVE;
  } else if (state.pending.empty() && state.typed.has_value()) {
    state.outcome = v1::TESTING_OUTCOME_RELEASED;
  } else {
    state.outcome = v1::TESTING_OUTCOME_PENDING;
  }
  return state;
}

ResultChange ClassifyResult(const CurrentResult* current, const v1::TestResultInput& input) {
  if (current == nullptr) return ResultChange::kNew;
  if (input.test() == v1::SCREENING_TEST_ABO_RHD) {
    return current->typed == FromProtoType(input.blood_type()) ? ResultChange::kUnchanged
                                                               : ResultChange::kCorrection;
  }
  return current->reactive == input.reactive() ? ResultChange::kUnchanged
                                               : ResultChange::kCorrection;
}

// ---------------------------------------------------------------------------------------------

v1::Component CollectedComponent(v1::DonationType type) {
  return bloodgrid::CollectedComponent(type);
}

absl::StatusOr<CollectionPlan> PlanCollection(const v1::PolicyProfile& policy, absl::TimeZone tz,
                                              const v1::RegisterCollectionRequest& request) {
  CollectionPlan plan;
  plan.component = CollectedComponent(request.donation_type());
  if (request.has_quantity()) {
    plan.quantity = request.quantity();
  } else if (plan.component == v1::COMPONENT_WHOLE_BLOOD) {
    // DOMAIN.md section 2: 1 U = derived from 200 mL of whole blood (CN convention).
    plan.quantity =
        std::max(1, request.volume_ml() / policy.units().whole_blood_ml_per_red_cell_unit());
  } else if (plan.component == v1::COMPONENT_PLATELETS) {
    plan.quantity = 1;  // one apheresis bag = one therapeutic dose
  } else {
    plan.quantity = request.volume_ml();  // plasma in mL
  }
  absl::StatusOr<absl::Time> expires = ExpiresAt(
      policy, plan.component, FromTimestamp(request.collected_at()), tz, request.anticoagulant());
  if (!expires.ok()) {
    return InvalidField(
        "anticoagulant",
        absl::StrCat("the policy profile has no shelf life for ",
                     v1::Component_Name(plan.component), " with ",
                     v1::PolicyProfile::Anticoagulant_Name(request.anticoagulant())));
  }
  plan.expires_at = *expires;
  return plan;
}

absl::StatusOr<std::vector<ComponentPlan>> PlanComponents(const v1::PolicyProfile& policy,
                                                          absl::TimeZone tz, const v1::Unit& parent,
                                                          absl::Span<const v1::ComponentSpec> specs,
                                                          absl::Time processed_at) {
  const int ml_per_unit = std::max(1, policy.units().whole_blood_ml_per_red_cell_unit());
  int64_t given = 0;
  int without_volume = 0;
  for (const v1::ComponentSpec& spec : specs) {
    if (spec.has_volume_ml()) {
      given += spec.volume_ml();
    } else {
      ++without_volume;
    }
  }
  if (given > parent.volume_ml()) {
    return InvalidField(
        "components", absl::StrCat("child volumes (", given, " mL) exceed the whole-blood unit's (",
                                   parent.volume_ml(), " mL)"));
  }
  const int32_t share =
      without_volume == 0 ? 0 : static_cast<int32_t>((parent.volume_ml() - given) / without_volume);
  const absl::Time collected = FromTimestamp(parent.collected_at());
  std::map<int, int> divisions;
  std::vector<ComponentPlan> plans;
  for (size_t i = 0; i < specs.size(); ++i) {
    const v1::ComponentSpec& spec = specs[i];
    ComponentPlan plan;
    plan.component = spec.component();
    plan.division = ++divisions[spec.component()];
    plan.volume_ml = spec.has_volume_ml() ? spec.volume_ml() : share;
    plan.preparation = spec.preparation();
    plan.product_code = spec.product_code();
    if (spec.has_quantity()) {
      plan.quantity = spec.quantity();
    } else if (spec.component() == v1::COMPONENT_RED_CELLS ||
               spec.component() == v1::COMPONENT_CRYO) {
      plan.quantity = std::max(1, parent.volume_ml() / ml_per_unit);
    } else if (spec.component() == v1::COMPONENT_PLASMA) {
      plan.quantity = plan.volume_ml;
    } else {
      plan.quantity = 1;
    }
    // Red cells keep the anticoagulant/additive of the bag; the other components have one
    // storage rule each.
    plan.anticoagulant = spec.component() == v1::COMPONENT_RED_CELLS
                             ? parent.anticoagulant()
                             : v1::PolicyProfile::ANTICOAGULANT_UNSPECIFIED;
    absl::StatusOr<absl::Time> expires;
    if (plan.preparation == v1::PolicyProfile::PREPARATION_WASHED) {
      // WS 399-2012: washed red cells keep 24 h from washing, never past the original expiry.
      absl::StatusOr<absl::Time> from_washing =
          ExpiresAt(policy, plan.component, processed_at, tz, plan.anticoagulant, plan.preparation);
      absl::StatusOr<absl::Time> limit =
          ExpiresAt(policy, plan.component, collected, tz, plan.anticoagulant);
      if (from_washing.ok() && limit.ok()) {
        expires = std::min(*from_washing, *limit);
      } else {
        expires = from_washing.ok() ? limit.status() : from_washing.status();
      }
    } else {
      expires =
          ExpiresAt(policy, plan.component, collected, tz, plan.anticoagulant, plan.preparation);
    }
    if (!expires.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("components[", i, "]: the policy profile has no shelf life for ",
                       v1::Component_Name(plan.component), " with ",
                       v1::PolicyProfile::Anticoagulant_Name(plan.anticoagulant), " and ",
                       v1::PolicyProfile::Preparation_Name(plan.preparation)));
    }
    plan.expires_at = *expires;
    plans.push_back(std::move(plan));
  }
  return plans;
}

absl::string_view ComponentCode(v1::Component component) {
  switch (component) {
    case v1::COMPONENT_WHOLE_BLOOD:
      return "WB";
    case v1::COMPONENT_RED_CELLS:
      return "RC";
    case v1::COMPONENT_PLASMA:
      return "PL";
    case v1::COMPONENT_PLATELETS:
      return "PT";
    case v1::COMPONENT_CRYO:
      return "CR";
    default:
      return "XX";
  }
}

std::string UnitIdFor(absl::string_view din, v1::Component component, int32_t division) {
  return absl::StrCat(din, "-", ComponentCode(component), division);
}

// ---------------------------------------------------------------------------------------------

std::pair<int32_t, int32_t> AllocationOrderKey(v1::Priority priority, int32_t tier,
                                               int32_t station_rank) {
  // DESIGN.md "Allocation" 2: EMERGENCY takes what is on the shelf now (station first);
  // ROUTINE and URGENT the better match first, bags elsewhere coming by transfer.
  if (priority == v1::PRIORITY_EMERGENCY) return {station_rank, tier};
  return {tier, station_rank};
}

bool PreferredBefore(v1::Priority priority, const ChoiceUnit& a, const ChoiceUnit& b) {
  return std::make_tuple(AllocationOrderKey(priority, a.tier, a.station_rank), a.expires_at,
                         std::cref(a.unit_id)) <
         std::make_tuple(AllocationOrderKey(priority, b.tier, b.station_rank), b.expires_at,
                         std::cref(b.unit_id));
}

std::vector<PreferenceGroup> PreferenceGroups(v1::Priority priority,
                                              absl::Span<const int32_t> tiers,
                                              absl::Span<const int32_t> station_ranks) {
  std::vector<PreferenceGroup> groups;
  for (int32_t tier : tiers) {
    for (int32_t rank : station_ranks) groups.push_back({tier, rank});
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [&](const PreferenceGroup& a, const PreferenceGroup& b) {
                     return AllocationOrderKey(priority, a.tier, a.station_rank) <
                            AllocationOrderKey(priority, b.tier, b.station_rank);
                   });
  return groups;
}

std::vector<size_t> ChooseUnits(v1::Priority priority, int32_t quantity, absl::Time floor,
                                absl::Span<const ChoiceUnit> units) {
  std::vector<size_t> order;
  for (size_t i = 0; i < units.size(); ++i) {
    if (units[i].expires_at > floor && units[i].quantity > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return PreferredBefore(priority, units[a], units[b]); });
  std::vector<size_t> taken;
  int64_t sum = 0;
  size_t last_pos = 0;
  for (size_t pos = 0; pos < order.size() && sum < quantity; ++pos) {
    taken.push_back(order[pos]);
    sum += units[order[pos]].quantity;
    last_pos = pos;
  }
  if (sum > quantity && !taken.empty()) {
    // DESIGN.md "Allocation" 3: least overshoot. Only the last bag is reconsidered, and only
    // against bags of its own tier and station, so the order of preference still holds.
    const ChoiceUnit& last = units[taken.back()];
    const int64_t needed = quantity - (sum - last.quantity);
    size_t best = taken.back();
    for (size_t pos = last_pos + 1; pos < order.size(); ++pos) {
      const ChoiceUnit& unit = units[order[pos]];
      if (unit.tier != last.tier || unit.station_rank != last.station_rank) continue;
      if (unit.quantity >= needed && unit.quantity < units[best].quantity) best = order[pos];
    }
    taken.back() = best;
  }
  return taken;
}

std::vector<size_t> PickFefo(int32_t quantity, absl::Time floor,
                             absl::Span<const ChoiceUnit> units) {
  std::vector<size_t> order;
  for (size_t i = 0; i < units.size(); ++i) {
    if (units[i].expires_at > floor && units[i].quantity > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(units[a].expires_at, units[a].unit_id) <
           std::tie(units[b].expires_at, units[b].unit_id);
  });
  std::vector<size_t> taken;
  int64_t sum = 0;
  for (size_t pos = 0; pos < order.size() && sum < quantity; ++pos) {
    taken.push_back(order[pos]);
    sum += units[order[pos]].quantity;
  }
  return taken;
}

// ---------------------------------------------------------------------------------------------

double DistanceKm(const v1::GeoPoint& a, const v1::GeoPoint& b) {
  constexpr double kEarthRadiusKm = 6371.0088;
  constexpr double kRad = std::numbers::pi / 180.0;
  const double dlat = (b.latitude() - a.latitude()) * kRad;
  const double dlon = (b.longitude() - a.longitude()) * kRad;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(a.latitude() * kRad) * std::cos(b.latitude() * kRad) *
                       std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(h)));
}

absl::Duration TransportTime(const v1::Station& from, const v1::Station& to,
                             const TransportSettings& settings) {
  if (!from.has_location() || !to.has_location() || settings.speed_km_per_hour <= 0) {
    return settings.without_location;
  }
  const double hours = DistanceKm(from.location(), to.location()) * settings.road_factor /
                       settings.speed_km_per_hour;
  return std::max(settings.minimum, absl::Seconds(std::ceil(hours * 3600)));
}

// ---------------------------------------------------------------------------------------------

LevelKey KeyOf(const v1::StockLevel& level) {
  return LevelKey{level.station_id(), level.component(), level.blood_type().abo(),
                  level.blood_type().rhd()};
}

LevelKey KeyOfUnit(const v1::Unit& unit) {
  return LevelKey{unit.station_id(), unit.component(), unit.blood_type().abo(),
                  unit.blood_type().rhd()};
}

std::vector<v1::StockAlert> LevelAlerts(const v1::StockLevel* previous, const v1::StockLevel& now) {
  auto below = [](const v1::StockLevel& level) {
    return level.par_minimum() > 0 && level.available().quantity() < level.par_minimum();
  };
  auto make = [&](v1::StockAlertKind kind, absl::string_view what) {
    v1::StockAlert alert;
    alert.set_kind(kind);
    alert.set_station_id(now.station_id());
    alert.set_component(now.component());
    *alert.mutable_blood_type() = now.blood_type();
    *alert.mutable_available() = now.available();
    alert.set_par_minimum(now.par_minimum());
    alert.set_message(absl::StrCat(now.station_id(), " ", v1::Component_Name(now.component()), " ",
                                   FromProtoType(now.blood_type()).ToString(), ": ", what, " (",
                                   now.available().quantity(), " available, par minimum ",
                                   now.par_minimum(), ")"));
    return alert;
  };
  std::vector<v1::StockAlert> alerts;
  if (previous == nullptr) {
    if (below(now)) alerts.push_back(make(v1::STOCK_ALERT_KIND_BELOW_PAR, "below par"));
    return alerts;
  }
  if (!below(*previous) && below(now)) {
    alerts.push_back(make(v1::STOCK_ALERT_KIND_BELOW_PAR, "below par"));
  } else if (below(*previous) && !below(now)) {
    alerts.push_back(make(v1::STOCK_ALERT_KIND_PAR_RESTORED, "back at par"));
  }
  if (previous->available().units() > 0 && now.available().units() == 0) {
    alerts.push_back(make(v1::STOCK_ALERT_KIND_OUT_OF_STOCK, "out of stock"));
  }
  return alerts;
}

absl::CivilDay SubtractPeriod(absl::CivilDay day, const v1::PolicyProfile::Period& period) {
  auto months_back = [&](int months) {
    const absl::CivilMonth target = absl::CivilMonth(day) - months;
    const absl::CivilDay first_of_next = absl::CivilDay(target + 1);
    const int last_day = (first_of_next - 1).day();
    return absl::CivilDay(target.year(), target.month(), std::min(day.day(), last_day));
  };
  switch (period.length_case()) {
    case v1::PolicyProfile::Period::kHours:
      return day - (period.hours() + 23) / 24;
    case v1::PolicyProfile::Period::kDays:
      return day - period.days();
    case v1::PolicyProfile::Period::kWeeks:
      return day - 7 * period.weeks();
    case v1::PolicyProfile::Period::kMonths:
      return months_back(period.months());
    case v1::PolicyProfile::Period::kYears:
      return months_back(12 * period.years());
    default:
      return day;
  }
}

}  // namespace bloodgrid::inventory
