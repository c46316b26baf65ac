// The inventory schema's upgrades against the real MariaDB: a request_id recorded under the
// scope format of schema version 1 ("<rpc>/<actor>", "<rpc>/#<hash>") still replays once
// 002_one_idempotency_scope_format has run, so a client retry that spans the upgrade changes
// nothing.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "common/idempotency.h"
#include "common/migrations.h"
#include "common/mysql_pool.h"
#include "common/page_token.h"
#include "inventory_service/inventory_operations.h"
#include "inventory_service/mysql_inventory_store.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::inventory {
namespace {

using ::bloodgrid::testing::TestSchema;

// The scope schema version 1 stored for (rpc, actor).
std::string VersionOneScope(absl::string_view rpc, absl::string_view actor) {
  std::string scope = absl::StrCat(rpc, "/", actor);
  if (scope.size() <= 64) return scope;
  return absl::StrCat(rpc, "/#", absl::StrFormat("%016x", FilterHash({actor})));
}

v1::UpsertStationRequest StationRequest(const std::string& request_id) {
  v1::UpsertStationRequest request;
  request.set_request_id(request_id);
  v1::Station* station = request.mutable_station();
  station->set_station_id("CENTRAL");
  station->set_name("Central blood station");
  station->set_kind(v1::STATION_KIND_CENTRAL);
  station->set_active(true);
  return request;
}

// Records, as schema version 1 did, that `actor` already made `request`, answered by `answer`.
void RecordVersionOneKey(TestSchema& schema, const std::string& actor,
                         const v1::UpsertStationRequest& request, const v1::Station& answer) {
  schema.Exec(absl::StrCat(
      "INSERT INTO idempotency_keys (scope, request_id, request_hash, response) VALUES ('",
      VersionOneScope("UpsertStation", actor), "', '", request.request_id(), "', '",
      db::RequestFingerprint(request), "', X'", absl::BytesToHexString(answer.SerializeAsString()),
      "')"));
}

TEST(InventoryMigrationTest, VersionOneIdempotencyKeysReplayAfterTheUpgrade) {
  TestSchema schema("inv_mig");
  std::unique_ptr<db::ConnectionPool> pool = db::ConnectionPool::Create(schema.options());
  const std::vector<db::Migration>& migrations = InventoryMigrations();
  ASSERT_GE(migrations.size(), 2u);
  ASSERT_EQ(migrations[1].name, "one_idempotency_scope_format");
  const std::string lock = absl::StrCat("migrate_", schema.name());

  absl::StatusOr<db::MigrationReport> first = db::ApplyMigrations(*pool, lock, {migrations[0]});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->version_after, 1);

  // One actor whose scope fits the column, one so long that its scope was fingerprinted.
  const std::string actor = "admin:tester";
  const std::string long_actor = absl::StrCat("hospital:", std::string(70, 'h'));
  ASSERT_TRUE(IsValidActor(long_actor));
  ASSERT_GT(absl::StrCat("UpsertStation|", long_actor).size(), 64u);
  const v1::UpsertStationRequest request = StationRequest("upgrade-retry-1");
  const v1::UpsertStationRequest long_request = StationRequest("upgrade-retry-2");
  v1::Station answer = request.station();
  answer.set_name("Answered before the upgrade");
  v1::Station long_answer = request.station();
  long_answer.set_name("Answered before the upgrade, long actor");
  RecordVersionOneKey(schema, actor, request, answer);
  RecordVersionOneKey(schema, long_actor, long_request, long_answer);

  absl::StatusOr<db::MigrationReport> upgrade = db::ApplyMigrations(*pool, lock, migrations);
  ASSERT_TRUE(upgrade.ok()) << upgrade.status();
  EXPECT_EQ(upgrade->version_before, 1);
  std::vector<int> later_versions;  // 2 and every migration after it
  for (size_t i = 1; i < migrations.size(); ++i) later_versions.push_back(migrations[i].version);
  ASSERT_FALSE(later_versions.empty());
  EXPECT_EQ(later_versions.front(), 2);
  EXPECT_EQ(upgrade->applied, later_versions);
  EXPECT_EQ(
      schema.QueryString("SELECT scope FROM idempotency_keys WHERE request_id = 'upgrade-retry-1'"),
      "UpsertStation|admin:tester");
  EXPECT_EQ(
      schema.QueryString("SELECT scope FROM idempotency_keys WHERE request_id = 'upgrade-retry-2'"),
      db::IdempotencyScope("UpsertStation", long_actor));

  // The retries replay the first answers and change nothing.
  MysqlInventoryStore store(pool.get());
  const v1::PolicyProfile policy;
  FakeClock clock(absl::FromCivil(absl::CivilMinute(2025, 6, 1, 8, 0), absl::UTCTimeZone()));
  InventoryOperations operations(&store, &policy, &clock, nullptr, {});
  CallContext call;
  call.actor = actor;
  call.now = clock.Now();
  absl::StatusOr<v1::Station> replayed = operations.UpsertStation(call, request);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->name(), "Answered before the upgrade");
  call.actor = long_actor;
  replayed = operations.UpsertStation(call, long_request);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->name(), "Answered before the upgrade, long actor");
  EXPECT_EQ(schema.QueryInt("SELECT COUNT(*) FROM stations"), 0);
  EXPECT_EQ(schema.QueryInt("SELECT COUNT(*) FROM idempotency_keys"), 2);
}

}  // namespace
}  // namespace bloodgrid::inventory
