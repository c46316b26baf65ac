// The WatchStock broadcaster with in-memory readers: delivery in order with gap-free sequence
// numbers, station filtering, coalescing of a slow watcher's level changes, alerts never
// coalesced, overflow ending the watcher, snapshot first, and shutdown.
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inventory_service/stock_watch.h"

namespace bloodgrid::inventory {
namespace {

LevelKey Key(const std::string& station) {
  return LevelKey{station, v1::COMPONENT_RED_CELLS, v1::ABO_GROUP_O, v1::RH_D_NEGATIVE};
}

// A stock that tests set by hand; the hub reads it as it would read the database.
class FakeStock {
 public:
  void Set(const std::string& station, int available, int64_t par_minimum = 0) {
    absl::MutexLock lock(&mu_);
    v1::StockLevel& level = levels_[Key(station)];
    level.set_station_id(station);
    level.set_component(v1::COMPONENT_RED_CELLS);
    level.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
    level.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
    level.mutable_available()->set_units(available);
    level.mutable_available()->set_quantity(available);
    level.set_par_minimum(par_minimum);
    level.set_below_par(available < par_minimum);
  }
  absl::StatusOr<std::vector<v1::StockLevel>> Read(const std::set<LevelKey>& keys) {
    absl::MutexLock lock(&mu_);
    std::vector<v1::StockLevel> out;
    for (const LevelKey& key : keys) out.push_back(levels_[key]);
    return out;
  }
  absl::StatusOr<std::vector<v1::StockLevel>> Snapshot(const std::string& station) {
    absl::MutexLock lock(&mu_);
    std::vector<v1::StockLevel> out;
    for (const auto& [key, level] : levels_) {
      if (station.empty() || key.station_id == station) out.push_back(level);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::map<LevelKey, v1::StockLevel> levels_;
};

class StockWatchHubTest : public ::testing::Test {
 protected:
  explicit StockWatchHubTest(size_t max_queue = 1024)
      : clock_(absl::FromUnixSeconds(1750000000)),
        hub_([this](const std::set<LevelKey>& keys) { return stock_.Read(keys); },
             [this](const std::string& station) { return stock_.Snapshot(station); }, &clock_,
             max_queue) {}

  void Change(const std::string& station, int available, int64_t par_minimum = 0) {
    stock_.Set(station, available, par_minimum);
    StockChanges changes;
    changes.keys.insert(Key(station));
    hub_.Publish(changes);
  }

  static std::vector<v1::StockEvent> Drain(StockWatcher& watcher) {
    std::vector<v1::StockEvent> events;
    v1::StockEvent event;
    absl::Status end;
    while (watcher.Next(absl::ZeroDuration(), &event, &end) == StockWatcher::Wait::kEvent) {
      events.push_back(event);
    }
    return events;
  }

  FakeStock stock_;
  FakeClock clock_;
  StockWatchHub hub_;
};

TEST_F(StockWatchHubTest, SnapshotThenCommittedChangesOfTheWatchedStation) {
  stock_.Set("S1", 5, 3);
  stock_.Set("S2", 9);
  std::shared_ptr<StockWatcher> watcher = hub_.Subscribe("S1", /*include_snapshot=*/true);
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  Change("S1", 2, 3);  // below par
  Change("S2", 1);     // another station: not for this watcher
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  const std::vector<v1::StockEvent> events = Drain(*watcher);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0].snapshot());
  EXPECT_EQ(events[0].level().available().units(), 5);
  EXPECT_FALSE(events[1].snapshot());
  EXPECT_EQ(events[1].level().available().units(), 2);
  EXPECT_EQ(events[2].alert().kind(), v1::STOCK_ALERT_KIND_BELOW_PAR);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence(), i + 1);
}

TEST_F(StockWatchHubTest, ASlowWatcherGetsOnlyTheLatestLevelButEveryAlert) {
  std::shared_ptr<StockWatcher> watcher = hub_.Subscribe(std::nullopt, false);
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  for (int available = 10; available >= 4; --available) {
    Change("S1", available, 5);
    ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));  // each change is read and delivered on its own
  }
  StockChanges expired;
  v1::StockAlert alert;
  alert.set_kind(v1::STOCK_ALERT_KIND_UNITS_EXPIRED);
  alert.set_station_id("S1");
  alert.add_unit_ids("U1");
  expired.alerts.push_back(alert);
  hub_.Publish(expired);
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  const std::vector<v1::StockEvent> events = Drain(*watcher);
  // Seven level changes for one row while the watcher did not read: one level (the latest,
  // in the place of the first), then the alerts in order.
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].level().available().units(), 4);
  EXPECT_EQ(events[1].alert().kind(), v1::STOCK_ALERT_KIND_BELOW_PAR);
  EXPECT_EQ(events[2].alert().kind(), v1::STOCK_ALERT_KIND_UNITS_EXPIRED);
  EXPECT_EQ(events[2].sequence(), 3u);
}

class SmallQueueStockWatchHubTest : public StockWatchHubTest {
 protected:
  SmallQueueStockWatchHubTest() : StockWatchHubTest(/*max_queue=*/4) {}
};

TEST_F(SmallQueueStockWatchHubTest, AWatcherTooFarBehindEndsWithResourceExhausted) {
  std::shared_ptr<StockWatcher> slow = hub_.Subscribe(std::nullopt, false);
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  for (int i = 0; i < 6; ++i) Change(absl::StrCat("S", i), 1);
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  v1::StockEvent event;
  absl::Status end;
  EXPECT_EQ(slow->Next(absl::ZeroDuration(), &event, &end), StockWatcher::Wait::kEnded);
  EXPECT_EQ(end.code(), absl::StatusCode::kResourceExhausted);
  // Publishing never blocked, and a new watcher is served normally.
  std::shared_ptr<StockWatcher> fresh = hub_.Subscribe(std::nullopt, false);
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  Change("S1", 2);
  ASSERT_TRUE(hub_.Flush(absl::Seconds(5)));
  EXPECT_EQ(Drain(*fresh).size(), 1u);
}

TEST_F(StockWatchHubTest, ShutdownEndsEveryWatcherWithUnavailable) {
  std::shared_ptr<StockWatcher> watcher = hub_.Subscribe("S1", false);
  hub_.Shutdown();
  v1::StockEvent event;
  absl::Status end;
  EXPECT_EQ(watcher->Next(absl::Seconds(1), &event, &end), StockWatcher::Wait::kEnded);
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable);
  std::shared_ptr<StockWatcher> late = hub_.Subscribe("S1", false);
  EXPECT_EQ(late->Next(absl::ZeroDuration(), &event, &end), StockWatcher::Wait::kEnded);
  hub_.Publish(StockChanges{});  // harmless after shutdown
}

// A watcher the hub thread has taken up (here: while it reads the snapshot) but not yet made
// a regular one is in neither of the hub's lists when Shutdown runs; it still ends UNAVAILABLE.
TEST(StockWatchHubShutdownTest, AWatcherJoiningDuringShutdownEndsWithUnavailable) {
  FakeStock stock;
  absl::Notification reading_snapshot;
  absl::Notification finish_snapshot;
  StockWatchHub hub([&](const std::set<LevelKey>& keys) { return stock.Read(keys); },
                    [&](const std::string& station) {
                      reading_snapshot.Notify();
                      finish_snapshot.WaitForNotification();
                      return stock.Snapshot(station);
                    },
                    Clock::Real());
  std::shared_ptr<StockWatcher> watcher = hub.Subscribe(std::nullopt, /*include_snapshot=*/true);
  ASSERT_TRUE(reading_snapshot.WaitForNotificationWithTimeout(absl::Seconds(5)));
  std::thread shutdown([&] { hub.Shutdown(); });
  // Flush returns once Shutdown has stopped the hub (nothing is delivered meanwhile: the hub
  // thread is held in the snapshot read); a new watcher is then turned away.
  EXPECT_FALSE(hub.Flush(absl::Seconds(5)));
  v1::StockEvent event;
  absl::Status end;
  EXPECT_EQ(hub.Subscribe(std::nullopt, false)->Next(absl::ZeroDuration(), &event, &end),
            StockWatcher::Wait::kEnded);
  finish_snapshot.Notify();
  shutdown.join();
  end = absl::OkStatus();
  EXPECT_EQ(watcher->Next(absl::ZeroDuration(), &event, &end), StockWatcher::Wait::kEnded);
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable);
}

// Writes arriving faster than the read interval are gathered: far fewer reads than changes,
// and the watcher still ends with every station's latest level.
TEST(StockWatchHubPacingTest, ChangesDuringTheReadIntervalShareOneRead) {
  FakeStock stock;
  absl::Mutex mu;
  int reads = 0;
  StockWatchHub hub(
      [&](const std::set<LevelKey>& keys) {
        {
          absl::MutexLock lock(&mu);
          ++reads;
        }
        return stock.Read(keys);
      },
      [&](const std::string& station) { return stock.Snapshot(station); }, Clock::Real(), 1024,
      absl::Milliseconds(300));
  std::shared_ptr<StockWatcher> watcher = hub.Subscribe(std::nullopt, false);
  ASSERT_TRUE(hub.Flush(absl::Seconds(5)));
  // 40 changes over ~0.4 s: unpaced, nearly every one would be a read of its own.
  const absl::Time start = absl::Now();
  for (int i = 0; i < 40; ++i) {
    const std::string station = absl::StrCat("S", i % 4);
    stock.Set(station, i);
    StockChanges changes;
    changes.keys.insert(Key(station));
    hub.Publish(changes);
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration publishing = absl::Now() - start;
  ASSERT_TRUE(hub.Flush(absl::Seconds(5)));
  {
    absl::MutexLock lock(&mu);
    EXPECT_GE(reads, 1);
    // Reads at least 0.3 s apart: one at the start, one per interval, one for the tail.
    EXPECT_LE(reads, 2 + publishing / absl::Milliseconds(300)) << "40 changes over " << publishing;
  }
  std::map<std::string, int> latest;
  v1::StockEvent event;
  absl::Status end;
  while (watcher->Next(absl::ZeroDuration(), &event, &end) == StockWatcher::Wait::kEvent) {
    latest[event.level().station_id()] = event.level().available().units();
  }
  EXPECT_EQ(latest, (std::map<std::string, int>{{"S0", 36}, {"S1", 37}, {"S2", 38}, {"S3", 39}}));
}

}  // namespace
}  // namespace bloodgrid::inventory
