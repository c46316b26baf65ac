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
// Transfers (DESIGN.md "Allocation" 2, request_rules.h TransfersToServingStation): once a
// reservation is confirmed, its units held at a station other than the hospital's serving
// station are put on a reservation-bound inventory transfer to the serving station, one per
// (reservation, holding station), with a request_id derived from the reservation, the station
// and the units. The reservation is marked CONFIRMED on the order together with the transfer
// ids, so a crash in between leaves it RESERVED and whoever settles it next confirms again and
// finds the units already on their transfer (inventory shows it on each unit). DispatchOrder
// waits until every transfer is received. Releasing a reservation cancels its transfers that
// have not left; one whose units are on the road stays to be released (ABANDONED) until they
// arrive, and a reconcile pass releases it then.
//
// Thread-safe; several replicas may run the same jobs at once (the store's row locks and
// inventory's idempotency keys make repeated work harmless).
#ifndef BLOODGRID_REQUEST_SERVICE_REQUEST_OPERATIONS_H_
#define BLOODGRID_REQUEST_SERVICE_REQUEST_OPERATIONS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/policy.pb.h"
#include "bloodgrid/v1/request.pb.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "request_service/inventory_client.h"
#include "request_service/request_rules.h"
#include "request_service/request_store.h"

namespace bloodgrid::request {

struct OperationsOptions {
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
  // ROUTINE and URGENT units held at a fallback station travel to the serving station on a
  // transfer before dispatch (EMERGENCY ones never do). False: every order ships straight from
  // the stations that hold its units (fallback stations deliver to hospitals themselves).
  bool fallback_transfers = true;
  // Orders read their hospital (serving and fallback stations) from a per-replica cache this
  // long: a change made through another replica reaches this one's new orders within it.
  // Zero reads the registry every time.
  absl::Duration hospital_cache_ttl = absl::Seconds(2);
};

class RequestOperations {
 public:
  // Every pointer must outlive the operations.
  RequestOperations(RequestStore* store, InventoryClient* inventory,
                    const v1::PolicyProfile* policy, Clock* clock, OperationsOptions options);

  // Test hook: called at named points of the crash-sensitive sequences
  // ("place_order.after_intent", "allocate.after_reserve", "transfer.after_create",
  // "dispatch.after_issue"); a non-OK status stops the operation right there, as if the process
  // had died, and is returned. Each is also the process-level fault point "request.<point>"
  // (common/fault_point.h): armed in BLOODGRID_FAULT_POINTS, the process SIGKILLs itself there.
  using FaultHook = std::function<absl::Status(absl::string_view point)>;
  void SetFaultHook(FaultHook hook);

  // ------------------------------------------------------------------------------------------
  // RPCs: status codes as documented in request.proto.

  absl::StatusOr<v1::Hospital> UpsertHospital(const CallContext& caller,
                                              const v1::UpsertHospitalRequest& request);
  absl::StatusOr<v1::Hospital> GetHospital(const CallContext& caller,
                                           const v1::GetHospitalRequest& request);
  absl::StatusOr<v1::ListHospitalsResponse> ListHospitals(const CallContext& caller,
                                                          const v1::ListHospitalsRequest& request);
  absl::StatusOr<v1::Order> PlaceOrder(const CallContext& caller,
                                       const v1::PlaceOrderRequest& request);
  absl::StatusOr<v1::Order> GetOrder(const CallContext& caller, const v1::GetOrderRequest& request);
  absl::StatusOr<v1::ListOrdersResponse> ListOrders(const CallContext& caller,
                                                    const v1::ListOrdersRequest& request);
  absl::StatusOr<v1::Order> CancelOrder(const CallContext& caller,
                                        const v1::CancelOrderRequest& request);
  absl::StatusOr<v1::Order> ReviewOrder(const CallContext& caller,
                                        const v1::ReviewOrderRequest& request);
  absl::StatusOr<v1::Order> DispatchOrder(const CallContext& caller,
                                          const v1::DispatchOrderRequest& request);
  absl::StatusOr<v1::Order> ConfirmDelivery(const CallContext& caller,
                                            const v1::ConfirmDeliveryRequest& request);
  absl::StatusOr<v1::Order> ReportTransfusion(const CallContext& caller,
                                              const v1::ReportTransfusionRequest& request);
  absl::StatusOr<v1::FindOrdersByDinsResponse> FindOrdersByDins(
      const CallContext& caller, const v1::FindOrdersByDinsRequest& request);

  // ------------------------------------------------------------------------------------------
  // Background work. Each returns how many orders (or units) it acted on; errors of single
  // orders are logged and skipped, only a failure to list work is returned.

  // Finishes what a crash or an outage left half-done (RECEIVED orders, reservation intents,
  // unconfirmed reservations and their transfers, abandoned reservations, among them those
  // waiting for a transfer to arrive before they can be released, started dispatches) for
  // orders unchanged for reconcile_grace (or for any age when `all` is true, as at start-up).
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
  absl::StatusOr<v1::Order> ReconcileOrder(const CallContext& caller, const std::string& order_id);

 private:
  absl::Status Fault(absl::string_view point);
  absl::Time Now() const { return clock_->Now(); }

  // Makes reservations for every line still short (one allocation phase per round), records
  // their units, confirms them. No-op for an order that is not allocatable.
  // Returns the order as the last write of the allocation left it.
  absl::StatusOr<OrderRecord> AllocateOrder(const CallContext& caller, const std::string& order_id);
  // Confirms RESERVED reservations (and puts their units held away from the serving station on
  // transfers), releases ABANDONED ones, and drops the units of a reservation whose hold lapsed.
  // `known`: the order as the caller just read or wrote it (saves reading it again).
  absl::Status SettleReservations(const CallContext& caller, const std::string& order_id,
                                  const OrderRecord* known = nullptr);
  // Checks every allocated unit with inventory (still held, not expired, its transfer); drops
  // the others and tops the order up; plans the transfers still missing. FAILED_PRECONDITION
  // naming the DIN and the transfer for a unit on a transfer not yet received.
  absl::Status VerifyAllocations(const CallContext& caller, const std::string& order_id);

  // Compares `held` (inventory's view of one of the order's reservations) with the order's
  // allocations and, when `serving_station` is not empty, creates the reservation-bound
  // transfers that bring its RESERVED units held elsewhere to `serving_station` (one per holding
  // station; a unit already on a transfer is left on it, an expired one stays where it is).
  // Errors are InventoryError's.
  absl::StatusOr<TransferFacts> PlanTransfers(const CallContext& caller, const OrderRecord& record,
                                              const v1::Reservation& held,
                                              const std::string& serving_station);
  // The station units of `record` must reach before dispatch, or "" when they ship from where
  // they are (request_rules.h TransfersToServingStation, or the order is past allocation).
  absl::StatusOr<std::string> TransferDestination(const OrderRecord& record, absl::Time deadline);
  // Cancels an order's transfer that has not left: true when it is (now) CANCELLED, false when
  // it already left (or arrived). Errors are InventoryError's.
  absl::StatusOr<bool> CancelTransfer(const CallContext& caller, const std::string& transfer_id,
                                      const std::string& reason);
  // Gives back everything reservation `key` still holds: cancels its transfers that have not
  // left (inventory refuses to release a unit on a transfer), then releases. Units on the road
  // cannot be released before they arrive: the others are released now and false is returned
  // (call again later). True when the reservation holds nothing any more (or never existed).
  absl::StatusOr<bool> ReleaseReservation(const CallContext& caller, const std::string& key,
                                          const std::string& reason);
  // Issues the units of an order whose dispatch intent is recorded, then marks it DISPATCHED
  // (completing `key` when given) and places the next massive-transfusion round.
  absl::StatusOr<v1::Order> CompleteDispatch(const CallContext& caller, const std::string& order_id,
                                             const db::IdempotencyKey* key);

  absl::StatusOr<std::vector<std::string>> StationsOf(const std::string& hospital_id,
                                                      absl::Time deadline);
  // The hospital from the registry, through the cache (OperationsOptions::hospital_cache_ttl).
  absl::StatusOr<v1::Hospital> CachedHospital(const std::string& hospital_id, absl::Time deadline);
  absl::StatusOr<int64_t> PriorDailyVolumeMl(const v1::PlaceOrderRequest& request,
                                             absl::Time deadline);
  absl::Status InventoryError(const absl::Status& status, absl::string_view what) const;

  RequestStore* const store_;
  InventoryClient* const inventory_;
  const v1::PolicyProfile* const policy_;
  Clock* const clock_;
  const OperationsOptions options_;

  absl::Mutex hook_mu_;
  FaultHook fault_hook_ ABSL_GUARDED_BY(hook_mu_);

  struct CachedHospitalEntry {
    v1::Hospital hospital;
    absl::Time read_at;
  };
  absl::Mutex hospitals_mu_;
  std::map<std::string, CachedHospitalEntry> hospitals_ ABSL_GUARDED_BY(hospitals_mu_);
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_OPERATIONS_H_
