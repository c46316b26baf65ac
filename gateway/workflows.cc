#include "gateway/workflows.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/donation_rules.h"
#include "common/fault_point.h"
#include "common/log.h"
#include "common/status.h"
#include "gateway/backends.h"
#include "planner/rebalance_planner.h"

namespace bloodgrid::gateway {
namespace {

// A request_id for a step of a workflow, derived from the record the step is about so that a
// retry of the whole workflow repeats the same key.
std::string StepRequestId(absl::string_view step, absl::string_view din) {
  return absl::StrCat("gw.", step, ".", din);
}

// How long RecordTestResults waits for the donor service's fast path before answering without
// it (the feed applies the same change).
constexpr absl::Duration kDonorFastPathBudget = absl::Seconds(3);

}  // namespace

namespace {

absl::StatusOr<v1::Station> FindStation(Backends& backends, const Principal& principal,
                                        absl::Time deadline, const std::string& station_id,
                                        absl::string_view field) {
  v1::GetStationRequest get_station;
  get_station.set_station_id(station_id);
  v1::Station station;
  grpc::ClientContext context;
  backends.Prepare(context, principal, deadline);
  grpc::Status status = backends.inventory().GetStation(&context, get_station, &station);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
      status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    return InvalidField(field, "unknown station");
  }
  if (!status.ok()) return DownstreamError(status);
  return station;
}

// A refusal of the unit, after the donation was voided: the inventory's status, the field it
// names still first, with what became of the donation.
absl::Status VoidedRefusal(const grpc::Status& refusal, const v1::Donation& voided) {
  const absl::Status mapped = DownstreamError(refusal);
  return absl::Status(mapped.code(),
                      absl::StrCat(mapped.message(), " (the unit was refused; donation ",
                                   voided.din(), " was voided and counts for no interval)"));
}

}  // namespace

absl::Status CheckStationKnown(Backends& backends, const Principal& principal, absl::Time deadline,
                               const std::string& station_id, absl::string_view field) {
  return FindStation(backends, principal, deadline, station_id, field).status();
}

absl::Status CheckStationTakesStock(Backends& backends, const Principal& principal,
                                    absl::Time deadline, const std::string& station_id,
                                    absl::string_view field) {
  BG_ASSIGN_OR_RETURN(v1::Station station,
                      FindStation(backends, principal, deadline, station_id, field));
  if (!station.active()) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": station '", station_id, "' is inactive and takes no new stock"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::AdminRecordDonationResponse> RecordDonationWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::RecordDonationRequest& request) {
  // The station is checked first: a donation recorded for a station that is unknown or takes
  // no new stock could never get its unit. The donation's content is checked by the donor
  // service under the rules the inventory applies too (common/donation_rules.h).
  if (request.station_id().empty()) return InvalidField("station_id", "is required");
  BG_RETURN_IF_ERROR(
      CheckStationTakesStock(backends, principal, deadline, request.station_id(), "station_id"));
  v1::RecordDonationResponse donation;
  {
    grpc::ClientContext context;
    backends.Prepare(context, principal, deadline);
    grpc::Status status = backends.donor().RecordDonation(&context, request, &donation);
    if (!status.ok()) return DownstreamError(status);
  }
  BG_FAULT_POINT("gateway.record_donation.after_donation");
  const std::string& din = donation.donation().din();
  v1::RegisterCollectionRequest collection;
  collection.set_request_id(StepRequestId("collect", din));
  collection.set_din(din);
  collection.set_donor_id(donation.donation().donor_id());
  collection.set_donation_type(donation.donation().donation_type());
  *collection.mutable_blood_type() = donation.donor_blood_type();
  collection.set_volume_ml(donation.donation().volume_ml());
  *collection.mutable_collected_at() = donation.donation().collected_at();
  collection.set_station_id(donation.donation().station_id());
  collection.set_anticoagulant(donation.donation().anticoagulant());
  collection.set_product_code(request.product_code());
  v1::AdminRecordDonationResponse response;
  v1::RegisterCollectionResponse registered;
  grpc::Status status;
  {
    grpc::ClientContext context;
    backends.Prepare(context, principal, deadline);
    status = backends.inventory().RegisterCollection(&context, collection, &registered);
  }
  if (!status.ok() && IsUnitRefusal(static_cast<absl::StatusCode>(status.error_code()))) {
    // Refused for what changed since the checks above (the station was deactivated, the DIN
    // was registered for someone else): the donation is voided, so it leaves no donation
    // without a unit and does not hold the donor to an interval for blood that is not stock.
    v1::VoidDonationRequest void_request;
    void_request.set_request_id(StepRequestId("void", din));
    void_request.set_din(din);
    void_request.set_reason(
        absl::StrCat("inventory refused the unit: ", status.error_message()).substr(0, 1000));
    v1::Donation voided;
    grpc::ClientContext context;
    backends.Prepare(context, principal, deadline);
    grpc::Status void_status = backends.donor().VoidDonation(&context, void_request, &voided);
    if (!void_status.ok()) {
      return Annotate(DownstreamError(void_status),
                      "unit refused, donation recorded and not yet voided (retry)");
    }
    return VoidedRefusal(status, voided);
  }
  if (!status.ok()) {
    return Annotate(DownstreamError(status), "donation recorded, unit not yet registered (retry)");
  }
  BG_FAULT_POINT("gateway.record_donation.after_collection");
  *response.mutable_unit() = registered.unit();
  *response.mutable_donation() = donation.donation();
  response.set_created(donation.created());
  return response;
}

absl::StatusOr<v1::AdminRecordTestResultsResponse> RecordTestResultsWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::RecordTestResultsRequest& request) {
  v1::AdminRecordTestResultsResponse response;
  v1::RecordTestResultsResponse& testing = *response.mutable_testing();
  {
    // The one step that must happen: the inventory records the results and, when reactive,
    // discards the units, holds the donor's others and opens the lookback case in the same
    // transaction, appending the outcome to its change feed.
    grpc::ClientContext context;
    backends.Prepare(context, principal, deadline);
    grpc::Status status = backends.inventory().RecordTestResults(&context, request, &testing);
    if (!status.ok()) return DownstreamError(status);
  }
  BG_FAULT_POINT("gateway.record_test_results.after_record");
  const std::string& din = testing.din();
  const std::string& donor_id = testing.donor_id();
  if (donor_id.empty()) return response;  // a unit registered without a donor reference

  // The donor steps below are a fast path for the reply: the donor service applies the same
  // outcome from the inventory's feed whatever happens here (both are idempotent per DIN), so
  // a donor service that is down or slow leaves these parts of the reply out instead of
  // failing a call whose result is already recorded.
  const absl::Time donor_deadline = std::min(deadline, absl::Now() + kDonorFastPathBudget);
  if (testing.has_typed_blood_type() &&
      testing.typed_blood_type().abo() != v1::ABO_GROUP_UNSPECIFIED) {
    v1::RecordBloodTypingRequest typing;
    typing.set_request_id(StepRequestId("typing", din));
    typing.set_donor_id(donor_id);
    *typing.mutable_blood_type() = testing.typed_blood_type();
    typing.set_din(din);
    v1::RecordBloodTypingResponse typed;
    grpc::ClientContext context;
    backends.Prepare(context, principal, donor_deadline);
    grpc::Status status = backends.donor().RecordBloodTyping(&context, typing, &typed);
    if (status.ok()) {
      if (typed.has_conflict()) *response.mutable_blood_type_conflict() = typed.conflict();
    } else {
      LogWarning("typing_left_to_feed", {{"din", din}, {"status", status.error_message()}});
    }
    BG_FAULT_POINT("gateway.record_test_results.after_typing");
  }

  if (testing.outcome() != v1::TESTING_OUTCOME_REACTIVE) return response;

  // DOMAIN.md section 5: a reactive result defers the donor and starts the lookback.
  {
    v1::MarkDonorReactiveRequest reactive;
    reactive.set_request_id(StepRequestId("reactive", din));
    reactive.set_donor_id(donor_id);
    reactive.set_din(din);
    if (testing.reactive_tests_size() > 0) reactive.set_test(testing.reactive_tests(0));
    v1::MarkDonorReactiveResponse deferred;
    grpc::ClientContext context;
    backends.Prepare(context, principal, donor_deadline);
    grpc::Status status = backends.donor().MarkDonorReactive(&context, reactive, &deferred);
    if (status.ok()) {
      *response.mutable_deferral() = deferred.deferral();
    } else {
      LogWarning("deferral_left_to_feed", {{"din", din}, {"status", status.error_message()}});
    }
    BG_FAULT_POINT("gateway.record_test_results.after_reactive");
  }
  const v1::LookbackCase& lookback = testing.lookback();
  v1::LookbackReport& report = *response.mutable_lookback();
  report.set_donor_id(donor_id);
  report.set_reactive_din(din);
  if (lookback.has_window_start()) *report.mutable_window_start() = lookback.window_start();
  if (lookback.has_window_end()) *report.mutable_window_end() = lookback.window_end();
  *report.mutable_quarantined_units() = lookback.held_units();
  *report.mutable_issued_units() = lookback.issued_units();
  if (lookback.issued_units_size() == 0) return response;

  // The hospitals come from the case (the inventory knows where it issued each unit); the
  // request service adds names, orders and patient references when it answers.
  std::map<std::string, v1::LookbackNotice> by_hospital;
  for (const v1::IssuedUnit& issued : lookback.issued_units()) {
    v1::LookbackNotice& notice = by_hospital[issued.hospital_id()];
    notice.set_hospital_id(issued.hospital_id());
  }
  v1::FindOrdersByDinsRequest find;
  std::set<std::string> dins;
  for (const v1::IssuedUnit& issued : lookback.issued_units()) dins.insert(issued.unit().din());
  for (const std::string& d : dins) find.add_dins(d);
  v1::FindOrdersByDinsResponse found;
  grpc::ClientContext context;
  backends.Prepare(context, principal, deadline);
  grpc::Status status = backends.request().FindOrdersByDins(&context, find, &found);
  if (status.ok()) {
    for (const v1::UnitDelivery& delivery : found.deliveries()) {
      v1::LookbackNotice& notice = by_hospital[delivery.hospital_id()];
      notice.set_hospital_id(delivery.hospital_id());
      notice.set_hospital_name(delivery.hospital_name());
      *notice.add_deliveries() = delivery;
    }
  } else {
    LogWarning("lookback_deliveries_unavailable",
               {{"din", din}, {"status", status.error_message()}});
  }
  for (auto& [id, notice] : by_hospital) *report.add_hospitals_to_notify() = std::move(notice);
  return response;
}

absl::StatusOr<v1::PlanRebalanceResponse> PlanRegionWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::PlanRebalanceRequest& request) {
  if (request.horizon_hours() < 1 || request.horizon_hours() > 336) {
    return InvalidField("horizon_hours", "must be 1..336");
  }
  // The inventory gathers the region's stock, par levels, demand and transport times; the
  // planner (pure, planner/rebalance_planner.h) turns them into proposals.
  v1::GetRebalanceInputsRequest inputs_request;
  inputs_request.set_horizon_hours(request.horizon_hours());
  v1::GetRebalanceInputsResponse inputs;
  {
    grpc::ClientContext context;
    backends.Prepare(context, principal, deadline);
    grpc::Status status =
        backends.inventory().GetRebalanceInputs(&context, inputs_request, &inputs);
    if (!status.ok()) return DownstreamError(status);
  }
  planner::PlannerOptions options;
  if (request.has_station_id()) options.station_id = request.station_id();
  absl::StatusOr<v1::PlanRebalanceResponse> plan = planner::PlanRebalance(inputs, options);
  // Only the station filter comes from the caller; any other refusal means the inventory sent
  // inputs the planner cannot use: a defect to log, not the caller's mistake.
  if (!plan.ok() && plan.status().code() == absl::StatusCode::kInvalidArgument &&
      !absl::StartsWith(plan.status().message(), "station_id:")) {
    LogError("planner_rejected_inputs", {{"status", plan.status().ToString()}});
    return absl::InternalError("internal error");
  }
  return plan;
}

absl::StatusOr<v1::Transfer> CreateAndDispatchTransferWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::CreateTransferRequest& request) {
  // One transaction creates and dispatches, so no crash can leave the units held by a
  // transfer nobody sends.
  v1::CreateTransferRequest create = request;
  create.set_dispatch(true);
  v1::Transfer created;
  {
    grpc::ClientContext context;
    backends.Prepare(context, principal, deadline);
    grpc::Status status = backends.inventory().CreateTransfer(&context, create, &created);
    if (!status.ok()) return DownstreamError(status);
  }
  BG_FAULT_POINT("gateway.create_and_dispatch_transfer.after_create");
  // A transfer created before the one-step form (a retry of an old request_id) still needs
  // its dispatch.
  if (created.status() != v1::TRANSFER_STATUS_CREATED) return created;
  v1::DispatchTransferRequest dispatch;
  dispatch.set_request_id(absl::StrCat("gw.dispatch.", created.transfer_id()));
  dispatch.set_transfer_id(created.transfer_id());
  v1::Transfer dispatched;
  grpc::ClientContext context;
  backends.Prepare(context, principal, deadline);
  grpc::Status status = backends.inventory().DispatchTransfer(&context, dispatch, &dispatched);
  if (!status.ok()) return DownstreamError(status);
  return dispatched;
}

v1::GetAvailabilityResponse AvailabilityFromStock(const v1::GetStockSummaryResponse& stock,
                                                  std::optional<v1::Component> component) {
  std::vector<v1::Component> components;
  if (component.has_value() && *component != v1::COMPONENT_UNSPECIFIED) {
    components.push_back(*component);
  } else {
    components = {v1::COMPONENT_WHOLE_BLOOD, v1::COMPONENT_RED_CELLS, v1::COMPONENT_PLASMA,
                  v1::COMPONENT_PLATELETS, v1::COMPONENT_CRYO};
  }
  using Key = std::tuple<int, int, int>;  // component, abo, rhd
  std::map<Key, std::pair<int32_t, int64_t>> totals;
  for (const v1::StockLevel& level : stock.levels()) {
    Key key{level.component(), level.blood_type().abo(), level.blood_type().rhd()};
    totals[key].first += level.available().units();
    totals[key].second += level.available().quantity();
  }
  v1::GetAvailabilityResponse response;
  for (v1::Component c : components) {
    // The contract orders rows by ABO, then RhD, in enum order.
    for (v1::AboGroup abo : {v1::ABO_GROUP_O, v1::ABO_GROUP_A, v1::ABO_GROUP_B, v1::ABO_GROUP_AB}) {
      for (v1::RhD rhd : {v1::RH_D_POSITIVE, v1::RH_D_NEGATIVE}) {
        v1::AvailabilityCount& count = *response.add_counts();
        count.set_component(c);
        count.mutable_blood_type()->set_abo(abo);
        count.mutable_blood_type()->set_rhd(rhd);
        auto it = totals.find(Key{c, abo, rhd});
        if (it != totals.end()) {
          count.set_units(it->second.first);
          count.set_quantity(it->second.second);
        }
      }
    }
  }
  *response.mutable_as_of() = stock.as_of();
  return response;
}

}  // namespace bloodgrid::gateway
