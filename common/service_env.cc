#include "common/service_env.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/policy.h"
#include "common/status.h"

namespace bloodgrid {

absl::StatusOr<ServiceEnvironment> PrepareServiceEnvironment(
    const ServiceEnvironmentOptions& options) {
  ServiceEnvironment env;
  BG_ASSIGN_OR_RETURN(env.policy, LoadPolicyFile(options.policy_file));
  LogInfo("policy_loaded", {{"name", env.policy.name()},
                            {"version", std::to_string(env.policy.version())},
                            {"file", options.policy_file}});
  env.pool = db::ConnectionPool::Create(options.db);

  const absl::Time give_up = absl::Now() + options.wait_for_database;
  const int newest = options.migrations.empty() ? 0 : options.migrations.back().version;
  absl::Duration pause = absl::Milliseconds(200);
  while (true) {
    absl::Status status;
    if (options.migrate) {
      absl::StatusOr<db::MigrationReport> report = db::ApplyMigrations(
          *env.pool, absl::StrCat("bloodgrid_migrate_", options.db.schema), options.migrations);
      status = report.status();
      if (report.ok()) {
        LogInfo("schema_ready", {{"schema", options.db.schema},
                                 {"version", std::to_string(report->version_after)},
                                 {"applied", std::to_string(report->applied.size())}});
      }
    } else {
      absl::StatusOr<int> version = db::CurrentSchemaVersion(*env.pool);
      status = version.status();
      if (version.ok() && *version != newest) {
        return absl::FailedPreconditionError(
            absl::StrCat("schema ", options.db.schema, " is at version ", *version,
                         " but this binary needs ", newest, " and --migrate is off"));
      }
    }
    if (status.ok()) return env;
    if (status.code() != absl::StatusCode::kUnavailable || absl::Now() + pause > give_up) {
      return Annotate(status, absl::StrCat("preparing schema ", options.db.schema));
    }
    LogWarning("database_unreachable_retrying",
               {{"schema", options.db.schema}, {"status", status.ToString()}});
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Seconds(5));
  }
}

}  // namespace bloodgrid
