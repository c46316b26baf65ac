// WatchStock, served from the inventory's change feed (DESIGN.md "Change feeds instead of
// chained calls"), so that a watcher connected to any replica sees every replica's changes.
//
// Each stream keeps its own cursor over the feed and reads the table at its own pace (the
// thread that serves the stream does the reading): a slow watcher never delays a write, never
// makes another watcher wait, and is never dropped for being behind. A stream reads the feed
// again when this replica commits (StockWatchHub::Publish), when it last read a full batch, or
// every `poll_interval` (other replicas' commits); never sooner than `min_read_interval` after
// its previous read, so its cost on the database stays bounded whatever the write rate.
//
// What one feed event of kind `stock` becomes, in this fixed order:
//   1. the current level of each row it names (read when served), in the row order of the
//      event, for the rows of the watched station;
//   2. the event's own alerts (units expired, reserved unit withdrawn, expiring soon), in order,
//      for the watched station;
//   3. the level-derived alerts (below par, par restored, out of stock), derived per stream
//      from the level of the row this stream sent before (its snapshot, or the first level it
//      sends: BELOW_PAR when below par).
// Every event carries the feed sequence and a resume token "f1.<feed sequence>.<n>": the n-th
// (from 1) of that feed event's events was the last delivered. A stream resumed with a token
// regenerates that feed event's events and skips the first n, then goes on with the next feed
// events: parts 1 and 2 come out the same way (levels are re-read, so their counts are current),
// so a resumed client gets the rest exactly once. Part 3 is derived per stream; a resumed stream
// has no previous level, so when the token is past parts 1 and 2 the rest of that feed event is
// skipped, and later level alerts are derived from what the resumed stream itself sent. Resume
// with the same station_id as the stream that issued the token. "f1.<feed sequence>.0" (none of
// that feed event's events delivered) resumes at the start of that feed event: a consumer that
// keeps only the feed_sequence of the last event it applied (a durable cursor) gets that feed
// event again in full, then the later ones.
//
// Thread-safe: Subscribe / Unsubscribe / Shutdown from any thread; one thread calls a
// watcher's Next at a time.
#ifndef BLOODGRID_INVENTORY_SERVICE_STOCK_WATCH_H_
#define BLOODGRID_INVENTORY_SERVICE_STOCK_WATCH_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "common/clock.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::inventory {

// Wakes this process's change feed readers when one of its own writes committed, so a reader
// that waits for the feed (ReadChangeFeed's wait_ms, WatchStock) need not wait for its next
// poll of the table. Other replicas' commits are found by polling. Thread-safe.
class FeedSignal {
 public:
  // A write committed.
  void Notify();
  // Counts Notify calls: give it to WaitChange.
  uint64_t version() const;
  // Waits until version() differs from `seen`, Stop was called, or `timeout` passed.
  void WaitChange(uint64_t seen, absl::Duration timeout) const;
  // Wakes every waiter for good (shutdown).
  void Stop();
  bool stopped() const;

 private:
  mutable absl::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

// Where a stream stands: after the `index`-th (from 1) event made from feed event `sequence`;
// index 0: before the first.
struct StockResumePoint {
  uint64_t sequence = 0;
  uint32_t index = 0;
  friend bool operator==(const StockResumePoint&, const StockResumePoint&) = default;
};

// "f1.<sequence>.<index>". Opaque to clients.
std::string EncodeStockResumeToken(const StockResumePoint& point);
// INVALID_ARGUMENT "resume_token: ..." for anything EncodeStockResumeToken did not make.
absl::StatusOr<StockResumePoint> DecodeStockResumeToken(absl::string_view token);

class StockWatchHub;

// One WatchStock stream.
class StockWatcher {
 public:
  enum class Wait { kEvent, kTimeout, kEnded };

  // The next event, numbered 1, 2, ... without gaps, reading the feed when it has none ready;
  // waits at most about `timeout` (a read under way finishes first). kEnded: the stream must
  // end with `*end` (UNAVAILABLE on shutdown, CANCELLED when unsubscribed, OUT_OF_RANGE when
  // the feed no longer holds the stream's position). A failed read of the database is logged
  // and retried at the next poll.
  Wait Next(absl::Duration timeout, v1::StockEvent* event, absl::Status* end);

  // Ends the stream: the next Next returns kEnded with `why`. The first reason stays.
  void End(absl::Status why);

 private:
  friend class StockWatchHub;
  StockWatcher(StockWatchHub& hub, std::optional<std::string> station_id, uint64_t cursor,
               StockResumePoint skip)
      : hub_(hub), station_id_(std::move(station_id)), cursor_(cursor), skip_(skip) {}

  bool Wants(absl::string_view station_id) const {
    return !station_id_.has_value() || *station_id_ == station_id;
  }
  bool ended(absl::Status* why = nullptr) const;
  // Reads the next batch of the feed into pending_. OUT_OF_RANGE ends the stream.
  absl::Status Fill();
  void Expand(const v1::ChangeEvent& change, const std::map<LevelKey, v1::StockLevel>& levels);

  StockWatchHub& hub_;
  const std::optional<std::string> station_id_;

  // Only the thread calling Next (or Subscribe, before the watcher is handed out) uses these.
  uint64_t cursor_;        // last feed sequence read
  StockResumePoint skip_;  // events of skip_.sequence already delivered before a resume
  std::deque<v1::StockEvent> pending_;
  std::map<LevelKey, v1::StockLevel> last_;  // the level of each row this stream sent last
  uint64_t sequence_ = 0;
  absl::Time last_read_ = absl::InfinitePast();
  uint64_t seen_commits_ = 0;  // FeedSignal version before the last read
  bool caught_up_ = false;     // the last read found less than a full batch

  mutable absl::Mutex mu_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_ ABSL_GUARDED_BY(mu_);
};

class StockWatchHub {
 public:
  // ReadChangeFeed of the store: up to `limit` events after `after`, and the head; limit 0
  // reads only the head.
  using FeedReader =
      std::function<absl::StatusOr<v1::ReadChangeFeedResponse>(uint64_t after, int limit)>;
  // Current levels of the given rows (a row with nothing gets zero counts).
  using LevelReader =
      std::function<absl::StatusOr<std::vector<v1::StockLevel>>(const std::set<LevelKey>& keys)>;
  // Every row of one station ("" = all), for snapshots.
  using SnapshotReader =
      std::function<absl::StatusOr<std::vector<v1::StockLevel>>(const std::string& station_id)>;

  struct Options {
    absl::Duration poll_interval = absl::Milliseconds(100);
    absl::Duration min_read_interval = absl::Milliseconds(50);
    // Feed events one read takes.
    int batch = 200;
  };

  StockWatchHub(FeedReader feed, LevelReader levels, SnapshotReader snapshot, Clock* clock,
                Options options);
  ~StockWatchHub();
  StockWatchHub(const StockWatchHub&) = delete;
  StockWatchHub& operator=(const StockWatchHub&) = delete;

  // A write of this replica committed: wakes the streams waiting for the feed. Never blocks.
  void Publish(const StockChanges& changes);

  // A new stream of one station (or all). With a resume_token (StockEvent.resume_token), it
  // continues after that event (include_snapshot is ignored): INVALID_ARGUMENT for a token this
  // service did not make or one ahead of the feed, OUT_OF_RANGE when the feed no longer holds
  // its position. Otherwise it starts at the feed's head, first sending the current rows when
  // include_snapshot (snapshot = true, no resume token; a change committed while the snapshot
  // is read may be sent again as a level). UNAVAILABLE after Shutdown; a failed read's status.
  absl::StatusOr<std::shared_ptr<StockWatcher>> Subscribe(std::optional<std::string> station_id,
                                                          bool include_snapshot,
                                                          absl::string_view resume_token);
  void Unsubscribe(const std::shared_ptr<StockWatcher>& watcher);

  // Ends every stream with UNAVAILABLE and wakes every feed reader. Idempotent.
  void Shutdown();

  // Notified by Publish; stopped by Shutdown.
  FeedSignal& commits() { return commits_; }

 private:
  friend class StockWatcher;

  const FeedReader feed_;
  const LevelReader levels_;
  const SnapshotReader snapshot_;
  Clock* const clock_;
  const Options options_;
  FeedSignal commits_;

  absl::Mutex mu_;
  std::vector<std::shared_ptr<StockWatcher>> watchers_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_STOCK_WATCH_H_
