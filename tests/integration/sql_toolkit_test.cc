// The SQL toolkit against the real MariaDB: every binder and reader round-trips its value and
// its NULL, ForEachRow counts and frees the connection, RunIdempotent replays a completed key,
// rolls back a failed body, and runs a concurrent duplicate exactly once.
#include "common/sql_toolkit.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "bloodgrid/v1/common.pb.h"
#include "tests/integration/test_db.h"
#include "tests/support/status_matchers.h"

namespace bloodgrid::db {
namespace {

using ::bloodgrid::testing::IsOk;
using ::bloodgrid::testing::StatusIs;
using ::bloodgrid::testing::TestSchema;

absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }

class SqlToolkitTest : public ::testing::Test {
 protected:
  SqlToolkitTest() : schema_("sqlkit") {
    schema_.Exec(
        "CREATE TABLE idempotency_keys (scope VARCHAR(64) NOT NULL, request_id VARCHAR(128) NOT "
        "NULL, request_hash CHAR(16) NOT NULL, response MEDIUMBLOB NULL, created_at "
        "TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (scope, request_id))");
    schema_.Exec(
        "CREATE TABLE vals (id INT PRIMARY KEY, s VARCHAR(32) NULL, i BIGINT NULL, b TINYINT(1) "
        "NULL, d DOUBLE NULL, t_us BIGINT NULL, blob_col MEDIUMBLOB NULL)");
    schema_.Exec("CREATE TABLE effects (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(32))");
    pool_ = ConnectionPool::Create(schema_.options(8));
  }

  TestSchema schema_;
  std::unique_ptr<ConnectionPool> pool_;
};

TEST_F(SqlToolkitTest, ValuesAndNullsRoundTrip) {
  const absl::Time t = absl::FromUnixMicros(1'700'000'000'123'456);
  const std::string bytes("a\0b\xff", 4);
  ASSERT_THAT(
      RunTransaction(*pool_, "insert", Deadline(),
                     [&](Connection& conn) {
                       sql::PreparedStatement& insert =
                           conn.Prepare("INSERT INTO vals VALUES (?, ?, ?, ?, ?, ?, ?)");
                       std::istringstream blob(bytes);
                       Params p(insert);
                       p.Int(1).Str("O+").Int(-42).Bool(true).Double(2.5).Time(t).Blob(&blob);
                       EXPECT_EQ(p.count(), 7u);
                       insert.executeUpdate();
                       Params(insert)
                           .Int(2)
                           .OptStr(std::nullopt)
                           .OptInt(std::nullopt)
                           .Null()
                           .OptDouble(std::nullopt)
                           .OptTime(std::nullopt)
                           .Null();
                       insert.executeUpdate();
                       Params(insert)
                           .Int(3)
                           .StrOrNull("")
                           .OptInt(7)
                           .Bool(false)
                           .OptDouble(0.25)
                           .OptTime(absl::UnixEpoch())
                           .Null();
                       insert.executeUpdate();
                       return absl::OkStatus();
                     }),
      IsOk());
  struct Row {
    std::string s;
    std::optional<std::string> opt_s;
    int64_t i;
    std::optional<int64_t> opt_i;
    bool b;
    double d;
    std::optional<double> opt_d;
    absl::Time t;
    std::optional<absl::Time> opt_t;
    std::string blob;
  };
  std::vector<Row> rows;
  ASSERT_THAT(
      RunTransaction(
          *pool_, "read", Deadline(),
          [&](Connection& conn) {
            int64_t n = ForEachRow(
                conn.Prepare("SELECT * FROM vals ORDER BY id"), [&](const sql::ResultSet& rs) {
                  rows.push_back({Str(rs, 2), OptStr(rs, 2), I64(rs, 3), OptI64(rs, 3), Bool(rs, 4),
                                  Double(rs, 5), OptDouble(rs, 5), Time(rs, 6), OptTime(rs, 6),
                                  BlobBytes(rs, 7)});
                });
            EXPECT_EQ(n, 3);
            // The result set is closed: the connection takes the next statement at once.
            EXPECT_EQ(ForEachRow(conn.Prepare("SELECT 1"), [](const sql::ResultSet&) {}), 1);
            return absl::OkStatus();
          }),
      IsOk());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].s, "O+");
  EXPECT_EQ(rows[0].opt_s, "O+");
  EXPECT_EQ(rows[0].i, -42);
  EXPECT_EQ(rows[0].opt_i, -42);
  EXPECT_TRUE(rows[0].b);
  EXPECT_EQ(rows[0].d, 2.5);
  EXPECT_EQ(rows[0].opt_d, 2.5);
  EXPECT_EQ(rows[0].t, t);
  EXPECT_EQ(rows[0].opt_t, t);
  EXPECT_EQ(rows[0].blob, bytes);
  // Row 2: everything NULL.
  EXPECT_EQ(rows[1].s, "");
  EXPECT_EQ(rows[1].opt_s, std::nullopt);
  EXPECT_EQ(rows[1].i, 0);
  EXPECT_EQ(rows[1].opt_i, std::nullopt);
  EXPECT_FALSE(rows[1].b);
  EXPECT_EQ(rows[1].opt_d, std::nullopt);
  EXPECT_EQ(rows[1].opt_t, std::nullopt);
  EXPECT_EQ(rows[1].blob, "");
  // Row 3: "" bound as NULL; zero values are values, not NULLs.
  EXPECT_EQ(rows[2].opt_s, std::nullopt);
  EXPECT_EQ(rows[2].opt_i, 7);
  EXPECT_FALSE(rows[2].b);
  EXPECT_EQ(rows[2].opt_d, 0.25);
  EXPECT_EQ(rows[2].opt_t, absl::UnixEpoch());
}

class RunIdempotentTest : public SqlToolkitTest {
 protected:
  // Inserts one effect and answers with the number of effects, idempotent on `request_id`.
  absl::StatusOr<v1::PageCursor> Effect(const std::string& request_id, bool fail = false,
                                        bool* replayed = nullptr) {
    v1::BloodType request;
    request.set_abo(v1::ABO_GROUP_A);
    const IdempotencyKey key{IdempotencyScope("Effect", "test:t"), request_id,
                             RequestFingerprint(request)};
    return RunIdempotent<v1::PageCursor>(
        *pool_, "effect", Deadline(), &key,
        [&](Connection& conn, v1::PageCursor& response) -> absl::Status {
          conn.Prepare("INSERT INTO effects (note) VALUES ('x')").executeUpdate();
          ++executions_;
          if (fail) return absl::FailedPreconditionError("refused");
          response.set_after_key(++counter_);
          response.set_after_id(request_id);
          return absl::OkStatus();
        },
        replayed);
  }

  std::atomic<int> executions_{0};
  std::atomic<int> counter_{0};
};

TEST_F(RunIdempotentTest, ARepeatReplaysTheFirstAnswerAndChangesNothing) {
  bool replayed = true;
  absl::StatusOr<v1::PageCursor> first = Effect("r-1", false, &replayed);
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(replayed);
  absl::StatusOr<v1::PageCursor> again = Effect("r-1", false, &replayed);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(replayed);
  EXPECT_EQ(again->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 1);
  EXPECT_EQ(executions_.load(), 1);
}

TEST_F(RunIdempotentTest, AFailedBodyLeavesNothingAndARetryRuns) {
  EXPECT_THAT(Effect("r-2", /*fail=*/true), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 0);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM idempotency_keys"), 0);
  ASSERT_THAT(Effect("r-2"), IsOk());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 1);
}

TEST_F(RunIdempotentTest, ConcurrentDuplicatesChangeOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      if (Effect("r-3").ok()) ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 1);
}

TEST_F(RunIdempotentTest, WithoutAKeyItIsAPlainTransaction) {
  for (int i = 0; i < 2; ++i) {
    ASSERT_THAT(RunIdempotent<v1::PageCursor>(
                    *pool_, "plain", Deadline(), nullptr,
                    [&](Connection& conn, v1::PageCursor&) -> absl::Status {
                      conn.Prepare("INSERT INTO effects (note) VALUES ('y')").executeUpdate();
                      return absl::OkStatus();
                    }),
                IsOk());
  }
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 2);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM idempotency_keys"), 0);
}

}  // namespace
}  // namespace bloodgrid::db
