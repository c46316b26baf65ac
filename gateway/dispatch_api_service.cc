// DispatchApi: automated dispatch between stations (dispatcher role; admins too). Dispatchers
// never see donor identity: every reply is masked.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/call_context.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status.h"
#include "gateway/api_services.h"
#include "gateway/forward.h"
#include "planner/rebalance_planner.h"

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
  if (request->horizon_hours() < 1 || request->horizon_hours() > 336) {
    return ToGrpcStatus(InvalidField("horizon_hours", "must be 1..336"));
  }
  // The inventory gathers the region's stock, par levels, demand and transport times; the
  // planner (pure, planner/rebalance_planner.h) turns them into proposals.
  v1::GetRebalanceInputsRequest inputs_request;
  inputs_request.set_horizon_hours(request->horizon_hours());
  v1::GetRebalanceInputsResponse inputs;
  grpc::Status status =
      Forward(backends_, *context, principal, backends_.inventory(),
              &v1::InventoryService::StubInterface::GetRebalanceInputs, inputs_request, &inputs);
  if (!status.ok()) return status;
  planner::PlannerOptions options;
  if (request->has_station_id()) options.station_id = request->station_id();
  absl::StatusOr<v1::PlanRebalanceResponse> plan = planner::PlanRebalance(inputs, options);
  if (!plan.ok()) {
    // Only the station filter comes from the caller; any other refusal means the inventory
    // sent inputs the planner cannot use: a defect to log, not the caller's mistake.
    if (plan.status().code() == absl::StatusCode::kInvalidArgument &&
        !absl::StartsWith(plan.status().message(), "station_id:")) {
      LogError("planner_rejected_inputs", {{"status", plan.status().ToString()}});
      return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
    }
    return ToGrpcStatus(plan.status());
  }
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
  // Create, then dispatch: a dispatcher's transfer leaves at once. Both steps are idempotent
  // on request_id (the dispatch step's key is derived from the transfer), so a retry after a
  // failure between them completes the dispatch.
  v1::Transfer created;
  grpc::Status status =
      Forward(backends_, *context, principal, backends_.inventory(),
              &v1::InventoryService::StubInterface::CreateTransfer, *request, &created);
  if (!status.ok()) return status;
  v1::DispatchTransferRequest dispatch;
  dispatch.set_request_id(absl::StrCat("gw.dispatch.", created.transfer_id()));
  dispatch.set_transfer_id(created.transfer_id());
  return Forward(backends_, *context, principal, backends_.inventory(),
                 &v1::InventoryService::StubInterface::DispatchTransfer, dispatch, response);
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
  // propagates to the inventory stream, which then ends.
  std::unique_ptr<grpc::ClientContext> downstream = grpc::ClientContext::FromServerContext(*context);
  downstream->AddMetadata("x-bloodgrid-actor", principal.Actor());
  std::unique_ptr<grpc::ClientReaderInterface<v1::StockEvent>> reader =
      backends_.inventory().WatchStock(downstream.get(), *request);
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
