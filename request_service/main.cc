// request_service: flags -> RequestServerOptions -> RequestServer::BuildAndStart -> wait for a
// signal -> drain.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/server_bootstrap.h"
#include "common/service_flags.h"
#include "request_service/request_server.h"

ABSL_FLAG(std::string, inventory_target, "127.0.0.1:50052",
          "InventoryService address (e.g. dns:///inventory:50052; several replicas behind a DNS "
          "name are balanced round-robin)");
ABSL_FLAG(int, inventory_timeout_ms, 5000, "cap of each call to InventoryService");
ABSL_FLAG(int, transport_minutes, 120,
          "transport time added to needed_by for the expiry floor of reserved units");
ABSL_FLAG(int, reservation_hold_seconds, 900,
          "how long a reservation is held before it must be confirmed (at most 3600)");
ABSL_FLAG(int, presumed_transfused_hours, 72,
          "issued units without a reported outcome after this long are presumed transfused");
ABSL_FLAG(int, reconcile_interval_seconds, 30, "period of the half-done order reconciler");
ABSL_FLAG(int, backorder_sweep_seconds, 300,
          "period of the back-order sweep, a safety net: stock events fill back-orders at once");
ABSL_FLAG(int, hospital_cache_ms, 2000,
          "how long an order may use this replica's cached copy of its hospital (stations); "
          "0 reads the registry for every order");
ABSL_FLAG(bool, fallback_transfers, true,
          "ROUTINE and URGENT units reserved at a fallback station travel to the hospital's "
          "serving station on a transfer before dispatch (EMERGENCY units always ship directly); "
          "false: every order ships straight from the stations that hold its units");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "request_service: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  bloodgrid::SignalWatcher signals;
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<bloodgrid::ServiceConfig> config =
      bloodgrid::ServiceConfigFromFlags("request_service", "request");
  if (!config.ok()) return Fail(config.status().ToString());

  bloodgrid::request::RequestServerOptions options;
  options.server = config->server;
  if (options.server.port == 0) options.server.port = bloodgrid::request::kDefaultPort;
  options.db = config->db;
  options.migrate = config->migrate;
  options.policy_file = config->policy_file;
  options.retention.interval = config->retention.interval;
  options.retention.idempotency_retention = config->retention.idempotency_retention;
  options.inventory_target = absl::GetFlag(FLAGS_inventory_target);
  const int timeout_ms = absl::GetFlag(FLAGS_inventory_timeout_ms);
  if (timeout_ms < 1) return Fail("--inventory_timeout_ms: must be positive");
  options.inventory_call_timeout = absl::Milliseconds(timeout_ms);
  options.operations.time_zone = config->time_zone;  // the day of the daily approval tiers
  const int transport = absl::GetFlag(FLAGS_transport_minutes);
  if (transport < 0) return Fail("--transport_minutes: must not be negative");
  options.operations.transport_time = absl::Minutes(transport);
  const int hold = absl::GetFlag(FLAGS_reservation_hold_seconds);
  if (hold < 1 || hold > 3600) return Fail("--reservation_hold_seconds: must be 1-3600");
  options.operations.hold_seconds = hold;
  const int presumed = absl::GetFlag(FLAGS_presumed_transfused_hours);
  if (presumed < 1) return Fail("--presumed_transfused_hours: must be positive");
  options.operations.presumed_transfused_after = absl::Hours(presumed);
  options.operations.fallback_transfers = absl::GetFlag(FLAGS_fallback_transfers);
  options.operations.hospital_cache_ttl =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_hospital_cache_ms)));
  const int reconcile = absl::GetFlag(FLAGS_reconcile_interval_seconds);
  const int sweep = absl::GetFlag(FLAGS_backorder_sweep_seconds);
  if (reconcile < 1) return Fail("--reconcile_interval_seconds: must be positive");
  if (sweep < 1) return Fail("--backorder_sweep_seconds: must be positive");
  options.jobs.reconcile_interval = absl::Seconds(reconcile);
  options.jobs.backorder_interval = absl::Seconds(sweep);

  absl::StatusOr<std::unique_ptr<bloodgrid::request::RequestServer>> server =
      bloodgrid::request::RequestServer::BuildAndStart(std::move(options));
  if (!server.ok()) return Fail(server.status().ToString());
  signals.WaitForTermination();
  (*server)->Shutdown();
  return 0;
}
