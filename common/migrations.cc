#include "common/migrations.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/mysql_pool.h"
#include "common/sql_error.h"
#include "common/status.h"

namespace bloodgrid::db {
namespace {

constexpr char kCreateVersionTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " checksum CHAR(16) NOT NULL,"
    " applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
    ") ENGINE=InnoDB";
constexpr char kSelectApplied[] =
    "SELECT version, checksum FROM schema_migrations ORDER BY version";
constexpr char kInsertVersion[] =
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)";
constexpr char kVersionTableExists[] =
    "SELECT COUNT(*) FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'";

}  // namespace

absl::StatusOr<Migration> MigrationFromFile(absl::string_view file_name, std::string contents) {
  absl::string_view stem = file_name;
  if (!absl::ConsumeSuffix(&stem, ".sql")) {
    return InvalidField("migration", absl::StrCat("'", file_name, "' does not end in .sql"));
  }
  size_t underscore = stem.find('_');
  int version = 0;
  if (underscore == absl::string_view::npos || underscore == 0 ||
      !absl::SimpleAtoi(stem.substr(0, underscore), &version) || version <= 0 ||
      underscore + 1 >= stem.size()) {
    return InvalidField("migration", absl::StrCat("'", file_name, "' is not named NNN_name.sql"));
  }
  return Migration{version, std::string(stem.substr(underscore + 1)), std::move(contents)};
}

absl::StatusOr<std::vector<Migration>> LoadMigrationsFromDir(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("migrations directory ", dir, " not found"));
  }
  std::vector<Migration> migrations;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".sql") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read ", entry.path().string()));
    }
    BG_ASSIGN_OR_RETURN(Migration m,
                        MigrationFromFile(entry.path().filename().string(), text.str()));
    migrations.push_back(std::move(m));
  }
  if (ec)
    return absl::FailedPreconditionError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  std::sort(migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  BG_RETURN_IF_ERROR(ValidateMigrations(migrations));
  return migrations;
}

absl::Status ValidateMigrations(const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    if (m.version != static_cast<int>(i) + 1) {
      return InvalidField("migration", absl::StrCat("expected version ", i + 1, " but found ",
                                                    m.version, " (", m.name, ")"));
    }
    if (SplitSqlStatements(m.sql).empty()) {
      return InvalidField("migration",
                          absl::StrCat("version ", m.version, " (", m.name, ") has no statements"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> SplitSqlStatements(absl::string_view script) {
  std::vector<std::string> statements;
  std::string current;
  char quote = 0;  // ', " or ` while inside a quoted string/identifier
  for (size_t i = 0; i < script.size(); ++i) {
    const char c = script[i];
    const char next = i + 1 < script.size() ? script[i + 1] : '\0';
    if (quote != 0) {
      current += c;
      if (c == '\\' && quote != '`' && i + 1 < script.size()) {
        current += script[++i];
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      quote = c;
      current += c;
    } else if ((c == '-' && next == '-') || c == '#') {
      while (i < script.size() && script[i] != '\n') ++i;
      current += '\n';
    } else if (c == '/' && next == '*') {
      size_t end = script.find("*/", i + 2);
      i = end == absl::string_view::npos ? script.size() : end + 1;
      current += ' ';
    } else if (c == ';') {
      std::string stmt(absl::StripAsciiWhitespace(current));
      if (!stmt.empty()) statements.push_back(std::move(stmt));
      current.clear();
    } else {
      current += c;
    }
  }
  std::string stmt(absl::StripAsciiWhitespace(current));
  if (!stmt.empty()) statements.push_back(std::move(stmt));
  return statements;
}

std::string MigrationChecksum(absl::string_view sql) { return Fnv1a64Hex(sql); }

absl::StatusOr<int> CurrentSchemaVersion(ConnectionPool& pool) {
  int version = 0;
  BG_RETURN_IF_ERROR(RunTransaction(
      pool, "read schema version", absl::Now() + absl::Seconds(10),
      [&](Connection& conn) -> absl::Status {
        std::unique_ptr<sql::ResultSet> exists(conn.Prepare(kVersionTableExists).executeQuery());
        if (!exists->next() || exists->getInt(1) == 0) return absl::OkStatus();
        std::unique_ptr<sql::ResultSet> rs(
            conn.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").executeQuery());
        if (rs->next()) version = rs->getInt(1);
        return absl::OkStatus();
      }));
  return version;
}

absl::StatusOr<MigrationReport> ApplyMigrations(ConnectionPool& pool, absl::string_view lock_name,
                                                const std::vector<Migration>& migrations,
                                                absl::Duration lock_timeout) {
  BG_RETURN_IF_ERROR(ValidateMigrations(migrations));
  BG_ASSIGN_OR_RETURN(Lease lease, pool.Acquire(absl::Now() + pool.options().connect_timeout +
                                                pool.options().acquire_timeout));
  Connection& conn = *lease;
  MigrationReport report;
  bool locked = false;
  int applying = 0;
  try {
    {
      sql::PreparedStatement& get_lock = conn.Prepare("SELECT GET_LOCK(?, ?)");
      get_lock.setString(1, std::string(lock_name));
      get_lock.setInt(2, static_cast<int>(absl::ToInt64Seconds(lock_timeout)));
      std::unique_ptr<sql::ResultSet> rs(get_lock.executeQuery());
      locked = rs->next() && !rs->isNull(1) && rs->getInt(1) == 1;
      conn.Commit();
    }
    if (!locked) {
      return absl::DeadlineExceededError(
          absl::StrCat("migrations: could not take lock '", lock_name, "' within ",
                       absl::FormatDuration(lock_timeout), " (another replica is migrating?)"));
    }
    conn.Execute(kCreateVersionTable);
    std::vector<std::pair<int, std::string>> applied;
    {
      std::unique_ptr<sql::ResultSet> rs(conn.Prepare(kSelectApplied).executeQuery());
      while (rs->next()) applied.emplace_back(rs->getInt(1), std::string(rs->getString(2)));
      conn.Commit();
    }
    absl::Status refusal;
    const int known = migrations.empty() ? 0 : migrations.back().version;
    for (const auto& [version, checksum] : applied) {
      report.version_before = std::max(report.version_before, version);
      if (version > known) {
        refusal = absl::FailedPreconditionError(absl::StrCat(
            "migrations: schema is at version ", version, " but this binary knows only up to ",
            known, "; refusing to start against a newer schema"));
        break;
      }
      const Migration& m = migrations[version - 1];
      if (MigrationChecksum(m.sql) != checksum) {
        refusal = absl::FailedPreconditionError(absl::StrCat(
            "migrations: applied version ", version, " (", m.name,
            ") differs from this binary's copy; applied migrations must never change"));
        break;
      }
    }
    if (refusal.ok()) {
      for (const Migration& m : migrations) {
        if (m.version <= report.version_before) continue;
        applying = m.version;
        for (const std::string& statement : SplitSqlStatements(m.sql)) conn.Execute(statement);
        sql::PreparedStatement& insert = conn.Prepare(kInsertVersion);
        insert.setInt(1, m.version);
        insert.setString(2, m.name);
        insert.setString(3, MigrationChecksum(m.sql));
        insert.executeUpdate();
        conn.Commit();
        report.applied.push_back(m.version);
        LogInfo("migration_applied", {{"lock", std::string(lock_name)},
                                      {"version", std::to_string(m.version)},
                                      {"name", m.name}});
      }
    }
    report.version_after = report.applied.empty() ? report.version_before : report.applied.back();
    {
      sql::PreparedStatement& release = conn.Prepare("SELECT RELEASE_LOCK(?)");
      release.setString(1, std::string(lock_name));
      std::unique_ptr<sql::ResultSet> rs(release.executeQuery());
      conn.Commit();
    }
    if (!refusal.ok()) return refusal;
    return report;
  } catch (const sql::SQLException& e) {
    // The named lock dies with the connection; dropping it is the safest release.
    lease.MarkBroken();
    if (applying != 0) {
      LogError("migration_failed", {{"version", std::to_string(applying)}, {"message", e.what()}});
      return Annotate(StatusFromSqlException(e, "apply migration"),
                      absl::StrCat("migrations: version ", applying));
    }
    return StatusFromSqlException(e, "migrations");
  }
}

}  // namespace bloodgrid::db
