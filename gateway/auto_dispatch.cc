#include "gateway/auto_dispatch.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "gateway/auth.h"
#include "gateway/backends.h"
#include "gateway/workflows.h"

namespace bloodgrid::gateway {
namespace {

// One actor on every gateway: the inventory scopes request_ids by RPC and actor, so replicas
// with the same request_id make the same call.
Principal AutoDispatchPrincipal() { return Principal{Role::kDispatcher, "auto-dispatch"}; }

// Items sorted by their serialisation (TransferItem has no map field, so it is stable).
std::vector<std::pair<std::string, v1::TransferItem>> SortedItems(
    const v1::TransferProposal& proposal) {
  std::vector<std::pair<std::string, v1::TransferItem>> items;
  for (const v1::TransferItem& item : proposal.items()) {
    items.emplace_back(item.SerializeAsString(), item);
  }
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return items;
}

}  // namespace

std::vector<v1::TransferItem> CanonicalTransferItems(const v1::TransferProposal& proposal) {
  std::vector<v1::TransferItem> items;
  for (auto& [bytes, item] : SortedItems(proposal)) items.push_back(std::move(item));
  return items;
}

std::string AutoDispatchRequestId(const v1::TransferProposal& proposal, absl::Time now,
                                  absl::Duration interval) {
  const int64_t seconds = std::max<int64_t>(
      1, absl::ToInt64Seconds(interval > absl::ZeroDuration() ? interval : absl::Minutes(1)));
  const int64_t bucket_start = absl::ToUnixSeconds(now) / seconds * seconds;
  // Length-prefixed parts, so no two different proposals concatenate to the same bytes.
  std::string content;
  auto add = [&content](absl::string_view part) {
    absl::StrAppend(&content, part.size(), ":", part, ";");
  };
  add(proposal.from_station_id());
  add(proposal.to_station_id());
  for (const auto& [bytes, item] : SortedItems(proposal)) add(bytes);
  return absl::StrCat("auto.", bucket_start, ".", Fnv1a64Hex(content));
}

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
  const Principal principal = AutoDispatchPrincipal();
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
    absl::StatusOr<v1::Transfer> transfer = CreateAutoDispatchTransfer(
        backends_, absl::Now() + absl::Seconds(30),
        AutoDispatchTransferRequest(proposal, why, started, options_.interval));
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

v1::CreateTransferRequest AutoDispatchTransferRequest(const v1::TransferProposal& proposal,
                                                      absl::string_view why, absl::Time now,
                                                      absl::Duration interval) {
  v1::CreateTransferRequest request;
  request.set_request_id(AutoDispatchRequestId(proposal, now, interval));
  request.set_from_station_id(proposal.from_station_id());
  request.set_to_station_id(proposal.to_station_id());
  for (v1::TransferItem& item : CanonicalTransferItems(proposal)) {
    *request.add_items() = std::move(item);
  }
  request.set_reason(absl::StrCat("automated dispatch: ", why).substr(0, 500));
  request.set_dispatch(true);
  return request;
}

absl::StatusOr<v1::Transfer> CreateAutoDispatchTransfer(Backends& backends, absl::Time deadline,
                                                        const v1::CreateTransferRequest& request) {
  const Principal principal = AutoDispatchPrincipal();
  v1::Transfer transfer;
  {
    grpc::ClientContext context;
    backends.Prepare(context, principal, deadline);
    grpc::Status status = backends.inventory().CreateTransfer(&context, request, &transfer);
    if (!status.ok()) return DownstreamError(status);
  }
  if (transfer.status() != v1::TRANSFER_STATUS_CREATED) return transfer;
  v1::DispatchTransferRequest dispatch;
  dispatch.set_request_id(absl::StrCat("gw.dispatch.", transfer.transfer_id()));
  dispatch.set_transfer_id(transfer.transfer_id());
  v1::Transfer dispatched;
  grpc::ClientContext context;
  backends.Prepare(context, principal, deadline);
  grpc::Status status = backends.inventory().DispatchTransfer(&context, dispatch, &dispatched);
  if (!status.ok()) return DownstreamError(status);
  return dispatched;
}

}  // namespace bloodgrid::gateway
