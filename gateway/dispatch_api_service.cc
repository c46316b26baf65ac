// DispatchApi: automated dispatch between stations (dispatcher role; admins too). Dispatchers
// never see donor identity: every reply is masked.
#include "common/call_context.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "gateway/api_services.h"
#include "gateway/forward.h"
#include "gateway/workflows.h"

namespace bloodgrid::gateway {

grpc::Status DispatchApiService::DispatchOrder(grpc::ServerContext* context,
                                               const v1::DispatchOrderRequest* request,
                                               v1::Order* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kDispatchApiRoles, "DispatchOrder");
  return Forward(backends_, *context, principal, backends_.request(),
                 &v1::RequestService::StubInterface::DispatchOrder, *request, response);
}

grpc::Status DispatchApiService::PlanRebalance(grpc::ServerContext* context,
                                               const v1::PlanRebalanceRequest* request,
                                               v1::PlanRebalanceResponse* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kDispatchApiRoles, "PlanRebalance");
  absl::StatusOr<v1::PlanRebalanceResponse> plan =
      PlanRegionWorkflow(backends_, principal, CallDeadline(*context), *request);
  if (!plan.ok()) return ToGrpcStatus(plan.status());
  *response = *std::move(plan);
  return grpc::Status::OK;
}

grpc::Status DispatchApiService::CreateTransfer(grpc::ServerContext* context,
                                                const v1::CreateTransferRequest* request,
                                                v1::Transfer* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kDispatchApiRoles, "CreateTransfer");
  if (!request->reservation_key().empty()) {
    return ToGrpcStatus(
        InvalidField("reservation_key", "is set by the request service only, not by clients"));
  }
  absl::StatusOr<v1::Transfer> transfer =
      CreateAndDispatchTransferWorkflow(backends_, principal, CallDeadline(*context), *request);
  if (!transfer.ok()) return ToGrpcStatus(transfer.status());
  *response = *std::move(transfer);
  MaskDonorIdentity(principal, *response);
  return grpc::Status::OK;
}

grpc::Status DispatchApiService::ReceiveTransfer(grpc::ServerContext* context,
                                                 const v1::ReceiveTransferRequest* request,
                                                 v1::Transfer* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kDispatchApiRoles, "ReceiveTransfer");
  return Forward(backends_, *context, principal, backends_.inventory(),
                 &v1::InventoryService::StubInterface::ReceiveTransfer, *request, response);
}

grpc::Status DispatchApiService::ListTransfers(grpc::ServerContext* context,
                                               const v1::ListTransfersRequest* request,
                                               v1::ListTransfersResponse* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kDispatchApiRoles, "ListTransfers");
  return Forward(backends_, *context, principal, backends_.inventory(),
                 &v1::InventoryService::StubInterface::ListTransfers, *request, response);
}

grpc::Status DispatchApiService::WatchStock(grpc::ServerContext* context,
                                            const v1::WatchStockRequest* request,
                                            grpc::ServerWriter<v1::StockEvent>* writer) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kDispatchApiRoles, "WatchStock");
  // The relay lives as long as the client: cancellation (the client going away, or shutdown)
  // propagates to the inventory stream, which then ends. The request goes down as sent, so a
  // resume_token resumes on whichever inventory replica the call reaches (the feed is shared).
  std::unique_ptr<grpc::ClientContext> downstream =
      grpc::ClientContext::FromServerContext(*context);
  downstream->AddMetadata(kActorMetadataKey, principal.Actor());
  std::unique_ptr<grpc::ClientReaderInterface<v1::StockEvent>> reader =
      backends_.inventory().WatchStock(downstream.get(), *request);
  // Inventory's initial metadata says the subscription is live; pass that moment on.
  reader->WaitForInitialMetadata();
  if (!context->IsCancelled()) writer->SendInitialMetadata();
  v1::StockEvent event;
  while (reader->Read(&event)) {
    MaskDonorIdentity(principal, event);
    if (!writer->Write(event)) {
      downstream->TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (context->IsCancelled() || status.error_code() == grpc::StatusCode::CANCELLED) {
    return grpc::Status::OK;  // the client went away: a clean end
  }
  return MapDownstreamStatus(status);
}

}  // namespace bloodgrid::gateway
