// One runner per job across the replicas of a service (issue "one runner per job"): a lease row
// per job in the owning schema's `job_leases` table (job, holder, acquired_us, expires_us).
//
// A holder takes the lease when the row is missing or has expired, and renews it while it holds
// it; anyone else is refused until it expires. Acquire-or-renew is one transaction that locks the
// row (created first when missing), so concurrent replicas serialise on it and at most one holds
// an unexpired lease at any instant. Instants are the callers' clocks (NTP keeps replicas within
// far less than a lease's TTL), passed in so tests can step them.
//
// Use: a PeriodicTask (common/periodic_task.h) whose gate is JobLeases::Gate(job): each pass first
// acquires or renews the lease and is skipped when another replica holds it. While a process
// holds leases, a heartbeat thread renews them every third of the TTL, so the TTL does not
// depend on the jobs' intervals or on how long a pass runs: a holder that dies is replaced
// within about one TTL (plus the other replicas' gate retry), and a holder that cannot renew
// (its database is down) loses the lease. Long passes check StillHeld between batches and stop
// when the lease has lapsed.
//
// Thread-safe.
#ifndef BLOODGRID_COMMON_JOB_LEASE_H_
#define BLOODGRID_COMMON_JOB_LEASE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"

namespace bloodgrid::db {

// A holder id unique to this process: "<host>:<pid>:<16 random hex digits>" (at most 128
// characters, the column's width).
std::string NewLeaseHolderId();

class JobLease {
 public:
  // `pool` must outlive the lease. `ttl` must be positive.
  JobLease(ConnectionPool* pool, std::string job, std::string holder, absl::Duration ttl);

  // Takes the lease when it is free or expired at `now`, renews it when this holder has it:
  // true and the lease runs until now + ttl. False when another holder's lease has not expired
  // at `now`. UNAVAILABLE / ABORTED when the database cannot answer before `deadline` (the
  // lease is then treated as lost).
  absl::StatusOr<bool> AcquireOrRenew(absl::Time now, absl::Time deadline);

  // Gives the lease up if this holder has it (expires it now), so another replica takes over at
  // its next pass. A lease held by another is left alone.
  absl::Status Release(absl::Time deadline);

  // True while the last successful AcquireOrRenew granted the lease until after `now`.
  bool StillHeld(absl::Time now) const;

  const std::string& job() const { return job_; }
  const std::string& holder() const { return holder_; }

 private:
  ConnectionPool* const pool_;
  const std::string job_;
  const std::string holder_;
  const absl::Duration ttl_;
  mutable absl::Mutex mu_;
  absl::Time held_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Default TTL of a job lease.
inline constexpr absl::Duration kDefaultJobLeaseTtl = absl::Seconds(9);

// The leases of one process, one per job, under one holder id, and their heartbeat.
class JobLeases {
 public:
  // `pool` must outlive this. `ttl` must be positive.
  explicit JobLeases(ConnectionPool* pool, std::string holder = NewLeaseHolderId(),
                     absl::Duration ttl = kDefaultJobLeaseTtl);
  // Stops the heartbeat and releases every lease held.
  ~JobLeases();
  JobLeases(const JobLeases&) = delete;
  JobLeases& operator=(const JobLeases&) = delete;

  // The lease of `job` (made on first use), owned here.
  JobLease& Lease(absl::string_view job);

  // A PeriodicTask gate for `job`: acquires or renews its lease on the real clock and answers
  // whether this process holds it. Logs "job_lease_acquired" / "job_lease_lost" on changes.
  // Starts the heartbeat on first use.
  std::function<bool()> Gate(absl::string_view job);

  // Stops the heartbeat and releases every lease this process holds (at shutdown, after its
  // tasks stopped). Idempotent.
  void ReleaseAll();

  const std::string& holder() const { return holder_; }
  absl::Duration ttl() const { return ttl_; }
  // How long a replica whose gate was refused waits before it asks again (a third of the TTL).
  absl::Duration retry() const { return ttl_ / 3; }

 private:
  void Heartbeat();

  ConnectionPool* const pool_;
  const std::string holder_;
  const absl::Duration ttl_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<JobLease>> leases_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread heartbeat_;
};

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_JOB_LEASE_H_
