// donor_service: the donor registry, eligibility, deferrals, donations, call-up and blood-fee
// reimbursement (DonorService, protos/bloodgrid/v1/donor.proto). Flags: common/service_flags.cc,
// plus --inventory_target below.
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/log.h"
#include "common/server_bootstrap.h"
#include "common/service_flags.h"
#include "donor_service/donor_server.h"

ABSL_FLAG(
    std::string, inventory_target, "",
    "inventory_service address (host:port or dns:///name:port): the donor service applies its "
    "change feed (test results: typing, reactive deferrals) and registers or voids donations "
    "left without a unit (the reconciler); empty = neither");
ABSL_FLAG(int, donation_unit_grace_s, 300,
          "age (seconds) at which the reconciler settles a donation still without its unit");
ABSL_FLAG(int, donation_unit_interval_s, 30, "seconds between the reconciler's passes");

int main(int argc, char** argv) {
  bloodgrid::SignalWatcher signals;  // first: every later thread inherits the signal mask
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<bloodgrid::ServiceConfig> config =
      bloodgrid::ServiceConfigFromFlags("donor_service", "donor");
  if (!config.ok()) {
    bloodgrid::LogError("bad_configuration", {{"status", config.status().ToString()}});
    return 2;
  }
  bloodgrid::donor::DonorServer::Options options;
  options.server = config->server;
  if (options.server.port == 0) options.server.port = bloodgrid::donor::kDefaultDonorPort;
  options.db = config->db;
  options.migrate = config->migrate;
  options.policy_file = config->policy_file;
  options.retention.interval = config->retention.interval;
  options.retention.idempotency_retention = config->retention.idempotency_retention;
  options.time_zone = config->time_zone;
  options.inventory_target = absl::GetFlag(FLAGS_inventory_target);
  const int grace_s = absl::GetFlag(FLAGS_donation_unit_grace_s);
  const int interval_s = absl::GetFlag(FLAGS_donation_unit_interval_s);
  if (grace_s < 1 || interval_s < 1) {
    bloodgrid::LogError("bad_configuration",
                        {{"status",
                          "donation_unit_grace_s and donation_unit_interval_s: must be "
                          "at least 1"}});
    return 2;
  }
  options.unit_reconcile_grace = absl::Seconds(grace_s);
  options.unit_reconcile_interval = absl::Seconds(interval_s);
  absl::StatusOr<std::unique_ptr<bloodgrid::donor::DonorServer>> server =
      bloodgrid::donor::DonorServer::BuildAndStart(options);
  if (!server.ok()) {
    bloodgrid::LogError("start_failed", {{"status", server.status().ToString()}});
    return 1;
  }
  bloodgrid::LogInfo("serving", {{"port", std::to_string((*server)->port())}});
  const int signal = signals.WaitForTermination();
  bloodgrid::LogInfo("stopping", {{"signal", std::to_string(signal)}});
  (*server)->Shutdown();
  return 0;
}
