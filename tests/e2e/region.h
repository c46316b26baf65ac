// A whole BloodGrid region for end-to-end tests: three schemas with one database user each
// (rights on its own schema only) on the MariaDB that scripts/test started (or on one the test
// owns, see RegionOptions::db), the four real binaries (donor_service, inventory_service,
// request_service, gateway) started as processes on ports picked at run time, and
// authenticated public-API stubs. Tests drive only the gateway.
//
// Each service may run as several replicas and the gateway as several gateways
// (RegionOptions::replicas, gateways), each its own process on its own port, the replicas of a
// service sharing its schema. Every client of a service reaches all its replicas round-robin
// (Target()): the gateways the three services, the request and donor services the inventory, and
// the test the gateways (channel(), hospital(), ...; hospital(g) and friends talk to gateway g
// alone). Processes start in call order: donors, inventories, requests, gateways.
//
// The processes are children of the thread that started them and are SIGKILLed if it exits
// (tests/support/test_mariadb.h SpawnProcess): construct the Region, and call Start/Restart,
// from the test's own thread.
#ifndef BLOODGRID_TESTS_E2E_REGION_H_
#define BLOODGRID_TESTS_E2E_REGION_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/admin_api.grpc.pb.h"
#include "bloodgrid/v1/dispatch_api.grpc.pb.h"
#include "bloodgrid/v1/hospital_api.grpc.pb.h"
#include "common/mysql_pool.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace bloodgrid::testing {
class TestMariaDb;
}  // namespace bloodgrid::testing

namespace bloodgrid::e2e {

inline constexpr char kAdminToken[] = "e2e-admin-token";
inline constexpr char kDispatchToken[] = "e2e-dispatch-token";
inline constexpr char kHospital1Token[] = "e2e-hospital-h1-token";
inline constexpr char kHospital2Token[] = "e2e-hospital-h2-token";

struct RegionOptions {
  // Extra command-line flags per process ("donor", "inventory", "request", "gateway"), added
  // after the ones the Region sets (a repeated flag wins), e.g. {"request",
  // {"--reservation_hold_seconds=10"}}.
  std::map<std::string, std::vector<std::string>> service_flags;
  // The MariaDB to run on, not owned, outliving the Region; null: the one scripts/test started
  // (BLOODGRID_TEST_DB_*). On a test's own server the schemas are not dropped at the end: the
  // server goes with them.
  const testing::TestMariaDb* db = nullptr;
  // Processes of each service (donor, inventory, request) and gateways, each at least 1. The
  // replicas of a service share its schema.
  int replicas = 1;
  int gateways = 1;
};

// Extra environment of one start of a process, e.g. {{kFaultPointsEnv, "gateway.x"}}
// (common/fault_point.h); it lasts until the process is next started.
using ProcessEnv = std::map<std::string, std::string>;

class Region {
 public:
  // Creates the schemas and users and starts every process; fails the test (ASSERT) when the
  // gateway does not report SERVING within a minute.
  // `gateway_flags` are added to the gateway's command line.
  explicit Region(const std::string& name, std::vector<std::string> gateway_flags = {});
  Region(const std::string& name, RegionOptions options);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // How many replicas `service` runs.
  int replicas(const std::string& service) const {
    return static_cast<int>(ports_.at(service).size());
  }
  int port(const std::string& service, int replica = 0) const {
    return ports_.at(service).at(replica);
  }
  int gateway_port(int replica = 0) const { return port("gateway", replica); }
  // The gRPC target of every replica of `service`: "127.0.0.1:<port>" for one, else
  // "ipv4:127.0.0.1:<port>,127.0.0.1:<port>,..." (a round-robin channel spreads calls over them).
  std::string Target(const std::string& service) const;
  // The log file of a process ("donor", "inventory", "request", "gateway"): <service>.log for
  // replica 0, <service>-<replica>.log for the others. Every start of the process appends to it.
  std::string LogPath(const std::string& service, int replica = 0) const;
  // Round-robin over every gateway.
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // Gateway `replica` alone.
  std::shared_ptr<grpc::Channel> gateway_channel(int replica) const {
    return gateways_.at(replica).channel;
  }

  // A client context with a deadline and the bearer token.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token,
                                                      absl::Duration timeout = absl::Seconds(20));

  // Stubs over channel(): consecutive calls go to different gateways.
  v1::HospitalApi::Stub& hospital() { return *hospital_; }
  v1::AdminApi::Stub& admin() { return *admin_; }
  v1::DispatchApi::Stub& dispatch() { return *dispatch_; }
  // Stubs of gateway `gateway` alone.
  v1::HospitalApi::Stub& hospital(int gateway) { return *gateways_.at(gateway).hospital; }
  v1::AdminApi::Stub& admin(int gateway) { return *gateways_.at(gateway).admin; }
  v1::DispatchApi::Stub& dispatch(int gateway) { return *gateways_.at(gateway).dispatch; }

  // SIGKILLs a process ("donor", "inventory", "request", "gateway"; replica 0 unless told) and
  // starts it again on the same port with `env` added to its environment; waits until it is
  // SERVING.
  void Restart(const std::string& service, int replica = 0, const ProcessEnv& env = {});
  // SIGKILL (when it is running) and reap.
  void Kill(const std::string& service, int replica = 0);
  // Starts a process that is not running (or that ended on its own, which is reaped), on its
  // port, with `env` added to its environment; waits until it is SERVING (fails the test
  // otherwise).
  void Start(const std::string& service, int replica = 0, const ProcessEnv& env = {});
  // Waits up to `timeout` for a process to end on its own (e.g. at an armed fault point) and
  // reaps it: its waitpid status, or nullopt (and the process left running) when it did not
  // end in time or was not running.
  std::optional<int> WaitForExit(const std::string& service, int replica, absl::Duration timeout);

  // Runs a scalar query as the database admin in a service's schema (assertions only).
  int64_t CountRows(const std::string& service, const std::string& table);
  // Row counts of every table of every schema, for "nothing was written" checks. First waits
  // (up to 15 s) for the feed consumers to catch up with the inventory's change feed: the
  // donor's cursor at the feed's head and the request service's at its newest stock event, so
  // their background writes (cursors, the idempotency keys of what they apply) do not land
  // between two counts.
  std::map<std::string, int64_t> AllRowCounts();

  // The schema of "donor", "inventory" or "request", and the database admin account (every
  // privilege), e.g. for bench/invariants.h.
  const std::string& schema(const std::string& service) const { return schemas_.at(service); }
  const db::DbOptions& admin_db() const { return admin_db_; }
  // The directory of this run's logs and files.
  const std::string& dir() const { return dir_; }

 private:
  void WaitServing(int port, absl::Duration timeout);
  // Waits up to 15 s for a process sent SIGTERM to end, then SIGKILLs it (a test failure).
  void AwaitTerminated(const std::string& service, pid_t pid);

  struct GatewayStubs {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::HospitalApi::Stub> hospital;
    std::unique_ptr<v1::AdminApi::Stub> admin;
    std::unique_ptr<v1::DispatchApi::Stub> dispatch;
  };

  std::string name_;
  // True when both feed consumers' cursors have reached the inventory's feed (AllRowCounts).
  bool FeedConsumersCaughtUp(db::ConnectionPool& pool);
  RegionOptions options_;
  db::DbOptions admin_db_;
  std::string dir_;
  std::map<std::string, std::string> schemas_;      // service -> schema
  std::map<std::string, std::vector<int>> ports_;   // service -> port of each replica
  std::map<std::string, std::vector<pid_t>> pids_;  // 0: not running
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::HospitalApi::Stub> hospital_;
  std::unique_ptr<v1::AdminApi::Stub> admin_;
  std::unique_ptr<v1::DispatchApi::Stub> dispatch_;
  std::vector<GatewayStubs> gateways_;
};

}  // namespace bloodgrid::e2e

#endif  // BLOODGRID_TESTS_E2E_REGION_H_
