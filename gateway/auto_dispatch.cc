#include "gateway/auto_dispatch.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "gateway/auth.h"
#include "gateway/backends.h"
#include "gateway/workflows.h"

namespace bloodgrid::gateway {

AutoDispatcher::AutoDispatcher(Backends& backends, const AutoDispatchOptions& options)
    : backends_(backends),
      options_(options),
      task_({.name = "auto_dispatch_round", .interval = options.interval},
            [this] { return RunOnce().status(); }) {}

AutoDispatcher::~AutoDispatcher() { Stop(); }

void AutoDispatcher::Start() {
  if (options_.interval <= absl::ZeroDuration() || task_.running()) return;
  LogInfo("auto_dispatch_started", {{"interval", absl::FormatDuration(options_.interval)},
                                    {"horizon_hours", std::to_string(options_.horizon_hours)},
                                    {"dry_run", options_.dry_run ? "true" : "false"}});
  task_.Start();
}

void AutoDispatcher::Stop() { task_.Stop(); }

absl::StatusOr<std::vector<v1::Transfer>> AutoDispatcher::RunOnce() {
  const Principal principal{Role::kDispatcher, "auto-dispatch"};
  const absl::Time started = absl::Now();
  v1::PlanRebalanceRequest plan_request;
  plan_request.set_horizon_hours(options_.horizon_hours);
  absl::StatusOr<v1::PlanRebalanceResponse> plan =
      PlanRegionWorkflow(backends_, principal, started + absl::Seconds(60), plan_request);
  if (!plan.ok()) return plan.status();
  std::vector<v1::Transfer> created;
  for (const v1::TransferProposal& proposal : plan->proposals()) {
    std::vector<std::string> reasons;
    for (const v1::RebalanceReason& reason : proposal.reasons())
      reasons.push_back(reason.message());
    const std::string why = absl::StrJoin(reasons, "; ");
    if (options_.dry_run) {
      LogInfo("auto_dispatch_proposal", {{"proposal", proposal.proposal_id()},
                                         {"from", proposal.from_station_id()},
                                         {"to", proposal.to_station_id()},
                                         {"items", std::to_string(proposal.items_size())},
                                         {"why", why},
                                         {"dry_run", "true"}});
      continue;
    }
    v1::CreateTransferRequest request;
    // One key per round and proposal: a round never creates a proposal's transfer twice.
    request.set_request_id(
        absl::StrCat("auto.", absl::ToUnixSeconds(started), ".", proposal.proposal_id()));
    request.set_from_station_id(proposal.from_station_id());
    request.set_to_station_id(proposal.to_station_id());
    *request.mutable_items() = proposal.items();
    request.set_reason(absl::StrCat("automated dispatch: ", why).substr(0, 500));
    absl::StatusOr<v1::Transfer> transfer = CreateAndDispatchTransferWorkflow(
        backends_, principal, absl::Now() + absl::Seconds(30), request);
    if (!transfer.ok()) {
      LogWarning("auto_dispatch_transfer_failed",
                 {{"proposal", proposal.proposal_id()}, {"status", transfer.status().ToString()}});
      continue;
    }
    LogInfo("auto_dispatch_transfer", {{"transfer", transfer->transfer_id()},
                                       {"from", transfer->from_station_id()},
                                       {"to", transfer->to_station_id()},
                                       {"why", why}});
    created.push_back(*std::move(transfer));
  }
  return created;
}

}  // namespace bloodgrid::gateway
