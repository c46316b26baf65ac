#include "tests/integration/test_db.h"

#include <cppconn/connection.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/test_mariadb.h"

namespace bloodgrid::testing {
namespace {

constexpr const char* kDbVariables[] = {"BLOODGRID_TEST_DB_HOST", "BLOODGRID_TEST_DB_PORT",
                                        "BLOODGRID_TEST_DB_USER", "BLOODGRID_TEST_DB_PASSWORD"};

bool IsSet(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

std::string RequiredEnv(const char* name) {
  if (!IsSet(name)) {
    std::fprintf(stderr,
                 "%s is not set but other BLOODGRID_TEST_DB_* variables are: set all four (as "
                 "scripts/test does) or none (the test starts a MariaDB of its own).\n",
                 name);
    std::exit(2);
  }
  return std::getenv(name);
}

// The MariaDB this test binary started because it was given none. Its data directory goes with
// it; its logs stay only when it failed to start.
class PrivateServer {
 public:
  PrivateServer() {
    char dir[] = "/tmp/bloodgrid-test-db-logs-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::perror("mkdtemp for the private MariaDB's logs");
      std::exit(2);
    }
    log_dir_ = dir;
    std::fprintf(stderr, "BLOODGRID_TEST_DB_* not set: starting a private MariaDB (logs in %s)\n",
                 dir);
    const bool failed_before = ::testing::Test::HasFatalFailure();
    server_ = std::make_unique<TestMariaDb>(log_dir_);
    if (!server_->running() || (!failed_before && ::testing::Test::HasFatalFailure())) {
      server_.reset();
      std::fprintf(stderr, "the private MariaDB did not start; see above and %s\n", dir);
      std::exit(2);
    }
  }
  ~PrivateServer() {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(log_dir_, ignored);
  }
  PrivateServer(const PrivateServer&) = delete;
  PrivateServer& operator=(const PrivateServer&) = delete;

  db::DbOptions AdminOptions() const { return server_->AdminOptions(); }

 private:
  std::string log_dir_;
  std::unique_ptr<TestMariaDb> server_;
};

}  // namespace

db::DbOptions AdminDbOptions() {
  bool any_set = false;
  for (const char* name : kDbVariables) any_set = any_set || IsSet(name);
  if (!any_set) {
    static PrivateServer server;  // stopped by the static destructors at exit
    return server.AdminOptions();
  }
  db::DbOptions options;
  options.host = RequiredEnv("BLOODGRID_TEST_DB_HOST");
  if (!absl::SimpleAtoi(RequiredEnv("BLOODGRID_TEST_DB_PORT"), &options.port)) {
    std::fprintf(stderr, "BLOODGRID_TEST_DB_PORT is not a number\n");
    std::exit(2);
  }
  options.user = RequiredEnv("BLOODGRID_TEST_DB_USER");
  options.password = RequiredEnv("BLOODGRID_TEST_DB_PASSWORD");
  return options;
}

TestSchema::TestSchema(absl::string_view prefix) {
  std::random_device rd;
  name_ = absl::StrCat("t_", prefix, "_", rd() % 1000000000);
  db::DbOptions admin = AdminDbOptions();
  admin.pool_size = 2;
  admin_ = db::ConnectionPool::Create(admin);
  absl::Status status = db::RunTransaction(
      *admin_, "create test schema", absl::Now() + absl::Seconds(30), [&](db::Connection& conn) {
        conn.Execute(absl::StrCat("CREATE DATABASE `", name_,
                                  "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"));
        return absl::OkStatus();
      });
  if (!status.ok()) {
    std::fprintf(stderr, "creating %s: %s\n", name_.c_str(), status.ToString().c_str());
    std::exit(2);
  }
}

TestSchema::~TestSchema() {
  // A fresh pool so a test that broke the admin connections still cleans up.
  admin_.reset();
  db::DbOptions admin = AdminDbOptions();
  auto pool = db::ConnectionPool::Create(admin);
  absl::Status status = db::RunTransaction(
      *pool, "drop test schema", absl::Now() + absl::Seconds(30), [&](db::Connection& conn) {
        conn.Execute(absl::StrCat("DROP DATABASE IF EXISTS `", name_, "`"));
        return absl::OkStatus();
      });
  if (!status.ok())
    std::fprintf(stderr, "dropping %s: %s\n", name_.c_str(), status.ToString().c_str());
}

db::DbOptions TestSchema::options(int pool_size) const {
  db::DbOptions options = AdminDbOptions();
  options.schema = name_;
  options.pool_size = pool_size;
  return options;
}

void TestSchema::Exec(const std::string& sql) {
  absl::Status status = db::RunTransaction(*admin_, "test exec", absl::Now() + absl::Seconds(30),
                                           [&](db::Connection& conn) {
                                             conn.raw().setSchema(name_);
                                             conn.Execute(sql);
                                             return absl::OkStatus();
                                           });
  ASSERT_TRUE(status.ok()) << sql << ": " << status;
}

std::string TestSchema::QueryString(const std::string& sql) {
  std::string result;
  absl::Status status = db::RunTransaction(
      *admin_, "test query", absl::Now() + absl::Seconds(30), [&](db::Connection& conn) {
        conn.raw().setSchema(name_);
        std::unique_ptr<sql::Statement> stmt(conn.raw().createStatement());
        std::unique_ptr<sql::ResultSet> rs(stmt->executeQuery(sql));
        if (rs->next() && !rs->isNull(1)) result = rs->getString(1);
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << sql << ": " << status;
  return result;
}

int64_t TestSchema::QueryInt(const std::string& sql) {
  int64_t value = 0;
  std::string text = QueryString(sql);
  if (!text.empty()) {
    EXPECT_TRUE(absl::SimpleAtoi(text, &value)) << sql << " -> " << text;
  }
  return value;
}

}  // namespace bloodgrid::testing
