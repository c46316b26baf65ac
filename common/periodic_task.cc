#include "common/periodic_task.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/log.h"

namespace bloodgrid {

PeriodicTask::PeriodicTask(Options options, std::function<absl::Status()> pass)
    : options_(std::move(options)), pass_(std::move(pass)) {}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_ || options_.interval <= absl::ZeroDuration()) return;
  started_ = true;
  triggered_ = options_.run_at_start;
  thread_ = std::thread([this] { Loop(); });
}

void PeriodicTask::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void PeriodicTask::Trigger() {
  absl::MutexLock lock(&mu_);
  triggered_ = true;
}

int64_t PeriodicTask::passes() const {
  absl::MutexLock lock(&mu_);
  return passes_;
}

int64_t PeriodicTask::skipped_passes() const {
  absl::MutexLock lock(&mu_);
  return skipped_passes_;
}

bool PeriodicTask::running() const {
  absl::MutexLock lock(&mu_);
  return started_ && !stopping_;
}

void PeriodicTask::Loop() {
  absl::Time next = absl::Now() + options_.interval;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this] { return stopping_ || triggered_; };
      mu_.AwaitWithDeadline(absl::Condition(&wake), next);
      if (stopping_) return;
      triggered_ = false;
    }
    if (options_.gate && !options_.gate()) {
      next = absl::Now() + std::min(options_.interval, options_.gate_retry);
      absl::MutexLock lock(&mu_);
      ++skipped_passes_;
      continue;
    }
    const absl::Status status = pass_();
    if (!status.ok()) {
      LogWarning(options_.name + "_failed", {{"status", status.ToString()}});
    }
    next = absl::Now() + options_.interval;
    absl::MutexLock lock(&mu_);
    ++passes_;
  }
}

}  // namespace bloodgrid
