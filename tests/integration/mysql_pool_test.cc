// The pool, the transaction guard and the retry helper against the real MariaDB.
#include "common/mysql_pool.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/sql_error.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::db {
namespace {

using ::bloodgrid::testing::TestSchema;

absl::Time Soon() { return absl::Now() + absl::Seconds(30); }

int64_t ConnectionId(Connection& conn) {
  std::unique_ptr<sql::ResultSet> rs(conn.Prepare("SELECT CONNECTION_ID()").executeQuery());
  rs->next();
  return rs->getInt64(1);
}

class PoolTest : public ::testing::Test {
 protected:
  PoolTest() : schema_("pool") {
    schema_.Exec("CREATE TABLE counters (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB");
    schema_.Exec("INSERT INTO counters VALUES (1, 0), (2, 0)");
  }
  TestSchema schema_;
};

TEST(SqlErrorTest, MapsErrorNumbersToStatusCodes) {
  struct Case {
    int code;
    absl::StatusCode expected;
  };
  const Case cases[] = {
      {1062, absl::StatusCode::kAlreadyExists}, {1452, absl::StatusCode::kFailedPrecondition},
      {1213, absl::StatusCode::kAborted},       {1205, absl::StatusCode::kAborted},
      {2006, absl::StatusCode::kUnavailable},   {2013, absl::StatusCode::kUnavailable},
      {2003, absl::StatusCode::kUnavailable},   {1969, absl::StatusCode::kDeadlineExceeded},
      {1064, absl::StatusCode::kInternal},      {1146, absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    absl::Status status = StatusFromSqlError(c.code, "HY000", "secret row data", "do thing");
    EXPECT_EQ(status.code(), c.expected) << c.code;
    // The server's text never reaches the message.
    EXPECT_EQ(status.message().find("secret"), absl::string_view::npos) << status;
    EXPECT_NE(status.message().find("do thing"), absl::string_view::npos) << status;
  }
}

TEST_F(PoolTest, LeasesAreReusedAndCounted) {
  auto pool = ConnectionPool::Create(schema_.options(2));
  int64_t first_id = 0;
  {
    absl::StatusOr<Lease> lease = pool->Acquire(Soon());
    ASSERT_TRUE(lease.ok()) << lease.status();
    first_id = ConnectionId(**lease);
    (*lease)->Commit();
    EXPECT_EQ(pool->GetStats().leased, 1);
  }
  EXPECT_EQ(pool->GetStats().leased, 0);
  EXPECT_EQ(pool->GetStats().open, 1);
  absl::StatusOr<Lease> again = pool->Acquire(Soon());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ConnectionId(**again), first_id) << "an idle connection is reused";
  (*again)->Commit();
  EXPECT_EQ(pool->GetStats().connects, 1);
}

TEST_F(PoolTest, PingAnswersWhileEveryPooledConnectionIsLeased) {
  auto pool = ConnectionPool::Create(schema_.options(2));
  absl::StatusOr<Lease> a = pool->Acquire(Soon());
  absl::StatusOr<Lease> b = pool->Acquire(Soon());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(pool->Acquire(absl::Now() + absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kUnavailable)
      << "the pool is exhausted";
  // The probe has a connection of its own: a busy pool is not a database that is down.
  EXPECT_TRUE(pool->Ping(Soon()).ok());
  EXPECT_TRUE(pool->Ping(Soon()).ok()) << "the probe's connection is reused";
  EXPECT_EQ(pool->GetStats().open, 2) << "the probe's connection is not one of the pool's";
  EXPECT_EQ(pool->GetStats().leased, 2);
  (*a)->Commit();
  (*b)->Commit();
}

TEST_F(PoolTest, ExhaustedPoolTimesOutWithUnavailable) {
  DbOptions options = schema_.options(2);
  options.acquire_timeout = absl::Milliseconds(200);
  auto pool = ConnectionPool::Create(options);
  absl::StatusOr<Lease> a = pool->Acquire(Soon());
  absl::StatusOr<Lease> b = pool->Acquire(Soon());
  ASSERT_TRUE(a.ok() && b.ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<Lease> c = pool->Acquire(Soon());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
  EXPECT_NE(c.status().message().find("exhausted"), absl::string_view::npos);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150)) << "it waited for a connection";
  EXPECT_EQ(pool->GetStats().acquire_timeouts, 1);
  EXPECT_EQ(pool->GetStats().open, 2) << "never more than pool_size connections";
  // A waiter gets the connection as soon as one is returned.
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    absl::StatusOr<Lease> d = pool->Acquire(absl::Now() + absl::Seconds(5));
    got = d.ok();
  });
  absl::SleepFor(absl::Milliseconds(50));
  { Lease release = *std::move(a); }
  waiter.join();
  EXPECT_TRUE(got);
}

TEST_F(PoolTest, CallerDeadlineBoundsTheWait) {
  DbOptions options = schema_.options(1);
  options.acquire_timeout = absl::Seconds(10);
  auto pool = ConnectionPool::Create(options);
  absl::StatusOr<Lease> a = pool->Acquire(Soon());
  ASSERT_TRUE(a.ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<Lease> b = pool->Acquire(absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(PoolServerGoneTest, UnreachableServerIsUnavailableNeverInternal) {
  DbOptions options = testing::AdminDbOptions();
  options.port = 1;  // nothing listens there
  options.connect_timeout = absl::Seconds(1);
  auto pool = ConnectionPool::Create(options);
  absl::StatusOr<Lease> lease = pool->Acquire(Soon());
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable) << lease.status();
  EXPECT_EQ(pool->Ping(Soon()).code(), absl::StatusCode::kUnavailable);
  bool ran = false;
  absl::Status status = RunTransaction(*pool, "record thing", Soon(), [&](Connection&) {
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_FALSE(ran);
  EXPECT_EQ(pool->GetStats().open, 0) << "failed connects give their slot back";
}

TEST_F(PoolTest, RunTransactionCommitsOnOkAndRollsBackOnError) {
  auto pool = ConnectionPool::Create(schema_.options(2));
  ASSERT_TRUE(RunTransaction(*pool, "bump", Soon(), [](Connection& conn) {
                conn.Prepare("UPDATE counters SET n = n + 1 WHERE id = 1").executeUpdate();
                return absl::OkStatus();
              }).ok());
  absl::Status refused = RunTransaction(*pool, "bump then refuse", Soon(), [](Connection& conn) {
    conn.Prepare("UPDATE counters SET n = n + 100 WHERE id = 1").executeUpdate();
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 1"), 1);
}

TEST_F(PoolTest, TransactionGuardRollsBackUnlessCommitted) {
  auto pool = ConnectionPool::Create(schema_.options(2));
  absl::StatusOr<Lease> lease = pool->Acquire(Soon());
  ASSERT_TRUE(lease.ok());
  {
    Transaction txn(**lease);
    (*lease)->Prepare("UPDATE counters SET n = 7 WHERE id = 2").executeUpdate();
  }
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 2"), 0);
  {
    Transaction txn(**lease);
    (*lease)->Prepare("UPDATE counters SET n = 8 WHERE id = 2").executeUpdate();
    txn.Commit();
  }
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 2"), 8);
}

TEST_F(PoolTest, SqlErrorsInsideTheBodyAreMapped) {
  auto pool = ConnectionPool::Create(schema_.options(2));
  absl::Status dup = RunTransaction(*pool, "insert counter", Soon(), [](Connection& conn) {
    conn.Prepare("INSERT INTO counters VALUES (1, 5)").executeUpdate();
    return absl::OkStatus();
  });
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  absl::Status bad = RunTransaction(*pool, "query missing table", Soon(), [](Connection& conn) {
    conn.Prepare("SELECT * FROM no_such_table").executeQuery();
    return absl::OkStatus();
  });
  EXPECT_EQ(bad.code(), absl::StatusCode::kInternal) << bad;
  EXPECT_EQ(bad.message().find("no_such_table"), absl::string_view::npos) << bad;
}

TEST_F(PoolTest, DeadlockVictimIsRetriedAndBothCommit) {
  auto pool = ConnectionPool::Create(schema_.options(4));
  absl::Notification a_locked, b_locked;
  std::atomic<int> attempts{0};
  // Each body locks one row, waits until the other holds its row, then takes the other row:
  // InnoDB kills one of them with 1213. Only the first attempt waits, so the retry completes.
  auto body = [&](int first, int second, absl::Notification& mine, absl::Notification& theirs,
                  std::atomic<int>& my_attempts) {
    return [&, first, second](Connection& conn) -> absl::Status {
      ++attempts;
      const bool first_try = my_attempts.fetch_add(1) == 0;
      sql::PreparedStatement& lock = conn.Prepare("SELECT n FROM counters WHERE id = ? FOR UPDATE");
      lock.setInt(1, first);
      std::unique_ptr<sql::ResultSet>(lock.executeQuery());
      if (first_try) {
        mine.Notify();
        theirs.WaitForNotificationWithTimeout(absl::Seconds(10));
      }
      sql::PreparedStatement& bump = conn.Prepare("UPDATE counters SET n = n + 1 WHERE id = ?");
      bump.setInt(1, second);
      bump.executeUpdate();
      bump.setInt(1, first);
      bump.executeUpdate();
      return absl::OkStatus();
    };
  };
  std::atomic<int> a_attempts{0}, b_attempts{0};
  absl::Status a_status, b_status;
  std::thread a([&] {
    a_status = RunTransaction(*pool, "a", Soon(), body(1, 2, a_locked, b_locked, a_attempts));
  });
  std::thread b([&] {
    b_status = RunTransaction(*pool, "b", Soon(), body(2, 1, b_locked, a_locked, b_attempts));
  });
  a.join();
  b.join();
  EXPECT_TRUE(a_status.ok()) << a_status;
  EXPECT_TRUE(b_status.ok()) << b_status;
  EXPECT_EQ(attempts.load(), 3) << "exactly one deadlock victim, retried once";
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 1"), 2);
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 2"), 2);
}

TEST_F(PoolTest, LockWaitTimeoutEndsAbortedAfterBoundedRetries) {
  DbOptions options = schema_.options(3);
  options.lock_wait_timeout = absl::Seconds(1);
  options.max_transaction_attempts = 2;
  auto pool = ConnectionPool::Create(options);
  absl::StatusOr<Lease> holder = pool->Acquire(Soon());
  ASSERT_TRUE(holder.ok());
  std::unique_ptr<sql::ResultSet>(
      (*holder)->Prepare("SELECT n FROM counters WHERE id = 1 FOR UPDATE").executeQuery());
  int runs = 0;
  absl::Status status = RunTransaction(*pool, "bump locked row", Soon(), [&](Connection& conn) {
    ++runs;
    conn.Prepare("UPDATE counters SET n = n + 1 WHERE id = 1").executeUpdate();
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_EQ(runs, 2);
  (*holder)->Rollback();
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 1"), 0);
}

TEST_F(PoolTest, ConnectionKilledMidTransactionIsRetriedOnAFreshConnection) {
  auto pool = ConnectionPool::Create(schema_.options(2));
  int runs = 0;
  absl::Status status = RunTransaction(*pool, "bump", Soon(), [&](Connection& conn) {
    ++runs;
    conn.Prepare("UPDATE counters SET n = n + 1 WHERE id = 2").executeUpdate();
    if (runs == 1) {
      // The server drops this connection mid-transaction, as a restart would.
      schema_.Exec(absl::StrCat("KILL CONNECTION ", ConnectionId(conn)));
      conn.Prepare("UPDATE counters SET n = n + 1 WHERE id = 2").executeUpdate();
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 2"), 1)
      << "the killed attempt rolled back; only the retry counted";
}

TEST_F(PoolTest, ManyThreadsNeverExceedThePoolSize) {
  DbOptions options = schema_.options(3);
  options.acquire_timeout = absl::Seconds(20);
  auto pool = ConnectionPool::Create(options);
  std::atomic<int> max_leased{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        absl::Status s = RunTransaction(*pool, "bump", Soon(), [&](Connection& conn) {
          int leased = pool->GetStats().leased;
          int prev = max_leased.load();
          while (leased > prev && !max_leased.compare_exchange_weak(prev, leased)) {
          }
          conn.Prepare("UPDATE counters SET n = n + 1 WHERE id = 1").executeUpdate();
          return absl::OkStatus();
        });
        EXPECT_TRUE(s.ok()) << s;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_leased.load(), 3);
  EXPECT_LE(pool->GetStats().open, 3);
  EXPECT_EQ(schema_.QueryInt("SELECT n FROM counters WHERE id = 1"), 240);
}

}  // namespace
}  // namespace bloodgrid::db
