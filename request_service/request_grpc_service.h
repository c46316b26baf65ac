// RequestService's gRPC handlers: each builds the call's CallContext once
// (CallContextFromServer: actor, now, today, deadline), calls RequestOperations, and answers
// through Respond. No rules here.
#ifndef BLOODGRID_REQUEST_SERVICE_REQUEST_GRPC_SERVICE_H_
#define BLOODGRID_REQUEST_SERVICE_REQUEST_GRPC_SERVICE_H_

#include "absl/time/time.h"
#include "bloodgrid/v1/request.grpc.pb.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "request_service/request_operations.h"

namespace bloodgrid::request {

class RequestGrpcService final : public v1::RequestService::Service {
 public:
  // `operations` and `clock` must outlive the service. `time_zone` gives a call's day; deadlines
  // are capped at `max_call_time` (calls without one get it).
  RequestGrpcService(RequestOperations* operations, const Clock* clock, absl::TimeZone time_zone,
                     absl::Duration max_call_time)
      : operations_(operations),
        clock_(clock),
        time_zone_(time_zone),
        max_call_time_(max_call_time) {}

  grpc::Status UpsertHospital(grpc::ServerContext* context,
                              const v1::UpsertHospitalRequest* request,
                              v1::Hospital* response) override;
  grpc::Status GetHospital(grpc::ServerContext* context, const v1::GetHospitalRequest* request,
                           v1::Hospital* response) override;
  grpc::Status ListHospitals(grpc::ServerContext* context, const v1::ListHospitalsRequest* request,
                             v1::ListHospitalsResponse* response) override;
  grpc::Status PlaceOrder(grpc::ServerContext* context, const v1::PlaceOrderRequest* request,
                          v1::Order* response) override;
  grpc::Status GetOrder(grpc::ServerContext* context, const v1::GetOrderRequest* request,
                        v1::Order* response) override;
  grpc::Status ListOrders(grpc::ServerContext* context, const v1::ListOrdersRequest* request,
                          v1::ListOrdersResponse* response) override;
  grpc::Status CancelOrder(grpc::ServerContext* context, const v1::CancelOrderRequest* request,
                           v1::Order* response) override;
  grpc::Status ReviewOrder(grpc::ServerContext* context, const v1::ReviewOrderRequest* request,
                           v1::Order* response) override;
  grpc::Status DispatchOrder(grpc::ServerContext* context, const v1::DispatchOrderRequest* request,
                             v1::Order* response) override;
  grpc::Status ConfirmDelivery(grpc::ServerContext* context,
                               const v1::ConfirmDeliveryRequest* request,
                               v1::Order* response) override;
  grpc::Status ReportTransfusion(grpc::ServerContext* context,
                                 const v1::ReportTransfusionRequest* request,
                                 v1::Order* response) override;
  grpc::Status FindOrdersByDins(grpc::ServerContext* context,
                                const v1::FindOrdersByDinsRequest* request,
                                v1::FindOrdersByDinsResponse* response) override;

 private:
  CallContext ContextOf(const grpc::ServerContext& context) const;

  RequestOperations* const operations_;
  const Clock* const clock_;
  const absl::TimeZone time_zone_;
  const absl::Duration max_call_time_;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_GRPC_SERVICE_H_
