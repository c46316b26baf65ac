// InventoryService's gRPC handlers (synchronous API: the work blocks on MySQL). Each handler is
// an adapter: the call's CallContext built once (CallContextFromServer: actor, now, deadline),
// the request to InventoryOperations (which validates, plans and calls the store), the result
// back through Respond, the one status conversion. WatchStock sends initial metadata once the
// stream is subscribed, then a StockWatcher's events until the client cancels, the watcher ends
// (OUT_OF_RANGE when the feed no longer holds its position) or the server shuts down
// (UNAVAILABLE).
#ifndef BLOODGRID_INVENTORY_SERVICE_INVENTORY_GRPC_SERVICE_H_
#define BLOODGRID_INVENTORY_SERVICE_INVENTORY_GRPC_SERVICE_H_

#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "inventory_service/inventory_operations.h"

namespace bloodgrid::inventory {

class InventoryGrpcService final : public v1::InventoryService::Service {
 public:
  // `operations` and `clock` (the calls' "now") must outlive the service.
  InventoryGrpcService(InventoryOperations* operations, const Clock* clock)
      : operations_(*operations), clock_(*clock) {}

  grpc::Status UpsertStation(grpc::ServerContext* context, const v1::UpsertStationRequest* request,
                             v1::Station* response) override;
  grpc::Status GetStation(grpc::ServerContext* context, const v1::GetStationRequest* request,
                          v1::Station* response) override;
  grpc::Status ListStations(grpc::ServerContext* context, const v1::ListStationsRequest* request,
                            v1::ListStationsResponse* response) override;
  grpc::Status SetParLevel(grpc::ServerContext* context, const v1::SetParLevelRequest* request,
                           v1::ParLevel* response) override;
  grpc::Status ListParLevels(grpc::ServerContext* context, const v1::ListParLevelsRequest* request,
                             v1::ListParLevelsResponse* response) override;
  grpc::Status RegisterCollection(grpc::ServerContext* context,
                                  const v1::RegisterCollectionRequest* request,
                                  v1::RegisterCollectionResponse* response) override;
  grpc::Status RecordTestResults(grpc::ServerContext* context,
                                 const v1::RecordTestResultsRequest* request,
                                 v1::RecordTestResultsResponse* response) override;
  grpc::Status ProcessDonation(grpc::ServerContext* context,
                               const v1::ProcessDonationRequest* request,
                               v1::ProcessDonationResponse* response) override;
  grpc::Status Reserve(grpc::ServerContext* context, const v1::ReserveRequest* request,
                       v1::Reservation* response) override;
  grpc::Status ConfirmReservation(grpc::ServerContext* context,
                                  const v1::ConfirmReservationRequest* request,
                                  v1::Reservation* response) override;
  grpc::Status GetReservation(grpc::ServerContext* context,
                              const v1::GetReservationRequest* request,
                              v1::Reservation* response) override;
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                       v1::Reservation* response) override;
  grpc::Status Issue(grpc::ServerContext* context, const v1::IssueRequest* request,
                     v1::IssueResponse* response) override;
  grpc::Status RecordOutcome(grpc::ServerContext* context, const v1::RecordOutcomeRequest* request,
                             v1::Unit* response) override;
  grpc::Status CreateTransfer(grpc::ServerContext* context,
                              const v1::CreateTransferRequest* request,
                              v1::Transfer* response) override;
  grpc::Status DispatchTransfer(grpc::ServerContext* context,
                                const v1::DispatchTransferRequest* request,
                                v1::Transfer* response) override;
  grpc::Status ReceiveTransfer(grpc::ServerContext* context,
                               const v1::ReceiveTransferRequest* request,
                               v1::Transfer* response) override;
  grpc::Status CancelTransfer(grpc::ServerContext* context,
                              const v1::CancelTransferRequest* request,
                              v1::Transfer* response) override;
  grpc::Status GetTransfer(grpc::ServerContext* context, const v1::GetTransferRequest* request,
                           v1::Transfer* response) override;
  grpc::Status ListTransfers(grpc::ServerContext* context, const v1::ListTransfersRequest* request,
                             v1::ListTransfersResponse* response) override;
  grpc::Status DiscardUnit(grpc::ServerContext* context, const v1::DiscardUnitRequest* request,
                           v1::Unit* response) override;
  grpc::Status QuarantineByDonor(grpc::ServerContext* context,
                                 const v1::QuarantineByDonorRequest* request,
                                 v1::QuarantineByDonorResponse* response) override;
  grpc::Status ListLookbacks(grpc::ServerContext* context, const v1::ListLookbacksRequest* request,
                             v1::ListLookbacksResponse* response) override;
  grpc::Status GetLookback(grpc::ServerContext* context, const v1::GetLookbackRequest* request,
                           v1::LookbackCase* response) override;
  grpc::Status ListRecalls(grpc::ServerContext* context, const v1::ListRecallsRequest* request,
                           v1::ListRecallsResponse* response) override;
  grpc::Status AcknowledgeRecall(grpc::ServerContext* context,
                                 const v1::AcknowledgeRecallRequest* request,
                                 v1::RecallNotice* response) override;
  grpc::Status GetStockSummary(grpc::ServerContext* context,
                               const v1::GetStockSummaryRequest* request,
                               v1::GetStockSummaryResponse* response) override;
  grpc::Status ListUnits(grpc::ServerContext* context, const v1::ListUnitsRequest* request,
                         v1::ListUnitsResponse* response) override;
  grpc::Status GetUnit(grpc::ServerContext* context, const v1::GetUnitRequest* request,
                       v1::Unit* response) override;
  grpc::Status GetUnitTrace(grpc::ServerContext* context, const v1::GetUnitTraceRequest* request,
                            v1::GetUnitTraceResponse* response) override;
  grpc::Status WatchStock(grpc::ServerContext* context, const v1::WatchStockRequest* request,
                          grpc::ServerWriter<v1::StockEvent>* writer) override;
  grpc::Status GetRebalanceInputs(grpc::ServerContext* context,
                                  const v1::GetRebalanceInputsRequest* request,
                                  v1::GetRebalanceInputsResponse* response) override;
  grpc::Status ReadChangeFeed(grpc::ServerContext* context,
                              const v1::ReadChangeFeedRequest* request,
                              v1::ReadChangeFeedResponse* response) override;

 private:
  // The call's context, built once per call (common/call_context.h, the one actor rule).
  CallContext Call(const grpc::ServerContext& context) const;

  InventoryOperations& operations_;
  const Clock& clock_;
};

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_INVENTORY_GRPC_SERVICE_H_
