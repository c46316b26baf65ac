#include "inventory_service/stock_watch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace bloodgrid::inventory {

// ---------------------------------------------------------------------------------------------
// FeedSignal

void FeedSignal::Notify() {
  absl::MutexLock lock(&mu_);
  ++version_;
}

uint64_t FeedSignal::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

void FeedSignal::WaitChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopped_ || version_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
}

void FeedSignal::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

bool FeedSignal::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

// ---------------------------------------------------------------------------------------------
// StockWatcher

StockWatcher::Wait StockWatcher::Next(absl::Duration timeout, v1::StockEvent* event,
                                      absl::Status* end) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return ended_ || !queue_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (ended_) {
    *end = end_;
    return Wait::kEnded;
  }
  if (queue_.empty()) return Wait::kTimeout;
  *event = std::move(queue_.front());
  if (event->has_level()) waiting_level_.erase(KeyOf(event->level()));
  queue_.pop_front();
  event->set_sequence(++sequence_);
  return Wait::kEvent;
}

size_t StockWatcher::pending() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void StockWatcher::PushLevel(const v1::StockLevel& level, absl::Time at, bool snapshot) {
  absl::MutexLock lock(&mu_);
  if (ended_) return;
  const LevelKey key = KeyOf(level);
  if (!snapshot) {
    auto it = waiting_level_.find(key);
    if (it != waiting_level_.end()) {
      // Behind on this row: only its latest level is worth sending.
      *it->second->mutable_level() = level;
      ToTimestamp(at, it->second->mutable_occurred_at());
      return;
    }
    if (queue_.size() >= max_queue_) {
      ended_ = true;
      end_ = absl::ResourceExhaustedError(absl::StrCat(
          "more than ", max_queue_, " stock events waiting; re-subscribe with include_snapshot"));
      return;
    }
  }
  v1::StockEvent& event = queue_.emplace_back();
  ToTimestamp(at, event.mutable_occurred_at());
  event.set_snapshot(snapshot);
  *event.mutable_level() = level;
  // std::deque keeps references to its elements valid across push_back/pop_front.
  if (!snapshot) waiting_level_[key] = &event;
}

void StockWatcher::PushAlert(const v1::StockAlert& alert, absl::Time at) {
  absl::MutexLock lock(&mu_);
  if (ended_) return;
  if (queue_.size() >= max_queue_) {
    ended_ = true;
    end_ = absl::ResourceExhaustedError(absl::StrCat(
        "more than ", max_queue_, " stock events waiting; re-subscribe with include_snapshot"));
    return;
  }
  v1::StockEvent& event = queue_.emplace_back();
  ToTimestamp(at, event.mutable_occurred_at());
  *event.mutable_alert() = alert;
}

void StockWatcher::End(absl::Status why) {
  absl::MutexLock lock(&mu_);
  if (ended_) return;
  ended_ = true;
  end_ = std::move(why);
}

bool StockWatcher::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

// ---------------------------------------------------------------------------------------------
// StockWatchHub

StockWatchHub::StockWatchHub(LevelReader levels, SnapshotReader snapshot, Clock* clock,
                             size_t max_queue, absl::Duration min_read_interval)
    : levels_(std::move(levels)),
      snapshot_(std::move(snapshot)),
      clock_(clock),
      max_queue_(max_queue),
      min_read_interval_(min_read_interval),
      thread_([this] { Run(); }) {}

StockWatchHub::~StockWatchHub() { Shutdown(); }

void StockWatchHub::Publish(const StockChanges& changes) {
  commits_.Notify();
  if (changes.keys.empty() && changes.alerts.empty()) return;
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  pending_keys_.insert(changes.keys.begin(), changes.keys.end());
  pending_alerts_.insert(pending_alerts_.end(), changes.alerts.begin(), changes.alerts.end());
  ++published_;
}

std::shared_ptr<StockWatcher> StockWatchHub::Subscribe(std::optional<std::string> station_id,
                                                       bool include_snapshot) {
  std::shared_ptr<StockWatcher> watcher(
      new StockWatcher(std::move(station_id), include_snapshot, max_queue_));
  absl::MutexLock lock(&mu_);
  if (stop_) {
    watcher->End(absl::UnavailableError("the server is shutting down"));
    return watcher;
  }
  joining_.push_back(watcher);
  ++published_;  // the join is work for the hub thread too
  return watcher;
}

void StockWatchHub::Unsubscribe(const std::shared_ptr<StockWatcher>& watcher) {
  watcher->End(absl::CancelledError("unsubscribed"));
  absl::MutexLock lock(&mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
  joining_.erase(std::remove(joining_.begin(), joining_.end(), watcher), joining_.end());
}

bool StockWatchHub::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const uint64_t target = published_;
  auto done = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return delivered_ >= target || stop_; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout) && delivered_ >= target;
}

void StockWatchHub::Shutdown() {
  std::vector<std::shared_ptr<StockWatcher>> all;
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    commits_.Stop();
    all = watchers_;
    all.insert(all.end(), joining_.begin(), joining_.end());
    watchers_.clear();
    joining_.clear();
  }
  for (const auto& watcher : all)
    watcher->End(absl::UnavailableError("the server is shutting down"));
  if (thread_.joinable()) thread_.join();
}

void StockWatchHub::Run() {
  absl::Time last_read = absl::InfinitePast();
  while (true) {
    std::set<LevelKey> keys;
    std::vector<v1::StockAlert> alerts;
    std::vector<std::shared_ptr<StockWatcher>> joining;
    std::vector<std::shared_ptr<StockWatcher>> watchers;
    uint64_t batch = 0;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || published_ > delivered_; };
      mu_.Await(absl::Condition(&work));
      if (stop_) return;
      // Pace the reads: changes arriving meanwhile join this batch.
      const absl::Time next_read = last_read + min_read_interval_;
      if (!pending_keys_.empty() && absl::Now() < next_read) {
        mu_.AwaitWithDeadline(absl::Condition(&stop_), next_read);
        if (stop_) return;
      }
      keys.swap(pending_keys_);
      alerts.swap(pending_alerts_);
      joining.swap(joining_);
      batch = published_;
      watchers = watchers_;
    }
    const absl::Time now = clock_->Now();
    for (const auto& watcher : joining) {
      if (watcher->include_snapshot_) {
        absl::StatusOr<std::vector<v1::StockLevel>> rows =
            snapshot_(watcher->station_id_.value_or(""));
        if (!rows.ok()) {
          watcher->End(rows.status());
          continue;
        }
        for (const v1::StockLevel& level : *rows) watcher->PushLevel(level, now, /*snapshot=*/true);
      }
      watchers.push_back(watcher);
    }
    if (watchers.empty()) {
      last_.clear();  // nobody listens: the levels we knew go stale
    } else if (!keys.empty()) {
      last_read = absl::Now();
      absl::StatusOr<std::vector<v1::StockLevel>> levels = levels_(keys);
      if (!levels.ok()) {
        LogWarning("stock_watch_read_failed", {{"status", levels.status().ToString()}});
      } else {
        for (const v1::StockLevel& level : *levels) {
          const LevelKey key = KeyOf(level);
          auto it = last_.find(key);
          std::vector<v1::StockAlert> level_alerts =
              LevelAlerts(it == last_.end() ? nullptr : &it->second, level);
          last_[key] = level;
          for (const auto& watcher : watchers) {
            if (!watcher->Wants(level.station_id())) continue;
            watcher->PushLevel(level, now, /*snapshot=*/false);
            for (const v1::StockAlert& alert : level_alerts) watcher->PushAlert(alert, now);
          }
        }
      }
    }
    for (const v1::StockAlert& alert : alerts) {
      for (const auto& watcher : watchers) {
        if (watcher->Wants(alert.station_id())) watcher->PushAlert(alert, now);
      }
    }
    absl::MutexLock lock(&mu_);
    // Joined watchers become regular ones; ended ones are dropped. A watcher that was joining
    // while Shutdown ran was in neither list Shutdown ended, so it learns of the shutdown here.
    for (const auto& watcher : joining) {
      if (watcher->ended()) continue;
      if (stop_) {
        watcher->End(absl::UnavailableError("the server is shutting down"));
      } else {
        watchers_.push_back(watcher);
      }
    }
    watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                   [](const auto& w) { return w->ended(); }),
                    watchers_.end());
    delivered_ = batch;
  }
}

}  // namespace bloodgrid::inventory
