// PeriodicTask: passes run, Trigger() runs one soon, failures keep the task going, Stop()
// waits and nothing runs after it, a non-positive interval never starts.
#include "common/periodic_task.h"

#include <atomic>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace bloodgrid {
namespace {

// Polls `done` until it holds or 10 s pass (no fixed sleeps).
template <typename Predicate>
bool Eventually(Predicate done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return done();
}

TEST(PeriodicTaskTest, RunsPassesEveryInterval) {
  std::atomic<int> runs{0};
  PeriodicTask task({.name = "test_task", .interval = absl::Milliseconds(5)}, [&] {
    ++runs;
    return absl::OkStatus();
  });
  task.Start();
  EXPECT_TRUE(task.running());
  EXPECT_TRUE(Eventually([&] { return task.passes() >= 3; }));
  task.Stop();
  EXPECT_FALSE(task.running());
  const int after_stop = runs.load();
  EXPECT_EQ(after_stop, task.passes());
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_EQ(runs.load(), after_stop) << "a pass ran after Stop()";
}

TEST(PeriodicTaskTest, TriggerRunsAPassLongBeforeTheInterval) {
  std::atomic<int> runs{0};
  PeriodicTask task({.name = "test_task", .interval = absl::Hours(1)}, [&] {
    ++runs;
    return absl::OkStatus();
  });
  task.Start();
  EXPECT_EQ(runs.load(), 0);
  task.Trigger();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 1; }));
  task.Trigger();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 2; }));
}

TEST(PeriodicTaskTest, RunAtStartRunsTheFirstPassAtOnce) {
  std::atomic<int> runs{0};
  PeriodicTask task({.name = "test_task", .interval = absl::Hours(1), .run_at_start = true}, [&] {
    ++runs;
    return absl::OkStatus();
  });
  task.Start();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 1; }));
}

TEST(PeriodicTaskTest, AFailedPassDoesNotStopTheTask) {
  std::atomic<int> runs{0};
  PeriodicTask task({.name = "test_task", .interval = absl::Milliseconds(2)}, [&] {
    ++runs;
    return absl::UnavailableError("database down");
  });
  task.Start();
  EXPECT_TRUE(Eventually([&] { return runs.load() >= 3; }));
}

TEST(PeriodicTaskTest, NonPositiveIntervalNeverStarts) {
  std::atomic<int> runs{0};
  PeriodicTask task({.name = "test_task", .interval = absl::ZeroDuration()}, [&] {
    ++runs;
    return absl::OkStatus();
  });
  task.Start();
  task.Trigger();
  EXPECT_FALSE(task.running());
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
}

TEST(PeriodicTaskTest, StopWaitsForThePassUnderWay) {
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> finished{false};
  PeriodicTask task({.name = "test_task", .interval = absl::Hours(1), .run_at_start = true}, [&] {
    entered.Notify();
    release.WaitForNotification();
    finished = true;
    return absl::OkStatus();
  });
  task.Start();
  entered.WaitForNotification();
  std::thread stopper([&] { task.Stop(); });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(finished.load());
  release.Notify();
  stopper.join();
  EXPECT_TRUE(finished.load()) << "Stop() returned before the pass ended";
  EXPECT_EQ(task.passes(), 1);
}

TEST(PeriodicTaskTest, AClosedGateSkipsPassesAndAnOpenOneRunsThem) {
  std::atomic<bool> open{false};
  std::atomic<int> runs{0};
  PeriodicTask task(
      {.name = "test_task", .interval = absl::Milliseconds(5), .gate = [&] { return open.load(); }},
      [&] {
        ++runs;
        return absl::OkStatus();
      });
  task.Start();
  EXPECT_TRUE(Eventually([&] { return task.skipped_passes() >= 3; }));
  EXPECT_EQ(runs.load(), 0) << "a pass ran while the gate was closed";
  EXPECT_EQ(task.passes(), 0);
  open = true;
  EXPECT_TRUE(Eventually([&] { return task.passes() >= 2; }));
  task.Stop();
  EXPECT_EQ(runs.load(), task.passes());
}

TEST(PeriodicTaskTest, TheGateIsAskedBeforeEveryTriggeredPass) {
  std::atomic<int> asked{0};
  std::atomic<int> runs{0};
  PeriodicTask task({.name = "test_task",
                     .interval = absl::Hours(1),
                     .gate =
                         [&] {
                           ++asked;
                           return false;
                         }},
                    [&] {
                      ++runs;
                      return absl::OkStatus();
                    });
  task.Start();
  task.Trigger();
  EXPECT_TRUE(Eventually([&] { return task.skipped_passes() == 1; }));
  EXPECT_EQ(asked.load(), 1);
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
}  // namespace bloodgrid
