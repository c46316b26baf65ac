// The in-process broadcaster behind WatchStock: committed stock changes in, per-watcher
// bounded queues out.
//
// Writers call StockWatchHub::Publish after their transaction committed; it only records the
// touched rows and alerts under a short lock and wakes the hub's own thread, so a write never
// waits for a watcher or for a read. That thread reads the new levels of the touched rows
// (one reader thread, so levels go out in the order they were read and never step back),
// derives the level alerts (below par, par restored, out of stock) and hands everything to the
// watchers. A watcher that falls behind has its pending level changes for one row coalesced
// (only the latest waits); alerts are never coalesced; when more than `max_queue` events wait,
// the watcher ends with RESOURCE_EXHAUSTED. Shutdown ends every watcher with UNAVAILABLE.
//
// Changes made by other replicas of the service are not seen here (each replica's watchers
// get that replica's writes); a watcher that needs the whole region re-subscribes with a
// snapshot to resynchronise.
//
// Thread-safe.
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
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// One WatchStock stream's queue.
class StockWatcher {
 public:
  enum class Wait { kEvent, kTimeout, kEnded };

  // Takes the next event, numbering it (1, 2, ... without gaps), waiting at most `timeout`.
  // kEnded: the stream must end with `*end` (RESOURCE_EXHAUSTED when it fell behind,
  // UNAVAILABLE on shutdown, or the snapshot's read error).
  Wait Next(absl::Duration timeout, v1::StockEvent* event, absl::Status* end);

  // Events waiting (tests).
  size_t pending() const;

 private:
  friend class StockWatchHub;
  StockWatcher(std::optional<std::string> station_id, bool include_snapshot, size_t max_queue)
      : station_id_(std::move(station_id)),
        include_snapshot_(include_snapshot),
        max_queue_(max_queue) {}

  bool Wants(absl::string_view station_id) const {
    return !station_id_.has_value() || *station_id_ == station_id;
  }
  void PushLevel(const v1::StockLevel& level, absl::Time at, bool snapshot);
  void PushAlert(const v1::StockAlert& alert, absl::Time at);
  void End(absl::Status why);
  bool ended() const;

  const std::optional<std::string> station_id_;
  const bool include_snapshot_;
  const size_t max_queue_;
  mutable absl::Mutex mu_;
  // Pending events; a level change waiting for a row is updated in place (coalesced).
  std::deque<v1::StockEvent> queue_ ABSL_GUARDED_BY(mu_);
  std::map<LevelKey, v1::StockEvent*> waiting_level_ ABSL_GUARDED_BY(mu_);
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_ ABSL_GUARDED_BY(mu_);
};

class StockWatchHub {
 public:
  // Current levels of the given rows (a row with nothing gets zero counts).
  using LevelReader =
      std::function<absl::StatusOr<std::vector<v1::StockLevel>>(const std::set<LevelKey>& keys)>;
  // Every row of one station ("" = all), for snapshots.
  using SnapshotReader =
      std::function<absl::StatusOr<std::vector<v1::StockLevel>>(const std::string& station_id)>;

  // Level reads start at least `min_read_interval` apart (wall time): under a stream of writes
  // the rows they touch are gathered and read together, so the reads' cost on the database
  // stays bounded whatever the write rate.
  StockWatchHub(LevelReader levels, SnapshotReader snapshot, Clock* clock, size_t max_queue = 1024,
                absl::Duration min_read_interval = absl::Milliseconds(100));
  ~StockWatchHub();
  StockWatchHub(const StockWatchHub&) = delete;
  StockWatchHub& operator=(const StockWatchHub&) = delete;

  // Records a committed change for delivery. Never blocks on watchers or the database.
  void Publish(const StockChanges& changes);

  // A new watcher of one station (or all). With include_snapshot its first events are the
  // current rows (snapshot = true), read in order with the live changes.
  std::shared_ptr<StockWatcher> Subscribe(std::optional<std::string> station_id,
                                          bool include_snapshot);
  void Unsubscribe(const std::shared_ptr<StockWatcher>& watcher);

  // Waits until everything published before the call was handed to the watchers (tests and
  // orderly shutdown). False on timeout.
  bool Flush(absl::Duration timeout);

  // Ends every watcher with UNAVAILABLE and stops the thread. Idempotent.
  void Shutdown();

  // Notified by Publish; stopped by Shutdown.
  FeedSignal& commits() { return commits_; }

 private:
  void Run();

  const LevelReader levels_;
  const SnapshotReader snapshot_;
  Clock* const clock_;
  const size_t max_queue_;
  const absl::Duration min_read_interval_;
  FeedSignal commits_;

  absl::Mutex mu_;
  std::set<LevelKey> pending_keys_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::StockAlert> pending_alerts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<StockWatcher>> joining_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<StockWatcher>> watchers_ ABSL_GUARDED_BY(mu_);
  uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  // Last level sent per row; only the hub thread touches it.
  std::map<LevelKey, v1::StockLevel> last_;
  std::thread thread_;
};

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_STOCK_WATCH_H_
