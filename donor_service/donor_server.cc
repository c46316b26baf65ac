#include "donor_service/donor_server.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/service_channel.h"
#include "common/status.h"
#include "donor_service/donation_unit_reconciler.h"
#include "donor_service/donor_grpc_service.h"
#include "donor_service/donor_operations.h"
#include "donor_service/mysql_donor_store.h"

namespace bloodgrid::donor {
namespace {

// Readiness probes must answer quickly: a database that does not answer within this is down.
constexpr absl::Duration kReadinessTimeout = absl::Seconds(2);

}  // namespace

DonorServer::DonorServer() = default;

DonorServer::~DonorServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<DonorServer>> DonorServer::BuildAndStart(const Options& options) {
  if (options.clock == nullptr) return InvalidField("clock", "is required");
  ServiceEnvironmentOptions env_options;
  env_options.db = options.db;
  env_options.migrate = options.migrate;
  env_options.migrations = DonorMigrations();
  env_options.policy_file = options.policy_file;
  env_options.wait_for_database = options.wait_for_database;

  std::unique_ptr<DonorServer> server(new DonorServer());
  BG_ASSIGN_OR_RETURN(server->env_, PrepareServiceEnvironment(env_options));
  server->store_ = std::make_unique<MysqlDonorStore>(server->env_.pool.get());
  server->operations_ = std::make_unique<DonorOperations>(server->env_.policy, server->store_.get(),
                                                          options.time_zone);
  server->service_ = std::make_unique<DonorGrpcService>(server->operations_.get(), options.clock,
                                                        options.time_zone);
  db::ConnectionPool* pool = server->env_.pool.get();
  BG_ASSIGN_OR_RETURN(server->server_,
                      ServiceServer::BuildAndStart(
                          options.server, {server->service_.get()}, {kDonorHealthServiceName},
                          [pool]() { return pool->Ping(absl::Now() + kReadinessTimeout); }));
  server->leases_ = std::make_unique<db::JobLeases>(pool);
  server->retention_sweep_ =
      std::make_unique<db::RetentionSweeper>(pool, server->leases_.get(), options.retention);
  server->retention_sweep_->Start();
  if (options.inventory_target.empty()) {
    LogWarning("inventory_feed_off",
               {{"reason",
                 "no inventory_target: test results reach donors only through the "
                 "gateway's fast path, and no reconciler settles donations left without a unit"}});
  } else {
    // One channel to the inventory for both jobs: the feed consumer and the reconciler.
    std::shared_ptr<grpc::Channel> inventory = CreateServiceChannel(options.inventory_target);
    server->inventory_feed_ = std::make_unique<InventoryFeedConsumer>(
        server->operations_.get(), pool, server->leases_.get(), inventory, options.clock,
        options.time_zone, options.inventory_feed);
    server->inventory_feed_->Start();
    LogInfo("inventory_feed_on", {{"inventory", options.inventory_target}});
    server->inventory_ = NewGrpcCollectionRegistrar(inventory);
    DonationUnitReconciler::Options reconcile;
    reconcile.grace = options.unit_reconcile_grace;
    reconcile.time_zone = options.time_zone;
    server->unit_reconciler_ = std::make_unique<DonationUnitReconciler>(
        server->store_.get(), server->inventory_.get(), options.clock, reconcile);
    PeriodicTask::Options task;
    task.name = "donation_units";
    task.interval = options.unit_reconcile_interval;
    task.gate = server->leases_->Gate(kDonationUnitsJob);
    task.gate_retry = server->leases_->retry();
    DonationUnitReconciler* reconciler = server->unit_reconciler_.get();
    server->unit_reconcile_task_ =
        std::make_unique<PeriodicTask>(std::move(task), [reconciler]() -> absl::Status {
          BG_ASSIGN_OR_RETURN(DonationUnitReconciler::PassResult result, reconciler->RunPass());
          if (result.confirmed + result.voided > 0) {
            LogInfo("donation_units_reconciled", {{"confirmed", std::to_string(result.confirmed)},
                                                  {"voided", std::to_string(result.voided)}});
          }
          return absl::OkStatus();
        });
    server->unit_reconcile_task_->Start();
  }
  return server;
}

int DonorServer::port() const { return server_ == nullptr ? 0 : server_->port(); }

void DonorServer::Shutdown() {
  if (server_ != nullptr) server_->Shutdown();
  if (inventory_feed_ != nullptr) inventory_feed_->Stop();
  if (retention_sweep_ != nullptr) retention_sweep_->Stop();
  if (unit_reconcile_task_ != nullptr) unit_reconcile_task_->Stop();
  if (leases_ != nullptr) leases_->ReleaseAll();
}

}  // namespace bloodgrid::donor
