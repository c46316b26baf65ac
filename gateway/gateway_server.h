// The gateway process: HospitalApi, AdminApi and DispatchApi on one port, authenticated with
// the tokens file, composed over the three internal services. Health: "" (the readiness probe)
// is the gateway itself, SERVING from start until it drains; "bloodgrid.v1.HospitalApi" and
// "bloodgrid.v1.DispatchApi" are SERVING while inventory and request are, "bloodgrid.v1.AdminApi"
// while all three backends are (PublicApiHealth), so a donor outage leaves ordering up. With an
// auto-dispatch interval it also runs the rebalancing planner on that schedule and carries out its
// transfers (gateway/auto_dispatch.h).
#ifndef BLOODGRID_GATEWAY_GATEWAY_SERVER_H_
#define BLOODGRID_GATEWAY_GATEWAY_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/server_bootstrap.h"
#include "gateway/auto_dispatch.h"
#include "gateway/backends.h"

namespace bloodgrid::gateway {

class TokenStore;
class HospitalApiService;
class AdminApiService;
class DispatchApiService;

struct GatewayOptions {
  ServerOptions server;
  BackendOptions backends;
  std::string tokens_file;
  // Automated dispatch (off by default).
  AutoDispatchOptions auto_dispatch;
};

class GatewayServer {
 public:
  // Loads the tokens file (a missing or malformed file is an error naming it), creates the
  // backend channels and starts serving. The backends need not be up yet: health says so.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> BuildAndStart(
      const GatewayOptions& options);
  ~GatewayServer();

  int port() const { return server_->port(); }
  // Re-reads the tokens file (SIGHUP); keeps the current tokens if the file is bad.
  absl::Status ReloadTokens();
  void Shutdown();

 private:
  GatewayServer() = default;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<Backends> backends_;
  std::unique_ptr<HospitalApiService> hospital_api_;
  std::unique_ptr<AdminApiService> admin_api_;
  std::unique_ptr<DispatchApiService> dispatch_api_;
  std::unique_ptr<ServiceServer> server_;
  std::unique_ptr<AutoDispatcher> auto_dispatch_;
};

}  // namespace bloodgrid::gateway

#endif  // BLOODGRID_GATEWAY_GATEWAY_SERVER_H_
