// request_id idempotency against the real MariaDB: replay, conflicting reuse, concurrent
// duplicates (exactly one change), and a failed first attempt that leaves nothing behind.
#include "common/idempotency.h"

#include <cppconn/prepared_statement.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "bloodgrid/v1/common.pb.h"
#include "common/mysql_pool.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::db {
namespace {

using ::bloodgrid::testing::TestSchema;

class IdempotencyTest : public ::testing::Test {
 protected:
  IdempotencyTest() : schema_("idem") {
    schema_.Exec(
        "CREATE TABLE idempotency_keys (scope VARCHAR(64) NOT NULL, request_id VARCHAR(128) NOT "
        "NULL, request_hash CHAR(16) NOT NULL, response MEDIUMBLOB NULL, created_at "
        "TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (scope, request_id))");
    schema_.Exec("CREATE TABLE effects (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(32))");
    pool_ = ConnectionPool::Create(schema_.options(16));
  }

  // A mutating "RPC": inserts one effect row and answers with its id, idempotently.
  absl::StatusOr<v1::PageCursor> DoOnce(const std::string& request_id, const std::string& note,
                                        bool fail_after_change = false) {
    v1::BloodType request;  // any message serves as the request for the fingerprint
    request.set_abo(note == "A" ? v1::ABO_GROUP_A : v1::ABO_GROUP_B);
    IdempotencyKey key{"TestOp", request_id, RequestFingerprint(request)};
    v1::PageCursor response;
    absl::Status status = RunTransaction(
        *pool_, "test op", absl::Now() + absl::Seconds(30), [&](Connection& conn) -> absl::Status {
          response.Clear();
          absl::StatusOr<bool> replayed = ClaimOrReplay(conn, key, &response);
          if (!replayed.ok()) return replayed.status();
          if (*replayed) return absl::OkStatus();
          sql::PreparedStatement& insert = conn.Prepare("INSERT INTO effects (note) VALUES (?)");
          insert.setString(1, note);
          insert.executeUpdate();
          ++executions_;
          if (fail_after_change) return absl::FailedPreconditionError("refused");
          response.set_after_key(++counter_);
          response.set_after_id(request_id);
          CompleteIdempotent(conn, key, response);
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
    return response;
  }

  TestSchema schema_;
  std::unique_ptr<ConnectionPool> pool_;
  std::atomic<int> executions_{0};
  std::atomic<int> counter_{0};
};

TEST(RequestIdTest, Validation) {
  EXPECT_TRUE(ValidateRequestId("order-2026-11-22-0001").ok());
  EXPECT_TRUE(ValidateRequestId("7f0c2a1e-4b1d-4c33-9e0b-1a2b3c4d5e6f").ok());
  EXPECT_EQ(ValidateRequestId("a/b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRequestId("x' OR 1=1").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRequestId("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRequestId(std::string(129, 'x')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRequestId("has space").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRequestId("bad\xff").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRequestId("").message(), "request_id: is required");
}

TEST_F(IdempotencyTest, RetryReplaysTheFirstResultAndChangesNothingMore) {
  absl::StatusOr<v1::PageCursor> first = DoOnce("r1", "A");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<v1::PageCursor> again = DoOnce("r1", "A");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->after_key(), first->after_key());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 1);
  EXPECT_EQ(executions_.load(), 1);
}

TEST_F(IdempotencyTest, ReusingARequestIdForAnotherRequestIsRefused) {
  ASSERT_TRUE(DoOnce("r2", "A").ok());
  absl::StatusOr<v1::PageCursor> other = DoOnce("r2", "B");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument) << other.status();
  EXPECT_NE(other.status().message().find("request_id"), absl::string_view::npos);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 1);
}

TEST_F(IdempotencyTest, AFailedAttemptRecordsNothingSoTheRetryRuns) {
  EXPECT_EQ(DoOnce("r3", "A", /*fail_after_change=*/true).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 0);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM idempotency_keys"), 0);
  ASSERT_TRUE(DoOnce("r3", "A").ok());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), 1);
}

TEST_F(IdempotencyTest, ConcurrentDuplicatesChangeExactlyOnce) {
  constexpr int kRounds = 10;
  constexpr int kClients = 8;
  for (int round = 0; round < kRounds; ++round) {
    const std::string request_id = "race-" + std::to_string(round);
    std::vector<int64_t> answers(kClients, -1);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        absl::StatusOr<v1::PageCursor> r = DoOnce(request_id, "A");
        EXPECT_TRUE(r.ok()) << r.status();
        if (r.ok()) answers[c] = r->after_key();
      });
    }
    for (auto& t : clients) t.join();
    for (int c = 1; c < kClients; ++c) EXPECT_EQ(answers[c], answers[0]) << "round " << round;
  }
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM effects"), kRounds);
  EXPECT_EQ(executions_.load(), kRounds);
}

}  // namespace
}  // namespace bloodgrid::db
