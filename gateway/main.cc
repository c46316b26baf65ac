// gateway: flags -> GatewayOptions -> GatewayServer::BuildAndStart; SIGHUP re-reads the tokens
// file; SIGTERM/SIGINT drain and stop.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/log.h"
#include "common/server_bootstrap.h"
#include "gateway/gateway_server.h"

ABSL_FLAG(int, port, 50050, "gRPC port of the public API");
ABSL_FLAG(std::string, listen_address, "0.0.0.0", "address to listen on");
ABSL_FLAG(std::string, donor_target, "", "donor_service address, e.g. dns:///donor:50051");
ABSL_FLAG(std::string, inventory_target, "", "inventory_service address");
ABSL_FLAG(std::string, request_target, "", "request_service address");
ABSL_FLAG(std::string, tokens_file, "", "tokens file: '<sha256 hex> <role> <subject>' per line");
ABSL_FLAG(int, downstream_timeout_ms, 10000, "cap of one call to an internal service");
ABSL_FLAG(int, max_request_bytes, 1 << 20, "largest request accepted");
ABSL_FLAG(int, drain_seconds, 20, "how long in-flight calls may finish after SIGTERM");
ABSL_FLAG(int, max_threads, 256,
          "maximum server threads, polling threads included; above the expected concurrent calls");
ABSL_FLAG(int, auto_dispatch_interval_s, 0,
          "run the rebalancing planner every N seconds and carry out its transfers (0 = off)");
ABSL_FLAG(int, auto_dispatch_horizon_hours, 48, "planning horizon of automated dispatch");
ABSL_FLAG(bool, auto_dispatch_dry_run, false, "log automated dispatch proposals only");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");

int main(int argc, char** argv) {
  bloodgrid::SignalWatcher signals;
  absl::ParseCommandLine(argc, argv);
  bloodgrid::InitLogging("gateway", bloodgrid::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));

  bloodgrid::gateway::GatewayOptions options;
  options.server.name = "gateway";
  options.server.listen_address = absl::GetFlag(FLAGS_listen_address);
  options.server.port = absl::GetFlag(FLAGS_port);
  options.server.drain_timeout = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  options.server.max_receive_message_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  options.server.max_threads = absl::GetFlag(FLAGS_max_threads);
  options.backends.donor_target = absl::GetFlag(FLAGS_donor_target);
  options.backends.inventory_target = absl::GetFlag(FLAGS_inventory_target);
  options.backends.request_target = absl::GetFlag(FLAGS_request_target);
  options.backends.call_timeout_cap =
      absl::Milliseconds(absl::GetFlag(FLAGS_downstream_timeout_ms));
  options.tokens_file = absl::GetFlag(FLAGS_tokens_file);
  options.auto_dispatch.interval = absl::Seconds(absl::GetFlag(FLAGS_auto_dispatch_interval_s));
  options.auto_dispatch.horizon_hours = absl::GetFlag(FLAGS_auto_dispatch_horizon_hours);
  options.auto_dispatch.dry_run = absl::GetFlag(FLAGS_auto_dispatch_dry_run);

  auto gateway = bloodgrid::gateway::GatewayServer::BuildAndStart(options);
  if (!gateway.ok()) {
    bloodgrid::LogError("startup_failed", {{"status", gateway.status().ToString()}});
    std::fprintf(stderr, "gateway: %s\n", gateway.status().ToString().c_str());
    return 1;
  }
  signals.WaitForTermination([&] { (void)(*gateway)->ReloadTokens(); });
  (*gateway)->Shutdown();
  return 0;
}
