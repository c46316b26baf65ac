#include "request_service/grpc_inventory_client.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <utility>

#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "common/call_context.h"
#include "common/grpc_status.h"
#include "common/service_channel.h"

namespace bloodgrid::request {
namespace {

class GrpcInventoryClient : public InventoryClient {
 public:
  GrpcInventoryClient(std::shared_ptr<grpc::Channel> channel, absl::Duration call_timeout)
      : stub_(v1::InventoryService::NewStub(channel)), call_timeout_(call_timeout) {}

  absl::StatusOr<v1::Station> GetStation(const std::string& station_id,
                                         const CallContext& call) override {
    v1::GetStationRequest request;
    request.set_station_id(station_id);
    return Unary<v1::Station>(call, [&](grpc::ClientContext* ctx, v1::Station* out) {
      return stub_->GetStation(ctx, request, out);
    });
  }

  absl::StatusOr<v1::Reservation> Reserve(const v1::ReserveRequest& request,
                                          const CallContext& call) override {
    return Unary<v1::Reservation>(call, [&](grpc::ClientContext* ctx, v1::Reservation* out) {
      return stub_->Reserve(ctx, request, out);
    });
  }

  absl::StatusOr<v1::Reservation> ConfirmReservation(const std::string& reservation_key,
                                                     const CallContext& call) override {
    v1::ConfirmReservationRequest request;
    request.set_reservation_key(reservation_key);
    return Unary<v1::Reservation>(call, [&](grpc::ClientContext* ctx, v1::Reservation* out) {
      return stub_->ConfirmReservation(ctx, request, out);
    });
  }

  absl::StatusOr<v1::Reservation> GetReservation(const std::string& reservation_key,
                                                 const CallContext& call) override {
    v1::GetReservationRequest request;
    request.set_reservation_key(reservation_key);
    return Unary<v1::Reservation>(call, [&](grpc::ClientContext* ctx, v1::Reservation* out) {
      return stub_->GetReservation(ctx, request, out);
    });
  }

  absl::StatusOr<v1::Reservation> Release(const v1::ReleaseRequest& request,
                                          const CallContext& call) override {
    return Unary<v1::Reservation>(call, [&](grpc::ClientContext* ctx, v1::Reservation* out) {
      return stub_->Release(ctx, request, out);
    });
  }

  absl::StatusOr<v1::IssueResponse> Issue(const v1::IssueRequest& request,
                                          const CallContext& call) override {
    return Unary<v1::IssueResponse>(call, [&](grpc::ClientContext* ctx, v1::IssueResponse* out) {
      return stub_->Issue(ctx, request, out);
    });
  }

  absl::StatusOr<v1::Unit> RecordOutcome(const v1::RecordOutcomeRequest& request,
                                         const CallContext& call) override {
    return Unary<v1::Unit>(call, [&](grpc::ClientContext* ctx, v1::Unit* out) {
      return stub_->RecordOutcome(ctx, request, out);
    });
  }

  absl::StatusOr<v1::Transfer> CreateTransfer(const v1::CreateTransferRequest& request,
                                              const CallContext& call) override {
    return Unary<v1::Transfer>(call, [&](grpc::ClientContext* ctx, v1::Transfer* out) {
      return stub_->CreateTransfer(ctx, request, out);
    });
  }

  absl::StatusOr<v1::Transfer> CancelTransfer(const v1::CancelTransferRequest& request,
                                              const CallContext& call) override {
    return Unary<v1::Transfer>(call, [&](grpc::ClientContext* ctx, v1::Transfer* out) {
      return stub_->CancelTransfer(ctx, request, out);
    });
  }

  absl::Status WatchStock(const v1::WatchStockRequest& request,
                          const std::function<void(const v1::StockEvent&)>& on_event,
                          WatchCancellation* cancellation) override {
    grpc::ClientContext ctx;
    ctx.AddMetadata(kActorMetadataKey, "system:backorder-watch");
    if (cancellation != nullptr && !cancellation->Arm([&ctx] { ctx.TryCancel(); })) {
      return absl::CancelledError("watch cancelled");
    }
    std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader = stub_->WatchStock(&ctx, request);
    v1::StockEvent event;
    while (reader->Read(&event)) on_event(event);
    grpc::Status status = reader->Finish();
    if (cancellation != nullptr) cancellation->Disarm();
    if (cancellation != nullptr && cancellation->cancelled()) {
      return absl::CancelledError("watch cancelled");
    }
    return FromGrpcStatus(status);
  }

 private:
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(const CallContext& call, Call&& invoke) {
    grpc::ClientContext ctx;
    PrepareOutgoingCall(ctx, call.actor, call.deadline, call_timeout_);
    Response response;
    grpc::Status status = invoke(&ctx, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  std::unique_ptr<v1::InventoryService::Stub> stub_;
  const absl::Duration call_timeout_;
};

}  // namespace

std::shared_ptr<grpc::Channel> NewInventoryChannel(const std::string& target) {
  return CreateServiceChannel(target);
}

std::unique_ptr<InventoryClient> NewGrpcInventoryClient(std::shared_ptr<grpc::Channel> channel,
                                                        absl::Duration call_timeout) {
  return std::make_unique<GrpcInventoryClient>(std::move(channel), call_timeout);
}

}  // namespace bloodgrid::request
