#include "inventory_service/inventory_grpc_service.h"

#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <utility>

#include "common/call_context.h"
#include "common/grpc_status.h"

namespace bloodgrid::inventory {

CallContext InventoryGrpcService::Call(const grpc::ServerContext& context) const {
  return CallContextFromServer(context, clock_, operations_.options().time_zone);
}

grpc::Status InventoryGrpcService::UpsertStation(grpc::ServerContext* context,
                                                 const v1::UpsertStationRequest* request,
                                                 v1::Station* response) {
  return Respond(operations_.UpsertStation(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetStation(grpc::ServerContext* context,
                                              const v1::GetStationRequest* request,
                                              v1::Station* response) {
  return Respond(operations_.GetStation(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ListStations(grpc::ServerContext* context,
                                                const v1::ListStationsRequest* request,
                                                v1::ListStationsResponse* response) {
  return Respond(operations_.ListStations(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::SetParLevel(grpc::ServerContext* context,
                                               const v1::SetParLevelRequest* request,
                                               v1::ParLevel* response) {
  return Respond(operations_.SetParLevel(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ListParLevels(grpc::ServerContext* context,
                                                 const v1::ListParLevelsRequest* request,
                                                 v1::ListParLevelsResponse* response) {
  return Respond(operations_.ListParLevels(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::RegisterCollection(grpc::ServerContext* context,
                                                      const v1::RegisterCollectionRequest* request,
                                                      v1::RegisterCollectionResponse* response) {
  return Respond(operations_.RegisterCollection(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::RecordTestResults(grpc::ServerContext* context,
                                                     const v1::RecordTestResultsRequest* request,
                                                     v1::RecordTestResultsResponse* response) {
  return Respond(operations_.RecordTestResults(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ProcessDonation(grpc::ServerContext* context,
                                                   const v1::ProcessDonationRequest* request,
                                                   v1::ProcessDonationResponse* response) {
  return Respond(operations_.ProcessDonation(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::Reserve(grpc::ServerContext* context,
                                           const v1::ReserveRequest* request,
                                           v1::Reservation* response) {
  return Respond(operations_.Reserve(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ConfirmReservation(grpc::ServerContext* context,
                                                      const v1::ConfirmReservationRequest* request,
                                                      v1::Reservation* response) {
  return Respond(operations_.ConfirmReservation(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetReservation(grpc::ServerContext* context,
                                                  const v1::GetReservationRequest* request,
                                                  v1::Reservation* response) {
  return Respond(operations_.GetReservation(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::Release(grpc::ServerContext* context,
                                           const v1::ReleaseRequest* request,
                                           v1::Reservation* response) {
  return Respond(operations_.Release(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::Issue(grpc::ServerContext* context,
                                         const v1::IssueRequest* request,
                                         v1::IssueResponse* response) {
  return Respond(operations_.Issue(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::RecordOutcome(grpc::ServerContext* context,
                                                 const v1::RecordOutcomeRequest* request,
                                                 v1::Unit* response) {
  return Respond(operations_.RecordOutcome(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::CreateTransfer(grpc::ServerContext* context,
                                                  const v1::CreateTransferRequest* request,
                                                  v1::Transfer* response) {
  return Respond(operations_.CreateTransfer(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::DispatchTransfer(grpc::ServerContext* context,
                                                    const v1::DispatchTransferRequest* request,
                                                    v1::Transfer* response) {
  return Respond(operations_.DispatchTransfer(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ReceiveTransfer(grpc::ServerContext* context,
                                                   const v1::ReceiveTransferRequest* request,
                                                   v1::Transfer* response) {
  return Respond(operations_.ReceiveTransfer(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::CancelTransfer(grpc::ServerContext* context,
                                                  const v1::CancelTransferRequest* request,
                                                  v1::Transfer* response) {
  return Respond(operations_.CancelTransfer(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetTransfer(grpc::ServerContext* context,
                                               const v1::GetTransferRequest* request,
                                               v1::Transfer* response) {
  return Respond(operations_.GetTransfer(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ListTransfers(grpc::ServerContext* context,
                                                 const v1::ListTransfersRequest* request,
                                                 v1::ListTransfersResponse* response) {
  return Respond(operations_.ListTransfers(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::DiscardUnit(grpc::ServerContext* context,
                                               const v1::DiscardUnitRequest* request,
                                               v1::Unit* response) {
  return Respond(operations_.DiscardUnit(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::QuarantineByDonor(grpc::ServerContext* context,
                                                     const v1::QuarantineByDonorRequest* request,
                                                     v1::QuarantineByDonorResponse* response) {
  return Respond(operations_.QuarantineByDonor(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ListLookbacks(grpc::ServerContext* context,
                                                 const v1::ListLookbacksRequest* request,
                                                 v1::ListLookbacksResponse* response) {
  return Respond(operations_.ListLookbacks(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetLookback(grpc::ServerContext* context,
                                               const v1::GetLookbackRequest* request,
                                               v1::LookbackCase* response) {
  return Respond(operations_.GetLookback(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ListRecalls(grpc::ServerContext* context,
                                               const v1::ListRecallsRequest* request,
                                               v1::ListRecallsResponse* response) {
  return Respond(operations_.ListRecalls(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::AcknowledgeRecall(grpc::ServerContext* context,
                                                     const v1::AcknowledgeRecallRequest* request,
                                                     v1::RecallNotice* response) {
  return Respond(operations_.AcknowledgeRecall(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetStockSummary(grpc::ServerContext* context,
                                                   const v1::GetStockSummaryRequest* request,
                                                   v1::GetStockSummaryResponse* response) {
  return Respond(operations_.GetStockSummary(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::ListUnits(grpc::ServerContext* context,
                                             const v1::ListUnitsRequest* request,
                                             v1::ListUnitsResponse* response) {
  return Respond(operations_.ListUnits(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetUnit(grpc::ServerContext* context,
                                           const v1::GetUnitRequest* request, v1::Unit* response) {
  return Respond(operations_.GetUnit(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetUnitTrace(grpc::ServerContext* context,
                                                const v1::GetUnitTraceRequest* request,
                                                v1::GetUnitTraceResponse* response) {
  return Respond(operations_.GetUnitTrace(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::GetRebalanceInputs(grpc::ServerContext* context,
                                                      const v1::GetRebalanceInputsRequest* request,
                                                      v1::GetRebalanceInputsResponse* response) {
  return Respond(operations_.GetRebalanceInputs(Call(*context), *request), response);
}

grpc::Status InventoryGrpcService::WatchStock(grpc::ServerContext* context,
                                              const v1::WatchStockRequest* request,
                                              grpc::ServerWriter<v1::StockEvent>* writer) {
  absl::StatusOr<std::shared_ptr<StockWatcher>> watcher =
      operations_.Watch(Call(*context), *request);
  if (!watcher.ok()) return ToGrpcStatus(watcher.status());
  // Initial metadata tells the client the subscription is live.
  writer->SendInitialMetadata();
  grpc::Status result = grpc::Status::CANCELLED;
  while (!context->IsCancelled()) {
    v1::StockEvent event;
    absl::Status end;
    const StockWatcher::Wait wait = (*watcher)->Next(absl::Milliseconds(200), &event, &end);
    if (wait == StockWatcher::Wait::kEnded) {
      result = ToGrpcStatus(end);
      break;
    }
    if (wait == StockWatcher::Wait::kEvent && !writer->Write(event)) break;  // client gone
  }
  operations_.Unwatch(*watcher);
  return result;
}

grpc::Status InventoryGrpcService::ReadChangeFeed(grpc::ServerContext* context,
                                                  const v1::ReadChangeFeedRequest* request,
                                                  v1::ReadChangeFeedResponse* response) {
  return Respond(operations_.ReadChangeFeed(Call(*context), *request), response);
}

}  // namespace bloodgrid::inventory
