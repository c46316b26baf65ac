#include "inventory_service/inventory_operations.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/din.h"
#include "common/idempotency.h"
#include "common/log.h"
#include "common/page_token.h"
#include "common/status.h"

namespace bloodgrid::inventory {
namespace {

// request_id keys are scoped by (RPC, caller) (common.proto "Idempotency").
db::IdempotencyKey KeyFor(const CallContext& call, absl::string_view rpc,
                          const std::string& request_id, const google::protobuf::Message& request) {
  return db::IdempotencyKey{db::IdempotencyScope(rpc, call.actor), request_id,
                            db::RequestFingerprint(request)};
}

absl::StatusOr<std::string> NormalDin(absl::string_view field, absl::string_view text) {
  absl::StatusOr<Din> din = ParseDin(text);
  if (!din.ok()) {
    absl::string_view message = din.status().message();
    absl::ConsumePrefix(&message, "din: ");
    return InvalidField(field, message);
  }
  return din->ToString();
}

absl::StatusOr<PageRequest> Page(int32_t page_size, const std::string& token) {
  BG_ASSIGN_OR_RETURN(int size, EffectivePageSize(page_size));
  return PageRequest{size, token};
}

absl::Status ValidateComponentFilter(absl::string_view field, v1::Component component) {
  if (!v1::Component_IsValid(component)) return InvalidField(field, "unknown component");
  return absl::OkStatus();
}

absl::Status RequireId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return InvalidField(field, "is required");
  if (id.size() > 64) return InvalidField(field, "longer than 64 characters");
  return absl::OkStatus();
}

}  // namespace

InventoryOperations::InventoryOperations(InventoryStore* store, const v1::PolicyProfile* policy,
                                         Clock* clock, StockWatchHub* hub, Options options)
    : store_(store), policy_(policy), clock_(clock), hub_(hub), options_(std::move(options)) {}

void InventoryOperations::Publish(const StockChanges& changes) {
  if (hub_ != nullptr) hub_->Publish(changes);
}

// ---- Stations and par levels ----------------------------------------------------------------

absl::StatusOr<v1::Station> InventoryOperations::UpsertStation(
    const CallContext& call, const v1::UpsertStationRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  if (!request.has_station()) return InvalidField("station", "is required");
  BG_RETURN_IF_ERROR(ValidateStation(request.station()));
  v1::Station station = request.station();
  station.clear_created_at();  // output only
  station.clear_updated_at();
  return store_->UpsertStation(call, KeyFor(call, "UpsertStation", request.request_id(), request),
                               station);
}

absl::StatusOr<v1::Station> InventoryOperations::GetStation(const CallContext& call,
                                                            const v1::GetStationRequest& request) {
  BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
  return store_->GetStation(call, request.station_id());
}

absl::StatusOr<v1::ListStationsResponse> InventoryOperations::ListStations(
    const CallContext& call, const v1::ListStationsRequest& request) {
  BG_ASSIGN_OR_RETURN(PageRequest page, Page(request.page_size(), request.page_token()));
  return store_->ListStations(call, page);
}

absl::StatusOr<v1::ParLevel> InventoryOperations::SetParLevel(
    const CallContext& call, const v1::SetParLevelRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateSetParLevel(request));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::ParLevel level,
      store_->SetParLevel(call, KeyFor(call, "SetParLevel", request.request_id(), request), request,
                          &changes));
  Publish(changes);
  return level;
}

absl::StatusOr<v1::ListParLevelsResponse> InventoryOperations::ListParLevels(
    const CallContext& call, const v1::ListParLevelsRequest& request) {
  if (!request.station_id().empty()) {
    BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
  }
  BG_RETURN_IF_ERROR(ValidateComponentFilter("component", request.component()));
  return store_->ListParLevels(call, request);
}

// ---- Collection, testing, processing --------------------------------------------------------

absl::StatusOr<v1::RegisterCollectionResponse> InventoryOperations::RegisterCollection(
    const CallContext& call, const v1::RegisterCollectionRequest& request) {
  const CallContext& ctx = call;
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateRegisterCollection(request, *policy_, ctx.now));
  v1::RegisterCollectionRequest normal = request;
  BG_ASSIGN_OR_RETURN(*normal.mutable_din(), NormalDin("din", request.din()));
  BG_ASSIGN_OR_RETURN(CollectionPlan plan, PlanCollection(*policy_, options_.time_zone, normal));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(v1::RegisterCollectionResponse response,
                      store_->RegisterCollection(
                          ctx, KeyFor(call, "RegisterCollection", request.request_id(), request),
                          normal, plan, &changes));
  Publish(changes);
  return response;
}

absl::StatusOr<v1::RecordTestResultsResponse> InventoryOperations::RecordTestResults(
    const CallContext& call, const v1::RecordTestResultsRequest& request) {
  const CallContext& ctx = call;
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateRecordTestResults(request, ctx.now));
  v1::RecordTestResultsRequest normal = request;
  BG_ASSIGN_OR_RETURN(*normal.mutable_din(), NormalDin("din", request.din()));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::RecordTestResultsResponse response,
      store_->RecordTestResults(
          ctx, KeyFor(call, "RecordTestResults", request.request_id(), request), normal,
          RequiredReleaseTests(*policy_),
          LookbackPolicy{policy_->lookback().window(), options_.time_zone}, &changes));
  Publish(changes);
  return response;
}

absl::StatusOr<v1::ProcessDonationResponse> InventoryOperations::ProcessDonation(
    const CallContext& call, const v1::ProcessDonationRequest& request) {
  const CallContext& ctx = call;
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateProcessDonation(request, ctx.now));
  v1::ProcessDonationRequest normal = request;
  BG_ASSIGN_OR_RETURN(*normal.mutable_din(), NormalDin("din", request.din()));
  const absl::Time processed_at =
      request.has_processed_at() ? FromTimestamp(request.processed_at()) : ctx.now;
  const std::vector<v1::ComponentSpec> specs(request.components().begin(),
                                             request.components().end());
  auto planner = [&](const v1::Unit& parent) {
    return PlanComponents(*policy_, options_.time_zone, parent, specs, processed_at);
  };
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::ProcessDonationResponse response,
      store_->ProcessDonation(ctx, KeyFor(call, "ProcessDonation", request.request_id(), request),
                              normal, processed_at, planner, &changes));
  Publish(changes);
  return response;
}

// ---- Reservations ---------------------------------------------------------------------------

absl::StatusOr<v1::Reservation> InventoryOperations::Reserve(const CallContext& call,
                                                             const v1::ReserveRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReserve(request));
  const absl::Duration hold =
      request.hold_seconds() > 0 ? absl::Seconds(request.hold_seconds()) : options_.default_hold;
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(v1::Reservation reservation, store_->Reserve(call, request, hold, &changes));
  Publish(changes);
  return reservation;
}

absl::StatusOr<v1::Reservation> InventoryOperations::ConfirmReservation(
    const CallContext& call, const v1::ConfirmReservationRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  return store_->ConfirmReservation(call, request.reservation_key());
}

absl::StatusOr<v1::Reservation> InventoryOperations::GetReservation(
    const CallContext& call, const v1::GetReservationRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  return store_->GetReservation(call, request.reservation_key());
}

absl::StatusOr<v1::Reservation> InventoryOperations::Release(const CallContext& call,
                                                             const v1::ReleaseRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateRelease(request));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(v1::Reservation reservation,
                      store_->Release(call, KeyFor(call, "Release", request.request_id(), request),
                                      request, &changes));
  Publish(changes);
  return reservation;
}

absl::StatusOr<v1::IssueResponse> InventoryOperations::Issue(const CallContext& call,
                                                             const v1::IssueRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateIssue(request));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::IssueResponse response,
      store_->Issue(call, KeyFor(call, "Issue", request.request_id(), request), request, &changes));
  Publish(changes);
  return response;
}

absl::StatusOr<v1::Unit> InventoryOperations::RecordOutcome(
    const CallContext& call, const v1::RecordOutcomeRequest& request) {
  const CallContext& ctx = call;
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateRecordOutcome(request, ctx.now));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::Unit unit,
      store_->RecordOutcome(ctx, KeyFor(call, "RecordOutcome", request.request_id(), request),
                            request, &changes));
  Publish(changes);
  return unit;
}

// ---- Transfers ------------------------------------------------------------------------------

absl::StatusOr<v1::Transfer> InventoryOperations::CreateTransfer(
    const CallContext& call, const v1::CreateTransferRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateCreateTransfer(request));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::Transfer transfer,
      store_->CreateTransfer(call, KeyFor(call, "CreateTransfer", request.request_id(), request),
                             request, options_.transfers, &changes));
  Publish(changes);
  return transfer;
}

absl::StatusOr<v1::Transfer> InventoryOperations::DispatchTransfer(
    const CallContext& call, const v1::DispatchTransferRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireId("transfer_id", request.transfer_id()));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(v1::Transfer transfer,
                      store_->DispatchTransfer(
                          call, KeyFor(call, "DispatchTransfer", request.request_id(), request),
                          request, options_.transfers, &changes));
  Publish(changes);
  return transfer;
}

absl::StatusOr<v1::Transfer> InventoryOperations::ReceiveTransfer(
    const CallContext& call, const v1::ReceiveTransferRequest& request) {
  const CallContext& ctx = call;
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateReceiveTransfer(request, ctx.now));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::Transfer transfer,
      store_->ReceiveTransfer(ctx, KeyFor(call, "ReceiveTransfer", request.request_id(), request),
                              request, &changes));
  Publish(changes);
  return transfer;
}

absl::StatusOr<v1::Transfer> InventoryOperations::CancelTransfer(
    const CallContext& call, const v1::CancelTransferRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireId("transfer_id", request.transfer_id()));
  BG_RETURN_IF_ERROR(ValidateText("reason", request.reason(), 1000, false));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::Transfer transfer,
      store_->CancelTransfer(call, KeyFor(call, "CancelTransfer", request.request_id(), request),
                             request, &changes));
  Publish(changes);
  return transfer;
}

absl::StatusOr<v1::Transfer> InventoryOperations::GetTransfer(
    const CallContext& call, const v1::GetTransferRequest& request) {
  BG_RETURN_IF_ERROR(RequireId("transfer_id", request.transfer_id()));
  return store_->GetTransfer(call, request.transfer_id());
}

absl::StatusOr<v1::ListTransfersResponse> InventoryOperations::ListTransfers(
    const CallContext& call, const v1::ListTransfersRequest& request) {
  if (!request.station_id().empty()) {
    BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
  }
  if (!v1::TransferStatus_IsValid(request.status()))
    return InvalidField("status", "unknown status");
  BG_ASSIGN_OR_RETURN(PageRequest page, Page(request.page_size(), request.page_token()));
  return store_->ListTransfers(call, request, page);
}

// ---- Discard and lookback -------------------------------------------------------------------

absl::StatusOr<v1::Unit> InventoryOperations::DiscardUnit(const CallContext& call,
                                                          const v1::DiscardUnitRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateDiscardUnit(request));
  v1::DiscardUnitRequest normal = request;
  if (request.unit_case() == v1::DiscardUnitRequest::kDin) {
    BG_ASSIGN_OR_RETURN(*normal.mutable_din(), NormalDin("din", request.din()));
  }
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(
      v1::Unit unit,
      store_->DiscardUnit(call, KeyFor(call, "DiscardUnit", request.request_id(), request), normal,
                          &changes));
  Publish(changes);
  return unit;
}

absl::StatusOr<v1::QuarantineByDonorResponse> InventoryOperations::QuarantineByDonor(
    const CallContext& call, const v1::QuarantineByDonorRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateQuarantineByDonor(request));
  v1::QuarantineByDonorRequest normal = request;
  BG_ASSIGN_OR_RETURN(*normal.mutable_reactive_din(),
                      NormalDin("reactive_din", request.reactive_din()));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(v1::QuarantineByDonorResponse response,
                      store_->QuarantineByDonor(
                          call, KeyFor(call, "QuarantineByDonor", request.request_id(), request),
                          normal, policy_->lookback().window(), options_.time_zone, &changes));
  Publish(changes);
  return response;
}

absl::StatusOr<v1::ListLookbacksResponse> InventoryOperations::ListLookbacks(
    const CallContext& call, const v1::ListLookbacksRequest& request) {
  BG_RETURN_IF_ERROR(ValidateListLookbacks(request));
  BG_ASSIGN_OR_RETURN(PageRequest page, Page(request.page_size(), request.page_token()));
  return store_->ListLookbacks(call, request, page);
}

absl::StatusOr<v1::LookbackCase> InventoryOperations::GetLookback(
    const CallContext& call, const v1::GetLookbackRequest& request) {
  BG_RETURN_IF_ERROR(ValidateGetLookback(request));
  return store_->GetLookback(call, request.lookback_id());
}

absl::StatusOr<v1::ListRecallsResponse> InventoryOperations::ListRecalls(
    const CallContext& call, const v1::ListRecallsRequest& request) {
  BG_RETURN_IF_ERROR(ValidateListRecalls(request));
  BG_ASSIGN_OR_RETURN(PageRequest page, Page(request.page_size(), request.page_token()));
  return store_->ListRecalls(call, request, page);
}

absl::StatusOr<v1::RecallNotice> InventoryOperations::AcknowledgeRecall(
    const CallContext& call, const v1::AcknowledgeRecallRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(ValidateAcknowledgeRecall(request));
  return store_->AcknowledgeRecall(
      call, KeyFor(call, "AcknowledgeRecall", request.request_id(), request), request);
}

// ---- Views ----------------------------------------------------------------------------------

absl::StatusOr<v1::GetStockSummaryResponse> InventoryOperations::GetStockSummary(
    const CallContext& call, const v1::GetStockSummaryRequest& request) {
  const std::string station = request.has_station_id() ? request.station_id() : "";
  if (!station.empty()) BG_RETURN_IF_ERROR(ValidateStationId("station_id", station));
  BG_RETURN_IF_ERROR(ValidateComponentFilter("component", request.component()));
  const CallContext& ctx = call;
  BG_ASSIGN_OR_RETURN(
      std::vector<v1::StockLevel> levels,
      store_->StockLevels(ctx, station, request.component(), options_.expiring_soon));
  v1::GetStockSummaryResponse response;
  for (v1::StockLevel& level : levels) *response.add_levels() = std::move(level);
  response.set_expiring_soon_hours(
      static_cast<int32_t>(absl::ToInt64Hours(options_.expiring_soon)));
  ToTimestamp(ctx.now, response.mutable_as_of());
  return response;
}

absl::StatusOr<v1::ListUnitsResponse> InventoryOperations::ListUnits(
    const CallContext& call, const v1::ListUnitsRequest& request) {
  if (!request.station_id().empty()) {
    BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
  }
  BG_RETURN_IF_ERROR(ValidateComponentFilter("component", request.component()));
  if (request.has_blood_type())
    BG_RETURN_IF_ERROR(ValidateKnownBloodType("blood_type", request.blood_type()));
  if (!v1::UnitStatus_IsValid(request.status())) return InvalidField("status", "unknown status");
  if (request.donor_id().size() > 64) return InvalidField("donor_id", "longer than 64 characters");
  BG_ASSIGN_OR_RETURN(PageRequest page, Page(request.page_size(), request.page_token()));
  v1::ListUnitsRequest normal = request;
  if (!request.din().empty()) {
    BG_ASSIGN_OR_RETURN(*normal.mutable_din(), NormalDin("din", request.din()));
  }
  return store_->ListUnits(call, normal, page);
}

absl::StatusOr<v1::Unit> InventoryOperations::GetUnit(const CallContext& call,
                                                      const v1::GetUnitRequest& request) {
  BG_RETURN_IF_ERROR(RequireId("unit_id", request.unit_id()));
  return store_->GetUnit(call, request.unit_id());
}

absl::StatusOr<v1::GetUnitTraceResponse> InventoryOperations::GetUnitTrace(
    const CallContext& call, const v1::GetUnitTraceRequest& request) {
  BG_ASSIGN_OR_RETURN(std::string din, NormalDin("din", request.din()));
  return store_->GetUnitTrace(call, din);
}

absl::StatusOr<v1::GetRebalanceInputsResponse> InventoryOperations::GetRebalanceInputs(
    const CallContext& call, const v1::GetRebalanceInputsRequest& request) {
  if (request.horizon_hours() < 1 || request.horizon_hours() > 336) {
    return InvalidField("horizon_hours", "must be 1-336");
  }
  if (request.demand_window_days() < 0 || request.demand_window_days() > 365) {
    return InvalidField("demand_window_days", "must be 0-365");
  }
  const int window = request.demand_window_days() == 0 ? 28 : request.demand_window_days();
  return store_->GetRebalanceInputs(call, request.horizon_hours(), window,
                                    options_.transfers.transport);
}

absl::StatusOr<std::shared_ptr<StockWatcher>> InventoryOperations::Watch(
    const CallContext& call, const v1::WatchStockRequest& request) {
  if (hub_ == nullptr) return absl::FailedPreconditionError("stock events are not available");
  std::optional<std::string> station;
  if (request.has_station_id() && !request.station_id().empty()) {
    BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
    BG_RETURN_IF_ERROR(store_->GetStation(call, request.station_id()).status());
    station = request.station_id();
  }
  return hub_->Subscribe(std::move(station), request.include_snapshot(), request.resume_token());
}

void InventoryOperations::Unwatch(const std::shared_ptr<StockWatcher>& watcher) {
  if (hub_ != nullptr) hub_->Unsubscribe(watcher);
}

// ---- Change feed ---------------------------------------------------------------------------

absl::StatusOr<v1::ReadChangeFeedResponse> InventoryOperations::ReadChangeFeed(
    const CallContext& call, const v1::ReadChangeFeedRequest& request) {
  if (request.limit() < 0 || request.limit() > 1000) {
    return InvalidField("limit", absl::StrCat(request.limit(), " is outside 0..1000"));
  }
  if (request.wait_ms() < 0 || request.wait_ms() > 30000) {
    return InvalidField("wait_ms", absl::StrCat(request.wait_ms(), " is outside 0..30000"));
  }
  const int limit = request.limit() == 0 ? 500 : request.limit();
  // Answer (empty) a little before the caller's deadline rather than let it expire.
  const absl::Time until = std::min(absl::Now() + absl::Milliseconds(request.wait_ms()),
                                    call.deadline - absl::Milliseconds(500));
  while (true) {
    const uint64_t seen = hub_ != nullptr ? hub_->commits().version() : 0;
    BG_ASSIGN_OR_RETURN(v1::ReadChangeFeedResponse response,
                        store_->ReadChangeFeed(call, request.after_sequence(), limit));
    const absl::Duration left = until - absl::Now();
    if (!response.events().empty() || left <= absl::ZeroDuration()) return response;
    if (hub_ == nullptr) {
      absl::SleepFor(std::min(left, kFeedPollInterval));
    } else {
      if (hub_->commits().stopped()) return response;
      hub_->commits().WaitChange(seen, std::min(left, kFeedPollInterval));
    }
  }
}

// ---- Sweepers -------------------------------------------------------------------------------

absl::StatusOr<int> InventoryOperations::SweepReservations() {
  const CallContext ctx = JobCallContext("reservation-sweeper", *clock_, options_.time_zone,
                                         absl::Now() + absl::Seconds(30));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(SweepReport report,
                      store_->ExpireHeldReservations(ctx, options_.sweep_batch, &changes));
  Publish(changes);
  if (report.changed > 0)
    LogInfo("reservations_expired", {{"count", std::to_string(report.changed)}});
  return report.changed;
}

absl::StatusOr<int> InventoryOperations::SweepExpiredUnits() {
  absl::MutexLock lock(&sweep_mu_);
  const CallContext ctx = JobCallContext("expiry-sweeper", *clock_, options_.time_zone,
                                         absl::Now() + absl::Seconds(30));
  StockChanges changes;
  BG_ASSIGN_OR_RETURN(SweepReport report, store_->ExpireUnits(ctx, options_.sweep_batch, &changes));
  const size_t expired_alerts = changes.alerts.size();
  // EXPIRING_SOON: units that entered the window since the last pass, one alert per row.
  const absl::Time window_end = ctx.now + options_.expiring_soon;
  const absl::Time from = std::max(alerted_until_, ctx.now);
  absl::Time alerted_until = alerted_until_;
  if (window_end > from) {
    BG_ASSIGN_OR_RETURN(std::vector<v1::Unit> soon,
                        store_->UnitsExpiringBetween(ctx, from, window_end, options_.sweep_batch));
    std::map<LevelKey, v1::StockAlert> alerts;
    for (const v1::Unit& unit : soon) {
      v1::StockAlert& alert = alerts[KeyOfUnit(unit)];
      if (alert.unit_ids().empty()) {
        alert.set_kind(v1::STOCK_ALERT_KIND_EXPIRING_SOON);
        alert.set_station_id(unit.station_id());
        alert.set_component(unit.component());
        *alert.mutable_blood_type() = unit.blood_type();
        *alert.mutable_earliest_expiry() = unit.expires_at();
      }
      alert.add_unit_ids(unit.unit_id());
    }
    for (auto& [key, alert] : alerts) {
      alert.set_message(absl::StrCat(alert.unit_ids_size(), " units at ", key.station_id,
                                     " expire within ",
                                     absl::FormatDuration(options_.expiring_soon)));
      changes.alerts.push_back(std::move(alert));
    }
    // When the batch was full, the rest is alerted on the next pass.
    alerted_until = static_cast<int>(soon.size()) < options_.sweep_batch
                        ? window_end
                        : FromTimestamp(soon.back().expires_at());
  }
  // Units the store expired are in the feed already; EXPIRING_SOON alerts come from no write,
  // so they are appended on their own for every replica's watchers.
  std::vector<v1::StockAlert> derived(changes.alerts.begin() + expired_alerts,
                                      changes.alerts.end());
  BG_RETURN_IF_ERROR(store_->AppendStockAlerts(ctx, derived));
  alerted_until_ = alerted_until;
  Publish(changes);
  if (report.changed > 0) LogInfo("units_expired", {{"count", std::to_string(report.changed)}});
  return report.changed;
}

}  // namespace bloodgrid::inventory
