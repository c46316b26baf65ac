// Access to the real MariaDB that scripts/test starts for the integration tests. It exports
// BLOODGRID_TEST_DB_{HOST,PORT,USER,PASSWORD} (an account with every privilege); each test makes
// a schema of its own with TestSchema and drops it afterwards, so tests never share data.
#ifndef BLOODGRID_TESTS_INTEGRATION_TEST_DB_H_
#define BLOODGRID_TESTS_INTEGRATION_TEST_DB_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "common/mysql_pool.h"

namespace bloodgrid::testing {

// The admin account's settings, no schema. Exits the test binary with a clear message when the
// variables are missing (run the tests through scripts/test).
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
