// inventory_service: every bag at every blood station (InventoryService, default port 50052).
// Flags (common/service_flags.h) -> Options -> BuildAndStart; runs until SIGTERM/SIGINT.
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/log.h"
#include "common/service_flags.h"
#include "inventory_service/inventory_server.h"

ABSL_FLAG(int, reservation_sweep_seconds, 15,
          "how often HELD reservations past their hold are released (seconds, at least 1)");

int main(int argc, char** argv) {
  bloodgrid::SignalWatcher signals;  // first: every later thread inherits the signal mask
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<bloodgrid::ServiceConfig> config =
      bloodgrid::ServiceConfigFromFlags("inventory_service", "inventory");
  if (!config.ok()) {
    bloodgrid::LogError("bad_configuration", {{"status", config.status().ToString()}});
    return 2;
  }
  bloodgrid::inventory::InventoryServer::Options options;
  options.server = config->server;
  if (options.server.port == 0) options.server.port = bloodgrid::inventory::kDefaultInventoryPort;
  options.db = config->db;
  options.migrate = config->migrate;
  options.policy_file = config->policy_file;
  options.retention.interval = config->retention.interval;
  options.retention.idempotency_retention = config->retention.idempotency_retention;
  options.retention.change_feed_retention = config->retention.change_feed_retention;
  options.inventory.time_zone = config->time_zone;
  const int sweep = absl::GetFlag(FLAGS_reservation_sweep_seconds);
  if (sweep < 1) {
    bloodgrid::LogError("bad_configuration",
                        {{"status", "--reservation_sweep_seconds: must be at least 1"}});
    return 2;
  }
  options.reservation_sweep_interval = absl::Seconds(sweep);
  absl::StatusOr<std::unique_ptr<bloodgrid::inventory::InventoryServer>> server =
      bloodgrid::inventory::InventoryServer::BuildAndStart(std::move(options));
  if (!server.ok()) {
    bloodgrid::LogError("start_failed", {{"status", server.status().ToString()}});
    return 1;
  }
  signals.WaitForTermination();
  (*server)->Shutdown();
  return 0;
}
