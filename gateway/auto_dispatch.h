// Automated dispatch: runs the rebalancing planner on a schedule and carries out its
// proposals (create + dispatch each transfer), as the dispatcher "dispatcher:auto-dispatch".
// A dry run only logs what it would do. Off unless an interval is set.
//
// Any number of gateway replicas may run it: a transfer's request_id is derived from the
// proposal's content (origin, destination, items) and the interval bucket the round runs in
// (AutoDispatchRequestId), and every replica calls as the same actor, so the inventory's
// request_id idempotency turns the replicas' identical proposals into one transfer. Each
// transfer is created with dispatch = true (created and sent in one transaction); a transfer
// that still comes back CREATED (an inventory that dispatches separately) is dispatched with a
// request_id derived from its id, so replicas share that call too.
#ifndef BLOODGRID_GATEWAY_AUTO_DISPATCH_H_
#define BLOODGRID_GATEWAY_AUTO_DISPATCH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/dispatch_api.pb.h"
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

// The request_id of a proposal's transfer in the round at `now`: "auto.<bucket start, Unix
// seconds>.<16 hex digits of a hash of from, to and the items in canonical order>", the bucket
// being `now` rounded down to a multiple of `interval` (a non-positive interval counts as one
// minute). The same proposal in the same bucket gives the same id on every gateway; other
// content or another bucket gives another id.
std::string AutoDispatchRequestId(const v1::TransferProposal& proposal, absl::Time now,
                                  absl::Duration interval);

// The proposal's items in canonical order (the order AutoDispatchRequestId hashes them in), so
// every replica sends the same request for the same id.
std::vector<v1::TransferItem> CanonicalTransferItems(const v1::TransferProposal& proposal);

// The CreateTransfer request of a proposal in the round at `now`: AutoDispatchRequestId, the
// canonical items, the reason ("automated dispatch: " + why, at most 500 characters) and
// dispatch = true.
v1::CreateTransferRequest AutoDispatchTransferRequest(const v1::TransferProposal& proposal,
                                                      absl::string_view why, absl::Time now,
                                                      absl::Duration interval);

// Creates the transfer as dispatcher:auto-dispatch and, if it came back CREATED (an inventory
// that does not dispatch on create), dispatches it under "gw.dispatch.<transfer_id>", so every
// replica's call is the same call. The inventory's status otherwise.
absl::StatusOr<v1::Transfer> CreateAutoDispatchTransfer(Backends& backends, absl::Time deadline,
                                                        const v1::CreateTransferRequest& request);

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
