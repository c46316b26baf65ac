#include "request_service/inventory_client.h"

#include <utility>

namespace bloodgrid::request {

void WatchCancellation::Cancel() {
  // Run under the lock so Disarm() cannot return while `cancel_` is still running (it may
  // touch the watch's call state, which dies after Disarm).
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (cancel_) cancel_();
}

bool WatchCancellation::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool WatchCancellation::Arm(std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  cancel_ = std::move(cancel);
  return true;
}

void WatchCancellation::Disarm() {
  absl::MutexLock lock(&mu_);
  cancel_ = nullptr;
}

}  // namespace bloodgrid::request
