// A whole BloodGrid region for end-to-end tests: three schemas with one database user each
// (rights on its own schema only) on the MariaDB that scripts/test started (or on one the test
// owns, see RegionOptions::db), the four real binaries (donor_service, inventory_service,
// request_service, gateway) started as processes on ports picked at run time, and
// authenticated public-API stubs. Tests drive only the gateway.
//
// The processes are children of the thread that started them and are SIGKILLed if it exits
// (tests/support/test_mariadb.h SpawnProcess): construct the Region, and call Start/Restart,
// from the test's own thread.
#ifndef BLOODGRID_TESTS_E2E_REGION_H_
#define BLOODGRID_TESTS_E2E_REGION_H_

#include <sys/types.h>

#include <map>
#include <memory>
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
};

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

  int gateway_port() const { return ports_.at("gateway"); }
  // The log file of a process ("donor", "inventory", "request", "gateway").
  std::string LogPath(const std::string& service) const { return dir_ + "/" + service + ".log"; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // A client context with a deadline and the bearer token.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token,
                                                      absl::Duration timeout = absl::Seconds(20));

  v1::HospitalApi::Stub& hospital() { return *hospital_; }
  v1::AdminApi::Stub& admin() { return *admin_; }
  v1::DispatchApi::Stub& dispatch() { return *dispatch_; }

  // SIGKILLs a process ("donor", "inventory", "request", "gateway") and starts it again on the
  // same port; waits until it is SERVING.
  void Restart(const std::string& service);
  // SIGKILL only.
  void Kill(const std::string& service);
  void Start(const std::string& service);

  // Runs a scalar query as the database admin in a service's schema (assertions only).
  int64_t CountRows(const std::string& service, const std::string& table);
  // Row counts of every table of every schema, for "nothing was written" checks.
  std::map<std::string, int64_t> AllRowCounts();

  // The schema of "donor", "inventory" or "request", and the database admin account (every
  // privilege), e.g. for bench/invariants.h.
  const std::string& schema(const std::string& service) const { return schemas_.at(service); }
  const db::DbOptions& admin_db() const { return admin_db_; }
  // The directory of this run's logs and files.
  const std::string& dir() const { return dir_; }

 private:
  void WaitServing(int port, absl::Duration timeout);

  std::string name_;
  RegionOptions options_;
  db::DbOptions admin_db_;
  std::string dir_;
  std::map<std::string, std::string> schemas_;  // service -> schema
  std::map<std::string, int> ports_;
  std::map<std::string, pid_t> pids_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::HospitalApi::Stub> hospital_;
  std::unique_ptr<v1::AdminApi::Stub> admin_;
  std::unique_ptr<v1::DispatchApi::Stub> dispatch_;
};

}  // namespace bloodgrid::e2e

#endif  // BLOODGRID_TESTS_E2E_REGION_H_
