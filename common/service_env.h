// What every BloodGrid service needs before it can serve: its database pool with the schema
// migrated, and its policy profile loaded and validated. Shared by the services'
// *_server.cc so each BuildAndStart is wiring only.
#ifndef BLOODGRID_COMMON_SERVICE_ENV_H_
#define BLOODGRID_COMMON_SERVICE_ENV_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/migrations.h"
#include "common/mysql_pool.h"

namespace bloodgrid {

struct ServiceEnvironment {
  std::unique_ptr<db::ConnectionPool> pool;
  v1::PolicyProfile policy;
};

struct ServiceEnvironmentOptions {
  db::DbOptions db;
  // Apply `migrations` at start-up under the named lock "bloodgrid_migrate_<schema>".
  bool migrate = true;
  std::vector<db::Migration> migrations;
  std::string policy_file;
  // How long to keep retrying while the database is unreachable at start-up (a database that
  // starts after the service, as on Kubernetes, is normal).
  absl::Duration wait_for_database = absl::Seconds(60);
};

// Loads the policy (errors name the file and field), creates the pool, and migrates, retrying
// UNAVAILABLE until wait_for_database runs out. When migrate is false the schema must already
// be at the newest version this binary knows (FAILED_PRECONDITION otherwise).
absl::StatusOr<ServiceEnvironment> PrepareServiceEnvironment(
    const ServiceEnvironmentOptions& options);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_SERVICE_ENV_H_
