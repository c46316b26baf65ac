// The command-line flags every BloodGrid service binary shares (listen port, database, policy,
// migrations, drain, logging), turned into Options structs. Linked only into the binaries'
// main.cc (library bloodgrid_service_flags), so libraries and tests never see flags.
//
// Secrets never come from the command line: the database password is read from
// --db_password_file or, failing that, from the BLOODGRID_DB_PASSWORD environment variable.
#ifndef BLOODGRID_COMMON_SERVICE_FLAGS_H_
#define BLOODGRID_COMMON_SERVICE_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"
#include "common/retention_sweep.h"
#include "common/server_bootstrap.h"

namespace bloodgrid {

struct ServiceConfig {
  ServerOptions server;
  db::DbOptions db;
  // Apply the embedded migrations at start-up (under a named lock).
  bool migrate = true;
  // Path of the policy profile (protobuf text format).
  std::string policy_file;
  // The region's time zone: calendar dates (donation days, deferral ends) are days there.
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // Retention sweep (docs/operations.md "Retention"); change_feed_retention applies to a
  // service that has a change feed.
  db::RetentionOptions retention;
};

// Reads the shared flags after absl::ParseCommandLine. `name` is the binary's name (logs,
// health); `default_schema` is used when --db_name is empty. INVALID_ARGUMENT naming the flag
// for a bad value; FAILED_PRECONDITION when the password file cannot be read.
absl::StatusOr<ServiceConfig> ServiceConfigFromFlags(absl::string_view name,
                                                     absl::string_view default_schema);

// Reads a secret from a file (trailing newline removed).
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_SERVICE_FLAGS_H_
