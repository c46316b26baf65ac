// The request service's view of InventoryService: the calls it makes, as a plain C++
// interface over the contract's messages, so the rules and their tests do not depend on gRPC.
// GrpcInventoryClient (grpc_inventory_client.h) implements it over the generated stub; tests may
// implement it in memory.
//
// Every call takes the CallContext it is made for: its deadline (implementations cap it
// further) and its actor, recorded in inventory's events. Errors are the downstream status, code
// and message kept (UNAVAILABLE stays UNAVAILABLE).
//
// Implementations are thread-safe.
#ifndef BLOODGRID_REQUEST_SERVICE_INVENTORY_CLIENT_H_
#define BLOODGRID_REQUEST_SERVICE_INVENTORY_CLIENT_H_

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "common/call_context.h"

namespace bloodgrid::request {

// Ends a running WatchStock from another thread. Thread-safe.
class WatchCancellation {
 public:
  // Ends the watch (now, or at once when it starts later). Idempotent.
  void Cancel();
  bool cancelled() const;

  // For implementations: `cancel` is run by Cancel() while a watch is running (under an internal
  // lock: it must not block or call back). Returns false (and does not keep `cancel`) when
  // Cancel() was already called.
  bool Arm(std::function<void()> cancel);
  void Disarm();

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> cancel_ ABSL_GUARDED_BY(mu_);
};

class InventoryClient {
 public:
  virtual ~InventoryClient() = default;

  virtual absl::StatusOr<v1::Station> GetStation(const std::string& station_id,
                                                 const CallContext& call) = 0;
  virtual absl::StatusOr<v1::Reservation> Reserve(const v1::ReserveRequest& request,
                                                  const CallContext& call) = 0;
  virtual absl::StatusOr<v1::Reservation> ConfirmReservation(const std::string& reservation_key,
                                                             const CallContext& call) = 0;
  virtual absl::StatusOr<v1::Reservation> GetReservation(const std::string& reservation_key,
                                                         const CallContext& call) = 0;
  virtual absl::StatusOr<v1::Reservation> Release(const v1::ReleaseRequest& request,
                                                  const CallContext& call) = 0;
  virtual absl::StatusOr<v1::IssueResponse> Issue(const v1::IssueRequest& request,
                                                  const CallContext& call) = 0;
  virtual absl::StatusOr<v1::Unit> RecordOutcome(const v1::RecordOutcomeRequest& request,
                                                 const CallContext& call) = 0;
  virtual absl::StatusOr<v1::Transfer> CreateTransfer(const v1::CreateTransferRequest& request,
                                                      const CallContext& call) = 0;
  virtual absl::StatusOr<v1::Transfer> CancelTransfer(const v1::CancelTransferRequest& request,
                                                      const CallContext& call) = 0;

  // Subscribes to the stock stream and calls `on_event` for each event, on the calling thread,
  // until the stream ends; returns the status it ended with (CANCELLED after
  // `cancellation`->Cancel()). No deadline: it lasts until cancelled or the server goes away.
  // The request goes as given: with a resume_token the stream resumes there, and a token
  // inventory refuses ends it at once (INVALID_ARGUMENT / OUT_OF_RANGE, inventory.proto).
  virtual absl::Status WatchStock(const v1::WatchStockRequest& request,
                                  const std::function<void(const v1::StockEvent&)>& on_event,
                                  WatchCancellation* cancellation) = 0;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_INVENTORY_CLIENT_H_
