// An injectable clock. Everything that depends on "now" (expiry, intervals, reservation
// TTLs, sweepers) takes a Clock so tests can pin and advance time deterministically.
#ifndef BLOODGRID_COMMON_CLOCK_H_
#define BLOODGRID_COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace bloodgrid {

class Clock {
 public:
  virtual ~Clock() = default;
  // The current instant. Thread-safe.
  virtual absl::Time Now() const = 0;
  // The process-wide real-time clock (never destroyed).
  static Clock* Real();
};

// A clock that only moves when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  void Set(absl::Time t);
  void Advance(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_CLOCK_H_
