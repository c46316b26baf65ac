#include "gateway/backends.h"

#include <grpcpp/channel.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/service_channel.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace bloodgrid::gateway {
Backends::Backends(const BackendOptions& options) : options_(options) {
  donor_channel_ = CreateServiceChannel(options.donor_target, options.max_receive_message_bytes);
  inventory_channel_ =
      CreateServiceChannel(options.inventory_target, options.max_receive_message_bytes);
  request_channel_ =
      CreateServiceChannel(options.request_target, options.max_receive_message_bytes);
  donor_ = v1::DonorService::NewStub(donor_channel_);
  inventory_ = v1::InventoryService::NewStub(inventory_channel_);
  request_ = v1::RequestService::NewStub(request_channel_);
}

void Backends::Prepare(grpc::ClientContext& context, const Principal& principal,
                       absl::Time caller_deadline) const {
  PrepareOutgoingCall(context, principal.Actor(), caller_deadline, options_.call_timeout_cap);
}

BackendHealth Backends::CheckHealth(absl::Duration timeout) const {
  auto check = [timeout](const char* name, const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    if (!status.ok() || response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::UnavailableError(absl::StrCat(name, " is not serving"));
    }
    return absl::OkStatus();
  };
  return BackendHealth{check("donor_service", donor_channel_),
                       check("inventory_service", inventory_channel_),
                       check("request_service", request_channel_)};
}

std::map<std::string, absl::Status> PublicApiHealth(const BackendHealth& backends) {
  auto first_failure = [](std::initializer_list<const absl::Status*> needed) {
    for (const absl::Status* status : needed) {
      if (!status->ok()) return *status;
    }
    return absl::OkStatus();
  };
  return {
      {kHospitalApiHealthName, first_failure({&backends.inventory, &backends.request})},
      {kDispatchApiHealthName, first_failure({&backends.inventory, &backends.request})},
      {kAdminApiHealthName,
       first_failure({&backends.donor, &backends.inventory, &backends.request})},
  };
}

grpc::Status MapDownstreamStatus(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return status;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      LogWarning("backend_internal_error", {{"message", status.error_message()}});
      return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
    case grpc::StatusCode::UNIMPLEMENTED:
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not available in this version");
    default:
      return status;
  }
}

absl::Status DownstreamError(const grpc::Status& status) {
  return FromGrpcStatus(MapDownstreamStatus(status));
}

}  // namespace bloodgrid::gateway
