// bloodgrid_bench: load, latency and scaling figures for a running BloodGrid region, with the
// databases audited after every phase (bench/invariants.h). scripts/bench starts a region of
// its own and runs this tool against it; it can also be pointed at any region whose database
// it may write (the seeding inserts stock directly).
//
// Scenarios (--scenario):
//   compare      (default) raw-DB baseline, then place-order direct to request_service, then
//                place-order through the gateway, at the same concurrency; prints the ratios
//   place-order  hospitals placing orders through the gateway (--direct: request_service)
//   mixed        orders, availability and stock queries, donations, test results with
//                processing, and transfers, through the gateway
//   baseline     the raw reservation transaction only
//   scale        place-order (direct) at --units, then again after topping the stock up to
//                --scale_units; prints the allocation p50 ratio
#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "bench/bench_options.h"
#include "bench/phases.h"

ABSL_FLAG(std::string, scenario, "compare", "compare, place-order, mixed, baseline or scale");
ABSL_FLAG(bool, direct, false,
          "place-order: call request_service (--request) instead of the gateway");
ABSL_FLAG(std::string, gateway, "127.0.0.1:50050", "gateway address");
ABSL_FLAG(std::string, request, "", "request_service address (compare, scale, --direct)");
ABSL_FLAG(std::string, tokens_file, "", "lines 'role subject token': admin, dispatcher, hospitals");
ABSL_FLAG(std::string, db_host, "127.0.0.1", "MariaDB host (seeding, baseline, invariants)");
ABSL_FLAG(int, db_port, 3306, "MariaDB port");
ABSL_FLAG(std::string, db_user, "", "MariaDB user with rights on every BloodGrid schema");
ABSL_FLAG(std::string, db_password_file, "", "file holding that user's password");
ABSL_FLAG(std::string, inventory_schema, "inventory", "inventory service's schema");
ABSL_FLAG(std::string, request_schema, "request", "request service's schema");
ABSL_FLAG(std::string, donor_schema, "donor", "donor service's schema");
ABSL_FLAG(std::string, policy_file, "config/policies/cn-gb18467-2011.textproto",
          "policy profile giving the shelf lives of seeded stock");
ABSL_FLAG(int, clients, 16, "concurrent clients");
ABSL_FLAG(int, duration_s, 20, "measured seconds per phase");
ABSL_FLAG(int, warmup_s, 2, "unmeasured seconds at the start of each phase");
ABSL_FLAG(int, stations, 4, "stations to set up (BS01...)");
ABSL_FLAG(int64_t, units, 10000, "available seeded units before the first phase");
ABSL_FLAG(int64_t, scale_units, 1000000, "scale: seeded units of the second measurement");
ABSL_FLAG(std::string, type_mix, "O+:38,A+:27,B+:22,AB+:7,O-:2.5,A-:1.5,B-:1.5,AB-:0.5",
          "blood types of seeded stock and of patients, in percent");
ABSL_FLAG(double, emergency_share, 0.10, "share of EMERGENCY orders");
ABSL_FLAG(double, urgent_share, 0.10, "share of URGENT orders");
ABSL_FLAG(double, dispatch_share, 0.20,
          "share of allocated orders dispatched (the rest are cancelled, so stock stays)");
ABSL_FLAG(uint64_t, seed, 1, "random seed (seeding and the order mix)");
ABSL_FLAG(std::string, pids, "",
          "name:pid,... of the processes whose RSS is sampled (e.g. gateway:123,request:456)");
ABSL_FLAG(std::string, json, "", "also write the results as JSON to this file ('-' = stdout)");
ABSL_FLAG(bool, check_invariants, true, "audit the databases after every phase");
ABSL_FLAG(int, orphan_grace_s, 120, "invariants: a hold expired this long ago is orphaned");
ABSL_FLAG(int, call_timeout_ms, 10000, "deadline of every call");

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "bench/bench_main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "Measures a running BloodGrid region: throughput and latency percentiles of hospital "
      "orders through the gateway, directly to request_service and as the raw database "
      "transaction, allocation latency as stock grows, memory of the services; audits the "
      "databases after every phase.\n"
      "Usually started by scripts/bench, which runs a region of its own.\n"
      "Example: bloodgrid_bench --scenario compare --clients 16 --duration_s 20 "
      "--tokens_file tokens --db_user admin --db_password_file pw --request 127.0.0.1:50053");
  absl::ParseCommandLine(argc, argv);
  bloodgrid::bench::BenchOptions options;
  options.scenario = absl::GetFlag(FLAGS_scenario);
  options.direct = absl::GetFlag(FLAGS_direct);
  options.gateway = absl::GetFlag(FLAGS_gateway);
  options.request = absl::GetFlag(FLAGS_request);
  options.tokens_file = absl::GetFlag(FLAGS_tokens_file);
  options.db_host = absl::GetFlag(FLAGS_db_host);
  options.db_port = absl::GetFlag(FLAGS_db_port);
  options.db_user = absl::GetFlag(FLAGS_db_user);
  options.db_password_file = absl::GetFlag(FLAGS_db_password_file);
  options.inventory_schema = absl::GetFlag(FLAGS_inventory_schema);
  options.request_schema = absl::GetFlag(FLAGS_request_schema);
  options.donor_schema = absl::GetFlag(FLAGS_donor_schema);
  options.policy_file = absl::GetFlag(FLAGS_policy_file);
  options.clients = absl::GetFlag(FLAGS_clients);
  options.duration_s = absl::GetFlag(FLAGS_duration_s);
  options.warmup_s = absl::GetFlag(FLAGS_warmup_s);
  options.stations = absl::GetFlag(FLAGS_stations);
  options.units = absl::GetFlag(FLAGS_units);
  options.scale_units = absl::GetFlag(FLAGS_scale_units);
  options.type_mix = absl::GetFlag(FLAGS_type_mix);
  options.emergency_share = absl::GetFlag(FLAGS_emergency_share);
  options.urgent_share = absl::GetFlag(FLAGS_urgent_share);
  options.dispatch_share = absl::GetFlag(FLAGS_dispatch_share);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.pids = absl::GetFlag(FLAGS_pids);
  options.json = absl::GetFlag(FLAGS_json);
  options.check_invariants = absl::GetFlag(FLAGS_check_invariants);
  options.orphan_grace_s = absl::GetFlag(FLAGS_orphan_grace_s);
  options.call_timeout_ms = absl::GetFlag(FLAGS_call_timeout_ms);
  return bloodgrid::bench::RunBenchmark(options);
}
