// donor_service: the donor registry, eligibility, deferrals, donations, call-up and blood-fee
// reimbursement (DonorService, protos/bloodgrid/v1/donor.proto). Flags: common/service_flags.cc.
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/log.h"
#include "common/server_bootstrap.h"
#include "common/service_flags.h"
#include "donor_service/donor_server.h"

ABSL_FLAG(std::string, inventory_target, "",
          "inventory service host:port; the donation-unit reconciler runs when set");

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
