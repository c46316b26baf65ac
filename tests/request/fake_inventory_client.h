// An in-memory InventoryClient for fast tests of RequestOperations: a shelf of units per
// station and the reservations made on it. Reserve takes AVAILABLE units of the candidate types
// (in candidate order, then station order) not expiring before the floor, and answers a repeated
// key with the same reservation; Confirm, Release and Issue move the units as inventory does.
// Transfers are not modelled (FAILED_PRECONDITION): tests keep units at the serving station or
// ship from where they are. Thread-safe.
#ifndef BLOODGRID_TESTS_REQUEST_FAKE_INVENTORY_CLIENT_H_
#define BLOODGRID_TESTS_REQUEST_FAKE_INVENTORY_CLIENT_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/blood.h"
#include "request_service/inventory_client.h"

namespace bloodgrid::request {

class FakeInventoryClient : public InventoryClient {
 public:
  // Test hooks.
  void AddStation(const std::string& station_id);
  // An AVAILABLE unit on the shelf of `station_id`.
  void AddUnit(const std::string& unit_id, const std::string& station_id, v1::Component component,
               BloodType type, absl::Time expires_at, int quantity = 1);
  v1::UnitStatus StatusOf(const std::string& unit_id) const;
  // The reservation under `key` (RESERVATION_STATUS_UNSPECIFIED when none).
  v1::Reservation ReservationOf(const std::string& key) const;
  // Every call fails with `status` from now on (OK again to end the outage).
  void SetOutage(absl::Status status);

  absl::StatusOr<v1::Station> GetStation(const std::string& station_id,
                                         const CallContext& call) override;
  absl::StatusOr<v1::Reservation> Reserve(const v1::ReserveRequest& request,
                                          const CallContext& call) override;
  absl::StatusOr<v1::Reservation> ConfirmReservation(const std::string& reservation_key,
                                                     const CallContext& call) override;
  absl::StatusOr<v1::Reservation> GetReservation(const std::string& reservation_key,
                                                 const CallContext& call) override;
  absl::StatusOr<v1::Reservation> Release(const v1::ReleaseRequest& request,
                                          const CallContext& call) override;
  absl::StatusOr<v1::IssueResponse> Issue(const v1::IssueRequest& request,
                                          const CallContext& call) override;
  absl::StatusOr<v1::Unit> RecordOutcome(const v1::RecordOutcomeRequest& request,
                                         const CallContext& call) override;
  absl::StatusOr<v1::Transfer> CreateTransfer(const v1::CreateTransferRequest& request,
                                              const CallContext& call) override;
  absl::StatusOr<v1::Transfer> CancelTransfer(const v1::CancelTransferRequest& request,
                                              const CallContext& call) override;
  absl::Status WatchStock(const v1::WatchStockRequest& request,
                          const std::function<void(const v1::StockEvent&)>& on_event,
                          WatchCancellation* cancellation) override;

 private:
  // The reservation with its units as they are now.
  v1::Reservation Current(const std::string& key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::Status outage_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> stations_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::Unit> units_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::Reservation> reservations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_TESTS_REQUEST_FAKE_INVENTORY_CLIENT_H_
