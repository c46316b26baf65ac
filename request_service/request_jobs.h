// The request service's background work: reconcile half-done orders (at start-up, then
// periodically), fill back-orders when stock arrives (inventory's stock events, plus a periodic
// sweep), drop units inventory withdrew from a reservation, and presume transfusions nobody
// reported.
//
// Each periodic job is a PeriodicTask (common/periodic_task.h): reconcile (first pass at
// start-up, over every order), back-order fill (first pass one interval after start, or at
// once on TriggerBackorderFill), presume-transfused (first pass at start-up), and the stock
// events pass that applies what the stock consumer received. A failed pass logs
// "reconcile_pass_failed", "backorder_pass_failed", "presume_pass_failed" or
// "stock_events_pass_failed". A job whose interval is not positive does not run.
//
// The stock consumer (a thread of its own) reads InventoryService.WatchStock, which inventory
// serves from its change feed, on a durable cursor: the feed_sequence of the last event applied,
// kept in the request schema's feed_cursors (feed kStockFeed). It runs only in the replica that
// holds the lease kStockConsumerJob; the others wait and take over when that lease lapses. On
// (re)subscription (logged as "stock_consumer_subscribed" with the cursor, 0 for none) it
// resumes at the start of the cursor's feed event ("f1.<cursor>.0"), so
// what happened while no consumer ran (a restart, a lost stream, a dead replica) is delivered
// then. Events are applied by the stock events pass (withdrawn units dropped, then one
// back-order fill for any stock that arrived), and only after all of them succeeded is the
// cursor saved: a failure or a crash repeats the last events, and both steps are idempotent
// (the fill tops up what is still short; a withdrawal re-verifies the order against inventory).
// A fill that failed for single orders (FillBackorders logs and skips them) counts as applied;
// the periodic sweep is the net for those. Without a cursor (the first run) the consumer
// subscribes at the feed's head with a snapshot and runs a full back-order sweep on its first
// event; when inventory refuses the cursor (OUT_OF_RANGE: past the feed's retention;
// INVALID_ARGUMENT: ahead of the feed, as after a restore of inventory's database), it logs
// "stock_cursor_unusable", drops the cursor and does the same.
//
// Thread-safe. Start() once; Stop() (or the destructor) ends the tasks and the stream.
#ifndef BLOODGRID_REQUEST_SERVICE_REQUEST_JOBS_H_
#define BLOODGRID_REQUEST_SERVICE_REQUEST_JOBS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "common/job_lease.h"
#include "common/mysql_pool.h"
#include "common/periodic_task.h"
#include "request_service/inventory_client.h"
#include "request_service/request_operations.h"

namespace bloodgrid::request {

struct JobOptions {
  absl::Duration reconcile_interval = absl::Seconds(30);
  // Back-orders are filled on stock events; this sweep catches what the stream missed.
  absl::Duration backorder_interval = absl::Minutes(5);
  absl::Duration presume_interval = absl::Minutes(10);
  // Bound of one pass of any job.
  absl::Duration pass_deadline = absl::Seconds(60);
  // Subscribe to WatchStock (off: periodic sweeps only).
  bool watch_stock = true;
  // How often the stock events pass runs without being asked: it retries a failed apply and
  // checks that this replica still holds the consumer's lease (the stream ends when it lost it).
  absl::Duration stock_events_interval = absl::Seconds(1);
  // Reconnect delays of the stock stream.
  absl::Duration watch_backoff_min = absl::Seconds(1);
  absl::Duration watch_backoff_max = absl::Seconds(30);
  // Replicas: reconcile, back-order fill and presume-transfused run only in the replica that
  // holds the job's lease (common/job_lease.h). Null: every pass runs (one replica, tests).
  // Not owned; must outlive the jobs. With leases, the stock consumer runs under
  // kStockConsumerJob too.
  db::JobLeases* leases = nullptr;
  // Where the stock consumer keeps its cursor (feed_cursors of the request schema). Null: no
  // durable cursor; each subscription starts at the head with a full sweep. Not owned.
  db::ConnectionPool* cursor_pool = nullptr;
};

// The stock consumer's cursor in feed_cursors, and its job lease.
inline constexpr char kStockFeed[] = "inventory.stock";
inline constexpr char kStockConsumerJob[] = "stock_consumer";

class RequestJobs {
 public:
  // Both pointers must outlive the jobs.
  RequestJobs(RequestOperations* operations, InventoryClient* inventory, JobOptions options);
  ~RequestJobs();
  RequestJobs(const RequestJobs&) = delete;
  RequestJobs& operator=(const RequestJobs&) = delete;

  void Start();
  // Ends the threads (cancels the stock stream, waits for the current pass). Idempotent.
  void Stop();

  // Asks for a back-order pass as soon as possible (coalesced).
  void TriggerBackorderFill();

  // Passes completed so far (tests poll these): back-order passes, failed ones included;
  // successful reconcile passes.
  int64_t backorder_passes() const;
  int64_t reconcile_passes() const;
  // The stock consumer: subscriptions resumed from a saved cursor; full back-order sweeps it
  // ran because it had no usable cursor; back-order fills made for stock events it applied.
  int64_t stock_resumes() const;
  int64_t stock_sweeps() const;
  int64_t stock_event_fills() const;
  // True while this replica's stock consumer has a subscription open.
  bool stock_consuming() const;

 private:
  absl::Status ReconcilePass();
  absl::Status BackorderPass();
  absl::Status PresumePass();
  absl::Status StockEventsPass();
  void WatchLoop();
  // Waits `delay` or until Stop; false when stopping.
  bool Pause(absl::Duration delay);
  void OnStockEvent(const v1::StockEvent& event, bool* sweep_on_first);
  void CancelWatch();
  absl::StatusOr<uint64_t> LoadCursor();
  absl::Status SaveCursor(uint64_t sequence);
  absl::Status DropCursor();

  RequestOperations* const operations_;
  InventoryClient* const inventory_;
  const JobOptions options_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // What the stock consumer received and the stock events pass has yet to apply.
  std::deque<std::string> withdrawn_keys_ ABSL_GUARDED_BY(mu_);
  bool pending_fill_ ABSL_GUARDED_BY(mu_) = false;
  bool pending_sweep_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t pending_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // The running subscription's cancellation (owned by the watch thread).
  WatchCancellation* watch_cancel_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t reconcile_passes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t stock_resumes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t stock_sweeps_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t stock_event_fills_ ABSL_GUARDED_BY(mu_) = 0;
  // One back-order fill at a time in this process (the sweep and the stock events pass).
  absl::Mutex fill_mu_;
  // Serialises the stock events pass with dropping the cursor.
  absl::Mutex apply_mu_;
  // Set by the first successful reconcile pass (only the reconcile task's thread).
  std::atomic<bool> reconciled_all_{false};
  // Last available quantity seen per station x component x blood type (only the watch thread).
  std::map<std::string, int64_t> last_available_;
  std::thread watch_thread_;
  PeriodicTask reconcile_task_;
  PeriodicTask backorder_task_;
  PeriodicTask presume_task_;
  PeriodicTask stock_events_task_;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_JOBS_H_
