#include "gateway/gateway_server.h"

#include "common/log.h"
#include "common/status.h"
#include "gateway/api_services.h"
#include "gateway/auth.h"

namespace bloodgrid::gateway {

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::BuildAndStart(
    const GatewayOptions& options) {
  for (const auto& [flag, target] :
       {std::pair<const char*, const std::string*>{"donor_target", &options.backends.donor_target},
        {"inventory_target", &options.backends.inventory_target},
        {"request_target", &options.backends.request_target}}) {
    if (target->empty()) return InvalidField(flag, "is required");
  }
  std::unique_ptr<GatewayServer> gateway(new GatewayServer());
  BG_ASSIGN_OR_RETURN(gateway->tokens_, TokenStore::Load(options.tokens_file));
  LogInfo("tokens_loaded",
          {{"file", options.tokens_file}, {"count", std::to_string(gateway->tokens_->size())}});
  gateway->backends_ = std::make_unique<Backends>(options.backends);
  gateway->hospital_api_ =
      std::make_unique<HospitalApiService>(*gateway->tokens_, *gateway->backends_);
  gateway->admin_api_ = std::make_unique<AdminApiService>(*gateway->tokens_, *gateway->backends_);
  gateway->dispatch_api_ =
      std::make_unique<DispatchApiService>(*gateway->tokens_, *gateway->backends_);
  Backends* backends = gateway->backends_.get();
  BG_ASSIGN_OR_RETURN(
      gateway->server_,
      ServiceServer::BuildAndStart(
          options.server,
          {gateway->hospital_api_.get(), gateway->admin_api_.get(), gateway->dispatch_api_.get()},
          {kHospitalApiHealthName, kAdminApiHealthName, kDispatchApiHealthName},
          // "" is the gateway itself (readiness: SERVING while it runs); each public API is
          // SERVING while the backends it needs are.
          /*readiness_probe=*/nullptr,
          [backends] { return PublicApiHealth(backends->CheckHealth(absl::Seconds(1))); }));
  if (options.auto_dispatch.interval > absl::ZeroDuration()) {
    if (options.auto_dispatch.horizon_hours < 1 || options.auto_dispatch.horizon_hours > 336) {
      return InvalidField("auto_dispatch_horizon_hours", "must be 1..336");
    }
    gateway->auto_dispatch_ =
        std::make_unique<AutoDispatcher>(*gateway->backends_, options.auto_dispatch);
    gateway->auto_dispatch_->Start();
  }
  return gateway;
}

GatewayServer::~GatewayServer() { Shutdown(); }

absl::Status GatewayServer::ReloadTokens() {
  absl::Status status = tokens_->Reload();
  if (status.ok()) {
    LogInfo("tokens_reloaded", {{"count", std::to_string(tokens_->size())}});
  } else {
    LogError("tokens_reload_failed", {{"status", status.ToString()}});
  }
  return status;
}

void GatewayServer::Shutdown() {
  if (auto_dispatch_ != nullptr) auto_dispatch_->Stop();
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace bloodgrid::gateway
