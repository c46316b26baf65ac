// JobLease against the real MariaDB: one holder at a time under racing replicas, expiry hands
// the lease over, renewal keeps it, release frees it; and the PeriodicTask gate built on it.
#include "common/job_lease.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/periodic_task.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::db {
namespace {

using ::bloodgrid::testing::TestSchema;

// The table as the services' migrations create it (inventory 004, donor 002, request 002).
constexpr char kJobLeases[] =
    "CREATE TABLE job_leases (job VARCHAR(64) NOT NULL, holder VARCHAR(128) NOT NULL, "
    "acquired_us BIGINT NOT NULL, expires_us BIGINT NOT NULL, PRIMARY KEY (job)) "
    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

absl::Time Soon() { return absl::Now() + absl::Seconds(30); }
const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

class JobLeaseTest : public ::testing::Test {
 protected:
  JobLeaseTest() : schema_("lease") {
    schema_.Exec(kJobLeases);
    pool_ = ConnectionPool::Create(schema_.options(8));
  }
  TestSchema schema_;
  std::unique_ptr<ConnectionPool> pool_;
};

TEST(LeaseHolderIdTest, IsUniqueAndFitsTheColumn) {
  const std::string a = NewLeaseHolderId();
  const std::string b = NewLeaseHolderId();
  EXPECT_NE(a, b);
  EXPECT_LE(a.size(), 128u);
  EXPECT_NE(a.find(absl::StrCat(":", getpid(), ":")), std::string::npos) << a;
}

TEST_F(JobLeaseTest, AMissingRowIsTakenAndRenewalKeepsIt) {
  JobLease a(pool_.get(), "sweep", "a", absl::Seconds(10));
  JobLease b(pool_.get(), "sweep", "b", absl::Seconds(10));
  absl::StatusOr<bool> first = a.AcquireOrRenew(kT0, Soon());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  EXPECT_TRUE(a.StillHeld(kT0 + absl::Seconds(9)));
  EXPECT_FALSE(a.StillHeld(kT0 + absl::Seconds(10)));
  EXPECT_EQ(schema_.QueryString("SELECT holder FROM job_leases WHERE job = 'sweep'"), "a");
  // b is refused while a's lease runs; a renews it, which pushes the expiry on.
  EXPECT_FALSE(*b.AcquireOrRenew(kT0 + absl::Seconds(5), Soon()));
  EXPECT_TRUE(*a.AcquireOrRenew(kT0 + absl::Seconds(8), Soon()));
  EXPECT_FALSE(*b.AcquireOrRenew(kT0 + absl::Seconds(12), Soon()))
      << "the renewal at +8 s runs to +18 s";
  EXPECT_EQ(schema_.QueryInt("SELECT acquired_us FROM job_leases WHERE job = 'sweep'"),
            absl::ToUnixMicros(kT0))
      << "a renewal keeps the acquisition time";
  EXPECT_EQ(schema_.QueryInt("SELECT expires_us FROM job_leases WHERE job = 'sweep'"),
            absl::ToUnixMicros(kT0 + absl::Seconds(18)));
}

TEST_F(JobLeaseTest, ExpiryHandsTheLeaseOver) {
  JobLease a(pool_.get(), "sweep", "a", absl::Seconds(10));
  JobLease b(pool_.get(), "sweep", "b", absl::Seconds(10));
  ASSERT_TRUE(*a.AcquireOrRenew(kT0, Soon()));
  EXPECT_TRUE(*b.AcquireOrRenew(kT0 + absl::Seconds(10), Soon())) << "expired at +10 s";
  EXPECT_EQ(schema_.QueryString("SELECT holder FROM job_leases WHERE job = 'sweep'"), "b");
  // a comes back: it is refused, and knows it lost the lease.
  EXPECT_FALSE(*a.AcquireOrRenew(kT0 + absl::Seconds(11), Soon()));
  EXPECT_FALSE(a.StillHeld(kT0 + absl::Seconds(11)));
}

TEST_F(JobLeaseTest, ReleaseFreesItForAnotherHolderButNotSomeoneElsesLease) {
  JobLease a(pool_.get(), "sweep", "a", absl::Hours(1));
  JobLease b(pool_.get(), "sweep", "b", absl::Hours(1));
  ASSERT_TRUE(*a.AcquireOrRenew(absl::Now(), Soon()));
  ASSERT_TRUE(a.StillHeld(absl::Now()));
  ASSERT_TRUE(b.Release(Soon()).ok()) << "b does not hold it: nothing happens";
  EXPECT_FALSE(*b.AcquireOrRenew(absl::Now(), Soon()));
  ASSERT_TRUE(a.Release(Soon()).ok());
  EXPECT_FALSE(a.StillHeld(absl::Now()));
  EXPECT_TRUE(*b.AcquireOrRenew(absl::Now(), Soon()));
}

TEST_F(JobLeaseTest, LeasesOfDifferentJobsAreIndependent) {
  JobLease a(pool_.get(), "sweep", "a", absl::Hours(1));
  JobLease b(pool_.get(), "reconcile", "b", absl::Hours(1));
  EXPECT_TRUE(*a.AcquireOrRenew(kT0, Soon()));
  EXPECT_TRUE(*b.AcquireOrRenew(kT0, Soon()));
}

TEST_F(JobLeaseTest, RacingHoldersNeverBothHoldIt) {
  // Eight replicas race for the lease at the same instants, for a missing row first and then
  // for every expiry: each round exactly one wins.
  constexpr int kHolders = 8;
  constexpr int kRounds = 15;
  std::vector<std::unique_ptr<JobLease>> leases;
  for (int i = 0; i < kHolders; ++i) {
    leases.push_back(
        std::make_unique<JobLease>(pool_.get(), "race", absl::StrCat("h", i), absl::Seconds(10)));
  }
  for (int round = 0; round < kRounds; ++round) {
    const absl::Time now = kT0 + absl::Seconds(10 * round);
    std::atomic<int> winners{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kHolders; ++i) {
      threads.emplace_back([&, i] {
        absl::StatusOr<bool> held = leases[i]->AcquireOrRenew(now, Soon());
        if (!held.ok()) {
          ++errors;
        } else if (*held) {
          ++winners;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0) << "round " << round;
    // Every round starts at an expiry, so the previous winner may renew or anyone may take it:
    // exactly one of them does.
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

TEST_F(JobLeaseTest, GatedTasksOfTwoReplicasRunOneAtATime) {
  JobLeases replica_a(pool_.get(), "replica-a");
  JobLeases replica_b(pool_.get(), "replica-b");
  absl::Mutex mu;
  int running = 0;
  int overlaps = 0;
  std::atomic<int> runs_a{0};
  std::atomic<int> runs_b{0};
  auto pass = [&](std::atomic<int>* runs) {
    return [&, runs] {
      {
        absl::MutexLock lock(&mu);
        if (++running > 1) ++overlaps;
      }
      absl::SleepFor(absl::Milliseconds(2));
      ++*runs;
      absl::MutexLock lock(&mu);
      --running;
      return absl::OkStatus();
    };
  };
  PeriodicTask a(
      {.name = "job_a", .interval = absl::Milliseconds(5), .gate = replica_a.Gate("job")},
      pass(&runs_a));
  PeriodicTask b(
      {.name = "job_b", .interval = absl::Milliseconds(5), .gate = replica_b.Gate("job")},
      pass(&runs_b));
  a.Start();
  b.Start();
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (runs_a + runs_b < 20 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_GE(runs_a + runs_b, 20);
  EXPECT_TRUE(runs_a == 0 || runs_b == 0)
      << "both replicas ran the job: " << runs_a << " and " << runs_b;
  // The holder stops and releases: the other takes over at its next pass.
  PeriodicTask& holder = runs_a > 0 ? a : b;
  PeriodicTask& other = runs_a > 0 ? b : a;
  std::atomic<int>& other_runs = runs_a > 0 ? runs_b : runs_a;
  holder.Stop();
  (runs_a > 0 ? replica_a : replica_b).ReleaseAll();
  const absl::Time give_up_again = absl::Now() + absl::Seconds(20);
  while (other_runs < 3 && absl::Now() < give_up_again) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_GE(other_runs.load(), 3) << "the other replica never took over";
  other.Stop();
  EXPECT_EQ(overlaps, 0);
}

TEST_F(JobLeaseTest, TheHeartbeatKeepsAHeldLeaseAliveAndReleaseAllHandsItOver) {
  JobLeases a(pool_.get(), "replica-a", absl::Milliseconds(600));
  JobLeases b(pool_.get(), "replica-b", absl::Milliseconds(600));
  std::function<bool()> gate_a = a.Gate("job");
  std::function<bool()> gate_b = b.Gate("job");
  ASSERT_TRUE(gate_a());
  // Without a pass of a's task for several TTLs, the heartbeat keeps the lease a's.
  const absl::Time until = absl::Now() + absl::Milliseconds(1800);
  while (absl::Now() < until) {
    EXPECT_FALSE(gate_b()) << "b took a lease a keeps renewing";
    absl::SleepFor(absl::Milliseconds(50));
  }
  a.ReleaseAll();
  EXPECT_TRUE(gate_b()) << "released: b takes it at once";
}

}  // namespace
}  // namespace bloodgrid::db
