#include "tests/integration/test_db.h"

#include <cppconn/connection.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace bloodgrid::testing {
namespace {

std::string RequiredEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    std::fprintf(stderr,
                 "%s is not set: integration tests need the MariaDB that scripts/test starts.\n"
                 "Run them with scripts/test (e.g. scripts/test -L integration).\n",
                 name);
    std::exit(2);
  }
  return value;
}

}  // namespace

db::DbOptions AdminDbOptions() {
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
  absl::Status status = db::RunTransaction(*pool, "drop test schema", absl::Now() + absl::Seconds(30),
                                           [&](db::Connection& conn) {
                                             conn.Execute(absl::StrCat("DROP DATABASE IF EXISTS `", name_, "`"));
                                             return absl::OkStatus();
                                           });
  if (!status.ok()) std::fprintf(stderr, "dropping %s: %s\n", name_.c_str(), status.ToString().c_str());
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
