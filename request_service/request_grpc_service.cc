#include "request_service/request_grpc_service.h"

#include <grpcpp/server_context.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "common/call_context.h"
#include "common/grpc_status.h"

namespace bloodgrid::request {
namespace {

constexpr char kActorHeader[] = "x-bloodgrid-actor";
constexpr size_t kMaxActorLength = 200;

template <typename Response>
grpc::Status Answer(absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

Caller RequestGrpcService::CallerOf(const grpc::ServerContext& context) const {
  Caller caller;
  caller.deadline = CallDeadline(context, max_call_time_);
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kActorHeader);
  if (it != metadata.end()) {
    std::string actor(it->second.data(), it->second.size());
    const bool printable = std::all_of(actor.begin(), actor.end(), [](char c) {
      return absl::ascii_isgraph(static_cast<unsigned char>(c));
    });
    if (!actor.empty() && actor.size() <= kMaxActorLength && printable) {
      caller.actor = std::move(actor);
    }
  }
  return caller;
}

grpc::Status RequestGrpcService::UpsertHospital(grpc::ServerContext* context,
                                                const v1::UpsertHospitalRequest* request,
                                                v1::Hospital* response) {
  return Answer(operations_->UpsertHospital(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::GetHospital(grpc::ServerContext* context,
                                             const v1::GetHospitalRequest* request,
                                             v1::Hospital* response) {
  return Answer(operations_->GetHospital(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ListHospitals(grpc::ServerContext* context,
                                               const v1::ListHospitalsRequest* request,
                                               v1::ListHospitalsResponse* response) {
  return Answer(operations_->ListHospitals(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::PlaceOrder(grpc::ServerContext* context,
                                            const v1::PlaceOrderRequest* request,
                                            v1::Order* response) {
  return Answer(operations_->PlaceOrder(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::GetOrder(grpc::ServerContext* context,
                                          const v1::GetOrderRequest* request, v1::Order* response) {
  return Answer(operations_->GetOrder(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ListOrders(grpc::ServerContext* context,
                                            const v1::ListOrdersRequest* request,
                                            v1::ListOrdersResponse* response) {
  return Answer(operations_->ListOrders(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::CancelOrder(grpc::ServerContext* context,
                                             const v1::CancelOrderRequest* request,
                                             v1::Order* response) {
  return Answer(operations_->CancelOrder(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ReviewOrder(grpc::ServerContext* context,
                                             const v1::ReviewOrderRequest* request,
                                             v1::Order* response) {
  return Answer(operations_->ReviewOrder(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::DispatchOrder(grpc::ServerContext* context,
                                               const v1::DispatchOrderRequest* request,
                                               v1::Order* response) {
  return Answer(operations_->DispatchOrder(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ConfirmDelivery(grpc::ServerContext* context,
                                                 const v1::ConfirmDeliveryRequest* request,
                                                 v1::Order* response) {
  return Answer(operations_->ConfirmDelivery(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ReportTransfusion(grpc::ServerContext* context,
                                                   const v1::ReportTransfusionRequest* request,
                                                   v1::Order* response) {
  return Answer(operations_->ReportTransfusion(CallerOf(*context), *request), response);
}

grpc::Status RequestGrpcService::FindOrdersByDins(grpc::ServerContext* context,
                                                  const v1::FindOrdersByDinsRequest* request,
                                                  v1::FindOrdersByDinsResponse* response) {
  return Answer(operations_->FindOrdersByDins(CallerOf(*context), *request), response);
}

}  // namespace bloodgrid::request
