// Retention sweeps against the real MariaDB: old request_id keys go, recent ones stay and still
// replay; the change feed loses its old events but never its newest; batches are bounded and a
// sweep stops when told to.
#include "common/retention_sweep.h"

#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/idempotency.h"
#include "common/sql_toolkit.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::db {
namespace {

using ::bloodgrid::testing::TestSchema;

// The tables as the inventory's migrations create them (001, 003, 004).
constexpr char kIdempotencyKeys[] =
    "CREATE TABLE idempotency_keys (scope VARCHAR(64) NOT NULL, request_id VARCHAR(128) NOT NULL,"
    " request_hash CHAR(16) NOT NULL, response MEDIUMBLOB NULL,"
    " created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
    " PRIMARY KEY (scope, request_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
constexpr char kChangeFeed[] =
    "CREATE TABLE change_feed (sequence BIGINT UNSIGNED NOT NULL, kind VARCHAR(32) NOT NULL,"
    " din VARCHAR(16) NULL, actor VARCHAR(128) NOT NULL, committed_us BIGINT NOT NULL,"
    " payload MEDIUMBLOB NOT NULL, PRIMARY KEY (sequence), KEY change_feed_by_time (committed_us))"
    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
constexpr char kJobLeases[] =
    "CREATE TABLE job_leases (job VARCHAR(64) NOT NULL, holder VARCHAR(128) NOT NULL, "
    "acquired_us BIGINT NOT NULL, expires_us BIGINT NOT NULL, PRIMARY KEY (job)) "
    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

absl::Time Soon() { return absl::Now() + absl::Seconds(30); }

class RetentionTest : public ::testing::Test {
 protected:
  RetentionTest() : schema_("retention") {
    schema_.Exec(kIdempotencyKeys);
    schema_.Exec(kChangeFeed);
    schema_.Exec(kJobLeases);
    pool_ = ConnectionPool::Create(schema_.options(4));
  }

  // A key `age_days` old (created_at on the database's clock).
  void AddKey(const std::string& scope, const std::string& request_id, int age_days) {
    schema_.Exec(absl::StrCat(
        "INSERT INTO idempotency_keys (scope, request_id, request_hash, response, created_at) "
        "VALUES ('",
        scope, "', '", request_id, "', '0000000000000000', '', NOW(6) - INTERVAL ", age_days,
        " DAY)"));
  }
  void AddEvent(int sequence, absl::Duration age) {
    schema_.Exec(absl::StrCat(
        "INSERT INTO change_feed (sequence, kind, actor, committed_us, payload) VALUES (", sequence,
        ", 'stock', 'test', ", absl::ToUnixMicros(absl::Now() - age), ", '')"));
  }
  int64_t Keys() { return schema_.QueryInt("SELECT COUNT(*) FROM idempotency_keys"); }

  // Runs a keyed call that answers `value` the first time; true when it was replayed.
  bool CallWithKey(const std::string& request_id, const std::string& value, std::string* out) {
    google::protobuf::StringValue request;
    request.set_value(value);
    absl::StatusOr<IdempotencyKey> key = MakeIdempotencyKey("Test", "tester", request_id, request);
    EXPECT_TRUE(key.ok()) << key.status();
    bool replayed = false;
    absl::StatusOr<google::protobuf::StringValue> response =
        RunIdempotent<google::protobuf::StringValue>(
            *pool_, "test call", Soon(), &*key,
            [&](Connection&, google::protobuf::StringValue& r) {
              r.set_value(absl::StrCat("answer to ", value));
              return absl::OkStatus();
            },
            &replayed);
    EXPECT_TRUE(response.ok()) << response.status();
    if (response.ok()) *out = response->value();
    return replayed;
  }

  TestSchema schema_;
  std::unique_ptr<ConnectionPool> pool_;
};

TEST_F(RetentionTest, OldKeysGoAndRecentOnesStayAcrossBatches) {
  for (int i = 0; i < 7; ++i) AddKey("A|x", absl::StrCat("old-", i), 8);
  for (int i = 0; i < 5; ++i) AddKey(i % 2 == 0 ? "A|x" : "B|y", absl::StrCat("new-", i), 6);
  AddKey("B|y", "old-b", 30);
  SweepLimits limits;
  limits.batch_size = 2;  // many batches, old and recent keys mixed in them
  absl::StatusOr<int64_t> deleted =
      SweepIdempotencyKeys(*pool_, absl::Now() - kDefaultIdempotencyRetention, limits);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 8);
  EXPECT_EQ(Keys(), 5);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM idempotency_keys WHERE request_id LIKE 'old%'"),
            0);
  // A second sweep finds nothing more.
  EXPECT_EQ(*SweepIdempotencyKeys(*pool_, absl::Now() - kDefaultIdempotencyRetention, limits), 0);
}

TEST_F(RetentionTest, AReplayWithinRetentionStillReplaysAfterASweep) {
  std::string first;
  ASSERT_FALSE(CallWithKey("req-1", "one", &first));
  AddKey("Test|tester", "req-ancient", 9);
  ASSERT_TRUE(
      SweepIdempotencyKeys(*pool_, absl::Now() - kDefaultIdempotencyRetention, SweepLimits{}).ok());
  std::string again;
  EXPECT_TRUE(CallWithKey("req-1", "one", &again)) << "a day-old key must still replay";
  EXPECT_EQ(again, first);
  EXPECT_EQ(
      schema_.QueryInt("SELECT COUNT(*) FROM idempotency_keys WHERE request_id = 'req-ancient'"),
      0);
}

TEST_F(RetentionTest, TheChangeFeedKeepsRecentEventsAndAlwaysItsNewest) {
  for (int s = 1; s <= 6; ++s) AddEvent(s, absl::Hours(24 * 8));
  for (int s = 7; s <= 9; ++s) AddEvent(s, absl::Hours(1));
  SweepLimits limits;
  limits.batch_size = 4;
  absl::StatusOr<int64_t> deleted =
      SweepChangeFeed(*pool_, absl::Now() - kDefaultChangeFeedRetention, limits);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 6);
  EXPECT_EQ(schema_.QueryInt("SELECT MIN(sequence) FROM change_feed"), 7);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM change_feed"), 3);
}

TEST_F(RetentionTest, AnIdleFeedKeepsItsNewestEventHoweverOld) {
  for (int s = 1; s <= 3; ++s) AddEvent(s, absl::Hours(24 * 30));
  absl::StatusOr<int64_t> deleted =
      SweepChangeFeed(*pool_, absl::Now() - kDefaultChangeFeedRetention, SweepLimits{});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(schema_.QueryInt("SELECT MAX(sequence) FROM change_feed"), 3);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM change_feed"), 1);
  // An empty feed is no error.
  schema_.Exec("DELETE FROM change_feed");
  EXPECT_EQ(*SweepChangeFeed(*pool_, absl::Now(), SweepLimits{}), 0);
}

TEST_F(RetentionTest, ASweepStopsWhenToldBetweenBatches) {
  for (int i = 0; i < 6; ++i) AddKey("A|x", absl::StrCat("old-", i), 8);
  std::atomic<int> asked{0};
  SweepLimits limits;
  limits.batch_size = 2;
  limits.keep_going = [&] { return ++asked <= 1; };
  absl::StatusOr<int64_t> deleted =
      SweepIdempotencyKeys(*pool_, absl::Now() - kDefaultIdempotencyRetention, limits);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2) << "one batch, then the sweep stopped";
  EXPECT_EQ(Keys(), 4);
}

TEST_F(RetentionTest, ABadBatchSizeIsRefusedAndDeletesNothing) {
  AddKey("A|x", "old", 8);
  SweepLimits limits;
  limits.batch_size = 0;
  absl::StatusOr<int64_t> deleted = SweepIdempotencyKeys(*pool_, absl::Now(), limits);
  EXPECT_EQ(deleted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deleted.status().message().find("batch_size"), absl::string_view::npos);
  EXPECT_EQ(SweepChangeFeed(*pool_, absl::Now(), limits).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keys(), 1);
}

TEST_F(RetentionTest, TheSweeperOfOneReplicaSweepsBothTablesUnderItsLease) {
  for (int i = 0; i < 3; ++i) AddKey("A|x", absl::StrCat("old-", i), 8);
  AddKey("A|x", "new", 1);
  for (int s = 1; s <= 4; ++s) AddEvent(s, absl::Hours(24 * 8));
  JobLeases leases(pool_.get(), "replica-a");
  RetentionOptions options;
  options.interval = absl::Milliseconds(20);
  options.change_feed_retention = kDefaultChangeFeedRetention;
  RetentionSweeper sweeper(pool_.get(), &leases, options);
  sweeper.Start();
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (sweeper.task().passes() < 1 && absl::Now() < give_up)
    absl::SleepFor(absl::Milliseconds(5));
  sweeper.Stop();
  EXPECT_GE(sweeper.task().passes(), 1);
  EXPECT_EQ(Keys(), 1);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM change_feed"), 1);
  EXPECT_EQ(schema_.QueryString("SELECT holder FROM job_leases WHERE job = 'retention_sweep'"),
            "replica-a");
  // Another replica's sweeper is gated off while replica-a's lease runs.
  JobLeases other(pool_.get(), "replica-b");
  RetentionSweeper second(pool_.get(), &other, options);
  second.Start();
  const absl::Time give_up_again = absl::Now() + absl::Seconds(20);
  while (second.task().skipped_passes() < 2 && absl::Now() < give_up_again) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  second.Stop();
  EXPECT_GE(second.task().skipped_passes(), 2);
  EXPECT_EQ(second.task().passes(), 0);
}

}  // namespace
}  // namespace bloodgrid::db
