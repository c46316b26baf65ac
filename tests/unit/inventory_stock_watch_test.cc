// WatchStock over an in-memory change feed and stock: what one feed event becomes (levels of
// the watched rows, the event's own alerts, then the level alerts this stream derives), gap-free
// stream numbering, snapshot first, a slow watcher that is never dropped, resume tokens (the
// rest exactly once, from any event; bad or expired tokens refused), pacing of the reads, and
// shutdown.
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inventory_service/stock_watch.h"

namespace bloodgrid::inventory {
namespace {

LevelKey Key(const std::string& station) {
  return LevelKey{station, v1::COMPONENT_RED_CELLS, v1::ABO_GROUP_O, v1::RH_D_NEGATIVE};
}

// The stock and its change feed, set by hand; the hub reads them as it would read the database.
class FakeStock {
 public:
  void Set(const std::string& station, int available, int64_t par_minimum = 0) {
    absl::MutexLock lock(&mu_);
    SetLocked(station, available, par_minimum);
  }

  // One committed change: the rows' new levels, and a feed event naming them with `alerts`.
  void Commit(const std::vector<std::pair<std::string, int>>& rows,
              const std::vector<v1::StockAlert>& alerts = {}, int64_t par_minimum = 0) {
    absl::MutexLock lock(&mu_);
    v1::ChangeEvent& event = feed_.emplace_back();
    event.set_sequence(++head_);
    event.mutable_committed_at()->set_seconds(1750000000 + head_);
    for (const auto& [station, available] : rows) {
      SetLocked(station, available, par_minimum);
      v1::StockRowKey& row = *event.mutable_stock()->add_rows();
      row.set_station_id(station);
      row.set_component(v1::COMPONENT_RED_CELLS);
      row.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
      row.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
    }
    for (const v1::StockAlert& alert : alerts) *event.mutable_stock()->add_alerts() = alert;
  }

  // A feed event of another kind.
  void CommitOther() {
    absl::MutexLock lock(&mu_);
    v1::ChangeEvent& event = feed_.emplace_back();
    event.set_sequence(++head_);
    event.mutable_registered()->set_din("X");
  }

  // Retention: events up to `sequence` are gone.
  void Forget(uint64_t sequence) {
    absl::MutexLock lock(&mu_);
    while (!feed_.empty() && feed_.front().sequence() <= sequence) feed_.erase(feed_.begin());
  }

  absl::StatusOr<v1::ReadChangeFeedResponse> Feed(uint64_t after, int limit) {
    absl::MutexLock lock(&mu_);
    ++feed_reads_;
    v1::ReadChangeFeedResponse out;
    out.set_head_sequence(head_);
    const uint64_t oldest = feed_.empty() ? head_ + 1 : feed_.front().sequence();
    if (after > 0 && after + 1 < oldest) return absl::OutOfRangeError("gone");
    for (const v1::ChangeEvent& event : feed_) {
      if (out.events_size() >= limit) break;
      if (event.sequence() > after) *out.add_events() = event;
    }
    return out;
  }

  absl::StatusOr<std::vector<v1::StockLevel>> Read(const std::set<LevelKey>& keys) {
    absl::MutexLock lock(&mu_);
    ++level_reads_;
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

  uint64_t head() {
    absl::MutexLock lock(&mu_);
    return head_;
  }
  int feed_reads() {
    absl::MutexLock lock(&mu_);
    return feed_reads_;
  }
  int level_reads() {
    absl::MutexLock lock(&mu_);
    return level_reads_;
  }

 private:
  void SetLocked(const std::string& station, int available, int64_t par_minimum)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
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

  absl::Mutex mu_;
  std::map<LevelKey, v1::StockLevel> levels_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ChangeEvent> feed_ ABSL_GUARDED_BY(mu_);
  uint64_t head_ ABSL_GUARDED_BY(mu_) = 0;
  int feed_reads_ ABSL_GUARDED_BY(mu_) = 0;
  int level_reads_ ABSL_GUARDED_BY(mu_) = 0;
};

v1::StockAlert Expired(const std::string& station, const std::string& unit) {
  v1::StockAlert alert;
  alert.set_kind(v1::STOCK_ALERT_KIND_UNITS_EXPIRED);
  alert.set_station_id(station);
  alert.add_unit_ids(unit);
  return alert;
}

StockWatchHub::Options FastOptions() {
  StockWatchHub::Options options;
  options.poll_interval = absl::Milliseconds(20);
  options.min_read_interval = absl::ZeroDuration();
  options.batch = 7;  // several reads for a long feed
  return options;
}

class StockWatchTest : public ::testing::Test {
 protected:
  explicit StockWatchTest(StockWatchHub::Options options = FastOptions())
      : clock_(absl::FromUnixSeconds(1750000000)),
        hub_([this](uint64_t after, int limit) { return stock_.Feed(after, limit); },
             [this](const std::set<LevelKey>& keys) { return stock_.Read(keys); },
             [this](const std::string& station) { return stock_.Snapshot(station); }, &clock_,
             options) {}

  std::shared_ptr<StockWatcher> Subscribe(std::optional<std::string> station, bool snapshot,
                                          const std::string& token = "") {
    absl::StatusOr<std::shared_ptr<StockWatcher>> watcher =
        hub_.Subscribe(std::move(station), snapshot, token);
    EXPECT_TRUE(watcher.ok()) << watcher.status();
    return watcher.ok() ? *watcher : nullptr;
  }

  void Commit(const std::vector<std::pair<std::string, int>>& rows,
              const std::vector<v1::StockAlert>& alerts = {}, int64_t par_minimum = 0) {
    stock_.Commit(rows, alerts, par_minimum);
    hub_.Publish(StockChanges{});
  }

  // Everything the watcher has up to the feed's current end.
  static std::vector<v1::StockEvent> Drain(StockWatcher& watcher) {
    std::vector<v1::StockEvent> events;
    v1::StockEvent event;
    absl::Status end;
    while (watcher.Next(absl::Milliseconds(50), &event, &end) == StockWatcher::Wait::kEvent) {
      events.push_back(event);
    }
    return events;
  }

  FakeStock stock_;
  FakeClock clock_;
  StockWatchHub hub_;
};

TEST_F(StockWatchTest, SnapshotThenCommittedChangesOfTheWatchedStation) {
  stock_.Set("S1", 5, 3);
  stock_.Set("S2", 9);
  std::shared_ptr<StockWatcher> watcher = Subscribe("S1", /*snapshot=*/true);
  Commit({{"S1", 2}}, {}, /*par_minimum=*/3);  // below par
  std::vector<v1::StockEvent> events = Drain(*watcher);
  Commit({{"S2", 1}});   // another station: not for this watcher
  stock_.CommitOther();  // another kind of change: nothing to send
  Commit({{"S1", 1}, {"S2", 0}}, {Expired("S1", "U1"), Expired("S2", "U2")}, 3);
  for (v1::StockEvent& event : Drain(*watcher)) events.push_back(std::move(event));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_TRUE(events[0].snapshot());
  EXPECT_EQ(events[0].level().available().units(), 5);
  EXPECT_TRUE(events[0].resume_token().empty());
  EXPECT_EQ(events[0].feed_sequence(), 0u);
  // Feed event 1: the level, then the alert this stream derives from the snapshot's level.
  EXPECT_EQ(events[1].level().available().units(), 2);
  EXPECT_EQ(events[1].feed_sequence(), 1u);
  EXPECT_EQ(events[1].resume_token(), "f1.1.1");
  EXPECT_EQ(events[1].occurred_at().seconds(), 1750000001);
  EXPECT_EQ(events[2].alert().kind(), v1::STOCK_ALERT_KIND_BELOW_PAR);
  EXPECT_EQ(events[2].resume_token(), "f1.1.2");
  // Feed event 4: S1's level and S1's own alert; S2's are filtered out. Still below par: no
  // second BELOW_PAR.
  EXPECT_EQ(events[3].level().available().units(), 1);
  EXPECT_EQ(events[3].resume_token(), "f1.4.1");
  EXPECT_EQ(events[4].alert().kind(), v1::STOCK_ALERT_KIND_UNITS_EXPIRED);
  EXPECT_EQ(events[4].alert().unit_ids(0), "U1");
  EXPECT_EQ(events[4].resume_token(), "f1.4.2");
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence(), i + 1);
}

TEST_F(StockWatchTest, AWatcherStartsAtTheHeadWhenItSubscribes) {
  Commit({{"S1", 4}});
  std::shared_ptr<StockWatcher> watcher = Subscribe(std::nullopt, false);
  Commit({{"S1", 3}});
  const std::vector<v1::StockEvent> events = Drain(*watcher);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].feed_sequence(), 2u);
  EXPECT_EQ(events[0].level().available().units(), 3);
}

// No queue to overflow: a watcher that reads nothing while thousands of changes commit is not
// dropped, and then gets an event for every one of them, in feed order.
TEST_F(StockWatchTest, ASlowWatcherIsNeverDroppedAndGetsEveryChange) {
  std::shared_ptr<StockWatcher> slow = Subscribe(std::nullopt, false);
  constexpr int kChanges = 2000;
  for (int i = 0; i < kChanges; ++i) Commit({{absl::StrCat("S", i % 5), i + 1}});
  const std::vector<v1::StockEvent> events = Drain(*slow);
  ASSERT_EQ(events.size(), static_cast<size_t>(kChanges));
  for (int i = 0; i < kChanges; ++i) {
    EXPECT_EQ(events[i].feed_sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(events[i].level().station_id(), absl::StrCat("S", i % 5));
    EXPECT_EQ(events[i].sequence(), static_cast<uint64_t>(i + 1));
  }
  // Levels are read when served, so the last one of each row is its current level.
  EXPECT_EQ(events.back().level().available().units(), kChanges);
}

// Resumed after each event in turn, a stream delivers exactly the events the uninterrupted
// stream delivered after it (no level alerts here: those are derived per stream).
TEST_F(StockWatchTest, ResumingAfterAnyEventGivesTheRestExactlyOnce) {
  std::shared_ptr<StockWatcher> reference = Subscribe(std::nullopt, false);
  for (int i = 0; i < 6; ++i) {
    Commit({{"S1", 10 + i}, {"S2", 20 + i}}, {Expired("S1", absl::StrCat("U", i))});
  }
  stock_.CommitOther();
  Commit({{"S3", 1}});
  const std::vector<v1::StockEvent> all = Drain(*reference);
  ASSERT_EQ(all.size(), 6u * 3 + 1);
  auto identity = [](const v1::StockEvent& e) {
    return absl::StrCat(e.resume_token(), "|", e.feed_sequence(), "|",
                        e.has_level() ? e.level().station_id() : "alert", "|",
                        e.has_alert() ? e.alert().unit_ids(0) : "");
  };
  for (size_t cut = 0; cut < all.size(); ++cut) {
    std::shared_ptr<StockWatcher> resumed =
        Subscribe(std::nullopt, /*snapshot=*/true, all[cut].resume_token());
    ASSERT_NE(resumed, nullptr);
    const std::vector<v1::StockEvent> rest = Drain(*resumed);
    ASSERT_EQ(rest.size(), all.size() - cut - 1) << "after " << all[cut].resume_token();
    for (size_t i = 0; i < rest.size(); ++i) {
      EXPECT_EQ(identity(rest[i]), identity(all[cut + 1 + i]));
      EXPECT_FALSE(rest[i].snapshot());  // include_snapshot is ignored on resume
      EXPECT_EQ(rest[i].sequence(), i + 1);
    }
  }
}

TEST_F(StockWatchTest, BadOrExpiredResumeTokensAreRefused) {
  for (int i = 0; i < 4; ++i) Commit({{"S1", i}});
  for (const std::string token :
       {"garbage", "f1", "f1.2", "f1.x.1", "f1.0.1", "f1.0.0", "f2.2.1", "f1.02.1", "f1.2.1.",
        "f1.-2.1", "f1.99999999999999999999.1", "f1.5.1"}) {
    absl::StatusOr<std::shared_ptr<StockWatcher>> watcher =
        hub_.Subscribe(std::nullopt, false, token);
    EXPECT_EQ(watcher.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(watcher.status().message(), ::testing::HasSubstr("resume_token")) << token;
  }
  stock_.Forget(2);
  const absl::Status gone = hub_.Subscribe(std::nullopt, false, "f1.2.1").status();
  EXPECT_EQ(gone.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(gone.message()), ::testing::StartsWith("resume_token: "));
  EXPECT_EQ(hub_.Subscribe(std::nullopt, false, "f1.1.1").status().code(),
            absl::StatusCode::kOutOfRange);
  std::shared_ptr<StockWatcher> kept = Subscribe(std::nullopt, false, "f1.3.1");
  ASSERT_NE(kept, nullptr);
  const std::vector<v1::StockEvent> rest = Drain(*kept);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].feed_sequence(), 4u);
  EXPECT_EQ(hub_.Subscribe(std::nullopt, false, "f1.2.0").status().code(),
            absl::StatusCode::kOutOfRange);
}

// "f1.<sequence>.0", a consumer's cursor: every event of that feed event again, then the rest.
TEST_F(StockWatchTest, ResumingAtTheStartOfAFeedEventRepeatsItInFull) {
  std::shared_ptr<StockWatcher> reference = Subscribe(std::nullopt, false);
  Commit({{"S1", 1}}, {Expired("S1", "U1")});
  Commit({{"S1", 2}, {"S2", 3}}, {Expired("S2", "U2")});
  Commit({{"S2", 4}});
  const std::vector<v1::StockEvent> all = Drain(*reference);
  ASSERT_EQ(all.size(), 6u);
  std::shared_ptr<StockWatcher> resumed = Subscribe(std::nullopt, false, "f1.2.0");
  ASSERT_NE(resumed, nullptr);
  const std::vector<v1::StockEvent> rest = Drain(*resumed);
  ASSERT_EQ(rest.size(), 4u);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].resume_token(), all[2 + i].resume_token());
  }
  EXPECT_EQ(rest[0].level().station_id(), "S1");
  EXPECT_EQ(rest[2].alert().unit_ids(0), "U2");
  EXPECT_EQ(rest[3].feed_sequence(), 3u);
  // The head's own start: ahead of nothing, so allowed; a sequence past the head is not.
  EXPECT_NE(Subscribe(std::nullopt, false, "f1.3.0"), nullptr);
  EXPECT_EQ(hub_.Subscribe(std::nullopt, false, "f1.4.0").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StockWatchTest, AWatcherOvertakenByRetentionEndsWithOutOfRange) {
  std::shared_ptr<StockWatcher> watcher = Subscribe(std::nullopt, false);
  Commit({{"S1", 1}});
  Commit({{"S1", 2}});
  stock_.Forget(1);
  v1::StockEvent event;
  absl::Status end;
  EXPECT_EQ(watcher->Next(absl::Seconds(5), &event, &end), StockWatcher::Wait::kEnded);
  EXPECT_EQ(end.code(), absl::StatusCode::kOutOfRange);
}

TEST_F(StockWatchTest, ShutdownEndsEveryWatcherWithUnavailable) {
  std::shared_ptr<StockWatcher> watcher = Subscribe("S1", false);
  hub_.Shutdown();
  v1::StockEvent event;
  absl::Status end;
  EXPECT_EQ(watcher->Next(absl::Seconds(1), &event, &end), StockWatcher::Wait::kEnded);
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hub_.Subscribe("S1", false, "").status().code(), absl::StatusCode::kUnavailable);
  hub_.Publish(StockChanges{});  // harmless after shutdown
}

TEST_F(StockWatchTest, AnUnsubscribedWatcherEndsCancelled) {
  std::shared_ptr<StockWatcher> watcher = Subscribe("S1", false);
  hub_.Unsubscribe(watcher);
  v1::StockEvent event;
  absl::Status end;
  EXPECT_EQ(watcher->Next(absl::Seconds(1), &event, &end), StockWatcher::Wait::kEnded);
  EXPECT_EQ(end.code(), absl::StatusCode::kCancelled);
}

// A stream's reads start at least min_read_interval apart, however fast writes come: the
// changes in between share a feed read and a level read, and the stream still ends with every
// station's latest level.
TEST(StockWatchPacingTest, ChangesDuringTheReadIntervalShareOneRead) {
  FakeStock stock;
  StockWatchHub::Options options;
  options.min_read_interval = absl::Milliseconds(300);
  options.poll_interval = absl::Milliseconds(300);
  StockWatchHub hub([&](uint64_t after, int limit) { return stock.Feed(after, limit); },
                    [&](const std::set<LevelKey>& keys) { return stock.Read(keys); },
                    [&](const std::string& station) { return stock.Snapshot(station); },
                    Clock::Real(), options);
  absl::StatusOr<std::shared_ptr<StockWatcher>> watcher = hub.Subscribe(std::nullopt, false, "");
  ASSERT_TRUE(watcher.ok());
  std::map<std::string, int> latest;
  int events = 0;
  absl::Mutex mu;
  bool done = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  std::thread reader([&] {
    v1::StockEvent event;
    absl::Status end;
    while (true) {
      if ((*watcher)->Next(absl::Milliseconds(50), &event, &end) == StockWatcher::Wait::kEvent) {
        latest[event.level().station_id()] = event.level().available().units();
        ++events;
        continue;
      }
      absl::MutexLock lock(&mu);
      if (done && (events == 40 || absl::Now() > give_up)) return;
    }
  });
  const int reads_before = stock.feed_reads();
  const absl::Time start = absl::Now();
  for (int i = 0; i < 40; ++i) {
    stock.Commit({{absl::StrCat("S", i % 4), i}});
    hub.Publish(StockChanges{});
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration publishing = absl::Now() - start;
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  reader.join();
  const int reads = stock.feed_reads() - reads_before;
  EXPECT_GE(reads, 1);
  // One at the start, one per interval, one for the tail.
  EXPECT_LE(reads, 3 + publishing / absl::Milliseconds(300)) << "40 changes over " << publishing;
  EXPECT_LE(stock.level_reads(), reads);
  EXPECT_EQ(latest, (std::map<std::string, int>{{"S0", 36}, {"S1", 37}, {"S2", 38}, {"S3", 39}}));
}

}  // namespace
}  // namespace bloodgrid::inventory
