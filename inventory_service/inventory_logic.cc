#include "inventory_service/inventory_logic.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/din.h"
#include "common/policy.h"
#include "common/status.h"

namespace bloodgrid::inventory {
namespace {

using v1::UnitStatus;

constexpr UnitStatus kQuarantined = v1::UNIT_STATUS_QUARANTINED;
constexpr UnitStatus kAvailable = v1::UNIT_STATUS_AVAILABLE;
constexpr UnitStatus kReserved = v1::UNIT_STATUS_RESERVED;
constexpr UnitStatus kInTransit = v1::UNIT_STATUS_IN_TRANSIT;
constexpr UnitStatus kIssued = v1::UNIT_STATUS_ISSUED;
constexpr UnitStatus kTransfused = v1::UNIT_STATUS_TRANSFUSED;
constexpr UnitStatus kReturned = v1::UNIT_STATUS_RETURNED;
constexpr UnitStatus kExpired = v1::UNIT_STATUS_EXPIRED;
constexpr UnitStatus kDiscarded = v1::UNIT_STATUS_DISCARDED;
constexpr UnitStatus kRecalled = v1::UNIT_STATUS_RECALLED;
constexpr UnitStatus kProcessed = v1::UNIT_STATUS_PROCESSED;

// DESIGN.md "Records and their lives", one row per arrow.
constexpr Transition kTransitions[] = {
    {kQuarantined, kAvailable},  // all tests non-reactive and typed
    {kQuarantined, kDiscarded},  // reactive test, damage, quality
    {kQuarantined, kRecalled},   // lookback
    {kQuarantined, kProcessed},  // whole blood split while still in testing
    {kQuarantined, kExpired},   {kAvailable, kReserved},  // order reservation or transfer pick
    {kAvailable, kQuarantined},                           // lookback hold
    {kAvailable, kDiscarded},   {kAvailable, kRecalled},
    {kAvailable, kExpired},     {kAvailable, kProcessed},
    {kReserved, kAvailable},    // released, expired hold, transfer cancelled
    {kReserved, kIssued},       // dispatched to a hospital
    {kReserved, kInTransit},    // transfer dispatched
    {kReserved, kQuarantined},  // lookback withdraws it from its reservation
    {kReserved, kExpired},      {kReserved, kDiscarded},  // a correction made the donation reactive
    {kInTransit, kAvailable},                             // received
    {kInTransit, kReserved},     // received for the reservation it travels for
    {kInTransit, kQuarantined},  // received while on lookback hold
    {kInTransit, kExpired},      // expired on the way
    {kInTransit, kDiscarded},    // rejected on receipt, or reactive
    {kIssued, kTransfused},     {kIssued, kReturned},
    {kIssued, kDiscarded},    // wasted at the hospital
    {kReturned, kAvailable},  // cold chain held
    {kReturned, kDiscarded},  // cold chain broken
    {kReturned, kExpired},
};

// Characters of UTF-8 text (continuation bytes not counted).
size_t CharCount(absl::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool IsIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

absl::Status ValidateOpaqueId(absl::string_view field, absl::string_view id, bool required) {
  if (id.empty()) {
    return required ? InvalidField(field, "is required") : absl::OkStatus();
  }
  if (id.size() > 64) return InvalidField(field, "longer than 64 characters");
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return InvalidField(field, "only printable ASCII characters without spaces are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateComponentRequired(absl::string_view field, v1::Component component) {
  if (component == v1::COMPONENT_UNSPECIFIED) return InvalidField(field, "is required");
  if (!v1::Component_IsValid(component)) return InvalidField(field, "unknown component");
  return absl::OkStatus();
}

absl::Status ValidateNotFuture(absl::string_view field, const google::protobuf::Timestamp& ts,
                               absl::Time now) {
  if (ts.seconds() < 0 || ts.nanos() < 0 || ts.nanos() > 999999999) {
    return InvalidField(field, "not a valid instant");
  }
  if (FromTimestamp(ts) > now) return InvalidField(field, "is in the future");
  return absl::OkStatus();
}

absl::Status ValidateDin(absl::string_view field, absl::string_view din) {
  absl::StatusOr<Din> parsed = ParseDin(din);
  if (parsed.ok()) return absl::OkStatus();
  // ParseDin names "din"; report the field as the request names it.
  absl::string_view message = parsed.status().message();
  absl::ConsumePrefix(&message, "din: ");
  return InvalidField(field, message);
}

BloodType FromProtoType(const v1::BloodType& type) { return BloodType{type.abo(), type.rhd()}; }

}  // namespace

// ---------------------------------------------------------------------------------------------

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// ---------------------------------------------------------------------------------------------

absl::Span<const Transition> AllowedTransitions() { return kTransitions; }

bool IsFinalStatus(v1::UnitStatus status) {
  return status == kTransfused || status == kExpired || status == kDiscarded ||
         status == kRecalled || status == kProcessed;
}

std::string StatusName(v1::UnitStatus status) {
  std::string name = v1::UnitStatus_Name(status);
  absl::string_view view = name;
  absl::ConsumePrefix(&view, "UNIT_STATUS_");
  return std::string(view);
}

absl::Status CheckTransition(v1::UnitStatus from, v1::UnitStatus to) {
  if (IsFinalStatus(from)) {
    return absl::FailedPreconditionError(
        absl::StrCat("unit is ", StatusName(from), ", a final state"));
  }
  if (from == to) return absl::OkStatus();
  for (const Transition& t : kTransitions) {
    if (t.from == from && t.to == to) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("a ", StatusName(from), " unit cannot become ", StatusName(to)));
}

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
  switch (type) {
    case v1::DONATION_TYPE_WHOLE_BLOOD:
      return v1::COMPONENT_WHOLE_BLOOD;
    case v1::DONATION_TYPE_APHERESIS_PLATELETS:
      return v1::COMPONENT_PLATELETS;
    case v1::DONATION_TYPE_APHERESIS_PLASMA:
      return v1::COMPONENT_PLASMA;
    default:
      return v1::COMPONENT_UNSPECIFIED;
  }
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

bool PreferredBefore(v1::Priority priority, const ChoiceUnit& a, const ChoiceUnit& b) {
  // DESIGN.md "Allocation" 2: EMERGENCY takes what is on the shelf now (station first);
  // ROUTINE and URGENT the better match first, bags elsewhere coming by transfer.
  if (priority == v1::PRIORITY_EMERGENCY) {
    return std::tie(a.station_rank, a.tier, a.expires_at, a.unit_id) <
           std::tie(b.station_rank, b.tier, b.expires_at, b.unit_id);
  }
  return std::tie(a.tier, a.station_rank, a.expires_at, a.unit_id) <
         std::tie(b.tier, b.station_rank, b.expires_at, b.unit_id);
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

OutcomePlan PlanOutcome(v1::TransfusionOutcome outcome, bool cold_chain_ok, bool expired) {
  OutcomePlan plan;
  switch (outcome) {
    case v1::TRANSFUSION_OUTCOME_TRANSFUSED:
    case v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED:
      plan.final_status = kTransfused;
      break;
    case v1::TRANSFUSION_OUTCOME_RETURNED:
      plan.via_returned = true;
      if (!cold_chain_ok) {
        plan.final_status = kDiscarded;
        plan.discard_reason = v1::DISCARD_REASON_COLD_CHAIN_FAILURE;
      } else if (expired) {
        plan.final_status = kExpired;
      } else {
        plan.final_status = kAvailable;
      }
      break;
    case v1::TRANSFUSION_OUTCOME_WASTED:
      plan.final_status = kDiscarded;
      plan.discard_reason = v1::DISCARD_REASON_WASTED;
      break;
    default:
      break;
  }
  return plan;
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

// ---------------------------------------------------------------------------------------------

absl::Status ValidateStationId(absl::string_view field, absl::string_view station_id) {
  if (station_id.empty()) return InvalidField(field, "is required");
  if (station_id.size() > 32) return InvalidField(field, "longer than 32 characters");
  for (char c : station_id) {
    if (!IsIdChar(c)) return InvalidField(field, "only the characters A-Z a-z 0-9 _ - are allowed");
  }
  return absl::OkStatus();
}

absl::Status ValidateReservationKey(absl::string_view field, absl::string_view key) {
  if (key.empty()) return InvalidField(field, "is required");
  if (key.size() > 128) return InvalidField(field, "longer than 128 characters");
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '/' && c != '-') {
      return InvalidField(field, "only the characters A-Z a-z 0-9 . _ : / - are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateKnownBloodType(absl::string_view field, const v1::BloodType& type) {
  const BloodType value = FromProtoType(type);
  if (!value.IsKnown()) {
    return InvalidField(field,
                        absl::StrCat("abo and rhd must both be specified; got ", value.ToString()));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t max_chars,
                          bool required) {
  if (required && absl::StripAsciiWhitespace(text).empty())
    return InvalidField(field, "is required");
  if (CharCount(text) > max_chars) {
    return InvalidField(field, absl::StrCat("longer than ", max_chars, " characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateStation(const v1::Station& station) {
  BG_RETURN_IF_ERROR(ValidateStationId("station.station_id", station.station_id()));
  BG_RETURN_IF_ERROR(ValidateText("station.name", station.name(), 100, true));
  if (station.kind() == v1::STATION_KIND_UNSPECIFIED)
    return InvalidField("station.kind", "is required");
  if (!v1::StationKind_IsValid(station.kind())) return InvalidField("station.kind", "unknown kind");
  if (station.has_location()) {
    const double lat = station.location().latitude();
    const double lon = station.location().longitude();
    if (!std::isfinite(lat) || lat < -90 || lat > 90) {
      return InvalidField("station.location.latitude", "must be -90..90");
    }
    if (!std::isfinite(lon) || lon < -180 || lon > 180) {
      return InvalidField("station.location.longitude", "must be -180..180");
    }
  }
  return ValidateText("station.address", station.address(), 300, false);
}

absl::Status ValidateSetParLevel(const v1::SetParLevelRequest& request) {
  BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
  BG_RETURN_IF_ERROR(ValidateComponentRequired("component", request.component()));
  BG_RETURN_IF_ERROR(ValidateKnownBloodType("blood_type", request.blood_type()));
  if (request.minimum() < 0) return InvalidField("minimum", "must be >= 0");
  if (request.target() < request.minimum()) return InvalidField("target", "must be >= minimum");
  return absl::OkStatus();
}

absl::Status ValidateRegisterCollection(const v1::RegisterCollectionRequest& request,
                                        absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
  BG_RETURN_IF_ERROR(ValidateOpaqueId("donor_id", request.donor_id(), true));
  if (request.donation_type() == v1::DONATION_TYPE_UNSPECIFIED) {
    return InvalidField("donation_type", "is required");
  }
  if (!v1::DonationType_IsValid(request.donation_type())) {
    return InvalidField("donation_type", "unknown donation type");
  }
  if (!BloodType::FromProto(request.blood_type()).ok()) {
    return InvalidField("blood_type", "abo and rhd must both be set, or both unspecified");
  }
  if (request.volume_ml() <= 0 || request.volume_ml() > 1000) {
    return InvalidField("volume_ml", "must be 1-1000");
  }
  if (!request.has_collected_at()) return InvalidField("collected_at", "is required");
  BG_RETURN_IF_ERROR(ValidateNotFuture("collected_at", request.collected_at(), now));
  BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
  if (!v1::PolicyProfile::Anticoagulant_IsValid(request.anticoagulant())) {
    return InvalidField("anticoagulant", "unknown anticoagulant");
  }
  if (request.product_code().size() > 16)
    return InvalidField("product_code", "longer than 16 characters");
  if (request.has_quantity() && request.quantity() <= 0)
    return InvalidField("quantity", "must be > 0");
  return absl::OkStatus();
}

absl::Status ValidateRecordTestResults(const v1::RecordTestResultsRequest& request,
                                       absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
  if (request.results().empty()) return InvalidField("results", "at least one result is required");
  std::set<int> seen;
  for (int i = 0; i < request.results_size(); ++i) {
    const v1::TestResultInput& result = request.results(i);
    const std::string field = absl::StrCat("results[", i, "]");
    if (result.test() == v1::SCREENING_TEST_UNSPECIFIED) {
      return InvalidField(absl::StrCat(field, ".test"), "is required");
    }
    if (!v1::ScreeningTest_IsValid(result.test())) {
      return InvalidField(absl::StrCat(field, ".test"), "unknown test");
    }
    if (!seen.insert(result.test()).second) {
      return InvalidField(absl::StrCat(field, ".test"), "given twice in one call");
    }
    if (result.test() == v1::SCREENING_TEST_ABO_RHD) {
      BG_RETURN_IF_ERROR(
          ValidateKnownBloodType(absl::StrCat(field, ".blood_type"), result.blood_type()));
    }
    if (result.has_tested_at()) {
      BG_RETURN_IF_ERROR(
          ValidateNotFuture(absl::StrCat(field, ".tested_at"), result.tested_at(), now));
    }
    BG_RETURN_IF_ERROR(ValidateText(absl::StrCat(field, ".correction_reason"),
                                    result.correction_reason(), 1000, false));
  }
  return absl::OkStatus();
}

absl::Status ValidateProcessDonation(const v1::ProcessDonationRequest& request, absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
  if (request.components().empty()) return InvalidField("components", "at least one is required");
  if (request.components_size() > 16) return InvalidField("components", "at most 16");
  for (int i = 0; i < request.components_size(); ++i) {
    const v1::ComponentSpec& spec = request.components(i);
    const std::string field = absl::StrCat("components[", i, "]");
    BG_RETURN_IF_ERROR(
        ValidateComponentRequired(absl::StrCat(field, ".component"), spec.component()));
    if (spec.component() == v1::COMPONENT_WHOLE_BLOOD) {
      return InvalidField(absl::StrCat(field, ".component"),
                          "whole blood is not a component to make");
    }
    if (spec.component() == v1::COMPONENT_PLASMA && !spec.has_volume_ml()) {
      return InvalidField(absl::StrCat(field, ".volume_ml"), "is required for plasma");
    }
    if (spec.has_volume_ml() && spec.volume_ml() <= 0) {
      return InvalidField(absl::StrCat(field, ".volume_ml"), "must be > 0");
    }
    if (spec.has_quantity() && spec.quantity() <= 0) {
      return InvalidField(absl::StrCat(field, ".quantity"), "must be > 0");
    }
    const auto prep = spec.preparation();
    if (!v1::PolicyProfile::Preparation_IsValid(prep)) {
      return InvalidField(absl::StrCat(field, ".preparation"), "unknown preparation");
    }
    const bool fits = prep == v1::PolicyProfile::PREPARATION_UNSPECIFIED ||
                      (prep == v1::PolicyProfile::PREPARATION_WASHED &&
                       spec.component() == v1::COMPONENT_RED_CELLS) ||
                      (prep == v1::PolicyProfile::PREPARATION_FROZEN_PLASMA &&
                       spec.component() == v1::COMPONENT_PLASMA) ||
                      (prep == v1::PolicyProfile::PREPARATION_NOT_AGITATED &&
                       spec.component() == v1::COMPONENT_PLATELETS);
    if (!fits) {
      return InvalidField(absl::StrCat(field, ".preparation"), "does not apply to this component");
    }
    if (spec.product_code().size() > 16) {
      return InvalidField(absl::StrCat(field, ".product_code"), "longer than 16 characters");
    }
  }
  if (request.has_processed_at()) {
    BG_RETURN_IF_ERROR(ValidateNotFuture("processed_at", request.processed_at(), now));
  }
  return absl::OkStatus();
}

absl::Status ValidateReserve(const v1::ReserveRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  if (request.station_ids().empty())
    return InvalidField("station_ids", "at least one station is required");
  if (request.station_ids_size() > 64) return InvalidField("station_ids", "at most 64 stations");
  absl::flat_hash_set<std::string> stations;
  for (int i = 0; i < request.station_ids_size(); ++i) {
    const std::string field = absl::StrCat("station_ids[", i, "]");
    BG_RETURN_IF_ERROR(ValidateStationId(field, request.station_ids(i)));
    if (!stations.insert(request.station_ids(i)).second) return InvalidField(field, "listed twice");
  }
  BG_RETURN_IF_ERROR(ValidateComponentRequired("component", request.component()));
  if (request.quantity() <= 0) return InvalidField("quantity", "must be > 0");
  if (request.candidates().empty())
    return InvalidField("candidates", "at least one blood type is required");
  absl::flat_hash_set<BloodType> types;
  int previous_tier = 0;
  for (int i = 0; i < request.candidates_size(); ++i) {
    const v1::CandidateBloodType& candidate = request.candidates(i);
    const std::string field = absl::StrCat("candidates[", i, "]");
    BG_RETURN_IF_ERROR(
        ValidateKnownBloodType(absl::StrCat(field, ".blood_type"), candidate.blood_type()));
    if (!types.insert(FromProtoType(candidate.blood_type())).second) {
      return InvalidField(absl::StrCat(field, ".blood_type"), "listed twice");
    }
    if (candidate.tier() < 0) return InvalidField(absl::StrCat(field, ".tier"), "must be >= 0");
    if (candidate.tier() < previous_tier) {
      return InvalidField(absl::StrCat(field, ".tier"), "tiers must not decrease along the list");
    }
    previous_tier = candidate.tier();
  }
  if (request.priority() == v1::PRIORITY_UNSPECIFIED)
    return InvalidField("priority", "is required");
  if (!v1::Priority_IsValid(request.priority()))
    return InvalidField("priority", "unknown priority");
  if (!request.has_expiry_floor()) return InvalidField("expiry_floor", "is required");
  if (request.hold_seconds() < 0 || request.hold_seconds() > 3600) {
    return InvalidField("hold_seconds", "must be 0-3600");
  }
  BG_RETURN_IF_ERROR(ValidateOpaqueId("order_id", request.order_id(), false));
  return ValidateOpaqueId("hospital_id", request.hospital_id(), false);
}

namespace {
absl::Status ValidateUnitIdList(const google::protobuf::RepeatedPtrField<std::string>& ids,
                                absl::string_view name) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < ids.size(); ++i) {
    const std::string field = absl::StrCat(name, "[", i, "]");
    BG_RETURN_IF_ERROR(ValidateOpaqueId(field, ids.Get(i), true));
    if (!seen.insert(ids.Get(i)).second) return InvalidField(field, "listed twice");
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ValidateRelease(const v1::ReleaseRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  BG_RETURN_IF_ERROR(ValidateUnitIdList(request.unit_ids(), "unit_ids"));
  return ValidateText("reason", request.reason(), 200, false);
}

absl::Status ValidateIssue(const v1::IssueRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  BG_RETURN_IF_ERROR(ValidateUnitIdList(request.unit_ids(), "unit_ids"));
  BG_RETURN_IF_ERROR(ValidateOpaqueId("hospital_id", request.hospital_id(), true));
  return ValidateOpaqueId("order_id", request.order_id(), true);
}

absl::Status ValidateRecordOutcome(const v1::RecordOutcomeRequest& request, absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("unit_id", request.unit_id(), true));
  if (request.outcome() == v1::TRANSFUSION_OUTCOME_UNSPECIFIED)
    return InvalidField("outcome", "is required");
  if (!v1::TransfusionOutcome_IsValid(request.outcome()))
    return InvalidField("outcome", "unknown outcome");
  if (request.outcome() == v1::TRANSFUSION_OUTCOME_RETURNED && !request.has_cold_chain_ok()) {
    return InvalidField("cold_chain_ok", "is required for a returned unit");
  }
  if (!request.return_station_id().empty()) {
    BG_RETURN_IF_ERROR(ValidateStationId("return_station_id", request.return_station_id()));
  }
  BG_RETURN_IF_ERROR(ValidateOpaqueId("order_id", request.order_id(), true));
  if (request.has_occurred_at()) {
    BG_RETURN_IF_ERROR(ValidateNotFuture("occurred_at", request.occurred_at(), now));
  }
  return ValidateText("note", request.note(), 1000, false);
}

absl::Status ValidateCreateTransfer(const v1::CreateTransferRequest& request) {
  BG_RETURN_IF_ERROR(ValidateStationId("from_station_id", request.from_station_id()));
  BG_RETURN_IF_ERROR(ValidateStationId("to_station_id", request.to_station_id()));
  if (request.from_station_id() == request.to_station_id()) {
    return InvalidField("to_station_id", "must differ from from_station_id");
  }
  if (request.items().empty()) return InvalidField("items", "at least one item is required");
  if (request.items_size() > 500) return InvalidField("items", "at most 500 items");
  absl::flat_hash_set<std::string> units;
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::TransferItem& item = request.items(i);
    const std::string field = absl::StrCat("items[", i, "]");
    if (item.has_lot()) {
      if (!request.reservation_key().empty()) {
        return InvalidField(field, "a reservation-bound transfer moves named units only");
      }
      BG_RETURN_IF_ERROR(
          ValidateComponentRequired(absl::StrCat(field, ".lot.component"), item.lot().component()));
      BG_RETURN_IF_ERROR(
          ValidateKnownBloodType(absl::StrCat(field, ".lot.blood_type"), item.lot().blood_type()));
      if (item.lot().quantity() <= 0)
        return InvalidField(absl::StrCat(field, ".lot.quantity"), "must be > 0");
    } else if (item.item_case() == v1::TransferItem::kUnitId) {
      BG_RETURN_IF_ERROR(ValidateOpaqueId(absl::StrCat(field, ".unit_id"), item.unit_id(), true));
      if (!units.insert(item.unit_id()).second) {
        return InvalidField(absl::StrCat(field, ".unit_id"), "the same unit twice");
      }
    } else {
      return InvalidField(field, "set unit_id or lot");
    }
  }
  BG_RETURN_IF_ERROR(ValidateText("reason", request.reason(), 1000, false));
  if (!request.reservation_key().empty()) {
    BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  }
  return absl::OkStatus();
}

absl::Status ValidateReceiveTransfer(const v1::ReceiveTransferRequest& request, absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("transfer_id", request.transfer_id(), true));
  BG_RETURN_IF_ERROR(ValidateUnitIdList(request.rejected_unit_ids(), "rejected_unit_ids"));
  if (request.has_received_at()) {
    BG_RETURN_IF_ERROR(ValidateNotFuture("received_at", request.received_at(), now));
  }
  return ValidateText("note", request.note(), 1000, false);
}

absl::Status ValidateDiscardUnit(const v1::DiscardUnitRequest& request) {
  switch (request.unit_case()) {
    case v1::DiscardUnitRequest::kUnitId:
      BG_RETURN_IF_ERROR(ValidateOpaqueId("unit_id", request.unit_id(), true));
      break;
    case v1::DiscardUnitRequest::kDin:
      BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
      break;
    default:
      return InvalidField("unit_id", "set unit_id or din");
  }
  if (request.reason() == v1::DISCARD_REASON_UNSPECIFIED)
    return InvalidField("reason", "is required");
  if (!v1::DiscardReason_IsValid(request.reason())) return InvalidField("reason", "unknown reason");
  return ValidateText("note", request.note(), 1000, request.reason() == v1::DISCARD_REASON_OTHER);
}

absl::Status ValidateQuarantineByDonor(const v1::QuarantineByDonorRequest& request) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("donor_id", request.donor_id(), true));
  BG_RETURN_IF_ERROR(ValidateDin("reactive_din", request.reactive_din()));
  if (request.has_since() && (request.since().seconds() < 0 || request.since().nanos() < 0)) {
    return InvalidField("since", "not a valid instant");
  }
  return ValidateText("reason", request.reason(), 1000, false);
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
