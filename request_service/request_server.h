// The request service process, wired: database pool and migrations, policy profile, the
// inventory channel (created once, round_robin over the target's addresses), store, operations,
// gRPC service with health and reflection, and the background jobs.
#ifndef BLOODGRID_REQUEST_SERVICE_REQUEST_SERVER_H_
#define BLOODGRID_REQUEST_SERVICE_REQUEST_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/job_lease.h"
#include "common/mysql_pool.h"
#include "common/retention_sweep.h"
#include "common/server_bootstrap.h"
#include "request_service/request_jobs.h"
#include "request_service/request_operations.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace bloodgrid::request {

class RequestGrpcService;
class MysqlRequestStore;

// Default gRPC port (DESIGN.md "Default ports").
inline constexpr int kDefaultPort = 50053;

struct RequestServerOptions {
  // name, listen address, port (0 picks a free port), drain, threads.
  ServerOptions server;
  db::DbOptions db;
  bool migrate = true;
  std::string policy_file;
  // InventoryService address, e.g. "dns:///inventory:50052" or "127.0.0.1:50052".
  std::string inventory_target;
  // Cap of every inventory call (further bounded by the caller's deadline).
  absl::Duration inventory_call_timeout = absl::Seconds(5);
  // Cap of a handler's work when the caller set no (or a longer) deadline.
  absl::Duration max_call_time = absl::Seconds(30);
  OperationsOptions operations;
  JobOptions jobs;
  // False: no background jobs (tests drive them through operations()).
  bool run_jobs = true;
  // Retention of request_id keys (docs/operations.md "Retention"); runs with the jobs.
  db::RetentionOptions retention;
  // Business time; nullptr = the real clock. Must outlive the server.
  Clock* clock = nullptr;
  // How long to wait for the database at start-up.
  absl::Duration wait_for_database = absl::Seconds(60);
};

class RequestServer {
 public:
  // Starts serving. INVALID_ARGUMENT for bad options (an empty inventory_target); errors of
  // PrepareServiceEnvironment (policy, database, migrations) and ServiceServer::BuildAndStart.
  static absl::StatusOr<std::unique_ptr<RequestServer>> BuildAndStart(RequestServerOptions options);
  ~RequestServer();
  RequestServer(const RequestServer&) = delete;
  RequestServer& operator=(const RequestServer&) = delete;

  int port() const;
  RequestOperations& operations() { return *operations_; }
  // Null when run_jobs is false.
  RequestJobs* jobs() { return jobs_.get(); }

  // Drains the server (NOT_SERVING first), then stops the jobs. Idempotent; blocks until done.
  void Shutdown();

 private:
  RequestServer() = default;

  std::unique_ptr<db::ConnectionPool> pool_;
  v1::PolicyProfile policy_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<InventoryClient> inventory_;
  std::unique_ptr<MysqlRequestStore> store_;
  std::unique_ptr<RequestOperations> operations_;
  std::unique_ptr<RequestGrpcService> service_;
  std::unique_ptr<ServiceServer> server_;
  std::unique_ptr<db::JobLeases> leases_;
  std::unique_ptr<RequestJobs> jobs_;
  std::unique_ptr<db::RetentionSweeper> retention_sweep_;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_SERVER_H_
