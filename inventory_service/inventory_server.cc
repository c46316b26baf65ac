#include "inventory_service/inventory_server.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/log.h"
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
      [store, context, expiring_soon](const std::set<LevelKey>& keys) {
        return store->ReadLevels(context(), keys, expiring_soon);
      },
      [store, context, expiring_soon](const std::string& station_id) {
        return store->StockLevels(context(), station_id, v1::COMPONENT_UNSPECIFIED, expiring_soon);
      },
      clock, options.watch_queue_limit);
  server->operations_ = std::make_unique<InventoryOperations>(
      store, &server->policy_, clock, server->hub_.get(), options.inventory);
  server->service_ = std::make_unique<InventoryGrpcService>(server->operations_.get(), clock);

  db::ConnectionPool* pool = server->pool_.get();
  BG_ASSIGN_OR_RETURN(
      server->server_,
      ServiceServer::BuildAndStart(options.server, {server->service_.get()}, {kInventoryHealthName},
                                   [pool] { return pool->Ping(absl::Now() + absl::Seconds(2)); }));
  if (options.reservation_sweep_interval > absl::ZeroDuration() ||
      options.expiry_sweep_interval > absl::ZeroDuration()) {
    server->sweeper_ = std::thread([s = server.get()] { s->SweepLoop(); });
  }
  return server;
}

InventoryServer::~InventoryServer() { Shutdown(); }

int InventoryServer::port() const { return server_->port(); }

void InventoryServer::SweepLoop() {
  const absl::Duration holds = options_.reservation_sweep_interval;
  const absl::Duration expiry = options_.expiry_sweep_interval;
  // Timers run on real time (how often to look); what is due is decided by the injected clock.
  absl::Time next_holds = absl::Now() + holds;
  absl::Time next_expiry = absl::Now() + expiry;
  while (true) {
    absl::Time wake = absl::InfiniteFuture();
    if (holds > absl::ZeroDuration()) wake = std::min(wake, next_holds);
    if (expiry > absl::ZeroDuration()) wake = std::min(wake, next_expiry);
    if (stop_sweeping_.WaitForNotificationWithDeadline(wake)) return;
    const absl::Time now = absl::Now();
    if (holds > absl::ZeroDuration() && now >= next_holds) {
      absl::StatusOr<int> swept = operations_->SweepReservations();
      if (!swept.ok())
        LogWarning("reservation_sweep_failed", {{"status", swept.status().ToString()}});
      next_holds = now + holds;
    }
    if (expiry > absl::ZeroDuration() && now >= next_expiry) {
      absl::StatusOr<int> swept = operations_->SweepExpiredUnits();
      if (!swept.ok()) LogWarning("expiry_sweep_failed", {{"status", swept.status().ToString()}});
      next_expiry = now + expiry;
    }
  }
}

void InventoryServer::Shutdown() {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (!stop_sweeping_.HasBeenNotified()) stop_sweeping_.Notify();
  if (sweeper_.joinable()) sweeper_.join();
  if (hub_ != nullptr) hub_->Shutdown();  // WatchStock handlers return UNAVAILABLE
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace bloodgrid::inventory
