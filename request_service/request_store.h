// The request service's repository interface: hospitals, orders with their lines, reservations,
// allocated units, exceptions, indication findings, reviews and events, plus the queries the
// background jobs need. RequestOperations depends on this interface only; MysqlRequestStore
// implements it over the `request` schema.
//
// Every method is one transaction (or one consistent read). Every change of an order's status,
// and every other change that names an event kind (units allocated or withdrawn, outcomes,
// reviews...), writes an order_events row in the same transaction; reservation bookkeeping
// alone does not. Instants are stored with microsecond precision.
//
// Status codes common to every method: UNAVAILABLE when the database cannot be reached (or the
// pool is exhausted), ABORTED when a transaction kept losing lock conflicts, INTERNAL for
// anything else (details logged). `deadline` bounds the waits and the retries: MysqlRequestStore
// does not refuse a deadline already passed (a free connection still runs the first attempt;
// waiting for one, or retrying, past it ends in UNAVAILABLE or ABORTED), while an in-memory
// implementation may answer DEADLINE_EXCEEDED.
//
// Implementations are thread-safe.
#ifndef BLOODGRID_REQUEST_SERVICE_REQUEST_STORE_H_
#define BLOODGRID_REQUEST_SERVICE_REQUEST_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/request.pb.h"
#include "common/blood.h"
#include "common/idempotency.h"

namespace bloodgrid::request {

// Life of one reservation (one inventory Reserve call for one order line).
enum class ReservationState {
  // The intent is committed; Reserve may or may not have run (a reconcile runs it again with
  // the same key, which inventory answers idempotently).
  kPending = 1,
  // Its units are recorded on the order; not yet confirmed with inventory.
  kReserved = 2,
  // Confirmed with inventory: it lasts until released or issued.
  kConfirmed = 3,
  // Reserve found nothing: nothing to confirm or release.
  kEmpty = 4,
  // Released back to stock (cancellation, rejection, or its hold lapsed).
  kReleased = 5,
  // The order left an allocatable status before the units were recorded: to be released.
  kAbandoned = 6,
  // Its units were issued to the hospital.
  kIssued = 7,
};

// One candidate blood type of a reservation with its inventory tier (0 = best).
struct StoredCandidate {
  BloodType blood_type;
  int tier = 0;
};

struct ReservationRecord {
  std::string key;  // "<order_id>/<line_no>/<attempt>"
  int line_no = 0;
  int attempt = 0;
  // Index of the allocation phase (request_rules.h AllocationPlan) it was made for.
  int phase = 0;
  ReservationState state = ReservationState::kPending;
  v1::Component component = v1::COMPONENT_UNSPECIFIED;
  int quantity = 0;
  // What the Reserve call asks for, kept so a reconcile repeats it exactly.
  std::vector<StoredCandidate> candidates;
  std::vector<std::string> station_ids;
  absl::Time expiry_floor;
  bool rhd_exception = false;
};

// A unit allocated to an order line. `unit` carries everything the client sees.
struct AllocationRecord {
  v1::OrderUnit unit;
  int line_no = 0;
  std::string reservation_key;
  // Taken back (expired, withdrawn by a lookback, or its reservation lapsed): kept for the
  // record, no longer part of the order.
  bool withdrawn = false;
};

// An order with everything the service needs to act on it.
struct OrderRecord {
  // The client view: lines with their current (not withdrawn) units, allocated and
  // back-ordered quantities, exceptions, findings, reviews, timestamps.
  v1::Order order;
  std::string request_hash;
  // DispatchOrder has started issuing units (the order may not be cancelled or topped up).
  bool dispatch_intent = false;
  bool allow_partial = false;
  // Lines closed short at dispatch (allow_partial), by line_no.
  std::vector<int> closed_short_lines;
  std::vector<ReservationRecord> reservations;
  // Every allocation, withdrawn ones included.
  std::vector<AllocationRecord> allocations;
};

// One change to an order, applied atomically by UpdateOrder. Fields left empty change nothing.
struct OrderChange {
  // False: UpdateOrder does not read the order back after applying the change, and its
  // UpdateResult describes the order as it was before (for callers that only need the write).
  // Ignored when an idempotency key is completed (its answer is the order after the change).
  bool read_back = true;
  // New status; UpdateOrder refuses a transition the state machine (request_rules.h) does not
  // allow with FAILED_PRECONDITION. Sets dispatched_at, completed_at or closed_at (CANCELLED,
  // REJECTED) to `now` when entering those statuses.
  std::optional<v1::OrderStatus> status;
  // The event row written for this change ("UNITS_ALLOCATED", "OUTCOME", ...) and its note.
  // An event is written when the status changes (kind defaults to the new status's name) or
  // when event_kind is set on a change that is not otherwise empty: event_kind (and event_note)
  // alone count as empty() and write nothing.
  std::string event_kind;
  std::string event_note;
  std::optional<std::string> status_reason;
  std::optional<std::string> review_reason;
  std::optional<bool> dispatch_intent;
  std::optional<bool> allow_partial;
  std::optional<absl::Time> delivered_at;
  std::optional<std::string> received_by;
  std::vector<ReservationRecord> new_reservations;
  std::vector<std::pair<std::string, ReservationState>> reservation_states;
  // Inserted; a unit allocated to the order before and withdrawn comes back.
  std::vector<AllocationRecord> new_allocations;
  std::vector<std::string> withdrawn_unit_ids;
  struct UnitOutcome {
    std::string unit_id;
    v1::TransfusionOutcome outcome = v1::TRANSFUSION_OUTCOME_UNSPECIFIED;
    absl::Time at;
    std::optional<v1::AdverseReaction> adverse_reaction;
  };
  std::vector<UnitOutcome> outcomes;
  // (unit_id, transfer_id): the transfer bringing a unit to the serving station, learnt from
  // inventory or just created. Kept after the unit arrives (the route is part of the record).
  std::vector<std::pair<std::string, std::string>> unit_transfer_ids;
  // (unit_id, station_id): the station that holds a unit now (a transfer delivered it).
  std::vector<std::pair<std::string, std::string>> unit_station_ids;
  std::vector<int> close_lines_short;
  std::vector<v1::OrderException> new_exceptions;
  std::optional<v1::OrderReview> review;
  // An order to create in the same transaction (the next massive-transfusion round).
  std::optional<OrderRecord> follow_up;

  bool empty() const;
};

// What UpdateOrder did.
struct UpdateResult {
  // True: the idempotency key was completed before; `order` is the stored first answer and
  // nothing changed.
  bool replayed = false;
  // The order after the change (or the replayed answer).
  v1::Order order;
  // The full record after the change (not set when replayed).
  OrderRecord record;
};

// ListOrders filters (request.proto ListOrdersRequest); empty/unspecified = any.
struct OrderFilter {
  v1::OrderStatus status = v1::ORDER_STATUS_UNSPECIFIED;
  std::string hospital_id;
  v1::Priority priority = v1::PRIORITY_UNSPECIFIED;
  std::optional<absl::Time> created_after;   // inclusive
  std::optional<absl::Time> created_before;  // exclusive
  std::string patient_ref;
};

// Position after the last row of a page: (created_at, order_id), newest first.
struct OrderCursor {
  std::optional<absl::Time> created_at;  // unset: first page
  std::string order_id;
};

class RequestStore {
 public:
  virtual ~RequestStore() = default;

  // OK when the database answers (readiness probe).
  virtual absl::Status Ping(absl::Time deadline) = 0;

  // ------------------------------------------------------------------------------------------
  // Hospitals.

  // Creates or replaces the hospital (created_at kept, updated_at = now). With `key`, a repeat
  // returns the first answer and changes nothing (INVALID_ARGUMENT "request_id: ..." when the
  // key was used for another request).
  virtual absl::StatusOr<v1::Hospital> UpsertHospital(const v1::Hospital& hospital,
                                                      const db::IdempotencyKey& key, absl::Time now,
                                                      absl::Time deadline) = 0;
  // NOT_FOUND "hospital <id> not found".
  virtual absl::StatusOr<v1::Hospital> GetHospital(const std::string& hospital_id,
                                                   absl::Time deadline) = 0;
  // Hospitals with hospital_id > after_id, by hospital_id, at most `limit`.
  virtual absl::StatusOr<std::vector<v1::Hospital>> ListHospitals(const std::string& after_id,
                                                                  int limit,
                                                                  absl::Time deadline) = 0;

  // ------------------------------------------------------------------------------------------
  // Orders.

  // The order placed by `hospital_id` with `request_id`, if any: (order_id, request_hash).
  virtual absl::StatusOr<std::optional<std::pair<std::string, std::string>>> FindOrderByRequest(
      const std::string& hospital_id, const std::string& request_id, absl::Time deadline) = 0;

  // Inserts a new order (order, lines, findings, exceptions, reservations, allocations as given
  // in `record`) with its first events: one event per status in `status_path` (e.g. RECEIVED,
  // then IN_REVIEW), the last being record.order.status. ALREADY_EXISTS when the hospital
  // already has an order with the request_id (or the order_id exists); FAILED_PRECONDITION
  // when the hospital does not exist.
  virtual absl::Status CreateOrder(const OrderRecord& record,
                                   const std::vector<v1::OrderStatus>& status_path,
                                   const std::string& actor, absl::Time now,
                                   absl::Time deadline) = 0;

  // NOT_FOUND "order <id> not found".
  virtual absl::StatusOr<OrderRecord> LoadOrder(const std::string& order_id,
                                                absl::Time deadline) = 0;

  // Decides and applies one change to an order in one transaction: locks the order, loads it,
  // calls `decide` with it, applies the OrderChange it returns (nothing when empty) with its
  // event row, and returns the order after it. An error from `decide` rolls back and is
  // returned as is, as is FAILED_PRECONDITION for a status change CheckTransition refuses.
  // `decide` may run more than once (transaction retries) and must have no side effects.
  // With `key` (may be null): a completed key replays its stored answer without calling
  // `decide`; otherwise the answer is stored under the key in the same transaction.
  // NOT_FOUND for an unknown order.
  using DecideFn = std::function<absl::StatusOr<OrderChange>(const OrderRecord& current)>;
  virtual absl::StatusOr<UpdateResult> UpdateOrder(const std::string& order_id,
                                                   const db::IdempotencyKey* key,
                                                   const std::string& actor, absl::Time now,
                                                   absl::Time deadline, const DecideFn& decide) = 0;

  // True (and `response` filled) when the key was completed before; false otherwise. Claims
  // nothing. INVALID_ARGUMENT "request_id: ..." when the key was used for another request.
  virtual absl::StatusOr<bool> LookupIdempotent(const db::IdempotencyKey& key,
                                                google::protobuf::Message* response,
                                                absl::Time deadline) = 0;

  // ------------------------------------------------------------------------------------------
  // Queries.

  // Orders matching `filter` strictly after `cursor` in (created_at desc, order_id desc) order,
  // at most `limit`.
  virtual absl::StatusOr<std::vector<v1::Order>> ListOrders(const OrderFilter& filter,
                                                            const OrderCursor& cursor, int limit,
                                                            absl::Time deadline) = 0;

  // Units with one of `dins` on dispatched orders (dispatched at or after `since` when set),
  // by DIN then dispatched_at.
  virtual absl::StatusOr<std::vector<v1::UnitDelivery>> FindDeliveries(
      const std::vector<std::string>& dins, std::optional<absl::Time> since,
      absl::Time deadline) = 0;

  // Sum of the quantities ordered per component by (hospital_id, patient_ref) in orders
  // created in [from, to) that were not cancelled or rejected.
  virtual absl::StatusOr<std::vector<std::pair<v1::Component, int64_t>>> DailyQuantities(
      const std::string& hospital_id, const std::string& patient_ref, absl::Time from,
      absl::Time to, absl::Time deadline) = 0;

  // Orders a crash may have left half-done, not changed since `changed_before`: RECEIVED;
  // with a PENDING, RESERVED or ABANDONED reservation; final with a reservation not yet
  // released; or with a dispatch started but not finished. At most `limit`, oldest first.
  virtual absl::StatusOr<std::vector<std::string>> ListOrdersToReconcile(absl::Time changed_before,
                                                                         int limit,
                                                                         absl::Time deadline) = 0;

  // PARTIALLY_ALLOCATED orders not being dispatched, highest priority first, then oldest.
  virtual absl::StatusOr<std::vector<std::string>> ListBackorderedOrders(int limit,
                                                                         absl::Time deadline) = 0;

  // (order_id, unit_id) of issued units without an outcome on orders dispatched before
  // `dispatched_before`, oldest first.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListUnreportedUnits(
      absl::Time dispatched_before, int limit, absl::Time deadline) = 0;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_STORE_H_
