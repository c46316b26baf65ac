// What one bloodgrid_bench run does. bench_main.cc fills it from its flags, whose help texts
// give each field's meaning and default; RunBenchmark (bench/phases.h) runs it.
#ifndef BLOODGRID_BENCH_BENCH_OPTIONS_H_
#define BLOODGRID_BENCH_BENCH_OPTIONS_H_

#include <cstdint>
#include <string>

namespace bloodgrid::bench {

struct BenchOptions {
  std::string scenario;  // compare, place-order, mixed, baseline or scale
  bool direct = false;   // place-order: call request_service instead of the gateway
  std::string gateway;   // addresses
  std::string request;
  std::string tokens_file;
  // The databases: seeding, the raw baseline, the invariant audit.
  std::string db_host;
  int db_port = 0;
  std::string db_user;
  std::string db_password_file;
  std::string inventory_schema;
  std::string request_schema;
  std::string donor_schema;
  std::string policy_file;
  // The load.
  int clients = 0;
  int duration_s = 0;
  int warmup_s = 0;
  int stations = 0;
  int64_t units = 0;
  int64_t scale_units = 0;
  std::string type_mix;
  double emergency_share = 0;
  double urgent_share = 0;
  double dispatch_share = 0;
  uint64_t seed = 0;
  // Measurement and output.
  std::string pids;
  std::string json;
  bool check_invariants = false;
  int orphan_grace_s = 0;
  int call_timeout_ms = 0;
};

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_BENCH_OPTIONS_H_
