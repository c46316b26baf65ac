// The gateway's connections to the internal services: one channel per service, created once
// and shared by every call (round_robin over the addresses a dns:/// target resolves to, so
// calls spread across replicas), plus how a downstream call is made and how its status comes
// back to the gateway's caller.
#ifndef BLOODGRID_GATEWAY_BACKENDS_H_
#define BLOODGRID_GATEWAY_BACKENDS_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/donor.grpc.pb.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "bloodgrid/v1/request.grpc.pb.h"
#include "gateway/auth.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace bloodgrid::gateway {

struct BackendOptions {
  std::string donor_target;
  std::string inventory_target;
  std::string request_target;
  // Longest a single downstream call may take, whatever the caller's deadline.
  absl::Duration call_timeout_cap = absl::Seconds(10);
  // Largest message accepted from a backend.
  int max_receive_message_bytes = 16 << 20;
};

struct BackendHealth {
  absl::Status donor;
  absl::Status inventory;
  absl::Status request;
};

// Health names of the public APIs, as grpc.health.v1 reports them.
inline constexpr char kHospitalApiHealthName[] = "bloodgrid.v1.HospitalApi";
inline constexpr char kDispatchApiHealthName[] = "bloodgrid.v1.DispatchApi";
inline constexpr char kAdminApiHealthName[] = "bloodgrid.v1.AdminApi";

// The health of each public API from the backends it needs: HospitalApi and DispatchApi need
// inventory and request, AdminApi all three. So a donor-service outage leaves the hospitals'
// ordering SERVING. A name maps to OK or to the first missing backend's status.
std::map<std::string, absl::Status> PublicApiHealth(const BackendHealth& backends);

class Backends {
 public:
  explicit Backends(const BackendOptions& options);

  v1::DonorService::StubInterface& donor() { return *donor_; }
  v1::InventoryService::StubInterface& inventory() { return *inventory_; }
  v1::RequestService::StubInterface& request() { return *request_; }

  // Prepares a downstream call made for `principal`: deadline = min(caller's deadline, now +
  // call_timeout_cap), and the x-bloodgrid-actor metadata naming the principal.
  void Prepare(grpc::ClientContext& context, const Principal& principal,
               absl::Time caller_deadline) const;

  // Each backend's grpc.health.v1 answer within `timeout`: OK when it reports SERVING,
  // UNAVAILABLE naming the backend otherwise. The probe runs on the call channels (a probe
  // only reads health, it holds no backend resource).
  BackendHealth CheckHealth(absl::Duration timeout) const;

 private:
  BackendOptions options_;
  std::shared_ptr<grpc::Channel> donor_channel_, inventory_channel_, request_channel_;
  std::unique_ptr<v1::DonorService::StubInterface> donor_;
  std::unique_ptr<v1::InventoryService::StubInterface> inventory_;
  std::unique_ptr<v1::RequestService::StubInterface> request_;
};

// A backend's status as the gateway's caller should see it: INTERNAL and UNKNOWN become
// INTERNAL "internal error" (a backend's internals never leak); UNAVAILABLE stays UNAVAILABLE
// so clients retry; everything else (the backend's validation messages included) passes
// through unchanged.
grpc::Status MapDownstreamStatus(const grpc::Status& status);

// The same, as absl::Status, for composed workflows.
absl::Status DownstreamError(const grpc::Status& status);

}  // namespace bloodgrid::gateway

#endif  // BLOODGRID_GATEWAY_BACKENDS_H_
