// Versioned schema migrations, applied by each service to its own schema at start-up.
//
// A service's migrations are files `NNN_name.sql` (NNN = version, 1, 2, 3 ... without gaps)
// in <service>/migrations/, compiled into the binary (cmake/EmbedMigrations.cmake) so an image
// cannot ship SQL that does not match its code; a directory can be given instead for tools.
//
// ApplyMigrations:
//  - takes the MySQL named lock `lock_name` (GET_LOCK) on one connection for the whole run, so
//    replicas starting together apply each migration exactly once (the others wait, then find
//    nothing left to do);
//  - creates `schema_migrations(version, name, checksum, applied_at)` if missing;
//  - refuses (FAILED_PRECONDITION) a schema whose recorded version is newer than the newest
//    migration this binary knows, or whose recorded checksum of an applied migration differs
//    from the file (someone edited an applied migration);
//  - applies each pending migration's statements in order and records its version in the same
//    transaction. MySQL commits DDL implicitly, so keep one logical change per file: a file that
//    fails half-way leaves its earlier statements applied and its version unrecorded, and the
//    error names the version and statement.
#ifndef BLOODGRID_COMMON_MIGRATIONS_H_
#define BLOODGRID_COMMON_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace bloodgrid::db {

class ConnectionPool;

struct Migration {
  int version = 0;
  std::string name;
  std::string sql;
};

// Builds a migration from a file name "NNN_name.sql" and its contents; INVALID_ARGUMENT when
// the name does not have that shape.
absl::StatusOr<Migration> MigrationFromFile(absl::string_view file_name, std::string contents);

// Reads every *.sql file of `dir`, sorted by version, validated. NOT_FOUND if `dir` is missing.
absl::StatusOr<std::vector<Migration>> LoadMigrationsFromDir(const std::string& dir);

// Versions must be 1..N, contiguous, unique; every migration non-empty.
absl::Status ValidateMigrations(const std::vector<Migration>& migrations);

// Splits a script into statements at ';' outside quotes, backticks and comments. Comments are
// dropped; empty statements are skipped.
std::vector<std::string> SplitSqlStatements(absl::string_view script);

// Stable 64-bit FNV-1a of the migration text, hex; recorded for each applied migration.
std::string MigrationChecksum(absl::string_view sql);

struct MigrationReport {
  int version_before = 0;
  int version_after = 0;
  std::vector<int> applied;
};

// See the file comment. UNAVAILABLE when the database cannot be reached, DEADLINE_EXCEEDED when
// the lock is not obtained within `lock_timeout`.
absl::StatusOr<MigrationReport> ApplyMigrations(ConnectionPool& pool, absl::string_view lock_name,
                                                const std::vector<Migration>& migrations,
                                                absl::Duration lock_timeout = absl::Seconds(60));

// The highest version recorded in schema_migrations (0 when the table is missing or empty).
absl::StatusOr<int> CurrentSchemaVersion(ConnectionPool& pool);

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_MIGRATIONS_H_
