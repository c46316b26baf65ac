// The inventory's operations, one method per InventoryService RPC: check the request's shape
// (inventory_rules.h, INVALID_ARGUMENT naming the field, nothing touched), normalise it (DINs),
// plan what the policy profile decides (expiry, measures), run the store operation, and wake
// this replica's change feed readers (WatchStock streams, long polls) once it committed. No gRPC
// types: the gRPC handlers (inventory_grpc_service.h) are adapters over this class, and tests may
// drive it directly. Each call's CallContext (common/call_context.h) carries its actor, deadline
// and its one "now".
//
// Status codes are the RPCs' (inventory.proto). Thread-safe.
#ifndef BLOODGRID_INVENTORY_SERVICE_INVENTORY_OPERATIONS_H_
#define BLOODGRID_INVENTORY_SERVICE_INVENTORY_OPERATIONS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "inventory_service/inventory_rules.h"
#include "inventory_service/inventory_store.h"
#include "inventory_service/stock_watch.h"

namespace bloodgrid::inventory {

class InventoryOperations {
 public:
  struct Options {
    // The region's time zone: day-based shelf lives end at 23:59 local time (ISBT 128).
    absl::TimeZone time_zone = absl::UTCTimeZone();
    // How long a HELD reservation lasts when the request leaves hold_seconds at 0.
    absl::Duration default_hold = absl::Minutes(15);
    // Width of the "expiring soon" window of the stock views and alerts.
    absl::Duration expiring_soon = absl::Hours(48);
    InventoryStore::TransferSettings transfers;
    // Most reservations or units one sweeper run changes.
    int sweep_batch = 500;
  };

  // None of the pointers is owned; all must outlive the InventoryOperations. `hub` may be null (no
  // WatchStock).
  InventoryOperations(InventoryStore* store, const v1::PolicyProfile* policy, Clock* clock,
                      StockWatchHub* hub, Options options);

  absl::StatusOr<v1::Station> UpsertStation(const CallContext& call,
                                            const v1::UpsertStationRequest& request);
  absl::StatusOr<v1::Station> GetStation(const CallContext& call,
                                         const v1::GetStationRequest& request);
  absl::StatusOr<v1::ListStationsResponse> ListStations(const CallContext& call,
                                                        const v1::ListStationsRequest& request);
  absl::StatusOr<v1::ParLevel> SetParLevel(const CallContext& call,
                                           const v1::SetParLevelRequest& request);
  absl::StatusOr<v1::ListParLevelsResponse> ListParLevels(const CallContext& call,
                                                          const v1::ListParLevelsRequest& request);
  absl::StatusOr<v1::RegisterCollectionResponse> RegisterCollection(
      const CallContext& call, const v1::RegisterCollectionRequest& request);
  absl::StatusOr<v1::RecordTestResultsResponse> RecordTestResults(
      const CallContext& call, const v1::RecordTestResultsRequest& request);
  absl::StatusOr<v1::ProcessDonationResponse> ProcessDonation(
      const CallContext& call, const v1::ProcessDonationRequest& request);
  absl::StatusOr<v1::Reservation> Reserve(const CallContext& call,
                                          const v1::ReserveRequest& request);
  absl::StatusOr<v1::Reservation> ConfirmReservation(const CallContext& call,
                                                     const v1::ConfirmReservationRequest& request);
  absl::StatusOr<v1::Reservation> GetReservation(const CallContext& call,
                                                 const v1::GetReservationRequest& request);
  absl::StatusOr<v1::Reservation> Release(const CallContext& call,
                                          const v1::ReleaseRequest& request);
  absl::StatusOr<v1::IssueResponse> Issue(const CallContext& call, const v1::IssueRequest& request);
  absl::StatusOr<v1::Unit> RecordOutcome(const CallContext& call,
                                         const v1::RecordOutcomeRequest& request);
  absl::StatusOr<v1::Transfer> CreateTransfer(const CallContext& call,
                                              const v1::CreateTransferRequest& request);
  absl::StatusOr<v1::Transfer> DispatchTransfer(const CallContext& call,
                                                const v1::DispatchTransferRequest& request);
  absl::StatusOr<v1::Transfer> ReceiveTransfer(const CallContext& call,
                                               const v1::ReceiveTransferRequest& request);
  absl::StatusOr<v1::Transfer> CancelTransfer(const CallContext& call,
                                              const v1::CancelTransferRequest& request);
  absl::StatusOr<v1::Transfer> GetTransfer(const CallContext& call,
                                           const v1::GetTransferRequest& request);
  absl::StatusOr<v1::ListTransfersResponse> ListTransfers(const CallContext& call,
                                                          const v1::ListTransfersRequest& request);
  absl::StatusOr<v1::Unit> DiscardUnit(const CallContext& call,
                                       const v1::DiscardUnitRequest& request);
  absl::StatusOr<v1::QuarantineByDonorResponse> QuarantineByDonor(
      const CallContext& call, const v1::QuarantineByDonorRequest& request);
  // Lookback cases and recalls (cases are opened by RecordTestResults).
  absl::StatusOr<v1::ListLookbacksResponse> ListLookbacks(const CallContext& call,
                                                          const v1::ListLookbacksRequest& request);
  absl::StatusOr<v1::LookbackCase> GetLookback(const CallContext& call,
                                               const v1::GetLookbackRequest& request);
  absl::StatusOr<v1::ListRecallsResponse> ListRecalls(const CallContext& call,
                                                      const v1::ListRecallsRequest& request);
  absl::StatusOr<v1::RecallNotice> AcknowledgeRecall(const CallContext& call,
                                                     const v1::AcknowledgeRecallRequest& request);
  absl::StatusOr<v1::GetStockSummaryResponse> GetStockSummary(
      const CallContext& call, const v1::GetStockSummaryRequest& request);
  absl::StatusOr<v1::ListUnitsResponse> ListUnits(const CallContext& call,
                                                  const v1::ListUnitsRequest& request);
  absl::StatusOr<v1::Unit> GetUnit(const CallContext& call, const v1::GetUnitRequest& request);
  absl::StatusOr<v1::GetUnitTraceResponse> GetUnitTrace(const CallContext& call,
                                                        const v1::GetUnitTraceRequest& request);
  absl::StatusOr<v1::GetRebalanceInputsResponse> GetRebalanceInputs(
      const CallContext& call, const v1::GetRebalanceInputsRequest& request);

  // A subscription for WatchStock, served from the change feed (stock_watch.h). NOT_FOUND for an
  // unknown station_id; INVALID_ARGUMENT / OUT_OF_RANGE for a resume_token as inventory.proto
  // says; FAILED_PRECONDITION when the service runs without a StockWatchHub.
  absl::StatusOr<std::shared_ptr<StockWatcher>> Watch(const CallContext& call,
                                                      const v1::WatchStockRequest& request);
  void Unwatch(const std::shared_ptr<StockWatcher>& watcher);

  // ---- Change feed ---------------------------------------------------------------------------
  // ReadChangeFeed as inventory.proto says: INVALID_ARGUMENT naming limit or wait_ms when out of
  // range. With wait_ms and nothing new, polls the table every kFeedPollInterval (sooner when
  // this replica commits) until an event arrives, the wait or the call's deadline ends.
  absl::StatusOr<v1::ReadChangeFeedResponse> ReadChangeFeed(
      const CallContext& call, const v1::ReadChangeFeedRequest& request);
  static constexpr absl::Duration kFeedPollInterval = absl::Milliseconds(100);

  // Sweeper passes, as the background sweepers run them (tests call them directly):
  // releases HELD reservations whose hold expired; marks expired units EXPIRED and raises
  // EXPIRING_SOON alerts for units entering the window. Return how many changed.
  absl::StatusOr<int> SweepReservations();
  absl::StatusOr<int> SweepExpiredUnits();

  const Options& options() const { return options_; }

 private:
  void Publish(const StockChanges& changes);

  InventoryStore* const store_;
  const v1::PolicyProfile* const policy_;
  Clock* const clock_;
  StockWatchHub* const hub_;
  const Options options_;

  absl::Mutex sweep_mu_;
  // End of the expiring-soon window already alerted.
  absl::Time alerted_until_ ABSL_GUARDED_BY(sweep_mu_) = absl::InfinitePast();
};

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_INVENTORY_OPERATIONS_H_
