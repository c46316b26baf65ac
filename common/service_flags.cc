#include "common/service_flags.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status.h"

ABSL_FLAG(int, port, 0, "gRPC port to listen on (0: the service's default port)");
ABSL_FLAG(std::string, listen_address, "0.0.0.0", "address to listen on");
ABSL_FLAG(std::string, db_host, "127.0.0.1", "MySQL/MariaDB host");
ABSL_FLAG(int, db_port, 3306, "MySQL/MariaDB port");
ABSL_FLAG(std::string, db_socket, "", "MySQL/MariaDB Unix socket (instead of host:port)");
ABSL_FLAG(std::string, db_name, "", "schema this service owns (default: its own name)");
ABSL_FLAG(std::string, db_user, "", "database user (rights on this service's schema only)");
ABSL_FLAG(std::string, db_password_file, "",
          "file holding the database password (else env BLOODGRID_DB_PASSWORD)");
ABSL_FLAG(int, db_pool_size, 16, "maximum database connections");
ABSL_FLAG(int, db_acquire_timeout_ms, 2000, "longest wait for a free database connection");
ABSL_FLAG(int, db_lock_wait_timeout_s, 3, "innodb_lock_wait_timeout of the service's sessions");
ABSL_FLAG(bool, migrate, true, "apply schema migrations at start-up");
ABSL_FLAG(std::string, policy_file, "config/policies/cn-gb18467-2011.textproto",
          "policy profile (protobuf text format)");
ABSL_FLAG(int, drain_seconds, 20, "how long in-flight calls may finish after SIGTERM");
ABSL_FLAG(int, max_threads, 256,
          "maximum server threads, polling threads included; above the expected concurrent calls");
ABSL_FLAG(std::string, time_zone, "UTC",
          "the region's time zone (IANA name, e.g. Asia/Shanghai): calendar dates are days there");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(int, idempotency_retention_hours, 168,
          "how long request_id keys are kept for replay (at least 168: common.proto promises 7 "
          "days)");
ABSL_FLAG(int, change_feed_retention_hours, 168,
          "how long a service's change feed keeps its events (at least 1)");
ABSL_FLAG(int, retention_sweep_minutes, 60,
          "how often the retention sweep runs (0: never; docs/operations.md)");

namespace bloodgrid {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read secret file ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

absl::StatusOr<ServiceConfig> ServiceConfigFromFlags(absl::string_view name,
                                                     absl::string_view default_schema) {
  InitLogging(name, ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  ServiceConfig config;
  config.server.name = std::string(name);
  config.server.listen_address = absl::GetFlag(FLAGS_listen_address);
  config.server.port = absl::GetFlag(FLAGS_port);
  if (config.server.port < 0 || config.server.port > 65535) {
    return InvalidField("--port", "must be 0-65535");
  }
  const int drain = absl::GetFlag(FLAGS_drain_seconds);
  if (drain < 0) return InvalidField("--drain_seconds", "must not be negative");
  config.server.drain_timeout = absl::Seconds(drain);
  config.server.max_threads = absl::GetFlag(FLAGS_max_threads);
  if (config.server.max_threads < 4) return InvalidField("--max_threads", "must be at least 4");

  db::DbOptions& db = config.db;
  db.host = absl::GetFlag(FLAGS_db_host);
  db.port = absl::GetFlag(FLAGS_db_port);
  db.unix_socket = absl::GetFlag(FLAGS_db_socket);
  db.schema = absl::GetFlag(FLAGS_db_name);
  if (db.schema.empty()) db.schema = std::string(default_schema);
  db.user = absl::GetFlag(FLAGS_db_user);
  if (db.user.empty()) return InvalidField("--db_user", "is required");
  db.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  if (db.pool_size < 1 || db.pool_size > 1000)
    return InvalidField("--db_pool_size", "must be 1-1000");
  const int acquire_ms = absl::GetFlag(FLAGS_db_acquire_timeout_ms);
  if (acquire_ms < 1) return InvalidField("--db_acquire_timeout_ms", "must be positive");
  db.acquire_timeout = absl::Milliseconds(acquire_ms);
  const int lock_wait = absl::GetFlag(FLAGS_db_lock_wait_timeout_s);
  if (lock_wait < 1) return InvalidField("--db_lock_wait_timeout_s", "must be at least 1");
  db.lock_wait_timeout = absl::Seconds(lock_wait);
  const std::string password_file = absl::GetFlag(FLAGS_db_password_file);
  if (!password_file.empty()) {
    BG_ASSIGN_OR_RETURN(db.password, ReadSecretFile(password_file));
  } else if (const char* env = std::getenv("BLOODGRID_DB_PASSWORD"); env != nullptr) {
    db.password = env;
  }
  config.migrate = absl::GetFlag(FLAGS_migrate);
  config.policy_file = absl::GetFlag(FLAGS_policy_file);
  const std::string zone = absl::GetFlag(FLAGS_time_zone);
  if (!absl::LoadTimeZone(zone, &config.time_zone)) {
    return InvalidField("--time_zone", absl::StrCat("unknown time zone '", zone, "'"));
  }
  const int key_hours = absl::GetFlag(FLAGS_idempotency_retention_hours);
  if (key_hours < 168) return InvalidField("--idempotency_retention_hours", "must be at least 168");
  config.retention.idempotency_retention = absl::Hours(key_hours);
  const int feed_hours = absl::GetFlag(FLAGS_change_feed_retention_hours);
  if (feed_hours < 1) return InvalidField("--change_feed_retention_hours", "must be at least 1");
  config.retention.change_feed_retention = absl::Hours(feed_hours);
  const int sweep_minutes = absl::GetFlag(FLAGS_retention_sweep_minutes);
  if (sweep_minutes < 0) return InvalidField("--retention_sweep_minutes", "must not be negative");
  config.retention.interval = absl::Minutes(sweep_minutes);
  return config;
}

}  // namespace bloodgrid
