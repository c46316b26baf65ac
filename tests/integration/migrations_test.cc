// The migration runner against the real MariaDB: fresh, re-run, incremental, concurrent start,
// newer schema refused, edited migration refused, failure reporting; and the file loading.
#include "common/migrations.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/mysql_pool.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::db {
namespace {

using ::bloodgrid::testing::TestSchema;

std::vector<Migration> ThreeMigrations() {
  return {
      {1, "create_donors", "CREATE TABLE donors (id BIGINT PRIMARY KEY, name VARCHAR(64));"},
      {2, "create_units",
       "-- units; note the ';' inside this comment and the string below\n"
       "CREATE TABLE units (din CHAR(13) PRIMARY KEY, note VARCHAR(32) DEFAULT 'a;b');\n"
       "CREATE INDEX units_note ON units (note);"},
      {3, "seed", "INSERT INTO donors VALUES (1, 'seed; donor'); /* done */"},
  };
}

std::string LockName(const TestSchema& schema) { return absl::StrCat("migrate_", schema.name()); }

TEST(SplitSqlStatementsTest, SplitsOutsideQuotesAndComments) {
  std::vector<std::string> statements = SplitSqlStatements(
      "CREATE TABLE a (x INT); -- one; two\n"
      "INSERT INTO a VALUES (1) /* ; */; INSERT INTO b VALUES ('x;y', \"q;\", `c;d`);\n"
      "# hash comment;\n;;  ");
  ASSERT_EQ(statements.size(), 3u);
  EXPECT_EQ(statements[0], "CREATE TABLE a (x INT)");
  EXPECT_EQ(statements[1], "INSERT INTO a VALUES (1)");
  EXPECT_EQ(statements[2], "INSERT INTO b VALUES ('x;y', \"q;\", `c;d`)");
}

TEST(MigrationFilesTest, NamesAndDirectories) {
  EXPECT_EQ(MigrationFromFile("001_init.sql", "x")->version, 1);
  EXPECT_EQ(MigrationFromFile("012_add_index.sql", "x")->name, "add_index");
  for (const char* bad :
       {"init.sql", "001init.sql", "_x.sql", "001_.sql", "001_x.txt", "000_x.sql"}) {
    EXPECT_EQ(MigrationFromFile(bad, "x").status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(LoadMigrationsFromDir("/nonexistent/migrations").status().code(),
            absl::StatusCode::kNotFound);

  const auto dir = std::filesystem::temp_directory_path() / absl::StrCat("mig", getpid());
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const char* text) { std::ofstream(dir / name) << text; };
  write("002_b.sql", "CREATE TABLE b (x INT);");
  write("001_a.sql", "CREATE TABLE a (x INT);");
  write("README.md", "not a migration");
  absl::StatusOr<std::vector<Migration>> loaded = LoadMigrationsFromDir(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].name, "a");
  write("004_gap.sql", "CREATE TABLE d (x INT);");
  EXPECT_EQ(LoadMigrationsFromDir(dir.string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(MigrationsTest, FreshThenRerunThenIncremental) {
  TestSchema schema("mig_fresh");
  auto pool = ConnectionPool::Create(schema.options());
  std::vector<Migration> first_two = ThreeMigrations();
  first_two.pop_back();
  absl::StatusOr<MigrationReport> report = ApplyMigrations(*pool, LockName(schema), first_two);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->version_before, 0);
  EXPECT_EQ(report->version_after, 2);
  EXPECT_EQ(report->applied, (std::vector<int>{1, 2}));
  EXPECT_EQ(schema.QueryInt("SELECT COUNT(*) FROM schema_migrations"), 2);
  EXPECT_EQ(schema.QueryString("SELECT note FROM units LIMIT 1"), "");  // table exists, empty

  report = ApplyMigrations(*pool, LockName(schema), first_two);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->applied.empty());
  EXPECT_EQ(report->version_after, 2);

  report = ApplyMigrations(*pool, LockName(schema), ThreeMigrations());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->applied, (std::vector<int>{3}));
  EXPECT_EQ(schema.QueryString("SELECT name FROM donors WHERE id = 1"), "seed; donor");
  EXPECT_EQ(*CurrentSchemaVersion(*pool), 3);
}

TEST(MigrationsTest, ConcurrentStartsApplyEachMigrationOnce) {
  TestSchema schema("mig_race");
  constexpr int kReplicas = 4;
  std::atomic<int> applied_total{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    replicas.emplace_back([&] {
      auto pool = ConnectionPool::Create(schema.options(1));
      absl::StatusOr<MigrationReport> report =
          ApplyMigrations(*pool, LockName(schema), ThreeMigrations());
      if (!report.ok()) {
        ++failures;
        ADD_FAILURE() << report.status();
        return;
      }
      applied_total += static_cast<int>(report->applied.size());
      EXPECT_EQ(report->version_after, 3);
    });
  }
  for (auto& t : replicas) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(applied_total.load(), 3) << "every migration applied by exactly one replica";
  EXPECT_EQ(schema.QueryInt("SELECT COUNT(*) FROM schema_migrations"), 3);
  EXPECT_EQ(schema.QueryInt("SELECT COUNT(*) FROM donors"), 1) << "the seed ran once";
}

TEST(MigrationsTest, RefusesASchemaNewerThanTheBinary) {
  TestSchema schema("mig_newer");
  auto pool = ConnectionPool::Create(schema.options());
  ASSERT_TRUE(ApplyMigrations(*pool, LockName(schema), ThreeMigrations()).ok());
  std::vector<Migration> older = ThreeMigrations();
  older.resize(2);
  absl::StatusOr<MigrationReport> report = ApplyMigrations(*pool, LockName(schema), older);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(report.status().message().find("version 3"), absl::string_view::npos)
      << report.status();
  // The lock was released: a binary that knows version 3 still starts.
  EXPECT_TRUE(ApplyMigrations(*pool, LockName(schema), ThreeMigrations()).ok());
}

TEST(MigrationsTest, RefusesAnEditedAppliedMigration) {
  TestSchema schema("mig_edit");
  auto pool = ConnectionPool::Create(schema.options());
  ASSERT_TRUE(ApplyMigrations(*pool, LockName(schema), ThreeMigrations()).ok());
  std::vector<Migration> edited = ThreeMigrations();
  edited[0].sql = "CREATE TABLE donors (id BIGINT PRIMARY KEY, name VARCHAR(99));";
  absl::StatusOr<MigrationReport> report = ApplyMigrations(*pool, LockName(schema), edited);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(report.status().message().find("create_donors"), absl::string_view::npos);
}

TEST(MigrationsTest, AFailingMigrationIsNamedAndNotRecorded) {
  TestSchema schema("mig_fail");
  auto pool = ConnectionPool::Create(schema.options());
  std::vector<Migration> migrations = ThreeMigrations();
  migrations[1].sql = "CREATE TABLE units (din CHAR(13) PRIMARY KEY); CREATE TABLEX broken;";
  absl::StatusOr<MigrationReport> report = ApplyMigrations(*pool, LockName(schema), migrations);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("version 2"), absl::string_view::npos)
      << report.status();
  EXPECT_EQ(schema.QueryInt("SELECT MAX(version) FROM schema_migrations"), 1);
}

TEST(MigrationsTest, RejectsInvalidMigrationListsBeforeTouchingTheDatabase) {
  TestSchema schema("mig_invalid");
  auto pool = ConnectionPool::Create(schema.options());
  std::vector<Migration> gap = {{1, "a", "CREATE TABLE a (x INT)"},
                                {3, "c", "CREATE TABLE c (x INT)"}};
  EXPECT_EQ(ApplyMigrations(*pool, LockName(schema), gap).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Migration> empty = {{1, "a", "-- nothing\n"}};
  EXPECT_EQ(ApplyMigrations(*pool, LockName(schema), empty).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(schema.QueryInt("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                            "DATABASE()"),
            0);
}

}  // namespace
}  // namespace bloodgrid::db
