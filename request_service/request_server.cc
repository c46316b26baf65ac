#include "request_service/request_server.h"

#include <grpcpp/channel.h>

#include <utility>

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/service_env.h"
#include "common/status.h"
#include "request_service/grpc_inventory_client.h"
#include "request_service/mysql_request_store.h"
#include "request_service/request_grpc_service.h"

namespace bloodgrid::request {

absl::StatusOr<std::unique_ptr<RequestServer>> RequestServer::BuildAndStart(
    RequestServerOptions options) {
  if (options.inventory_target.empty()) {
    return InvalidField("inventory_target", "is required");
  }
  if (options.server.name.empty()) options.server.name = "request_service";
  std::unique_ptr<RequestServer> server(new RequestServer());

  ServiceEnvironmentOptions env_options;
  env_options.db = options.db;
  env_options.migrate = options.migrate;
  env_options.migrations = RequestMigrations();
  env_options.policy_file = options.policy_file;
  env_options.wait_for_database = options.wait_for_database;
  BG_ASSIGN_OR_RETURN(ServiceEnvironment env, PrepareServiceEnvironment(env_options));
  server->pool_ = std::move(env.pool);
  server->policy_ = std::move(env.policy);

  server->channel_ = NewInventoryChannel(options.inventory_target);
  server->inventory_ = NewGrpcInventoryClient(server->channel_, options.inventory_call_timeout);
  server->store_ = std::make_unique<MysqlRequestStore>(server->pool_.get());
  Clock* clock = options.clock != nullptr ? options.clock : Clock::Real();
  server->operations_ = std::make_unique<RequestOperations>(
      server->store_.get(), server->inventory_.get(), &server->policy_, clock, options.operations);
  server->service_ = std::make_unique<RequestGrpcService>(
      server->operations_.get(), clock, options.operations.time_zone, options.max_call_time);
  MysqlRequestStore* store = server->store_.get();
  BG_ASSIGN_OR_RETURN(server->server_,
                      ServiceServer::BuildAndStart(
                          options.server, {server->service_.get()}, {"bloodgrid.v1.RequestService"},
                          [store] { return store->Ping(absl::Now() + absl::Seconds(2)); }));
  if (options.run_jobs) {
    // Each job runs in the one replica that holds its lease (common/job_lease.h).
    server->leases_ = std::make_unique<db::JobLeases>(server->pool_.get());
    options.jobs.leases = server->leases_.get();
    options.jobs.cursor_pool = server->pool_.get();
    server->jobs_ = std::make_unique<RequestJobs>(server->operations_.get(),
                                                  server->inventory_.get(), options.jobs);
    server->jobs_->Start();
    server->retention_sweep_ = std::make_unique<db::RetentionSweeper>(
        server->pool_.get(), server->leases_.get(), options.retention);
    server->retention_sweep_->Start();
  }
  LogInfo("request_service_ready", {{"inventory", options.inventory_target}});
  return server;
}

RequestServer::~RequestServer() { Shutdown(); }

int RequestServer::port() const { return server_ == nullptr ? 0 : server_->port(); }

void RequestServer::Shutdown() {
  // Health goes NOT_SERVING and the server drains first; the jobs stop after (they may be in
  // the middle of a pass, which must not delay the health change).
  if (server_ != nullptr) server_->Shutdown();
  if (jobs_ != nullptr) jobs_->Stop();
  if (retention_sweep_ != nullptr) retention_sweep_->Stop();
  if (leases_ != nullptr) leases_->ReleaseAll();
}

}  // namespace bloodgrid::request
