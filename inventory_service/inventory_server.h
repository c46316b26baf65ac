// Wiring of the inventory service: policy profile, database pool and schema (migrated at
// start-up), store, InventoryOperations, the WatchStock hub (served from the change feed), the
// sweepers, and the gRPC server with health ("bloodgrid.v1.InventoryService", SERVING while the
// database answers) and reflection. main.cc builds Options from flags; tests build them directly
// and run the whole server in-process on port 0 with a FakeClock.
//
// Thread-safe.
#ifndef BLOODGRID_INVENTORY_SERVICE_INVENTORY_SERVER_H_
#define BLOODGRID_INVENTORY_SERVICE_INVENTORY_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/clock.h"
#include "common/job_lease.h"
#include "common/mysql_pool.h"
#include "common/periodic_task.h"
#include "common/retention_sweep.h"
#include "common/server_bootstrap.h"
#include "inventory_service/inventory_operations.h"

namespace bloodgrid::inventory {

class InventoryStore;
class InventoryGrpcService;

// Default gRPC port of the inventory service.
inline constexpr int kDefaultInventoryPort = 50052;
// Health service name reported next to "".
inline constexpr char kInventoryHealthName[] = "bloodgrid.v1.InventoryService";

class InventoryServer {
 public:
  struct Options {
    ServerOptions server;
    db::DbOptions db;
    // Apply the embedded migrations at start-up.
    bool migrate = true;
    std::string policy_file;
    // How long start-up keeps retrying an unreachable database.
    absl::Duration wait_for_database = absl::Seconds(60);
    InventoryOperations::Options inventory;
    // "Now" for expiry, holds and events; not owned; null = the real clock.
    Clock* clock = nullptr;
    // How often the sweepers run; zero turns one off (tests run them by hand).
    absl::Duration reservation_sweep_interval = absl::Seconds(15);
    absl::Duration expiry_sweep_interval = absl::Minutes(5);
    // Retention of request_id keys and of the change feed (docs/operations.md "Retention").
    db::RetentionOptions retention = {.change_feed_retention = db::kDefaultChangeFeedRetention};
  };

  // Loads and validates the policy, connects and migrates (retrying while the database is
  // unreachable), starts the sweepers and the server. INVALID_ARGUMENT / NOT_FOUND for a bad
  // policy file, FAILED_PRECONDITION for a schema this binary cannot use, UNAVAILABLE when the
  // database stays unreachable or the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<InventoryServer>> BuildAndStart(Options options);
  ~InventoryServer();

  int port() const;
  InventoryOperations& inventory() { return *operations_; }
  StockWatchHub& hub() { return *hub_; }
  db::ConnectionPool& pool() { return *pool_; }
  const v1::PolicyProfile& policy() const { return policy_; }

  // Stops the sweepers, ends the WatchStock streams (UNAVAILABLE), then drains the server
  // (NOT_SERVING first). Idempotent; blocks until done.
  void Shutdown();

 private:
  InventoryServer() = default;

  Options options_;
  v1::PolicyProfile policy_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<InventoryStore> store_;
  std::unique_ptr<StockWatchHub> hub_;
  std::unique_ptr<InventoryOperations> operations_;
  std::unique_ptr<InventoryGrpcService> service_;
  std::unique_ptr<ServiceServer> server_;
  std::unique_ptr<db::JobLeases> leases_;
  std::unique_ptr<PeriodicTask> reservation_sweep_;
  std::unique_ptr<PeriodicTask> expiry_sweep_;
  std::unique_ptr<db::RetentionSweeper> retention_sweep_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ = false;
};

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_INVENTORY_SERVER_H_
