#include "inventory_service/inventory_server.h"

#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/job_lease.h"
#include "common/periodic_task.h"
#include "common/retention_sweep.h"
#include "common/service_env.h"
#include "common/status.h"
#include "inventory_service/inventory_grpc_service.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

absl::StatusOr<std::unique_ptr<InventoryServer>> InventoryServer::BuildAndStart(Options options) {
  if (options.clock == nullptr) options.clock = Clock::Real();
  if (options.server.name.empty()) options.server.name = "inventory_service";
  std::unique_ptr<InventoryServer> server(new InventoryServer());

  ServiceEnvironmentOptions env_options;
  env_options.db = options.db;
  env_options.migrate = options.migrate;
  env_options.migrations = InventoryMigrations();
  env_options.policy_file = options.policy_file;
  env_options.wait_for_database = options.wait_for_database;
  BG_ASSIGN_OR_RETURN(ServiceEnvironment env, PrepareServiceEnvironment(env_options));
  server->policy_ = std::move(env.policy);
  server->pool_ = std::move(env.pool);
  server->options_ = options;

  auto* store = new MysqlInventoryStore(server->pool_.get());
  server->store_.reset(store);
  Clock* clock = options.clock;
  const absl::Duration expiring_soon = options.inventory.expiring_soon;
  const absl::TimeZone time_zone = options.inventory.time_zone;
  auto context = [clock, time_zone] {
    return JobCallContext("stock-watch", *clock, time_zone, absl::Now() + absl::Seconds(10));
  };
  server->hub_ = std::make_unique<StockWatchHub>(
      [store, context](uint64_t after, int limit) {
        return store->ReadChangeFeed(context(), after, limit);
      },
      [store, context, expiring_soon](const std::set<LevelKey>& keys) {
        return store->ReadLevels(context(), keys, expiring_soon);
      },
      [store, context, expiring_soon](const std::string& station_id) {
        return store->StockLevels(context(), station_id, v1::COMPONENT_UNSPECIFIED, expiring_soon);
      },
      clock, StockWatchHub::Options());
  server->operations_ = std::make_unique<InventoryOperations>(
      store, &server->policy_, clock, server->hub_.get(), options.inventory);
  server->service_ = std::make_unique<InventoryGrpcService>(server->operations_.get(), clock);

  db::ConnectionPool* pool = server->pool_.get();
  BG_ASSIGN_OR_RETURN(
      server->server_,
      ServiceServer::BuildAndStart(options.server, {server->service_.get()}, {kInventoryHealthName},
                                   [pool] { return pool->Ping(absl::Now() + absl::Seconds(2)); }));
  // Intervals run on real time (how often to look); what is due is decided by the injected clock.
  InventoryOperations* operations = server->operations_.get();
  // Each job runs in the one replica that holds its lease (common/job_lease.h).
  server->leases_ = std::make_unique<db::JobLeases>(pool);
  db::JobLeases* leases = server->leases_.get();
  server->reservation_sweep_ = std::make_unique<PeriodicTask>(
      PeriodicTask::Options{.name = "reservation_sweep",
                            .interval = options.reservation_sweep_interval,
                            .gate = leases->Gate("reservation_sweep"),
                            .gate_retry = leases->retry()},
      [operations] { return operations->SweepReservations().status(); });
  server->expiry_sweep_ = std::make_unique<PeriodicTask>(
      PeriodicTask::Options{.name = "expiry_sweep",
                            .interval = options.expiry_sweep_interval,
                            .gate = leases->Gate("expiry_sweep"),
                            .gate_retry = leases->retry()},
      [operations] { return operations->SweepExpiredUnits().status(); });
  server->retention_sweep_ =
      std::make_unique<db::RetentionSweeper>(pool, leases, options.retention);
  server->reservation_sweep_->Start();
  server->expiry_sweep_->Start();
  server->retention_sweep_->Start();
  return server;
}

InventoryServer::~InventoryServer() { Shutdown(); }

int InventoryServer::port() const { return server_->port(); }

void InventoryServer::Shutdown() {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (reservation_sweep_ != nullptr) reservation_sweep_->Stop();
  if (expiry_sweep_ != nullptr) expiry_sweep_->Stop();
  if (retention_sweep_ != nullptr) retention_sweep_->Stop();
  if (leases_ != nullptr) leases_->ReleaseAll();
  if (hub_ != nullptr) hub_->Shutdown();  // WatchStock handlers return UNAVAILABLE
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace bloodgrid::inventory
