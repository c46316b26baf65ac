// Access to a real MariaDB for the integration tests: the one scripts/test starts, which it
// exports as BLOODGRID_TEST_DB_{HOST,PORT,USER,PASSWORD} (an account with every privilege), or,
// when none of these is set, a private server that the test binary starts on first use and stops
// at exit (tests/support/test_mariadb.h), so `ctest -R Name` or a test binary run alone works.
// Each test makes a schema of its own with TestSchema and drops it afterwards, so tests never
// share data.
#ifndef BLOODGRID_TESTS_INTEGRATION_TEST_DB_H_
#define BLOODGRID_TESTS_INTEGRATION_TEST_DB_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "common/mysql_pool.h"

namespace bloodgrid::testing {

// The admin account's settings, no schema. The first call without BLOODGRID_TEST_DB_* starts
// the private server (a second or two); make it from the test's own thread, which the server
// must not outlive (tests/support/test_mariadb.h SpawnProcess). Exits the test binary with a clear
// message when only some of the variables are set or the private server cannot start.
db::DbOptions AdminDbOptions();

// A uniquely named schema, created on construction and dropped on destruction.
class TestSchema {
 public:
  explicit TestSchema(absl::string_view prefix);
  ~TestSchema();
  TestSchema(const TestSchema&) = delete;
  TestSchema& operator=(const TestSchema&) = delete;

  const std::string& name() const { return name_; }
  // Admin settings with this schema as the default.
  db::DbOptions options(int pool_size = 4) const;

  // Runs statements / a scalar query on this schema as admin (test set-up and assertions).
  void Exec(const std::string& sql);
  int64_t QueryInt(const std::string& sql);
  std::string QueryString(const std::string& sql);

 private:
  std::string name_;
  std::unique_ptr<db::ConnectionPool> admin_;
};

}  // namespace bloodgrid::testing

#endif  // BLOODGRID_TESTS_INTEGRATION_TEST_DB_H_
