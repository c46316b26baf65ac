// RequestService's behaviour (request.proto): validation, idempotency, the indication check,
// allocation through InventoryService.Reserve with crash-safe bookkeeping, the order lifecycle,
// back-orders, massive-transfusion rounds, and the background jobs that finish what a crash or
// an outage left half-done. The rules themselves are request_rules.h; storage is RequestStore;
// inventory is InventoryClient. No SQL and no gRPC here.
//
// Cross-service consistency (DESIGN.md "Allocation" 5): an order is committed as RECEIVED,
// together with its first reservation intents (PENDING, key "<order_id>/<line_no>/<attempt>"),
// before inventory is called. Reserve is idempotent on the key, so whoever finds a PENDING
// intent (the retried PlaceOrder, the start-up reconciler, a periodic reconcile) calls it again
// and records the same units. Units are recorded on the order before the reservation is
// confirmed; a reservation no order recorded stays HELD and inventory's sweeper releases it.
// Cancelling marks the order's reservations to be released in the same transaction, then
// releases them (or a reconcile does). DispatchOrder records its intent before Issue, so a
// half-done dispatch is finished, never undone.
//
// Thread-safe; several replicas may run the same jobs at once (the store's row locks and
// inventory's idempotency keys make repeated work harmless).
#ifndef BLOODGRID_REQUEST_SERVICE_REQUEST_LOGIC_H_
#define BLOODGRID_REQUEST_SERVICE_REQUEST_LOGIC_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/policy.pb.h"
#include "bloodgrid/v1/request.pb.h"
#include "common/clock.h"
#include "request_service/inventory_client.h"
#include "request_service/request_rules.h"
#include "request_service/request_store.h"

namespace bloodgrid::request {

struct LogicOptions {
  LineLimits limits;
  // Added to needed_by (or now) for Reserve's expiry floor: a unit must still be usable when it
  // reaches the hospital.
  absl::Duration transport_time = absl::Hours(2);
  // How long a reservation stays HELD before it must be confirmed (inventory's hold_seconds).
  int hold_seconds = 900;
  // Issued units without a reported outcome this long after dispatch are presumed transfused.
  absl::Duration presumed_transfused_after = absl::Hours(72);
  // The region's time zone: the "day" of the daily approval tiers.
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // The reconciler leaves alone orders changed more recently than this (a request may still be
  // working on them).
  absl::Duration reconcile_grace = absl::Seconds(30);
  // Most orders one background pass looks at.
  int job_batch_size = 200;
};

// Who is calling and until when.
struct Caller {
  // "<role>:<subject>" from the x-bloodgrid-actor metadata; "system:unknown" without it.
  std::string actor = "system:unknown";
  absl::Time deadline = absl::InfiniteFuture();
};

class RequestLogic {
 public:
  // Every pointer must outlive the logic.
  RequestLogic(RequestStore* store, InventoryClient* inventory, const v1::PolicyProfile* policy,
               Clock* clock, LogicOptions options);

  // Test hook: called at named points of the crash-sensitive sequences
  // ("place_order.after_intent", "allocate.after_reserve", "dispatch.after_issue"); a non-OK
  // status stops the operation right there, as if the process had died, and is returned.
  using FaultHook = std::function<absl::Status(absl::string_view point)>;
  void SetFaultHook(FaultHook hook);

  // ------------------------------------------------------------------------------------------
  // RPCs: status codes as documented in request.proto.

  absl::StatusOr<v1::Hospital> UpsertHospital(const v1::UpsertHospitalRequest& request,
                                              const Caller& caller);
  absl::StatusOr<v1::Hospital> GetHospital(const v1::GetHospitalRequest& request,
                                           const Caller& caller);
  absl::StatusOr<v1::ListHospitalsResponse> ListHospitals(const v1::ListHospitalsRequest& request,
                                                          const Caller& caller);
  absl::StatusOr<v1::Order> PlaceOrder(const v1::PlaceOrderRequest& request, const Caller& caller);
  absl::StatusOr<v1::Order> GetOrder(const v1::GetOrderRequest& request, const Caller& caller);
  absl::StatusOr<v1::ListOrdersResponse> ListOrders(const v1::ListOrdersRequest& request,
                                                    const Caller& caller);
  absl::StatusOr<v1::Order> CancelOrder(const v1::CancelOrderRequest& request,
                                        const Caller& caller);
  absl::StatusOr<v1::Order> ReviewOrder(const v1::ReviewOrderRequest& request,
                                        const Caller& caller);
  absl::StatusOr<v1::Order> DispatchOrder(const v1::DispatchOrderRequest& request,
                                          const Caller& caller);
  absl::StatusOr<v1::Order> ConfirmDelivery(const v1::ConfirmDeliveryRequest& request,
                                            const Caller& caller);
  absl::StatusOr<v1::Order> ReportTransfusion(const v1::ReportTransfusionRequest& request,
                                              const Caller& caller);
  absl::StatusOr<v1::FindOrdersByDinsResponse> FindOrdersByDins(
      const v1::FindOrdersByDinsRequest& request, const Caller& caller);

  // ------------------------------------------------------------------------------------------
  // Background work. Each returns how many orders (or units) it acted on; errors of single
  // orders are logged and skipped, only a failure to list work is returned.

  // Finishes what a crash or an outage left half-done (RECEIVED orders, reservation intents,
  // unconfirmed or abandoned reservations, started dispatches) for orders unchanged for
  // reconcile_grace (or for any age when `all` is true, as at start-up).
  absl::StatusOr<int> ReconcileOrders(bool all, absl::Time deadline);
  // Tops up back-ordered (PARTIALLY_ALLOCATED) orders, highest priority first, then oldest.
  absl::StatusOr<int> FillBackorders(absl::Time deadline);
  // Marks issued units without an outcome after presumed_transfused_after as
  // PRESUMED_TRANSFUSED (completing their orders).
  absl::StatusOr<int> PresumeTransfusions(absl::Time deadline);
  // Inventory withdrew units from a reservation (a lookback): drops them from the order and
  // back-orders the shortfall.
  absl::Status HandleWithdrawnUnits(const std::string& reservation_key, absl::Time deadline);

  // The order's current view after finishing any half-done work on it (used on retries and by
  // the reconciler).
  absl::StatusOr<v1::Order> ReconcileOrder(const std::string& order_id, const Caller& caller);

 private:
  absl::Status Fault(absl::string_view point);
  absl::Time Now() const { return clock_->Now(); }

  // Makes reservations for every line still short (one allocation phase per round), records
  // their units, confirms them. No-op for an order that is not allocatable.
  absl::Status AllocateOrder(const std::string& order_id, const Caller& caller);
  // Confirms RESERVED reservations, releases ABANDONED ones, and drops the units of a
  // reservation whose hold lapsed.
  absl::Status SettleReservations(const std::string& order_id, const Caller& caller);
  // Checks every allocated unit with inventory (still held, not expired); drops the others and
  // tops the order up. FAILED_PRECONDITION naming the DIN for a unit in transit.
  absl::Status VerifyAllocations(const std::string& order_id, const Caller& caller);
  // Issues the units of an order whose dispatch intent is recorded, then marks it DISPATCHED
  // (completing `key` when given) and places the next massive-transfusion round.
  absl::StatusOr<v1::Order> CompleteDispatch(const std::string& order_id, const IdempotencyKey* key,
                                             const Caller& caller);

  absl::StatusOr<std::vector<std::string>> StationsOf(const std::string& hospital_id,
                                                      absl::Time deadline);
  absl::StatusOr<int64_t> PriorDailyVolumeMl(const v1::PlaceOrderRequest& request,
                                             absl::Time deadline);
  // A new reservation intent for `line_no` of `order` in `phase`.
  absl::StatusOr<ReservationRecord> NewReservation(const v1::Order& order, int line_no, int attempt,
                                                   int phase, int quantity,
                                                   const std::vector<std::string>& stations);
  absl::Status InventoryError(const absl::Status& status, absl::string_view what) const;

  RequestStore* const store_;
  InventoryClient* const inventory_;
  const v1::PolicyProfile* const policy_;
  Clock* const clock_;
  const LogicOptions options_;

  absl::Mutex hook_mu_;
  FaultHook fault_hook_ ABSL_GUARDED_BY(hook_mu_);
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_LOGIC_H_
