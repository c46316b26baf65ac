// DonorServer: the donor service assembled — policy, database pool (schema migrated), store,
// operations, gRPC service, health and reflection, the background jobs (retention sweep, inventory
// feed consumer) — and running. Wiring only.
//
// Health: "" and "bloodgrid.v1.DonorService" are SERVING while the database answers a ping.
// Thread-safe.
#ifndef BLOODGRID_DONOR_SERVICE_DONOR_SERVER_H_
#define BLOODGRID_DONOR_SERVICE_DONOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/job_lease.h"
#include "common/mysql_pool.h"
#include "common/periodic_task.h"
#include "common/retention_sweep.h"
#include "common/server_bootstrap.h"
#include "common/service_env.h"
#include "donor_service/inventory_feed_consumer.h"

namespace bloodgrid::donor {

class DonorOperations;
class DonorGrpcService;
class MysqlDonorStore;
class CollectionRegistrar;
class DonationUnitReconciler;

// The donor service's default gRPC port (DESIGN.md "Default ports").
inline constexpr int kDefaultDonorPort = 50051;
// Name under which health reports the service.
inline constexpr char kDonorHealthServiceName[] = "bloodgrid.v1.DonorService";

class DonorServer {
 public:
  struct Options {
    // Listen address and port (0 picks a free port: see port()), drain, threads.
    ServerOptions server;
    // The database; db.schema is the donor schema.
    db::DbOptions db;
    // Apply the embedded migrations at start-up (else the schema must already be current).
    bool migrate = true;
    // Policy profile file (protobuf text format).
    std::string policy_file;
    // Source of "now"; tests inject a FakeClock. Must outlive the server.
    Clock* clock = Clock::Real();
    // The region's time zone: calendar dates ("YYYY-MM-DD") are days in it.
    absl::TimeZone time_zone = absl::UTCTimeZone();
    // How long to wait for an unreachable database at start-up.
    absl::Duration wait_for_database = absl::Seconds(60);
    // Retention of request_id keys (docs/operations.md "Retention"); interval 0 turns it off.
    db::RetentionOptions retention;
    // The inventory service's address (host:port or dns:///name:port): the donor service then
    // applies the inventory's test results from its change feed (inventory_feed_consumer.h),
    // in the replica holding the job's lease, and the donation-unit reconciler
    // (donation_unit_reconciler.h) registers or voids donations left without a unit. Empty:
    // neither runs (logged at start-up). The inventory need not be up yet.
    std::string inventory_target;
    // Long poll, batch size and backoff of that consumer.
    InventoryFeedConsumer::Options inventory_feed;
    // Between reconciler passes, and how old a donation must be before it looks at it.
    absl::Duration unit_reconcile_interval = absl::Seconds(30);
    absl::Duration unit_reconcile_grace = absl::Minutes(5);
  };

  // Loads the policy, prepares the schema and starts serving. Errors name what failed:
  // INVALID_ARGUMENT / NOT_FOUND for a bad policy file, UNAVAILABLE when the database stays
  // unreachable or the port cannot be bound, FAILED_PRECONDITION for a schema this binary
  // cannot use.
  static absl::StatusOr<std::unique_ptr<DonorServer>> BuildAndStart(const Options& options);

  // Shuts down (if not done yet) before releasing the database.
  ~DonorServer();

  // The port the server listens on.
  int port() const;

  // NOT_SERVING, stop accepting, drain in-flight calls. Idempotent; blocks until done.
  void Shutdown();

  // The inventory feed consumer; nullptr when inventory_target was empty.
  const InventoryFeedConsumer* inventory_feed() const { return inventory_feed_.get(); }

 private:
  DonorServer();

  ServiceEnvironment env_;
  std::unique_ptr<MysqlDonorStore> store_;
  std::unique_ptr<DonorOperations> operations_;
  std::unique_ptr<DonorGrpcService> service_;
  std::unique_ptr<ServiceServer> server_;
  // Background jobs, each run by the replica holding its lease (common/job_lease.h).
  std::unique_ptr<db::JobLeases> leases_;
  std::unique_ptr<db::RetentionSweeper> retention_sweep_;
  std::unique_ptr<InventoryFeedConsumer> inventory_feed_;
  std::unique_ptr<CollectionRegistrar> inventory_;
  std::unique_ptr<DonationUnitReconciler> unit_reconciler_;
  std::unique_ptr<PeriodicTask> unit_reconcile_task_;
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_DONOR_SERVER_H_
