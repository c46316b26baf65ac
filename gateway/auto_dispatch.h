// Automated dispatch: runs the rebalancing planner on a schedule and carries out its
// proposals (create + dispatch each transfer), as the dispatcher "dispatcher:auto-dispatch".
// A dry run only logs what it would do. Off unless an interval is set.
#ifndef BLOODGRID_GATEWAY_AUTO_DISPATCH_H_
#define BLOODGRID_GATEWAY_AUTO_DISPATCH_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "common/periodic_task.h"

namespace bloodgrid::gateway {

class Backends;

struct AutoDispatchOptions {
  // How often to plan; zero = automated dispatch off.
  absl::Duration interval = absl::ZeroDuration();
  // Planning horizon, hours (1..336).
  int horizon_hours = 48;
  // Log the proposals instead of creating transfers.
  bool dry_run = false;
};

class AutoDispatcher {
 public:
  AutoDispatcher(Backends& backends, const AutoDispatchOptions& options);
  ~AutoDispatcher();

  // Starts the schedule (the first round runs one interval after the start). No-op when the
  // interval is zero. Stop() ends it and waits for a round in progress.
  void Start();
  void Stop();

  // One round: plans the region and, unless dry_run, creates and dispatches every proposal.
  // Returns the transfers created (none for a dry run). A failing proposal is logged and
  // skipped; the plan itself failing is returned.
  absl::StatusOr<std::vector<v1::Transfer>> RunOnce();

 private:
  Backends& backends_;
  const AutoDispatchOptions options_;
  PeriodicTask task_;
};

}  // namespace bloodgrid::gateway

#endif  // BLOODGRID_GATEWAY_AUTO_DISPATCH_H_
