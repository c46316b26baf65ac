// HospitalApi: hospitals act only for themselves (the hospital comes from the token); admins
// act for the hospital they name.
#include "common/call_context.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "gateway/api_services.h"
#include "gateway/forward.h"
#include "gateway/workflows.h"

namespace bloodgrid::gateway {
namespace {

// Copies `request` with its hospital_id set to the hospital the principal acts for.
template <typename Request>
absl::StatusOr<Request> ForHospital(const Principal& principal, const Request& request,
                                    bool required) {
  absl::StatusOr<std::string> hospital = ActingHospital(principal, request.hospital_id(), required);
  if (!hospital.ok()) return hospital.status();
  Request scoped = request;
  scoped.set_hospital_id(*hospital);
  return scoped;
}

template <typename Request, typename Response>
grpc::Status ForwardForHospital(
    Backends& backends, grpc::ServerContext* context, const Principal& principal,
    grpc::Status (v1::RequestService::StubInterface::*method)(grpc::ClientContext*, const Request&,
                                                              Response*),
    const Request& request, Response* response, bool hospital_required) {
  absl::StatusOr<Request> scoped = ForHospital(principal, request, hospital_required);
  if (!scoped.ok()) return ToGrpcStatus(scoped.status());
  return Forward(backends, *context, principal, backends.request(), method, *scoped, response);
}

// The same for the recall notices, which the inventory keeps (its lookback cases).
template <typename Request, typename Response>
grpc::Status ForwardRecallCall(Backends& backends, grpc::ServerContext* context,
                               const Principal& principal,
                               grpc::Status (v1::InventoryService::StubInterface::*method)(
                                   grpc::ClientContext*, const Request&, Response*),
                               const Request& request, Response* response) {
  absl::StatusOr<Request> scoped = ForHospital(principal, request, /*required=*/true);
  if (!scoped.ok()) return ToGrpcStatus(scoped.status());
  return Forward(backends, *context, principal, backends.inventory(), method, *scoped, response);
}

}  // namespace

grpc::Status HospitalApiService::PlaceOrder(grpc::ServerContext* context,
                                            const v1::PlaceOrderRequest* request,
                                            v1::Order* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "PlaceOrder");
  return ForwardForHospital(backends_, context, principal,
                            &v1::RequestService::StubInterface::PlaceOrder, *request, response,
                            /*hospital_required=*/true);
}

grpc::Status HospitalApiService::GetOrder(grpc::ServerContext* context,
                                          const v1::GetOrderRequest* request, v1::Order* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "GetOrder");
  return ForwardForHospital(backends_, context, principal,
                            &v1::RequestService::StubInterface::GetOrder, *request, response,
                            false);
}

grpc::Status HospitalApiService::ListOrders(grpc::ServerContext* context,
                                            const v1::ListOrdersRequest* request,
                                            v1::ListOrdersResponse* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "ListOrders");
  return ForwardForHospital(backends_, context, principal,
                            &v1::RequestService::StubInterface::ListOrders, *request, response,
                            false);
}

grpc::Status HospitalApiService::CancelOrder(grpc::ServerContext* context,
                                             const v1::CancelOrderRequest* request,
                                             v1::Order* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "CancelOrder");
  return ForwardForHospital(backends_, context, principal,
                            &v1::RequestService::StubInterface::CancelOrder, *request, response,
                            false);
}

grpc::Status HospitalApiService::ConfirmDelivery(grpc::ServerContext* context,
                                                 const v1::ConfirmDeliveryRequest* request,
                                                 v1::Order* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "ConfirmDelivery");
  return ForwardForHospital(backends_, context, principal,
                            &v1::RequestService::StubInterface::ConfirmDelivery, *request, response,
                            false);
}

grpc::Status HospitalApiService::ReportTransfusion(grpc::ServerContext* context,
                                                   const v1::ReportTransfusionRequest* request,
                                                   v1::Order* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "ReportTransfusion");
  return ForwardForHospital(backends_, context, principal,
                            &v1::RequestService::StubInterface::ReportTransfusion, *request,
                            response, false);
}

grpc::Status HospitalApiService::GetAvailability(grpc::ServerContext* context,
                                                 const v1::GetAvailabilityRequest* request,
                                                 v1::GetAvailabilityResponse* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "GetAvailability");
  std::optional<v1::Component> component;
  if (request->has_component()) {
    if (!v1::Component_IsValid(request->component())) {
      return ToGrpcStatus(InvalidField("component", "unknown component"));
    }
    component = request->component();
  }
  v1::GetStockSummaryRequest summary_request;
  if (component.has_value()) summary_request.set_component(*component);
  v1::GetStockSummaryResponse summary;
  grpc::ClientContext downstream;
  backends_.Prepare(downstream, principal, CallDeadline(*context));
  grpc::Status status =
      backends_.inventory().GetStockSummary(&downstream, summary_request, &summary);
  if (!status.ok()) return MapDownstreamStatus(status);
  *response = AvailabilityFromStock(summary, component);
  return grpc::Status::OK;
}

grpc::Status HospitalApiService::ListRecalls(grpc::ServerContext* context,
                                             const v1::ListRecallsRequest* request,
                                             v1::ListRecallsResponse* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "ListRecalls");
  return ForwardRecallCall(backends_, context, principal,
                           &v1::InventoryService::StubInterface::ListRecalls, *request, response);
}

grpc::Status HospitalApiService::AcknowledgeRecall(grpc::ServerContext* context,
                                                   const v1::AcknowledgeRecallRequest* request,
                                                   v1::RecallNotice* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kHospitalApiRoles, "AcknowledgeRecall");
  return ForwardRecallCall(backends_, context, principal,
                           &v1::InventoryService::StubInterface::AcknowledgeRecall, *request,
                           response);
}

}  // namespace bloodgrid::gateway
