#include "request_service/request_grpc_service.h"

#include <grpcpp/server_context.h>

#include "common/call_context.h"
#include "common/grpc_status.h"

namespace bloodgrid::request {
CallContext RequestGrpcService::ContextOf(const grpc::ServerContext& context) const {
  return CallContextFromServer(context, *clock_, time_zone_, max_call_time_);
}

grpc::Status RequestGrpcService::UpsertHospital(grpc::ServerContext* context,
                                                const v1::UpsertHospitalRequest* request,
                                                v1::Hospital* response) {
  return Respond(operations_->UpsertHospital(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::GetHospital(grpc::ServerContext* context,
                                             const v1::GetHospitalRequest* request,
                                             v1::Hospital* response) {
  return Respond(operations_->GetHospital(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ListHospitals(grpc::ServerContext* context,
                                               const v1::ListHospitalsRequest* request,
                                               v1::ListHospitalsResponse* response) {
  return Respond(operations_->ListHospitals(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::PlaceOrder(grpc::ServerContext* context,
                                            const v1::PlaceOrderRequest* request,
                                            v1::Order* response) {
  return Respond(operations_->PlaceOrder(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::GetOrder(grpc::ServerContext* context,
                                          const v1::GetOrderRequest* request, v1::Order* response) {
  return Respond(operations_->GetOrder(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ListOrders(grpc::ServerContext* context,
                                            const v1::ListOrdersRequest* request,
                                            v1::ListOrdersResponse* response) {
  return Respond(operations_->ListOrders(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::CancelOrder(grpc::ServerContext* context,
                                             const v1::CancelOrderRequest* request,
                                             v1::Order* response) {
  return Respond(operations_->CancelOrder(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ReviewOrder(grpc::ServerContext* context,
                                             const v1::ReviewOrderRequest* request,
                                             v1::Order* response) {
  return Respond(operations_->ReviewOrder(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::DispatchOrder(grpc::ServerContext* context,
                                               const v1::DispatchOrderRequest* request,
                                               v1::Order* response) {
  return Respond(operations_->DispatchOrder(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ConfirmDelivery(grpc::ServerContext* context,
                                                 const v1::ConfirmDeliveryRequest* request,
                                                 v1::Order* response) {
  return Respond(operations_->ConfirmDelivery(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::ReportTransfusion(grpc::ServerContext* context,
                                                   const v1::ReportTransfusionRequest* request,
                                                   v1::Order* response) {
  return Respond(operations_->ReportTransfusion(ContextOf(*context), *request), response);
}

grpc::Status RequestGrpcService::FindOrdersByDins(grpc::ServerContext* context,
                                                  const v1::FindOrdersByDinsRequest* request,
                                                  v1::FindOrdersByDinsResponse* response) {
  return Respond(operations_->FindOrdersByDins(ContextOf(*context), *request), response);
}

}  // namespace bloodgrid::request
