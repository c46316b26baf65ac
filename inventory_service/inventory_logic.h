// The inventory's rules as pure functions: the unit state machine, release status derived from
// test results, collection and component planning (measures and expiry from the policy
// profile), the reservation choice, first-expire-first-out picking for transfers, transport
// times, stock alerts, and the shape checks of every request. No SQL and no gRPC here; the
// store calls the choice and transition rules inside its transactions, the Inventory class
// (inventory.h) calls the rest.
//
// Sources: DOMAIN.md sections 1-5; DESIGN.md "Records and their lives" and "Allocation";
// protos/bloodgrid/v1/inventory.proto. Every function here is pure and thread-safe.
#ifndef BLOODGRID_INVENTORY_SERVICE_INVENTORY_LOGIC_H_
#define BLOODGRID_INVENTORY_SERVICE_INVENTORY_LOGIC_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/blood.h"

namespace bloodgrid::inventory {

// ---------------------------------------------------------------------------------------------
// Time and small conversions.

// Instants are stored as microseconds since the Unix epoch (UTC).
int64_t ToMicros(absl::Time t);
absl::Time FromMicros(int64_t micros);
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

// Who makes a change and when; every store operation takes one.
struct OpContext {
  // "<role>:<subject>" from x-bloodgrid-actor, "system:<job>" for sweepers,
  // "system:unknown" when a call carries no actor.
  std::string actor = "system:unknown";
  // "Now" for this operation (from the injected clock).
  absl::Time now = absl::UnixEpoch();
  // The caller's deadline; database work stops there.
  absl::Time deadline = absl::InfiniteFuture();
};

// ---------------------------------------------------------------------------------------------
// Unit state machine (DESIGN.md "Records and their lives").

struct Transition {
  v1::UnitStatus from;
  v1::UnitStatus to;
};

// Every allowed change of status; a status change not listed here never happens.
absl::Span<const Transition> AllowedTransitions();

// TRANSFUSED, EXPIRED, DISCARDED, RECALLED and PROCESSED never change again.
bool IsFinalStatus(v1::UnitStatus status);

// OK when `from` -> `to` is in AllowedTransitions(); FAILED_PRECONDITION naming both states
// otherwise (a final state never changes).
absl::Status CheckTransition(v1::UnitStatus from, v1::UnitStatus to);

// "AVAILABLE", "RESERVED", ... for messages.
std::string StatusName(v1::UnitStatus status);

// ---------------------------------------------------------------------------------------------
// Testing and release (DOMAIN.md section 5; status derived from results, BSIS style).

// The current (not superseded) result of one test of a donation.
struct CurrentResult {
  v1::ScreeningTest test = v1::SCREENING_TEST_UNSPECIFIED;
  bool reactive = false;
  // For ABO_RHD: the typed blood type.
  BloodType typed;
};

struct TestingState {
  v1::TestingOutcome outcome = v1::TESTING_OUTCOME_PENDING;
  // Required tests still without a result (ABO_RHD while untyped), in enum order.
  std::vector<v1::ScreeningTest> pending;
  // Tests whose current result is reactive, in enum order.
  std::vector<v1::ScreeningTest> reactive;
  // The typed blood type, when ABO_RHD has a result.
  std::optional<BloodType> typed;
};

// The tests a unit needs before release: the profile's mandatory tests plus ABO/RhD typing.
std::vector<v1::ScreeningTest> RequiredReleaseTests(const v1::PolicyProfile& policy);

// Any reactive current result (mandatory or not) -> REACTIVE; else every required test has a
// current non-reactive result and the typing is recorded -> RELEASED; else PENDING.
TestingState DeriveTestingState(absl::Span<const v1::ScreeningTest> required,
                                absl::Span<const CurrentResult> current);

enum class ResultChange {
  kNew,        // no current result for this test: record it
  kUnchanged,  // identical to the current result: no-op
  kCorrection  // differs from the current result: a correction (needs a reason)
};
ResultChange ClassifyResult(const CurrentResult* current, const v1::TestResultInput& input);

// ---------------------------------------------------------------------------------------------
// Collection and component processing (DOMAIN.md section 2).

// The component a collection yields: whole blood, apheresis platelets or apheresis plasma.
v1::Component CollectedComponent(v1::DonationType type);

struct CollectionPlan {
  v1::Component component = v1::COMPONENT_UNSPECIFIED;
  int32_t quantity = 0;
  absl::Time expires_at;
};

// Quantity and expiry of a new collection. `request` must have passed
// ValidateRegisterCollection. INVALID_ARGUMENT "anticoagulant: ..." when the profile has no
// shelf life for the component with that anticoagulant.
absl::StatusOr<CollectionPlan> PlanCollection(const v1::PolicyProfile& policy, absl::TimeZone tz,
                                              const v1::RegisterCollectionRequest& request);

// What a processed whole-blood unit gives, one entry per ComponentSpec, in request order.
struct ComponentPlan {
  v1::Component component = v1::COMPONENT_UNSPECIFIED;
  int32_t division = 0;
  int32_t volume_ml = 0;
  int32_t quantity = 0;
  absl::Time expires_at;
  v1::PolicyProfile::Anticoagulant anticoagulant = v1::PolicyProfile::ANTICOAGULANT_UNSPECIFIED;
  v1::PolicyProfile::Preparation preparation = v1::PolicyProfile::PREPARATION_UNSPECIFIED;
  std::string product_code;
};

// Plans the children of `parent` (a whole-blood unit). Quantities: red cells and cryo = parent
// volume / whole_blood_ml_per_red_cell_unit U (at least 1), plasma = its volume in mL,
// platelets 1 dose, unless the spec gives one. Volumes: as given (required for plasma); a
// component without one shares what the given volumes leave of the parent's. Divisions
// number each component 1, 2, ... in request order. Expiry: the shelf life of the component
// (with the parent's anticoagulant for red cells, and the spec's preparation) counted from
// collection; washed red cells from `processed_at`, never past the red cells' own limit from
// collection. INVALID_ARGUMENT when given volumes exceed the parent's; FAILED_PRECONDITION
// when the profile has no shelf life for a child.
absl::StatusOr<std::vector<ComponentPlan>> PlanComponents(const v1::PolicyProfile& policy,
                                                          absl::TimeZone tz, const v1::Unit& parent,
                                                          absl::Span<const v1::ComponentSpec> specs,
                                                          absl::Time processed_at);

// Short code of a component in unit ids: WB, RC, PL, PT, CR.
absl::string_view ComponentCode(v1::Component component);
// The id of the unit of `din` with `component` and `division`, e.g. "A999921123456-RC1".
std::string UnitIdFor(absl::string_view din, v1::Component component, int32_t division);

// ---------------------------------------------------------------------------------------------
// The reservation choice (DESIGN.md "Allocation"; inventory.proto Reserve).

// One eligible unit as the store found it: AVAILABLE, of the component, at one of the stations,
// of a candidate type, expiring after the floor, held by nothing.
struct ChoiceUnit {
  std::string unit_id;
  // Preference tier of its blood type (0 = best).
  int32_t tier = 0;
  // Index of its station in the request's station list (0 = serving station).
  int32_t station_rank = 0;
  absl::Time expires_at;
  // Amount in the ordering measure.
  int32_t quantity = 0;
};

// True when `a` comes before `b` in the order of preference for `priority`: ROUTINE and URGENT
// by (tier, station rank, expires_at, unit_id); EMERGENCY by (station rank, tier, expires_at,
// unit_id).
bool PreferredBefore(v1::Priority priority, const ChoiceUnit& a, const ChoiceUnit& b);

// Indices into `units` of the units to reserve, in order of preference: units are taken in
// that order until their quantities reach `quantity` (a bag is never split); when the last one
// taken overshoots, it is replaced by the remaining unit of the same tier and station that
// still reaches `quantity` with the least overshoot (earliest expiry, then unit_id, on ties).
// Units expiring at or before `floor` are never taken. Short stock gives what there is.
std::vector<size_t> ChooseUnits(v1::Priority priority, int32_t quantity, absl::Time floor,
                                absl::Span<const ChoiceUnit> units);

// Indices of units to move for a transfer lot: first-expire-first-out (then unit_id) until the
// quantities reach `quantity`, skipping units expiring at or before `floor`.
std::vector<size_t> PickFefo(int32_t quantity, absl::Time floor,
                             absl::Span<const ChoiceUnit> units);

// ---------------------------------------------------------------------------------------------
// Transfers.

struct TransportSettings {
  // Road distance / great-circle distance.
  double road_factor = 1.3;
  double speed_km_per_hour = 60;
  // Used when either station has no location.
  absl::Duration without_location = absl::Hours(2);
  // Never less than this.
  absl::Duration minimum = absl::Minutes(15);
};

// Great-circle distance in km (haversine, mean earth radius).
double DistanceKm(const v1::GeoPoint& a, const v1::GeoPoint& b);
// Estimated road time between two stations.
absl::Duration TransportTime(const v1::Station& from, const v1::Station& to,
                             const TransportSettings& settings);

// ---------------------------------------------------------------------------------------------
// Outcomes of issued units.

struct OutcomePlan {
  // Status after the report (TRANSFUSED, AVAILABLE, DISCARDED or EXPIRED).
  v1::UnitStatus final_status = v1::UNIT_STATUS_UNSPECIFIED;
  // True for RETURNED: the unit passes through RETURNED first.
  bool via_returned = false;
  v1::DiscardReason discard_reason = v1::DISCARD_REASON_UNSPECIFIED;
};

// What RecordOutcome does with an ISSUED unit (inventory.proto RecordOutcome).
OutcomePlan PlanOutcome(v1::TransfusionOutcome outcome, bool cold_chain_ok, bool expired);

// ---------------------------------------------------------------------------------------------
// Stock levels and alerts.

// One row of the stock: station x component x blood type.
struct LevelKey {
  std::string station_id;
  v1::Component component = v1::COMPONENT_UNSPECIFIED;
  v1::AboGroup abo = v1::ABO_GROUP_UNSPECIFIED;
  v1::RhD rhd = v1::RH_D_UNSPECIFIED;

  friend bool operator<(const LevelKey& a, const LevelKey& b) {
    return std::tie(a.station_id, a.component, a.abo, a.rhd) <
           std::tie(b.station_id, b.component, b.abo, b.rhd);
  }
  friend bool operator==(const LevelKey& a, const LevelKey& b) = default;
};

LevelKey KeyOf(const v1::StockLevel& level);
LevelKey KeyOfUnit(const v1::Unit& unit);

// What a committed write changed: the rows whose levels may have moved, and alerts that come
// from the operation itself (units expired, reserved units withdrawn).
struct StockChanges {
  std::set<LevelKey> keys;
  std::vector<v1::StockAlert> alerts;
  void Clear() {
    keys.clear();
    alerts.clear();
  }
};

// Alerts for a level change: BELOW_PAR when available quantity falls under the par minimum,
// PAR_RESTORED when it is back, OUT_OF_STOCK when the last available unit left. `previous` is
// null when the level before is not known (then BELOW_PAR is reported if below par).
std::vector<v1::StockAlert> LevelAlerts(const v1::StockLevel* previous, const v1::StockLevel& now);

// ---------------------------------------------------------------------------------------------
// Request shape checks: INVALID_ARGUMENT "<field>: <problem>" (common/status.h InvalidField),
// nothing touched. Checks that need stored state (unknown stations, states) are the store's.

absl::Status ValidateStationId(absl::string_view field, absl::string_view station_id);
// 1-128 characters of [A-Za-z0-9._:/-].
absl::Status ValidateReservationKey(absl::string_view field, absl::string_view key);
// A blood type with both parts specified.
absl::Status ValidateKnownBloodType(absl::string_view field, const v1::BloodType& type);
absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t max_chars,
                          bool required);

absl::Status ValidateStation(const v1::Station& station);
absl::Status ValidateSetParLevel(const v1::SetParLevelRequest& request);
// Also refuses collected_at later than `now`.
absl::Status ValidateRegisterCollection(const v1::RegisterCollectionRequest& request,
                                        absl::Time now);
absl::Status ValidateRecordTestResults(const v1::RecordTestResultsRequest& request, absl::Time now);
absl::Status ValidateProcessDonation(const v1::ProcessDonationRequest& request, absl::Time now);
absl::Status ValidateReserve(const v1::ReserveRequest& request);
absl::Status ValidateRelease(const v1::ReleaseRequest& request);
absl::Status ValidateIssue(const v1::IssueRequest& request);
absl::Status ValidateRecordOutcome(const v1::RecordOutcomeRequest& request, absl::Time now);
absl::Status ValidateCreateTransfer(const v1::CreateTransferRequest& request);
absl::Status ValidateReceiveTransfer(const v1::ReceiveTransferRequest& request, absl::Time now);
absl::Status ValidateDiscardUnit(const v1::DiscardUnitRequest& request);
absl::Status ValidateQuarantineByDonor(const v1::QuarantineByDonorRequest& request);

// `day` minus `period`, never giving a shorter window than nominal: a month or year that
// lands on a day the target month lacks goes to that month's last day.
absl::CivilDay SubtractPeriod(absl::CivilDay day, const v1::PolicyProfile::Period& period);

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_INVENTORY_LOGIC_H_
