// The request service's rules as pure functions: order validation, the candidate blood types
// an order line may receive and in which phases they are offered to inventory, the RhD
// exception policy, transfusion indication checks and approval tiers, the massive-transfusion
// pack, and the order state machine. No SQL, no gRPC, no clock (callers pass `now`).
//
// Sources: DESIGN.md "Allocation" and "Records and their lives"; DOMAIN.md section 3
// (compatibility, emergency release), section 7 (indications, approval tiers), section 8
// (massive transfusion). Every number comes from the policy profile or LineLimits.
//
// Every function here is pure and thread-safe.
#ifndef BLOODGRID_REQUEST_SERVICE_REQUEST_RULES_H_
#define BLOODGRID_REQUEST_SERVICE_REQUEST_RULES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "bloodgrid/v1/request.pb.h"
#include "common/blood.h"
#include "request_service/request_store.h"

namespace bloodgrid::request {

// ---------------------------------------------------------------------------------------------
// Validation.

// Largest quantity one order line may ask for, per component, in its ordering measure. The
// defaults are request.proto's (OrderLineRequest.quantity); a deployment may lower them.
struct LineLimits {
  int red_cells_units = 50;
  int whole_blood_units = 50;
  int plasma_ml = 5000;
  int platelet_doses = 10;
  int cryo_units = 50;

  // The maximum for `component`; 0 for COMPONENT_UNSPECIFIED or an unknown value.
  int MaxFor(v1::Component component) const;
};

// Most lines an order may have (request.proto PlaceOrderRequest.lines).
inline constexpr int kMaxOrderLines = 10;
// needed_by may lie this far in the past (clock skew between hospital and service).
inline constexpr absl::Duration kNeededByTolerance = absl::Minutes(1);
// needed_by may lie at most this far ahead.
inline constexpr absl::Duration kNeededByHorizon = absl::Hours(24 * 30);

// Number of Unicode code points in `text` (request.proto limits are in characters).
int CharacterCount(absl::string_view text);

// True for 1-32 characters of [A-Za-z0-9_-] (hospital and station ids).
bool IsValidRecordId(absl::string_view id);

// Checks every field of a PlaceOrderRequest that needs neither the database nor inventory:
// request_id, hospital_id, the patient (reference, blood type, sex, age, laboratory values),
// lines (count, component, quantity within `limits`, one per component, whole blood only for a
// typed patient), priority, indication, needed_by (relative to `now`), the massive-transfusion
// flag, approvals and ward. OK, or INVALID_ARGUMENT whose message starts with the field path
// ("lines[1].quantity: ...").
absl::Status ValidatePlaceOrder(const v1::PlaceOrderRequest& request, const LineLimits& limits,
                                absl::Time now);

// Checks a hospital for UpsertHospital (everything but whether its stations exist):
// INVALID_ARGUMENT naming "hospital.<field>".
absl::Status ValidateHospital(const v1::Hospital& hospital);

// Checks a ReportTransfusionRequest's own fields (not the DIN's presence on the order).
absl::Status ValidateReportTransfusion(const v1::ReportTransfusionRequest& request);

// The lines an order is placed with: the request's lines, or for a massive-transfusion order
// without lines the policy's pack (MassiveTransfusionPack).
std::vector<v1::OrderLineRequest> EffectiveLines(const v1::PlaceOrderRequest& request,
                                                 const v1::PolicyProfile& policy);

// One massive-transfusion round (DOMAIN.md section 8, PROPPR): red cells in U, plasma in mL
// (plasma_units x units.plasma_ml_per_unit), platelets in doses, in that order; components
// whose count is 0 are left out.
std::vector<v1::OrderLineRequest> MassiveTransfusionPack(const v1::PolicyProfile& policy);

// ---------------------------------------------------------------------------------------------
// Compatibility and the RhD exception.

// What the compatibility rules need to know about a patient.
struct Recipient {
  // Known, or unknown (EMERGENCY only).
  BloodType blood_type;
  v1::Sex sex = v1::SEX_UNSPECIFIED;
  std::optional<int> age_years;
  bool has_anti_d = false;
};

// The recipient described by `patient`. For EMERGENCY a known ABO group with an unspecified
// RhD is treated as RhD-negative (request.proto Patient.blood_type). `patient` must have passed
// ValidatePlaceOrder.
Recipient RecipientOf(const v1::Patient& patient, v1::Priority priority);

// When RhD-positive red cells or platelets may go to an RhD-negative or untyped patient
// (DOMAIN.md section 3; PolicyProfile.EmergencyRhD).
enum class RhdPositiveUse {
  // The patient is RhD-positive: RhD-positive blood is standard, not an exception.
  kStandard,
  // Never: not EMERGENCY, or the patient has anti-D.
  kNever,
  // When RhD-negative stock is short: males, and females older than the policy age. Offered
  // in the same Reserve call after every RhD-negative candidate, so under EMERGENCY ordering
  // an RhD-positive bag on the serving station's shelf beats an RhD-negative one at a
  // fallback station.
  kWhenShort,
  // Only when nothing else exists: females up to the policy age, and patients whose sex or
  // age is unknown (treated as females of child-bearing age). Offered in a second Reserve
  // call, for what the RhD-negative candidates at every station left short.
  kLastResort,
};
RhdPositiveUse RhdPositiveUseFor(const Recipient& recipient, v1::Priority priority,
                                 const v1::PolicyProfile& policy);

// One Reserve call's candidate list. Candidates carry blood.h's tiers (1 = best).
struct CandidatePhase {
  std::vector<DonorCandidate> candidates;
  // The list holds RhD-positive candidates for an RhD-negative or untyped patient.
  bool rhd_positive_exception = false;
};

// How an order line is allocated: Reserve is called once per phase, in order, each later phase
// only for the quantity the earlier ones left short.
struct AllocationPlan {
  std::vector<CandidatePhase> phases;
  // Emergency release for a patient of unknown blood type (group O red cells, AB plasma...).
  bool emergency_unknown_type = false;
};

// The plan for `component` and `recipient` at `priority`:
//  - known type: CompatibleDonors (ABO-identical first), RhD-positive candidates for an
//    RhD-negative patient per RhdPositiveUseFor;
//  - unknown type (EMERGENCY only): EmergencyUnknownTypeCandidates, O RhD-positive red cells
//    (and RhD-positive platelets) per RhdPositiveUseFor as for an RhD-negative patient.
// INVALID_ARGUMENT for an unspecified component, an unknown type outside EMERGENCY, or a
// component with no emergency-release candidates (whole blood) for an unknown type.
absl::StatusOr<AllocationPlan> PlanAllocation(v1::Component component, const Recipient& recipient,
                                              v1::Priority priority,
                                              const v1::PolicyProfile& policy);

// How an allocated unit deviates from the standard rules.
struct UnitDeviation {
  // RhD-positive red cells, whole blood or platelets for an RhD-negative or untyped patient.
  bool rhd_positive_for_negative = false;
  // A known-type patient received another ABO group.
  bool abo_non_identical = false;
  // Emergency release for an untyped patient.
  bool emergency_unknown_type = false;

  // The unit is marked as an exception on the order (OrderUnit.exception).
  bool marks_unit() const { return rhd_positive_for_negative || emergency_unknown_type; }
};
UnitDeviation AssessUnit(v1::Component component, const Recipient& recipient, BloodType unit);

// True when units reserved at a station other than the hospital's serving station travel there
// on a transfer before the order is dispatched, false when they ship straight from the station
// that holds them (DESIGN.md "Allocation" 2: bags elsewhere come by transfer). EMERGENCY orders
// ship directly (the shelf now beats the route); `fallback_transfers` false (a region whose
// fallback stations deliver to hospitals themselves) ships every order directly.
bool TransfersToServingStation(v1::Priority priority, bool fallback_transfers);

// ---------------------------------------------------------------------------------------------
// Indications and approval tiers (DOMAIN.md section 7).

// Volume counted against the daily approval tiers, mL: red cells and whole blood as the whole
// blood they come from (U x units.whole_blood_ml_per_red_cell_unit), plasma as ordered;
// platelets and cryoprecipitate are not counted (their bags are not a volume of blood drawn).
int64_t ApprovalVolumeMl(v1::Component component, int64_t quantity,
                         const v1::PolicyProfile& policy);

struct IndicationOutcome {
  // Findings in line order, order-wide (approval) findings last.
  std::vector<v1::IndicationFinding> findings;
  // This order's volume plus `prior_daily_volume_ml`.
  int64_t daily_volume_ml = 0;
  // Highest sign-off the daily volume needs.
  v1::PolicyProfile::Approver required_approver = v1::PolicyProfile::APPROVER_UNSPECIFIED;
  // ROUTINE with any finding: the order goes to IN_REVIEW instead of being allocated.
  bool hold_for_review = false;
  // The findings' messages joined with "; " ("" without findings).
  std::string summary;
};

// Checks the order's lines against the policy thresholds for the patient's laboratory values,
// and the patient's daily volume (`prior_daily_volume_ml` from the day's other orders, plus
// this one) against the approval tiers and the sign-offs in `approvals`. Values between a
// threshold's two cut-offs need a stated indication (non-empty `indication`).
IndicationOutcome CheckIndication(const v1::Patient& patient,
                                  absl::Span<const v1::OrderLineRequest> lines,
                                  v1::Priority priority, absl::string_view indication,
                                  const v1::OrderApprovals& approvals,
                                  int64_t prior_daily_volume_ml, const v1::PolicyProfile& policy);

// ---------------------------------------------------------------------------------------------
// Order state machine (DESIGN.md "Records and their lives").
//
//   RECEIVED            -> IN_REVIEW | ALLOCATED | PARTIALLY_ALLOCATED | CANCELLED
//   IN_REVIEW           -> RECEIVED (approved, to be allocated) | REJECTED | CANCELLED
//   ALLOCATED           -> PARTIALLY_ALLOCATED (a unit withdrawn) | DISPATCHED | CANCELLED
//   PARTIALLY_ALLOCATED -> ALLOCATED (back-order filled) | DISPATCHED (allow_partial) | CANCELLED
//   DISPATCHED          -> DELIVERED | COMPLETED (every unit presumed transfused)
//   DELIVERED           -> COMPLETED
//   REJECTED, COMPLETED, CANCELLED are final.

// True if the table above has the transition from -> to (from != to).
bool IsTransitionAllowed(v1::OrderStatus from, v1::OrderStatus to);

// OK if allowed; FAILED_PRECONDITION "order is <FROM>: cannot become <TO>" otherwise.
absl::Status CheckTransition(v1::OrderStatus from, v1::OrderStatus to);

// REJECTED, COMPLETED or CANCELLED.
bool IsFinalStatus(v1::OrderStatus status);
// Before dispatch: RECEIVED, IN_REVIEW, ALLOCATED, PARTIALLY_ALLOCATED.
bool IsCancellable(v1::OrderStatus status);
// Reservations may be made for it: RECEIVED, ALLOCATED, PARTIALLY_ALLOCATED.
bool IsAllocatable(v1::OrderStatus status);

// Closed before any unit left: REJECTED, CANCELLED. Their lines do not count toward a
// patient's daily volume.
bool IsClosedUnissued(v1::OrderStatus status);
// Issued units may still await their transfusion outcome: DISPATCHED, DELIVERED.
bool AwaitsOutcomes(v1::OrderStatus status);
// Placed but not yet allocated, or back-ordered: the statuses the jobs act on by name.
bool IsUnallocated(v1::OrderStatus status);  // RECEIVED
bool IsBackordered(v1::OrderStatus status);  // PARTIALLY_ALLOCATED
// A reservation whose Reserve may not have run (PENDING), whose units are not yet confirmed
// (RESERVED) or that is still to be released (ABANDONED): the reconciler finishes it.
bool IsUnsettledReservation(ReservationState state);
// The statuses for which `rule` holds, in enum order (for binding a rule as a set).
std::vector<v1::OrderStatus> OrderStatusesWhere(bool (*rule)(v1::OrderStatus));
std::vector<ReservationState> ReservationStatesWhere(bool (*rule)(ReservationState));
// "ALLOCATED", "IN_REVIEW", ... (the enum name without its prefix).
std::string StatusName(v1::OrderStatus status);

// ALLOCATED when every line's allocated_quantity reaches its quantity, else
// PARTIALLY_ALLOCATED.
v1::OrderStatus SettledStatus(absl::Span<const v1::OrderLine> lines);

// ---------------------------------------------------------------------------------------------
// Settling an order: the decisions RequestStore::UpdateOrder applies. Each takes the order as
// the store just locked and loaded it, and what the caller learnt from inventory or the client,
// and returns the change (empty: nothing to do) or the error the RPC answers with. `actor` is
// who the events and exceptions are recorded for; `now` the business time of the change.

// PENDING, RESERVED or CONFIRMED: the reservation may still hold units.
bool IsLiveReservation(ReservationState state);
// Some reservation of the order is PENDING (Reserve may not have run yet).
bool HasPendingReservation(const OrderRecord& record);
// Who an exception is recorded for: the physician who signed the order, else `actor`.
std::string RecordedBy(const v1::Order& order, const std::string& actor);
v1::OrderException MakeOrderException(v1::OrderExceptionKind kind, int line_no, std::string din,
                                      std::string message, std::string recorded_by, absl::Time now);
// PERMISSION_DENIED "order <id> belongs to another hospital" when `hospital_id` is set and is
// not the order's.
absl::Status CheckOwner(const v1::Order& order, const std::string& hospital_id);

// A PENDING reservation intent for `line_no` of `order` in allocation `phase` (of
// PlanAllocation's plan), asking for `quantity` at `stations`. Its expiry floor is needed_by (or
// `now`, whichever is later) plus `transport_time`. INTERNAL for an unknown line or phase.
absl::StatusOr<ReservationRecord> NewReservationIntent(const v1::Order& order, int line_no,
                                                       int attempt, int phase, int quantity,
                                                       const std::vector<std::string>& stations,
                                                       const v1::PolicyProfile& policy,
                                                       absl::Duration transport_time,
                                                       absl::Time now);

// What one allocation pass over an order knows: where it may reserve, and per line how many
// phases its plan has and which phase it tries next.
struct AllocationPass {
  std::vector<std::string> stations;
  std::map<int, int> phase_count;             // line_no -> phases of its AllocationPlan
  std::map<int, int> next_phase;              // line_no -> phase tried next (0 when absent)
  const v1::PolicyProfile* policy = nullptr;  // must outlive the pass
  // OperationsOptions::transport_time: added to needed_by for the expiry floor.
  absl::Duration transport_time;
};

// Step 1 of a pass (back-ordering): a new PENDING intent for every line still short whose next
// phase exists, unless the order is no longer allocatable, its dispatch started, or earlier
// intents are still PENDING. A RECEIVED order with nothing left to try settles
// (SettledStatus).
absl::StatusOr<OrderChange> DecideReservationIntents(const OrderRecord& current,
                                                     const AllocationPass& pass, absl::Time now);

// Step 3 of a pass: records the units inventory reserved for the order's PENDING intents in
// `reserved` (by key): each intent becomes RESERVED (units recorded), EMPTY (none) or RELEASED
// (its hold lapsed first); units go on the order with the exceptions their deviations call for
// (AssessUnit), and the order settles to ALLOCATED or PARTIALLY_ALLOCATED (a RECEIVED order
// stays RECEIVED while a later phase of a short line follows in this pass). An order that left
// allocation meanwhile (or whose dispatch started) instead marks those intents ABANDONED.
OrderChange DecideReservedUnits(const OrderRecord& current,
                                const std::map<std::string, v1::Reservation>& reserved,
                                const AllocationPass& pass, const std::string& actor,
                                absl::Time now);

// What inventory shows (or was just asked to do) about the units of one or more reservations.
struct TransferFacts {
  // (unit_id, transfer_id) not yet on the order's record.
  std::vector<std::pair<std::string, std::string>> transfer_ids;
  // (unit_id, station_id) for units now held elsewhere than recorded (a transfer arrived).
  std::vector<std::pair<std::string, std::string>> station_ids;
  // Transfers created by this call.
  std::vector<v1::Transfer> created;

  void Add(TransferFacts other);
};

// Drops the (not yet withdrawn) units of `unit_ids` into `change` and re-settles an ALLOCATED or
// PARTIALLY_ALLOCATED order for what is left (a back-order when it falls short).
void WithdrawUnits(const OrderRecord& current, const std::set<std::string>& unit_ids,
                   OrderChange& change);

// After confirming and releasing with inventory: RESERVED reservations in `confirmed` become
// CONFIRMED, ABANDONED ones in `released` RELEASED, and RESERVED ones in `lapsed` (their hold ran
// out) RELEASED with their units withdrawn (event HOLD_LAPSED). `facts` are recorded whatever
// became of the order; created transfers make a TRANSFER_PLANNED event. Never reads back.
OrderChange DecideSettledReservations(const OrderRecord& current,
                                      const std::set<std::string>& confirmed,
                                      const std::set<std::string>& released,
                                      const std::set<std::string>& lapsed,
                                      const TransferFacts& facts);

// After checking the order's units with inventory: withdraws the units of `withdrawn`
// (unit_id -> why) with an UNIT_WITHDRAWN exception each (event UNITS_WITHDRAWN, back-ordering
// the shortfall), and records `facts` (event TRANSFER_PLANNED when transfers were created).
OrderChange DecideVerifiedAllocations(const OrderRecord& current,
                                      const std::map<std::string, std::string>& withdrawn,
                                      const TransferFacts& facts, const std::string& actor,
                                      absl::Time now);

// CancelOrder: CANCELLED with `reason`, live reservations ABANDONED (to be released). Nothing
// for an order already CANCELLED. PERMISSION_DENIED (CheckOwner); FAILED_PRECONDITION once the
// dispatch started or when the status is not cancellable.
absl::StatusOr<OrderChange> DecideCancel(const OrderRecord& current, const std::string& hospital_id,
                                         const std::string& reason);

// ReviewOrder: an IN_REVIEW order is approved (RECEIVED) or rejected (REJECTED, the note its
// reason); an URGENT or EMERGENCY order flagged for its indication or approvals gets a
// retrospective review. FAILED_PRECONDITION for an order reviewed before or with nothing to
// review.
absl::StatusOr<OrderChange> DecideReview(const OrderRecord& current,
                                         const v1::ReviewOrderRequest& request, absl::Time now);

// OK when the order may be dispatched: ALLOCATED, or PARTIALLY_ALLOCATED with `allow_partial`;
// FAILED_PRECONDITION otherwise.
absl::Status CheckDispatchable(const OrderRecord& record, bool allow_partial);
// DispatchOrder records its intent (event DISPATCH_STARTED); nothing when already under way or
// done. Errors are CheckDispatchable's.
absl::StatusOr<OrderChange> DecideDispatchStart(const OrderRecord& current, bool allow_partial);
// Issue refused before any unit left: the intent is dropped (event DISPATCH_FAILED with
// `message`) so the order can be fixed or cancelled.
OrderChange DecideDispatchFailed(const OrderRecord& current, const std::string& message);
// The units are issued: DISPATCHED, reservations ISSUED, short lines closed with a
// SHORT_DISPATCHED exception each, and for a massive-transfusion order the next round
// (`follow_up_order_id`, its intents at `pass.stations`) as follow_up. Nothing when already
// DISPATCHED; FAILED_PRECONDITION without a dispatch under way.
absl::StatusOr<OrderChange> DecideDispatched(const OrderRecord& current,
                                             const std::string& follow_up_order_id,
                                             const AllocationPass& pass, const std::string& actor,
                                             absl::Time now);

// ConfirmDelivery: DELIVERED at `received_at` by `received_by`; nothing when already DELIVERED or
// COMPLETED. PERMISSION_DENIED (CheckOwner); FAILED_PRECONDITION for an order not dispatched.
absl::StatusOr<OrderChange> DecideDelivery(const OrderRecord& current,
                                           const std::string& hospital_id, absl::Time received_at,
                                           const std::string& received_by);

// The order's one current unit with `din` (and `component` unless unspecified).
// INVALID_ARGUMENT "din: ..." when none, "component: ..." when several match.
absl::StatusOr<const AllocationRecord*> FindReportedUnit(const OrderRecord& record,
                                                         const std::string& din,
                                                         v1::Component component);
// A reported outcome repeats the recorded one (PRESUMED_TRANSFUSED counts as TRANSFUSED).
bool SameOutcome(v1::TransfusionOutcome recorded, v1::TransfusionOutcome reported);
// ReportTransfusion: records the outcome (at `at`) and any adverse reaction of the unit
// (FindReportedUnit); the order becomes COMPLETED once every unit has an outcome, else a
// DISPATCHED one DELIVERED. Nothing for a repeat. FAILED_PRECONDITION for a different outcome
// reported before.
absl::StatusOr<OrderChange> DecideTransfusionReport(const OrderRecord& current,
                                                    const v1::ReportTransfusionRequest& request,
                                                    const std::string& din, absl::Time at,
                                                    absl::Time now);
// PresumeTransfusions: unit `unit_id` still without an outcome is PRESUMED_TRANSFUSED at `now`,
// completing the order when it was the last. Nothing when the unit has an outcome (or is gone).
OrderChange DecidePresumedTransfusion(const OrderRecord& current, const std::string& unit_id,
                                      absl::Time now);

// ---------------------------------------------------------------------------------------------
// Keys.

// The inventory reservation key of an order line's attempt: "<order_id>/<line_no>/<attempt>".
std::string ReservationKey(absl::string_view order_id, int line_no, int attempt);

// A request_id for a call this service makes to inventory on behalf of an order, derived from
// stable parts so a retry repeats it exactly: the parts joined with ':', '/' replaced by ':'.
// Parts must consist of request_id characters otherwise.
std::string DerivedRequestId(std::initializer_list<absl::string_view> parts);

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_RULES_H_
