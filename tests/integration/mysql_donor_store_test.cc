// The DonorStore contract suite on MysqlDonorStore: a migrated schema of its own per test on the
// real MariaDB (TestSchema); the audit events are read back from audit_log.
#include "donor_service/mysql_donor_store.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/migrations.h"
#include "common/mysql_pool.h"
#include "tests/integration/test_db.h"
#include "tests/support/donor_store_contract.h"

namespace bloodgrid::donor::testing {
namespace {

class MysqlHarness : public DonorStoreHarness {
 public:
  MysqlHarness() : schema_("donor_store") {
    pool_ = db::ConnectionPool::Create(schema_.options(4));
    absl::StatusOr<db::MigrationReport> migrated =
        db::ApplyMigrations(*pool_, absl::StrCat("migrate_", schema_.name()), DonorMigrations());
    EXPECT_TRUE(migrated.ok()) << migrated.status();
    store_ = std::make_unique<MysqlDonorStore>(pool_.get());
  }

  DonorStore& store() override { return *store_; }

  std::vector<StoreEvent> Events() override {
    // One row per line, fields separated by a unit separator (no field holds either).
    const std::string rows = schema_.QueryString(
        "SELECT COALESCE(GROUP_CONCAT(CONCAT_WS(CHAR(31), actor, request_id, action,"
        " COALESCE(donor_id, ''), entity, entity_id, detail) ORDER BY audit_id SEPARATOR '\\n'),"
        " '') FROM audit_log");
    std::vector<StoreEvent> events;
    for (absl::string_view row : absl::StrSplit(rows, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(row, '\x1f');
      f.resize(7);
      events.push_back(StoreEvent{f[0], f[1], f[2], f[3], f[4], f[5], f[6]});
    }
    return events;
  }

 private:
  ::bloodgrid::testing::TestSchema schema_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<MysqlDonorStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Mysql, DonorStoreContractTest,
                         ::testing::Values(DonorStoreBackend{
                             "mysql", [] { return std::make_unique<MysqlHarness>(); }}),
                         DonorStoreBackendName);

}  // namespace
}  // namespace bloodgrid::donor::testing
