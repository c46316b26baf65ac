// PeriodicTask: one background thread that runs a pass of some work every `interval` (real
// time) until stopped: the inventory's sweepers, the request service's jobs, the gateway's
// automated dispatch. What a pass finds due is its own business (usually decided on the
// service's injected clock); the task only decides when to look.
//
// A pass that fails is logged as "<name>_failed" with its status and the task goes on; the
// next pass comes a full interval after the failed one ended. Trigger() asks for a pass as
// soon as possible (requests made while a pass runs are coalesced into one more pass).
//
// An optional gate runs before each pass: when it answers false the pass is skipped (counted by
// skipped_passes()) and the task asks again after gate_retry (at most one interval). Replicas of a
// service use it to run a job in one replica at a time (common/job_lease.h).
//
// Thread-safe. Start() at most once; Stop() (or the destructor) waits for a running pass.
#ifndef BLOODGRID_COMMON_PERIODIC_TASK_H_
#define BLOODGRID_COMMON_PERIODIC_TASK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace bloodgrid {

class PeriodicTask {
 public:
  struct Options {
    // Names the task in logs ("reservation_sweep" logs "reservation_sweep_failed").
    std::string name;
    // Time between the end of one pass and the start of the next. Zero or negative: the task
    // never starts (Start() does nothing), as every service's "0 turns it off" flags expect.
    absl::Duration interval = absl::Minutes(1);
    // Run the first pass right after Start() rather than one interval later.
    bool run_at_start = false;
    // Asked before each pass; false skips it. Empty: every pass runs.
    std::function<bool()> gate = nullptr;
    // After a skipped pass, the next try comes this soon (capped at the interval).
    absl::Duration gate_retry = absl::InfiniteDuration();
  };

  PeriodicTask(Options options, std::function<absl::Status()> pass);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Starts the thread (once; a second call, or a non-positive interval, does nothing).
  void Start();
  // Ends the thread after the pass under way, if any. Idempotent; no pass starts after it.
  void Stop();
  // Asks for a pass as soon as possible.
  void Trigger();

  // Passes finished so far, failed ones included (tests poll this).
  int64_t passes() const;
  // Passes the gate skipped so far.
  int64_t skipped_passes() const;
  // True when Start() started the thread (the interval is positive).
  bool running() const;

 private:
  void Loop();

  const Options options_;
  const std::function<absl::Status()> pass_;
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool triggered_ ABSL_GUARDED_BY(mu_) = false;
  int64_t passes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t skipped_passes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_PERIODIC_TASK_H_
