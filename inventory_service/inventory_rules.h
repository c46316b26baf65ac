// The inventory's rules as pure functions: the unit state machine and every decision that
// changes a unit, release status derived from test results, collection and component planning
// (measures and expiry from the policy profile), the allocation order and the reservation
// choice, first-expire-first-out picking for transfers, transport times, stock alerts, and the
// shape checks of every request. No SQL and no gRPC here: InventoryOperations
// (inventory_operations.h) checks, plans and decides with these, and the store
// (inventory_store.h) applies what they decided inside its transactions.
//
// Files: inventory_rules.cc (planning, choice, transport, alerts), unit_lifecycle.cc (the
// state machine and the lifecycle decisions), inventory_validation.cc (request shape checks).
//
// Sources: DOMAIN.md sections 1-5; DESIGN.md "Records and their lives" and "Allocation";
// protos/bloodgrid/v1/inventory.proto. Every function here is pure and thread-safe.
#ifndef BLOODGRID_INVENTORY_SERVICE_INVENTORY_RULES_H_
#define BLOODGRID_INVENTORY_SERVICE_INVENTORY_RULES_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
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
#include "common/proto_time.h"

namespace bloodgrid::inventory {

// ---------------------------------------------------------------------------------------------
// Time and small conversions.

// Instants are stored as microseconds since the Unix epoch (UTC): absl::ToUnixMicros and
// absl::FromUnixMicros; Timestamps convert by common/proto_time.h.

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

// The allocation order (DESIGN.md "Allocation" 2), the one place it is written: the key that
// orders (tier, station rank) for `priority`. ROUTINE and URGENT take the better match first,
// (tier, station rank); EMERGENCY takes what is on the shelf now, (station rank, tier).
std::pair<int32_t, int32_t> AllocationOrderKey(v1::Priority priority, int32_t tier,
                                               int32_t station_rank);

// True when `a` comes before `b` in the order of preference for `priority`: by
// AllocationOrderKey, then expires_at, then unit_id.
bool PreferredBefore(v1::Priority priority, const ChoiceUnit& a, const ChoiceUnit& b);

// One preference group of a reservation: one tier of blood types at one station.
struct PreferenceGroup {
  int32_t tier = 0;
  int32_t station_rank = 0;
  friend bool operator==(const PreferenceGroup& a, const PreferenceGroup& b) = default;
};
// Every (tier, station rank) pair in the order AllocationOrderKey gives: the order in which the
// store reads the candidates of a reservation, so a later group is read only when the earlier
// ones cannot fill it.
std::vector<PreferenceGroup> PreferenceGroups(v1::Priority priority,
                                              absl::Span<const int32_t> tiers,
                                              absl::Span<const int32_t> station_ranks);

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
// Unit lifecycle: every decision that changes a unit (unit_lifecycle.cc).
//
// Each decision takes the units as the store loaded and locked them and returns the changes to
// make; the store only applies them (InventoryStore: the unit row and its event row in one
// transaction, CheckTransition checked once more) and publishes their alerts with the commit.
// Errors are the RPC's: FAILED_PRECONDITION for a state that forbids the change,
// INVALID_ARGUMENT naming the field of the request; nothing is changed then.

// Statuses the stock view counts at a station, in the order of its columns: QUARANTINED,
// AVAILABLE, RESERVED.
absl::Span<const v1::UnitStatus> InStockStatuses();
// Statuses the expiry sweeper moves to EXPIRED, in the order it visits them: QUARANTINED,
// AVAILABLE, RESERVED, RETURNED.
absl::Span<const v1::UnitStatus> ExpirableStatuses();
// The status of a unit on the shelf, free to reserve or pick: AVAILABLE.
v1::UnitStatus OnShelfStatus();
// The status of a unit on the road to another station: IN_TRANSIT.
v1::UnitStatus InTransitStatus();

// A unit as the store keeps it.
struct StoredUnit {
  v1::Unit unit;
  // An IN_TRANSIT unit a lookback caught on the way: quarantined when it is received.
  bool lookback_on_arrival = false;
};

// What the event row of a change records beyond the unit itself.
struct UnitEventDraft {
  v1::UnitEventKind kind = v1::UNIT_EVENT_KIND_UNSPECIFIED;
  std::string reason = {};
  std::string note = {};
  std::string order_id = {};
  std::string hospital_id = {};
  std::string reservation_key = {};
  std::string transfer_id = {};
  // When it happened; the operation's "now" when unset.
  std::optional<absl::Time> occurred_at = {};
};

// One decided change of one unit.
struct UnitChange {
  enum class Write {
    kUnitAndEvent,  // store `after` over the unit, with its event row
    kEventOnly,     // the unit stays as it is; only its trace gets the event
    kNewUnit,       // insert `after` as a new unit, with its creating event
  };
  Write write = Write::kUnitAndEvent;
  // The unit as it is to be stored (hold already cleared unless QUARANTINED).
  StoredUnit after;
  UnitEventDraft event;
  // Alerts the change raises (RESERVED_UNIT_WITHDRAWN).
  std::vector<v1::StockAlert> alerts;
};

// A new donation's testing outcome: PENDING until DeriveTestingState says otherwise.
v1::TestingOutcome NewDonationTestingOutcome();
// The outcome of a donation screened non-reactive: a lookback's window is counted back from the
// donor's last such donation (DOMAIN.md section 5).
v1::TestingOutcome ClearScreenOutcome();

// RegisterCollection: the collected unit (division 0), QUARANTINED on a TESTING hold.
UnitChange CollectedUnit(const v1::RegisterCollectionRequest& request, const CollectionPlan& plan);

// What recorded test results do to one unit of the donation.
struct TestingDecision {
  // In order: the ABO/RhD typing, the TEST_RECORDED trace event, the release or the discard.
  std::vector<UnitChange> changes;
  // Where the response lists the unit as it stands after `changes`.
  enum class Listed {
    kNone,
    kReleased,
    kDiscarded,
    kIssued,      // ISSUED when the donation turned reactive: the lookback notifies
    kTransfused,  // TRANSFUSED before the reactive result: listed after the issued ones
  };
  Listed listed = Listed::kNone;
};
// `state`: the donation's state derived from its current results (DeriveTestingState);
// `recorded`: what this call recorded ("HIV_1_2", "HBSAG (correction)"; empty = nothing new).
// Reactive: every unit not final and not ISSUED is DISCARDED (REACTIVE_TEST), leaving its
// reservation and transfer. Released: a QUARANTINED unit on its TESTING hold becomes
// AVAILABLE. A typed blood type differing from the unit's is set first.
TestingDecision DecideAfterTesting(const StoredUnit& unit, const TestingState& state,
                                   absl::Span<const std::string> recorded);

// The whole-blood unit (division 0) among a donation's units; null for an apheresis donation.
const StoredUnit* WholeBloodParent(absl::Span<const StoredUnit> units);
// FAILED_PRECONDITION unless `parent` is QUARANTINED or AVAILABLE (PROCESSED named as such);
// INVALID_ARGUMENT "processed_at" before the collection.
absl::Status CheckProcessing(const StoredUnit& parent, absl::Time processed_at);
// `parent` PROCESSED, split into `children` components at `processed_at`.
UnitChange ProcessedParent(const StoredUnit& parent, size_t children, absl::Time processed_at);
// A component made from `parent` (as it was before processing: same status and hold).
UnitChange ComponentUnit(const StoredUnit& parent, const ComponentPlan& plan,
                         absl::Time processed_at);

// "HELD", "CONFIRMED", ... for messages.
std::string ReservationStatusName(v1::ReservationStatus status);
// RELEASED and EXPIRED reservations hold nothing and never change again.
bool IsClosedReservation(v1::ReservationStatus status);
// A new reservation is HELD until it is confirmed or its hold lapses (HoldLapsed): the status
// Reserve writes and the hold sweeper looks for.
v1::ReservationStatus HeldReservationStatus();
// A chosen AVAILABLE unit, RESERVED for the request's reservation.
UnitChange ReserveUnit(const StoredUnit& unit, const v1::ReserveRequest& request);
// ConfirmReservation: the reservation as it is to be stored, nullopt when it stays as it is
// (CONFIRMED or ISSUED already); FAILED_PRECONDITION when its hold expired or it is closed.
absl::StatusOr<std::optional<v1::Reservation>> ConfirmedReservation(
    const v1::Reservation& reservation, absl::Time now);
// The status a reservation takes from the units it has (`reservation.units()`): any held
// (RESERVED or IN_TRANSIT) keeps its status; none held but some issued -> ISSUED; no unit ->
// RELEASED.
v1::ReservationStatus ReservationStatusFromUnits(const v1::Reservation& reservation);
// Sets the status ReservationStatusFromUnits gives, clearing the hold when it changes; true
// when it changed (the store then writes it).
bool SettleReservation(v1::Reservation* reservation);
// The indices into `units` (the reservation's units) that Release frees: the RESERVED ones, or
// the named ones; INVALID_ARGUMENT "unit_ids[i]" for a named unit it does not hold.
absl::StatusOr<std::vector<size_t>> ReleaseTargets(absl::Span<const StoredUnit> units,
                                                   const v1::ReleaseRequest& request);
// A RESERVED unit back to AVAILABLE; FAILED_PRECONDITION while it is on a transfer.
absl::StatusOr<UnitChange> ReleaseUnit(const StoredUnit& unit, const v1::Reservation& reservation,
                                       absl::string_view reason);
// Issue: FAILED_PRECONDITION for a closed reservation.
absl::Status CheckIssueReservation(const v1::Reservation& reservation);
struct IssueSelection {
  std::vector<size_t> to_issue;        // RESERVED or IN_TRANSIT units of the reservation
  std::vector<size_t> already_issued;  // a repeat names these
};
// INVALID_ARGUMENT "unit_ids[i]" for a named unit the reservation does not hold.
absl::StatusOr<IssueSelection> IssueTargets(absl::Span<const StoredUnit> units,
                                            const v1::IssueRequest& request);
// FAILED_PRECONDITION for a unit on a transfer or expired at `now`.
absl::Status CheckIssuable(const StoredUnit& unit, absl::Time now);
// A RESERVED unit ISSUED to the request's hospital and order at `now`.
UnitChange IssueUnit(const StoredUnit& unit, const v1::IssueRequest& request, absl::Time now);
// A HELD reservation whose hold ran out at or before `now`.
bool HoldLapsed(const v1::Reservation& reservation, absl::Time now);
// A unit of a lapsed reservation back on the shelf; nullopt for one not RESERVED or on a
// transfer (it stays as it is).
std::optional<UnitChange> UnreserveOnHoldExpiry(const StoredUnit& unit,
                                                const v1::Reservation& reservation);
// The lapsed reservation, EXPIRED.
v1::Reservation ExpiredReservation(v1::Reservation reservation);

// RecordOutcome: true when the unit already carries this outcome (a repeat changes nothing).
bool OutcomeAlreadyRecorded(const v1::Unit& unit, const v1::RecordOutcomeRequest& request);
// FAILED_PRECONDITION unless ISSUED; INVALID_ARGUMENT "order_id" for another order's unit.
absl::Status CheckOutcome(const v1::Unit& unit, const v1::RecordOutcomeRequest& request);
// The changes PlanOutcome gives for an ISSUED unit (through RETURNED for a return);
// `return_station`: where a restocked unit goes back on the shelf.
std::vector<UnitChange> OutcomeChanges(const StoredUnit& unit,
                                       const v1::RecordOutcomeRequest& request,
                                       const std::string& return_station, absl::Time now);

// "CREATED", "IN_TRANSIT", ... for messages.
std::string TransferStatusName(v1::TransferStatus status);
// A new transfer is CREATED (picked, not yet dispatched).
v1::TransferStatus NewTransferStatus();
// Only a CONFIRMED reservation's units travel (a HELD one may lapse on the way).
absl::Status CheckTransferReservation(const v1::Reservation& reservation);
// FAILED_PRECONDITION "items[i]: ..." unless the named unit may move with the request: AVAILABLE
// at the origin, or for a reservation-bound transfer RESERVED for it at the origin and on no
// other transfer.
absl::Status CheckMovable(const v1::Unit& unit, const v1::CreateTransferRequest& request, int item);
// A picked unit RESERVED for transfer `transfer_id`.
UnitChange PickForTransfer(const StoredUnit& unit, const std::string& transfer_id,
                           const v1::CreateTransferRequest& request);
// Dispatch, receive, cancel: true when the transfer is to change now, false when it already did
// (a repeat returns it as it is); FAILED_PRECONDITION from any other state.
absl::StatusOr<bool> TransferToDispatch(const v1::Transfer& transfer);
absl::StatusOr<bool> TransferToReceive(const v1::Transfer& transfer);
absl::StatusOr<bool> TransferToCancel(const v1::Transfer& transfer);
// The transfer IN_TRANSIT from `now`, expected at `arrival`.
void MarkDispatched(absl::Time now, absl::Time arrival, v1::Transfer* transfer);
void MarkReceived(absl::Time at, const std::string& note, v1::Transfer* transfer);
void MarkCancelled(absl::Time now, const std::string& reason, v1::Transfer* transfer);
// A unit of the transfer: IN_TRANSIT when dispatched; nullopt for a unit that left the
// transfer meanwhile (a reactive result, a lookback).
std::optional<UnitChange> DispatchUnit(const StoredUnit& unit, const v1::Transfer& transfer);
// A unit of the transfer received at `at`: DISCARDED when `rejected`, QUARANTINED under a
// lookback, EXPIRED when it expired on the way, RESERVED for the reservation it travels for,
// else AVAILABLE at the destination; nullopt for a unit no longer travelling with it.
std::optional<UnitChange> ReceiveUnit(const StoredUnit& unit, const v1::Transfer& transfer,
                                      bool rejected, absl::Time at);
// A unit of a cancelled transfer: off the transfer, AVAILABLE again unless the transfer was
// bound to a reservation; nullopt for a unit that left the transfer meanwhile.
std::optional<UnitChange> CancelTransferUnit(const StoredUnit& unit, const v1::Transfer& transfer,
                                             const std::string& reason);

// "EXPIRED", "LOOKBACK", ... for event reasons.
std::string DiscardReasonName(v1::DiscardReason reason);
// DiscardUnit by DIN: the index of the one unit of `units` not in a final state;
// FAILED_PRECONDITION when none is, INVALID_ARGUMENT "din" when several are.
absl::StatusOr<size_t> LiveUnitOfDin(absl::Span<const StoredUnit> units, absl::string_view din);
// QUARANTINED or AVAILABLE -> DISCARDED (RECALLED for LOOKBACK); FAILED_PRECONDITION otherwise.
absl::StatusOr<UnitChange> DiscardChange(const StoredUnit& unit,
                                         const v1::DiscardUnitRequest& request);

// What a lookback does to one unit of the donor's.
struct LookbackDecision {
  enum class Kind {
    kIssued,       // gone to a hospital: listed for the lookback to notify
    kAlreadyHeld,  // on lookback hold already: listed, unchanged
    kHold,         // `change` puts it on hold: listed as changed
    kUntouched,    // final, or a return being booked: nothing in stock to hold
  };
  Kind kind = Kind::kUntouched;
  UnitChange change;
  // The reservation the unit was withdrawn from (empty when none).
  std::string withdrawn_from;
};
// `note`: the reason the event records.
LookbackDecision DecideLookback(const StoredUnit& unit, const std::string& note);

// ---- Lookback cases (lookback_rules.cc; inventory.proto LookbackCase, RecallNotice) ----

// What the policy profile and the region say about a lookback.
struct LookbackPolicy {
  // The profile's lookback window (counted back from the donor's last non-reactive donation).
  v1::PolicyProfile::Period window;
  // The region's time zone, for the window's days.
  absl::TimeZone time_zone = absl::UTCTimeZone();
};

// The id of the one lookback case a reactive donation opens: "LB-<DIN>".
std::string LookbackIdFor(absl::string_view din);
// "ALT", "HBsAg", "anti-HCV", "anti-HIV-1/2", "syphilis", "NAT" (ABO/RhD: "ABO/RhD").
std::string MarkerName(v1::ScreeningTest test);
// "anti-HCV and syphilis".
std::string MarkerList(absl::Span<const v1::ScreeningTest> markers);
// The reason a case records in its units' events: "lookback: donor reactive for anti-HCV on
// <DIN>".
std::string LookbackReason(absl::string_view reactive_din,
                           absl::Span<const v1::ScreeningTest> markers);
// True when a unit of the donor's other donations is to be taken out of stock when a case
// opens: in date at `now` (expires_at after it); DecideLookback says how.
bool HeldWhenCaseOpens(const StoredUnit& unit, absl::Time now);
// True when a unit of the donor went to a hospital and the case must notify it: it carries an
// issue (order, hospital, issued_at) and is no longer back in stock.
bool NotifiedWhenCaseOpens(const v1::Unit& unit);
// Why and what to do, as a recall notice tells the hospital about `unit`. `own_donation`: the
// unit comes from the reactive donation itself (a correction turned it reactive after issue).
struct RecallText {
  std::string reason;
  std::string action;
};
RecallText RecallTextFor(const v1::Unit& unit, absl::Span<const v1::ScreeningTest> markers,
                         bool own_donation);
// OPEN while any of its notices is open; ACKNOWLEDGED once none is (at once when it has none).
v1::LookbackStatus CaseStatusFor(int open_notices);
// AcknowledgeRecall: true when `notice` is to change, false when it is already acknowledged (a
// repeat returns it as it is).
bool RecallToAcknowledge(const v1::RecallNotice& notice);

// The expiry sweeper's change of a unit in ExpirableStatuses().
UnitChange ExpireUnit(const StoredUnit& unit);
// One UNITS_EXPIRED alert per stock row of `expired` (the units as they were), in row order.
std::vector<v1::StockAlert> UnitsExpiredAlerts(absl::Span<const v1::Unit> expired);

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
// The donation's content through ValidateDonationContent (common/donation_rules.h, the donor
// service's rules too), plus the DIN, donor id, blood type and quantity.
absl::Status ValidateRegisterCollection(const v1::RegisterCollectionRequest& request,
                                        const v1::PolicyProfile& policy, absl::Time now);
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
// Lookback cases and recalls: the filters' enums, the ids and the note; page size and token are
// checked with the page (common/page_token.h).
absl::Status ValidateListLookbacks(const v1::ListLookbacksRequest& request);
absl::Status ValidateGetLookback(const v1::GetLookbackRequest& request);
absl::Status ValidateListRecalls(const v1::ListRecallsRequest& request);
absl::Status ValidateAcknowledgeRecall(const v1::AcknowledgeRecallRequest& request);

// `day` minus `period`, never giving a shorter window than nominal: a month or year that
// lands on a day the target month lacks goes to that month's last day.
absl::CivilDay SubtractPeriod(absl::CivilDay day, const v1::PolicyProfile::Period& period);

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_INVENTORY_RULES_H_
