#include "inventory_service/stock_watch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/status.h"

namespace bloodgrid::inventory {
namespace {

LevelKey KeyOfRow(const v1::StockRowKey& row) {
  return LevelKey{row.station_id(), row.component(), row.blood_type().abo(),
                  row.blood_type().rhd()};
}

}  // namespace

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
// Resume tokens

std::string EncodeStockResumeToken(const StockResumePoint& point) {
  return absl::StrCat("f1.", point.sequence, ".", point.index);
}

absl::StatusOr<StockResumePoint> DecodeStockResumeToken(absl::string_view token) {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  StockResumePoint point;
  if (parts.size() != 3 || parts[0] != "f1" || !absl::SimpleAtoi(parts[1], &point.sequence) ||
      !absl::SimpleAtoi(parts[2], &point.index) || point.sequence == 0 ||
      EncodeStockResumeToken(point) != token) {
    return InvalidField("resume_token", "is not a token of this service's stock events");
  }
  return point;
}

// ---------------------------------------------------------------------------------------------
// StockWatcher

StockWatcher::Wait StockWatcher::Next(absl::Duration timeout, v1::StockEvent* event,
                                      absl::Status* end) {
  const StockWatchHub::Options& options = hub_.options_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (ended(end)) return Wait::kEnded;
    if (!pending_.empty()) {
      *event = std::move(pending_.front());
      pending_.pop_front();
      event->set_sequence(++sequence_);
      return Wait::kEvent;
    }
    const absl::Time now = absl::Now();
    const bool committed = hub_.commits_.version() != seen_commits_;
    const absl::Time earliest = last_read_ + options.min_read_interval;
    if (now >= earliest &&
        (!caught_up_ || committed || now >= last_read_ + options.poll_interval)) {
      absl::Status read = Fill();
      if (absl::IsOutOfRange(read) || absl::IsDataLoss(read)) {
        End(read);
      } else if (!read.ok()) {
        LogWarning("stock_watch_read_failed", {{"status", read.ToString()}});
        caught_up_ = true;  // try again at the next poll
      }
      continue;
    }
    if (now >= deadline) return Wait::kTimeout;
    const absl::Time wake = std::min(
        deadline, caught_up_ && !committed ? last_read_ + options.poll_interval : earliest);
    if (caught_up_ && !committed) {
      hub_.commits_.WaitChange(seen_commits_, wake - now);
    } else {
      absl::SleepFor(wake - now);
    }
  }
}

void StockWatcher::End(absl::Status why) {
  absl::MutexLock lock(&mu_);
  if (ended_) return;
  ended_ = true;
  end_ = std::move(why);
}

bool StockWatcher::ended(absl::Status* why) const {
  absl::MutexLock lock(&mu_);
  if (ended_ && why != nullptr) *why = end_;
  return ended_;
}

absl::Status StockWatcher::Fill() {
  seen_commits_ = hub_.commits_.version();  // a commit during the read triggers another
  last_read_ = absl::Now();
  BG_ASSIGN_OR_RETURN(v1::ReadChangeFeedResponse feed, hub_.feed_(cursor_, hub_.options_.batch));
  caught_up_ = feed.events_size() < hub_.options_.batch;
  std::set<LevelKey> keys;
  uint64_t expected = cursor_ + 1;
  for (const v1::ChangeEvent& change : feed.events()) {
    if (change.sequence() != expected) {
      return absl::OutOfRangeError(absl::StrCat("the change feed no longer holds sequence ",
                                                expected, "; re-subscribe with include_snapshot"));
    }
    ++expected;
    for (const v1::StockRowKey& row : change.stock().rows()) {
      if (Wants(row.station_id())) keys.insert(KeyOfRow(row));
    }
  }
  // One level read for every watched row of the batch; a failure leaves the cursor where it
  // was, so the batch is read again.
  std::map<LevelKey, v1::StockLevel> levels;
  if (!keys.empty()) {
    BG_ASSIGN_OR_RETURN(std::vector<v1::StockLevel> read, hub_.levels_(keys));
    for (v1::StockLevel& level : read) levels[KeyOf(level)] = std::move(level);
  }
  for (const v1::ChangeEvent& change : feed.events()) {
    Expand(change, levels);
    cursor_ = change.sequence();
  }
  return absl::OkStatus();
}

void StockWatcher::Expand(const v1::ChangeEvent& change,
                          const std::map<LevelKey, v1::StockLevel>& levels) {
  if (!change.has_stock()) return;
  std::vector<v1::StockEvent> out;
  std::vector<const v1::StockLevel*> sent;
  for (const v1::StockRowKey& row : change.stock().rows()) {
    if (!Wants(row.station_id())) continue;
    auto it = levels.find(KeyOfRow(row));
    if (it == levels.end()) continue;  // the reader answers every key; be safe anyway
    *out.emplace_back().mutable_level() = it->second;
    sent.push_back(&it->second);
  }
  for (const v1::StockAlert& alert : change.stock().alerts()) {
    if (Wants(alert.station_id())) *out.emplace_back().mutable_alert() = alert;
  }
  const size_t fixed = out.size();
  for (const v1::StockLevel* level : sent) {
    const LevelKey key = KeyOf(*level);
    auto it = last_.find(key);
    for (v1::StockAlert& alert : LevelAlerts(it == last_.end() ? nullptr : &it->second, *level)) {
      *out.emplace_back().mutable_alert() = std::move(alert);
    }
    last_[key] = *level;
  }
  size_t first = 0;
  if (skip_.sequence == change.sequence()) {
    // Resumed after the skip_.index-th event of this change; what this stream derived itself
    // (part 3) is not what the earlier stream sent, so past part 2 the rest is skipped.
    // Index 0 (a consumer's cursor at the start of the change) skips nothing.
    first = skip_.index >= fixed ? out.size() : skip_.index;
    skip_ = StockResumePoint();
  }
  for (size_t i = first; i < out.size(); ++i) {
    v1::StockEvent& event = out[i];
    *event.mutable_occurred_at() = change.committed_at();
    event.set_feed_sequence(change.sequence());
    event.set_resume_token(
        EncodeStockResumeToken({change.sequence(), static_cast<uint32_t>(i + 1)}));
    pending_.push_back(std::move(event));
  }
}

// ---------------------------------------------------------------------------------------------
// StockWatchHub

StockWatchHub::StockWatchHub(FeedReader feed, LevelReader levels, SnapshotReader snapshot,
                             Clock* clock, Options options)
    : feed_(std::move(feed)),
      levels_(std::move(levels)),
      snapshot_(std::move(snapshot)),
      clock_(clock),
      options_(options) {}

StockWatchHub::~StockWatchHub() { Shutdown(); }

void StockWatchHub::Publish(const StockChanges&) { commits_.Notify(); }

absl::StatusOr<std::shared_ptr<StockWatcher>> StockWatchHub::Subscribe(
    std::optional<std::string> station_id, bool include_snapshot, absl::string_view resume_token) {
  auto unavailable = [] { return absl::UnavailableError("the server is shutting down"); };
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return unavailable();
  }
  std::shared_ptr<StockWatcher> watcher;
  if (!resume_token.empty()) {
    BG_ASSIGN_OR_RETURN(const StockResumePoint point, DecodeStockResumeToken(resume_token));
    BG_ASSIGN_OR_RETURN(v1::ReadChangeFeedResponse head, feed_(0, 0));
    if (point.sequence > head.head_sequence()) {
      return InvalidField("resume_token", "is ahead of the change feed");
    }
    // The event the token names must still be kept: the stream regenerates it.
    const auto gone = [] {
      return absl::OutOfRangeError(
          "resume_token: the change feed no longer holds that position; re-subscribe with "
          "include_snapshot");
    };
    absl::StatusOr<v1::ReadChangeFeedResponse> first = feed_(point.sequence - 1, 1);
    if (absl::IsOutOfRange(first.status())) return gone();
    BG_RETURN_IF_ERROR(first.status());
    if (first->events().empty() || first->events(0).sequence() != point.sequence) return gone();
    watcher.reset(new StockWatcher(*this, std::move(station_id), point.sequence - 1, point));
  } else {
    BG_ASSIGN_OR_RETURN(v1::ReadChangeFeedResponse head, feed_(0, 0));
    watcher.reset(
        new StockWatcher(*this, std::move(station_id), head.head_sequence(), StockResumePoint()));
    if (include_snapshot) {
      BG_ASSIGN_OR_RETURN(std::vector<v1::StockLevel> rows,
                          snapshot_(watcher->station_id_.value_or("")));
      const absl::Time now = clock_->Now();
      for (v1::StockLevel& level : rows) {
        watcher->last_[KeyOf(level)] = level;
        v1::StockEvent& event = watcher->pending_.emplace_back();
        ToTimestamp(now, event.mutable_occurred_at());
        event.set_snapshot(true);
        *event.mutable_level() = std::move(level);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  if (stop_) return unavailable();
  watchers_.push_back(watcher);
  return watcher;
}

void StockWatchHub::Unsubscribe(const std::shared_ptr<StockWatcher>& watcher) {
  watcher->End(absl::CancelledError("unsubscribed"));
  absl::MutexLock lock(&mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
}

void StockWatchHub::Shutdown() {
  std::vector<std::shared_ptr<StockWatcher>> all;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    all.swap(watchers_);
  }
  commits_.Stop();
  for (const auto& watcher : all) {
    watcher->End(absl::UnavailableError("the server is shutting down"));
  }
}

}  // namespace bloodgrid::inventory
