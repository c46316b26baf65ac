// The request store contract suite (tests/request/request_store_contract.h) on
// MysqlRequestStore over MariaDB: a schema of its own per test, migrated as the service does.
#include "request_service/mysql_request_store.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/migrations.h"
#include "common/mysql_pool.h"
#include "gtest/gtest.h"
#include "tests/integration/test_db.h"
#include "tests/request/request_store_contract.h"

namespace bloodgrid::request {
namespace {

class MysqlBackend : public RequestStoreBackend {
 public:
  MysqlBackend() : schema_("req_store") {
    pool_ = db::ConnectionPool::Create(schema_.options());
    absl::StatusOr<db::MigrationReport> migrated =
        db::ApplyMigrations(*pool_, absl::StrCat("migrate_", schema_.name()), RequestMigrations());
    EXPECT_TRUE(migrated.ok()) << migrated.status();
    store_ = std::make_unique<MysqlRequestStore>(pool_.get());
  }

  RequestStore& store() override { return *store_; }

  // order_id comes from the suite's own literals.
  std::vector<std::string> Events(const std::string& order_id) override {
    const std::string joined = schema_.QueryString(absl::StrCat(
        "SELECT COALESCE(GROUP_CONCAT(CONCAT(kind, ' ', from_status, '->', to_status, ' ', actor) "
        "ORDER BY event_id SEPARATOR '|'), '') FROM order_events WHERE order_id = '",
        order_id, "'"));
    if (joined.empty()) return {};
    return absl::StrSplit(joined, '|');
  }

 private:
  testing::TestSchema schema_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<MysqlRequestStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Mysql, RequestStoreContractTest, ::testing::Values(RequestStoreFactory([] {
                           return std::make_unique<MysqlBackend>();
                         })),
                         [](const auto&) { return std::string("mysql"); });

}  // namespace
}  // namespace bloodgrid::request
