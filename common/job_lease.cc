#include "common/job_lease.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/sql_toolkit.h"

namespace bloodgrid::db {
namespace {

// A missing row is created expired and then locked like any other. The lock comes first: an
// INSERT IGNORE of an existing row would take a shared lock that every racer then upgrades,
// and they would deadlock on each other at every pass.
constexpr char kEnsureRow[] =
    "INSERT IGNORE INTO job_leases (job, holder, acquired_us, expires_us) VALUES (?, '', 0, 0)";
constexpr char kLockRow[] = "SELECT holder, expires_us FROM job_leases WHERE job = ? FOR UPDATE";
constexpr char kRenew[] = "UPDATE job_leases SET expires_us = ? WHERE job = ? AND holder = ?";
constexpr char kTake[] =
    "UPDATE job_leases SET holder = ?, acquired_us = ?, expires_us = ? WHERE job = ?";
constexpr char kRelease[] = "UPDATE job_leases SET expires_us = 0 WHERE job = ? AND holder = ?";

}  // namespace

std::string NewLeaseHolderId() {
  char host[64] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device device;
  const uint64_t random = (static_cast<uint64_t>(device()) << 32) ^ device();
  return absl::StrFormat("%s:%d:%016x", host[0] != '\0' ? host : "unknown",
                         static_cast<int>(getpid()), random);
}

JobLease::JobLease(ConnectionPool* pool, std::string job, std::string holder, absl::Duration ttl)
    : pool_(pool), job_(std::move(job)), holder_(std::move(holder)), ttl_(ttl) {}

absl::StatusOr<bool> JobLease::AcquireOrRenew(absl::Time now, absl::Time deadline) {
  const absl::Time until = now + ttl_;
  bool held = false;
  absl::Status status =
      RunTransaction(*pool_, "acquire job lease", deadline, [&](Connection& conn) {
        held = false;
        std::string holder;
        absl::Time expires = absl::InfinitePast();
        auto lock_row = [&] {
          sql::PreparedStatement& lock = conn.Prepare(kLockRow);
          Params(lock).Str(job_);
          return ForEachRow(lock, [&](const sql::ResultSet& rs) {
            holder = Str(rs, 1);
            expires = Time(rs, 2);
          });
        };
        if (lock_row() == 0) {
          sql::PreparedStatement& ensure = conn.Prepare(kEnsureRow);
          Params(ensure).Str(job_);
          ensure.executeUpdate();
          lock_row();
        }
        if (holder == holder_) {
          sql::PreparedStatement& renew = conn.Prepare(kRenew);
          Params(renew).Time(until).Str(job_).Str(holder_);
          renew.executeUpdate();
          held = true;
        } else if (expires <= now) {
          sql::PreparedStatement& take = conn.Prepare(kTake);
          Params(take).Str(holder_).Time(now).Time(until).Str(job_);
          take.executeUpdate();
          held = true;
        }
        return absl::OkStatus();
      });
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    held_until_ = absl::InfinitePast();
    return status;
  }
  held_until_ = held ? until : absl::InfinitePast();
  return held;
}

absl::Status JobLease::Release(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    held_until_ = absl::InfinitePast();
  }
  return RunTransaction(*pool_, "release job lease", deadline, [&](Connection& conn) {
    sql::PreparedStatement& release = conn.Prepare(kRelease);
    Params(release).Str(job_).Str(holder_);
    release.executeUpdate();
    return absl::OkStatus();
  });
}

bool JobLease::StillHeld(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return now < held_until_;
}

JobLeases::JobLeases(ConnectionPool* pool, std::string holder, absl::Duration ttl)
    : pool_(pool), holder_(std::move(holder)), ttl_(ttl) {}

JobLeases::~JobLeases() { ReleaseAll(); }

JobLease& JobLeases::Lease(absl::string_view job) {
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<JobLease>& lease : leases_) {
    if (lease->job() == job) return *lease;
  }
  leases_.push_back(std::make_unique<JobLease>(pool_, std::string(job), holder_, ttl_));
  return *leases_.back();
}

std::function<bool()> JobLeases::Gate(absl::string_view job) {
  JobLease* lease = &Lease(job);
  {
    absl::MutexLock lock(&mu_);
    if (!heartbeat_.joinable() && !stopping_) heartbeat_ = std::thread([this] { Heartbeat(); });
  }
  auto was_held = std::make_shared<std::atomic<bool>>(false);
  return [lease, was_held] {
    const absl::Time now = absl::Now();
    absl::StatusOr<bool> held = lease->AcquireOrRenew(now, now + absl::Seconds(5));
    const bool now_held = held.ok() && *held;
    if (now_held != was_held->exchange(now_held)) {
      LogInfo(now_held ? "job_lease_acquired" : "job_lease_lost",
              {{"job", lease->job()},
               {"holder", lease->holder()},
               {"status", held.ok() ? "OK" : held.status().ToString()}});
    }
    return now_held;
  };
}

void JobLeases::Heartbeat() {
  while (true) {
    std::vector<JobLease*> held;
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), ttl_ / 3);
      if (stopping_) return;
      for (const std::unique_ptr<JobLease>& lease : leases_) {
        if (lease->StillHeld(absl::Now())) held.push_back(lease.get());
      }
    }
    for (JobLease* lease : held) {
      const absl::Time now = absl::Now();
      absl::StatusOr<bool> renewed = lease->AcquireOrRenew(now, now + ttl_ / 3);
      if (!renewed.ok() || !*renewed) {
        LogWarning("job_lease_lost",
                   {{"job", lease->job()},
                    {"holder", lease->holder()},
                    {"status", renewed.ok() ? "held by another" : renewed.status().ToString()}});
      }
    }
  }
}

void JobLeases::ReleaseAll() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<JobLease>& lease : leases_) {
    if (!lease->StillHeld(absl::Now())) continue;
    absl::Status status = lease->Release(absl::Now() + absl::Seconds(2));
    if (!status.ok()) {
      LogWarning("job_lease_release_failed",
                 {{"job", lease->job()}, {"status", status.ToString()}});
    }
  }
}

}  // namespace bloodgrid::db
