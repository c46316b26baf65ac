// Retention of the tables that only grow (docs/operations.md "Retention"): request_id keys
// (idempotency_keys, in every schema) and a change feed (change_feed, in the inventory schema).
//
// Each sweep deletes in bounded batches, one short transaction per batch, so no sweep holds
// many row locks or a lock for long, and stops early when `keep_going` answers false (the job's
// lease has lapsed, common/job_lease.h) or the deadline passes. Meant to run as a leased
// PeriodicTask (RetentionSweeper below).
//
// Thread-safe (each call uses its own pooled connections).
#ifndef BLOODGRID_COMMON_RETENTION_SWEEP_H_
#define BLOODGRID_COMMON_RETENTION_SWEEP_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/job_lease.h"
#include "common/mysql_pool.h"
#include "common/periodic_task.h"

namespace bloodgrid::db {

// Default retention of request_id keys: the 7 days common.proto promises ("Idempotency").
inline constexpr absl::Duration kDefaultIdempotencyRetention = absl::Hours(24 * 7);
// Default retention of a change feed: the 7 days inventory.proto promises (ReadChangeFeed).
inline constexpr absl::Duration kDefaultChangeFeedRetention = absl::Hours(24 * 7);

struct SweepLimits {
  // Rows deleted per transaction.
  int batch_size = 500;
  absl::Time deadline = absl::InfiniteFuture();
  // Asked before each batch; false stops the sweep (rows deleted so far stay deleted).
  std::function<bool()> keep_going;
};

// Deletes idempotency_keys rows created before `cutoff` (the database's created_at, so the
// cutoff is on the database's clock: pass the real time minus the retention). Returns the rows
// deleted. The keys are found by walking the primary key with non-locking reads and deleted by
// primary key, so the sweep needs no index on created_at and locks only the rows it deletes.
absl::StatusOr<int64_t> SweepIdempotencyKeys(ConnectionPool& pool, absl::Time cutoff,
                                             const SweepLimits& limits);

// Deletes change_feed rows committed before `cutoff` (committed_us), oldest first, but never
// the newest row: the feed's next sequence is read from it. Returns the rows deleted.
absl::StatusOr<int64_t> SweepChangeFeed(ConnectionPool& pool, absl::Time cutoff,
                                        const SweepLimits& limits);

struct RetentionOptions {
  // How often to sweep; zero or negative turns the sweeper off.
  absl::Duration interval = absl::Hours(1);
  // Keys older than this go. Must be positive.
  absl::Duration idempotency_retention = kDefaultIdempotencyRetention;
  // Sweep change_feed too (the inventory schema), keeping this long; zero: no feed here.
  absl::Duration change_feed_retention = absl::ZeroDuration();
  int batch_size = 500;
};

// The retention job of one service: a PeriodicTask gated on the lease "retention_sweep" in the
// service's schema, so one replica sweeps. Start() / Stop() like PeriodicTask.
class RetentionSweeper {
 public:
  // `pool` and `leases` must outlive the sweeper.
  RetentionSweeper(ConnectionPool* pool, JobLeases* leases, RetentionOptions options);
  ~RetentionSweeper();

  void Start();
  void Stop();

  // One sweep now, ungated (tests, and the task's pass). Returns the rows deleted.
  absl::StatusOr<int64_t> SweepOnce(absl::Time now);

  const PeriodicTask& task() const { return *task_; }

 private:
  ConnectionPool* const pool_;
  JobLease* const lease_;
  const RetentionOptions options_;
  std::unique_ptr<PeriodicTask> task_;
};

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_RETENTION_SWEEP_H_
