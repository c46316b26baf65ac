// The request service's background work: reconcile half-done orders (at start-up, then
// periodically), fill back-orders when stock arrives (inventory's WatchStock stream, plus a
// periodic sweep for anything the stream missed), drop units inventory withdrew from a
// reservation, and presume transfusions nobody reported.
//
// Each periodic job is a PeriodicTask (common/periodic_task.h): reconcile (first pass at
// start-up, over every order), back-order fill (first pass one interval after start, or at
// once on TriggerBackorderFill), presume-transfused (first pass at start-up), and the
// withdrawn-unit drops the stock stream asks for. The stock stream has a thread of its own.
// A failed pass logs "reconcile_pass_failed", "backorder_pass_failed" or
// "presume_pass_failed". A job whose interval is not positive does not run.
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
  // Reconnect delays of the stock stream.
  absl::Duration watch_backoff_min = absl::Seconds(1);
  absl::Duration watch_backoff_max = absl::Seconds(30);
  // Replicas: reconcile, back-order fill and presume-transfused run only in the replica that
  // holds the job's lease (common/job_lease.h). Null: every pass runs (one replica, tests).
  // Not owned; must outlive the jobs.
  db::JobLeases* leases = nullptr;
};

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

 private:
  absl::Status ReconcilePass();
  absl::Status BackorderPass();
  absl::Status PresumePass();
  absl::Status WithdrawnPass();
  void WatchLoop();
  void OnStockEvent(const v1::StockEvent& event, bool* first_event);

  RequestOperations* const operations_;
  InventoryClient* const inventory_;
  const JobOptions options_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> withdrawn_keys_ ABSL_GUARDED_BY(mu_);
  int64_t reconcile_passes_ ABSL_GUARDED_BY(mu_) = 0;
  // Set by the first successful reconcile pass (only the reconcile task's thread).
  std::atomic<bool> reconciled_all_{false};
  // Last available quantity seen per station x component x blood type (only the watch thread).
  std::map<std::string, int64_t> last_available_;
  WatchCancellation watch_cancel_;
  std::thread watch_thread_;
  PeriodicTask reconcile_task_;
  PeriodicTask backorder_task_;
  PeriodicTask presume_task_;
  PeriodicTask withdrawn_task_;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_REQUEST_JOBS_H_
