// End to end through the public API only: MariaDB, the three services and the gateway run as
// real processes (tests/e2e/region.h).
//  - vein to vein: donor -> donation -> tests -> components -> hospital order -> allocation ->
//    dispatch -> delivery -> transfusion report -> the unit trace shows every step;
//  - a reactive test's lookback names the hospital that received an earlier unit;
//  - an EMERGENCY order for a patient of unknown type gets O RhD-negative red cells;
//  - authorisation: no token, wrong role, another hospital's order;
//  - bad input through the gateway is refused and changes nothing;
//  - an independent client (Python grpcio, loading the .proto files) places and reads an order.
#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/region.h"
#include "tests/e2e/scenario.h"

namespace bloodgrid::e2e {
namespace {

class GatewayE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    region_ = new Region("gateway");
    SetUpTopology(*region_);
  }
  static void TearDownTestSuite() {
    delete region_;
    region_ = nullptr;
  }

  static std::unique_ptr<grpc::ClientContext> Admin() { return AdminContext(); }
  static std::unique_ptr<grpc::ClientContext> H1() { return HospitalContext(1); }
  static std::unique_ptr<grpc::ClientContext> H2() { return HospitalContext(2); }
  static std::unique_ptr<grpc::ClientContext> Dispatcher() { return DispatcherContext(); }
  static std::string RegisterDonor(const v1::BloodType& type) {
    return e2e::RegisterDonor(*region_, type);
  }
  static std::string Donate(const std::string& donor_id, absl::Duration ago) {
    return e2e::Donate(*region_, donor_id, ago);
  }
  static v1::AdminRecordTestResultsResponse Test(const std::string& din, const v1::BloodType& type,
                                                 bool reactive_hiv = false) {
    return e2e::Test(*region_, din, type, reactive_hiv);
  }
  static v1::ProcessDonationResponse Process(const std::string& din) {
    return e2e::Process(*region_, din);
  }

  static inline Region* region_ = nullptr;
};

TEST_F(GatewayE2eTest, VeinToVeinLifecycle) {
  const v1::BloodType a_pos = Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE);
  const std::string donor_id = RegisterDonor(a_pos);
  ASSERT_FALSE(donor_id.empty());
  const std::string din = Donate(donor_id, absl::Hours(2));
  v1::AdminRecordTestResultsResponse tested = Test(din, a_pos);
  EXPECT_EQ(tested.testing().outcome(), v1::TESTING_OUTCOME_RELEASED);
  EXPECT_FALSE(tested.has_lookback());
  v1::ProcessDonationResponse processed = Process(din);
  ASSERT_EQ(processed.children_size(), 2);
  for (const v1::Unit& child : processed.children()) {
    EXPECT_EQ(child.status(), v1::UNIT_STATUS_AVAILABLE) << child.ShortDebugString();
  }

  // The hospital orders 2 U of red cells for an A+ patient: the A+ unit from S1 is allocated.
  v1::Order order;
  grpc::Status status = region_->hospital().PlaceOrder(
      H1().get(), RedCellOrder(a_pos, 2, v1::PRIORITY_ROUTINE), &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(order.hospital_id(), "H1") << "the hospital comes from the token";
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
  ASSERT_EQ(order.lines_size(), 1);
  ASSERT_EQ(order.lines(0).units_size(), 1);
  EXPECT_EQ(order.lines(0).units(0).din(), din);
  EXPECT_EQ(order.lines(0).allocated_quantity(), 2);

  // Another hospital cannot see it; the dispatcher dispatches it; the hospital confirms and
  // reports.
  v1::GetOrderRequest get;
  get.set_order_id(order.order_id());
  v1::Order seen;
  EXPECT_EQ(region_->hospital().GetOrder(H2().get(), get, &seen).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::DispatchOrderRequest dispatch;
  dispatch.set_request_id(NextRequestId());
  dispatch.set_order_id(order.order_id());
  status = region_->dispatch().DispatchOrder(Dispatcher().get(), dispatch, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_DISPATCHED);
  v1::ConfirmDeliveryRequest confirm;
  confirm.set_request_id(NextRequestId());
  confirm.set_order_id(order.order_id());
  confirm.set_received_by("Ward 5 nurse");
  status = region_->hospital().ConfirmDelivery(H1().get(), confirm, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_DELIVERED);
  v1::ReportTransfusionRequest report;
  report.set_request_id(NextRequestId());
  report.set_order_id(order.order_id());
  report.set_din(din);
  report.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  status = region_->hospital().ReportTransfusion(H1().get(), report, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_COMPLETED);

  // The trace shows every step of the red-cell unit, in order.
  v1::GetUnitTraceRequest trace_request;
  trace_request.set_din(din);
  v1::GetUnitTraceResponse trace;
  status = region_->admin().GetUnitTrace(Admin().get(), trace_request, &trace);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::string red_cell_unit;
  for (const v1::Unit& unit : trace.units()) {
    if (unit.component() == v1::COMPONENT_RED_CELLS) red_cell_unit = unit.unit_id();
    EXPECT_EQ(unit.donor_id(), donor_id) << "an admin sees the donor";
  }
  std::vector<v1::UnitStatus> red_cell_states;
  for (const v1::UnitEvent& event : trace.events()) {
    if (event.unit_id() == red_cell_unit && event.from_status() != event.to_status()) {
      red_cell_states.push_back(event.to_status());
    }
  }
  EXPECT_THAT(red_cell_states,
              ::testing::IsSupersetOf({v1::UNIT_STATUS_AVAILABLE, v1::UNIT_STATUS_RESERVED,
                                       v1::UNIT_STATUS_ISSUED, v1::UNIT_STATUS_TRANSFUSED}));
  ASSERT_FALSE(red_cell_states.empty());
  EXPECT_EQ(red_cell_states.back(), v1::UNIT_STATUS_TRANSFUSED);
  EXPECT_GE(trace.test_results_size(), 6);
}

TEST_F(GatewayE2eTest, ReactiveTestLookbackNamesTheHospitalThatGotAnEarlierUnit) {
  const v1::BloodType b_pos = Type(v1::ABO_GROUP_B, v1::RH_D_POSITIVE);
  const std::string donor_id = RegisterDonor(b_pos);
  // An earlier donation, seven months ago: its plasma (shelf life 1 year) goes to H1.
  const std::string earlier = Donate(donor_id, absl::Hours(24 * 213));
  Test(earlier, b_pos);
  Process(earlier);
  v1::PlaceOrderRequest plasma_order = RedCellOrder(b_pos, 200, v1::PRIORITY_URGENT);
  plasma_order.mutable_lines(0)->set_component(v1::COMPONENT_PLASMA);
  plasma_order.mutable_patient()->set_inr(2.4);
  plasma_order.mutable_patient()->set_bleeding(true);
  v1::Order order;
  grpc::Status status = region_->hospital().PlaceOrder(H1().get(), plasma_order, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
  v1::DispatchOrderRequest dispatch;
  dispatch.set_request_id(NextRequestId());
  dispatch.set_order_id(order.order_id());
  status = region_->dispatch().DispatchOrder(Dispatcher().get(), dispatch, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // Today's donation tests reactive for anti-HIV.
  const std::string today = Donate(donor_id, absl::Hours(1));
  v1::AdminRecordTestResultsResponse result = Test(today, b_pos, /*reactive_hiv=*/true);
  EXPECT_EQ(result.testing().outcome(), v1::TESTING_OUTCOME_REACTIVE);
  EXPECT_TRUE(result.has_deferral()) << "the donor is deferred";
  ASSERT_TRUE(result.has_lookback());
  std::set<std::string> hospitals;
  for (const v1::LookbackNotice& notice : result.lookback().hospitals_to_notify()) {
    hospitals.insert(notice.hospital_id());
  }
  EXPECT_THAT(hospitals, ::testing::Contains("H1"));
  // The donor can no longer donate.
  v1::CheckEligibilityRequest check;
  check.set_donor_id(donor_id);
  check.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  v1::CheckEligibilityResponse eligibility;
  status = region_->admin().CheckEligibility(Admin().get(), check, &eligibility);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(eligibility.eligible());
}

TEST_F(GatewayE2eTest, AHospitalSeesTheRecallOfAUnitItReceivedAndAcknowledgesIt) {
  const v1::BloodType a_neg = Type(v1::ABO_GROUP_A, v1::RH_D_NEGATIVE);
  const std::string donor_id = RegisterDonor(a_neg);
  // Seven months ago: its plasma (shelf life 1 year) goes to H1. Holding the donor's units in
  // stock is the inventory's part, tested there (tests/integration).
  const std::string earlier = Donate(donor_id, absl::Hours(24 * 213));
  Test(earlier, a_neg);
  Process(earlier);
  v1::PlaceOrderRequest plasma_order = RedCellOrder(a_neg, 200, v1::PRIORITY_URGENT);
  plasma_order.mutable_lines(0)->set_component(v1::COMPONENT_PLASMA);
  plasma_order.mutable_patient()->set_inr(2.4);
  plasma_order.mutable_patient()->set_bleeding(true);
  v1::Order order;
  grpc::Status status = region_->hospital().PlaceOrder(H1().get(), plasma_order, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
  ASSERT_EQ(order.lines(0).units_size(), 1);
  const std::string issued_din = order.lines(0).units(0).din();
  v1::DispatchOrderRequest dispatch;
  dispatch.set_request_id(NextRequestId());
  dispatch.set_order_id(order.order_id());
  status = region_->dispatch().DispatchOrder(Dispatcher().get(), dispatch, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();

  const std::string today = Donate(donor_id, absl::Hours(1));
  v1::AdminRecordTestResultsResponse result = Test(today, a_neg, /*reactive_hiv=*/true);
  ASSERT_EQ(result.testing().outcome(), v1::TESTING_OUTCOME_REACTIVE);
  ASSERT_TRUE(result.testing().has_lookback()) << "the case opens with the result";
  const std::string lookback_id = result.testing().lookback().lookback_id();
  ASSERT_FALSE(lookback_id.empty());

  // H1 sees one open notice for the plasma it received, without donor data; H2 sees none.
  v1::ListRecallsRequest recalls_request;
  recalls_request.set_status(v1::RECALL_STATUS_OPEN);
  v1::ListRecallsResponse recalls;
  status = region_->hospital().ListRecalls(H1().get(), recalls_request, &recalls);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(recalls.recalls_size(), 1) << recalls.ShortDebugString();
  const v1::RecallNotice& notice = recalls.recalls(0);
  EXPECT_EQ(notice.hospital_id(), "H1");
  EXPECT_EQ(notice.din(), issued_din);
  EXPECT_EQ(notice.component(), v1::COMPONENT_PLASMA);
  EXPECT_EQ(notice.order_id(), order.order_id());
  EXPECT_FALSE(notice.reason().empty());
  EXPECT_FALSE(notice.action().empty());
  EXPECT_EQ(recalls.ShortDebugString().find(donor_id), std::string::npos)
      << "a hospital never sees the donor";
  v1::ListRecallsResponse h2_recalls;
  status = region_->hospital().ListRecalls(H2().get(), v1::ListRecallsRequest(), &h2_recalls);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(h2_recalls.recalls_size(), 0);

  // H2 cannot acknowledge H1's notice; H1 can, and a retry returns the same acknowledgement.
  v1::AcknowledgeRecallRequest ack;
  ack.set_request_id(NextRequestId());
  ack.set_recall_id(notice.recall_id());
  ack.set_note("unit transfused; patient's clinician informed");
  v1::RecallNotice acknowledged;
  EXPECT_EQ(region_->hospital().AcknowledgeRecall(H2().get(), ack, &acknowledged).error_code(),
            grpc::StatusCode::NOT_FOUND);
  status = region_->hospital().AcknowledgeRecall(H1().get(), ack, &acknowledged);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(acknowledged.status(), v1::RECALL_STATUS_ACKNOWLEDGED);
  v1::RecallNotice again;
  status = region_->hospital().AcknowledgeRecall(H1().get(), ack, &again);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(again.acknowledged_at().seconds(), acknowledged.acknowledged_at().seconds());

  // The centre sees the case, its held units, and who answered.
  v1::GetLookbackRequest get;
  get.set_lookback_id(lookback_id);
  v1::LookbackCase lookback;
  status = region_->admin().GetLookback(Admin().get(), get, &lookback);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(lookback.donor_id(), donor_id);
  EXPECT_EQ(lookback.reactive_din(), today);
  EXPECT_EQ(lookback.status(), v1::LOOKBACK_STATUS_ACKNOWLEDGED);
  ASSERT_EQ(lookback.recalls_size(), 1);
  EXPECT_EQ(lookback.recalls(0).status(), v1::RECALL_STATUS_ACKNOWLEDGED);
  EXPECT_FALSE(lookback.recalls(0).acknowledged_by().empty());
  v1::ListLookbacksRequest list;
  list.set_donor_id(donor_id);
  v1::ListLookbacksResponse cases;
  status = region_->admin().ListLookbacks(Admin().get(), list, &cases);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(cases.lookbacks_size(), 1);
  EXPECT_EQ(cases.lookbacks(0).lookback_id(), lookback_id);
  // Hospitals have no access to the centre's cases.
  EXPECT_EQ(region_->admin().GetLookback(H1().get(), get, &lookback).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GatewayE2eTest, EmergencyOrderForAnUnknownTypeGetsORhDNegativeRedCells) {
  const v1::BloodType o_neg = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
  const std::string din = Donate(RegisterDonor(o_neg), absl::Hours(3));
  Test(din, o_neg);
  Process(din);
  v1::PlaceOrderRequest request = RedCellOrder(v1::BloodType(), 2, v1::PRIORITY_EMERGENCY);
  request.mutable_patient()->clear_hemoglobin_g_l();
  v1::Order order;
  grpc::Status status = region_->hospital().PlaceOrder(H2().get(), request, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_NE(order.status(), v1::ORDER_STATUS_IN_REVIEW) << "an emergency is never held back";
  ASSERT_EQ(order.lines(0).units_size(), 1) << order.ShortDebugString();
  EXPECT_EQ(order.lines(0).units(0).blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(order.lines(0).units(0).blood_type().rhd(), v1::RH_D_NEGATIVE);
}

TEST_F(GatewayE2eTest, DispatchPlansATransferForAShortageAndCarriesItOut) {
  // S2 wants at least 4 U of O+ red cells and has none; S1 holds 3 bags nobody needs there.
  MakeOPosShortageAtS2(*region_);
  grpc::Status status;

  v1::PlanRebalanceRequest plan_request;
  plan_request.set_horizon_hours(48);
  v1::PlanRebalanceResponse plan;
  status = region_->dispatch().PlanRebalance(Dispatcher().get(), plan_request, &plan);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::TransferProposal* to_s2 = nullptr;
  for (const v1::TransferProposal& p : plan.proposals()) {
    if (p.from_station_id() == "S1" && p.to_station_id() == "S2") to_s2 = &p;
  }
  ASSERT_NE(to_s2, nullptr) << plan.ShortDebugString();
  EXPECT_FALSE(to_s2->reasons().empty()) << "every proposal says why";

  // The dispatcher carries it out: created and dispatched in one call, then received at S2.
  v1::CreateTransferRequest create;
  create.set_request_id(NextRequestId());
  create.set_from_station_id("S1");
  create.set_to_station_id("S2");
  *create.mutable_items() = to_s2->items();
  create.set_reason(absl::StrCat("proposal ", to_s2->proposal_id()));
  v1::Transfer transfer;
  status = region_->dispatch().CreateTransfer(Dispatcher().get(), create, &transfer);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  ASSERT_FALSE(transfer.units().empty());
  for (const v1::Unit& unit : transfer.units()) {
    EXPECT_TRUE(unit.donor_id().empty()) << "a dispatcher never sees the donor";
  }
  v1::ReceiveTransferRequest receive;
  receive.set_request_id(NextRequestId());
  receive.set_transfer_id(transfer.transfer_id());
  status = region_->dispatch().ReceiveTransfer(Dispatcher().get(), receive, &transfer);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_RECEIVED);
  for (const v1::Unit& unit : transfer.units()) {
    EXPECT_EQ(unit.station_id(), "S2");
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_AVAILABLE);
  }
  // A bad horizon or an unknown station is the caller's mistake.
  plan_request.set_horizon_hours(0);
  EXPECT_EQ(region_->dispatch().PlanRebalance(Dispatcher().get(), plan_request, &plan).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  plan_request.set_horizon_hours(24);
  plan_request.set_station_id("NO-SUCH-STATION");
  status = region_->dispatch().PlanRebalance(Dispatcher().get(), plan_request, &plan);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
}

// The console's everyday calls, each once through the gateway with an admin token.
TEST_F(GatewayE2eTest, ConsoleTourThroughTheGateway) {
  const v1::BloodType a_neg = Type(v1::ABO_GROUP_A, v1::RH_D_NEGATIVE);
  const std::string donor_id = RegisterDonor(a_neg);
  const std::string din = Donate(donor_id, absl::Hours(2));
  auto ok = [](const grpc::Status& status, const char* rpc) {
    EXPECT_TRUE(status.ok()) << rpc << ": " << status.error_message();
    return status.ok();
  };

  v1::SearchDonorsRequest search;
  search.set_name_prefix("Test");
  v1::SearchDonorsResponse found;
  if (ok(region_->admin().SearchDonors(Admin().get(), search, &found), "SearchDonors")) {
    EXPECT_FALSE(found.donors().empty());
  }
  v1::GetDonorRequest get;
  get.set_donor_id(donor_id);
  v1::Donor donor;
  if (ok(region_->admin().GetDonor(Admin().get(), get, &donor), "GetDonor")) {
    EXPECT_EQ(donor.donation_count(), 1);
  }
  v1::ListDonationsRequest donations_request;
  donations_request.set_donor_id(donor_id);
  v1::ListDonationsResponse donations;
  if (ok(region_->admin().ListDonations(Admin().get(), donations_request, &donations),
         "ListDonations")) {
    ASSERT_EQ(donations.donations_size(), 1);
    EXPECT_EQ(donations.donations(0).din(), din);
  }

  // A temporary deferral, listed, then voided: the donor is eligible again but for the interval.
  v1::DeferDonorRequest defer;
  defer.set_request_id(NextRequestId());
  defer.set_donor_id(donor_id);
  defer.set_kind(v1::DEFERRAL_KIND_TEMPORARY);
  defer.set_reason_code("TATTOO");
  defer.set_deferred_by("nurse-1");
  v1::Deferral deferral;
  ok(region_->admin().DeferDonor(Admin().get(), defer, &deferral), "DeferDonor");
  v1::ListDeferralsRequest list_deferrals;
  list_deferrals.set_donor_id(donor_id);
  list_deferrals.set_active_only(true);
  v1::ListDeferralsResponse deferrals;
  if (ok(region_->admin().ListDeferrals(Admin().get(), list_deferrals, &deferrals),
         "ListDeferrals")) {
    EXPECT_EQ(deferrals.deferrals_size(), 1);
  }
  v1::VoidDeferralRequest void_request;
  void_request.set_request_id(NextRequestId());
  void_request.set_deferral_id(deferral.deferral_id());
  void_request.set_voided_by("doctor-1");
  void_request.set_reason("entered for the wrong donor");
  v1::Deferral voided;
  if (ok(region_->admin().VoidDeferral(Admin().get(), void_request, &voided), "VoidDeferral")) {
    EXPECT_TRUE(voided.voided());
  }
  v1::CheckEligibilityRequest check;
  check.set_donor_id(donor_id);
  check.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  v1::CheckEligibilityResponse eligibility;
  if (ok(region_->admin().CheckEligibility(Admin().get(), check, &eligibility),
         "CheckEligibility")) {
    EXPECT_FALSE(eligibility.eligible()) << "donated two hours ago: the interval applies";
    EXPECT_FALSE(eligibility.next_eligible_date().empty());
  }

  // Call-up: a fresh A- donor is a candidate; an appeal records the answer.
  const std::string candidate = RegisterDonor(a_neg);
  v1::FindAppealCandidatesRequest appeal_candidates;
  *appeal_candidates.mutable_blood_type() = a_neg;
  appeal_candidates.set_station_id("S1");
  appeal_candidates.set_limit(10);
  v1::FindAppealCandidatesResponse candidates;
  if (ok(region_->admin().FindAppealCandidates(Admin().get(), appeal_candidates, &candidates),
         "FindAppealCandidates")) {
    bool listed = false;
    for (const auto& c : candidates.candidates()) listed |= c.donor_id() == candidate;
    EXPECT_TRUE(listed);
  }
  v1::CreateAppealRequest create_appeal;
  create_appeal.set_request_id(NextRequestId());
  create_appeal.set_station_id("S1");
  *create_appeal.mutable_blood_type() = a_neg;
  create_appeal.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  create_appeal.set_donations_needed(2);
  create_appeal.set_reason("A- stock below par");
  create_appeal.add_donor_ids(candidate);
  create_appeal.set_created_by("duty officer");
  v1::Appeal appeal;
  ok(region_->admin().CreateAppeal(Admin().get(), create_appeal, &appeal), "CreateAppeal");
  v1::RecordAppealResponseRequest answer;
  answer.set_request_id(NextRequestId());
  answer.set_appeal_id(appeal.appeal_id());
  answer.set_donor_id(candidate);
  answer.set_response(v1::APPEAL_RESPONSE_ACCEPTED);
  ok(region_->admin().RecordAppealResponse(Admin().get(), answer, &appeal), "RecordAppealResponse");
  v1::GetAppealRequest get_appeal;
  get_appeal.set_appeal_id(appeal.appeal_id());
  if (ok(region_->admin().GetAppeal(Admin().get(), get_appeal, &appeal), "GetAppeal")) {
    EXPECT_EQ(appeal.counts().accepted(), 1);
  }
  v1::ListAppealsRequest list_appeals;
  list_appeals.set_station_id("S1");
  v1::ListAppealsResponse appeals;
  if (ok(region_->admin().ListAppeals(Admin().get(), list_appeals, &appeals), "ListAppeals")) {
    EXPECT_EQ(appeals.appeals_size(), 1);
  }
  v1::ListBloodTypeConflictsRequest conflicts_request;
  v1::ListBloodTypeConflictsResponse conflicts;
  ok(region_->admin().ListBloodTypeConflicts(Admin().get(), conflicts_request, &conflicts),
     "ListBloodTypeConflicts");

  // Reimbursement: 400 mL donated within 5 years gives 1200 mL; a claim debits it, once.
  v1::GetReimbursementBalanceRequest balance_request;
  balance_request.set_donor_id(donor_id);
  v1::ReimbursementBalance balance;
  ok(region_->admin().GetReimbursementBalance(Admin().get(), balance_request, &balance),
     "GetReimbursementBalance");
  v1::ClaimReimbursementRequest claim;
  claim.set_request_id(NextRequestId());
  claim.set_donor_id(donor_id);
  claim.set_claimant_relation(v1::CLAIMANT_RELATION_SELF);
  claim.set_volume_ml(400);
  claim.set_invoice_no(absl::StrCat("INV-", NextRequestId()));
  claim.set_blood_fee(80000);
  v1::ClaimReimbursementResponse claimed;
  ok(region_->admin().ClaimReimbursement(Admin().get(), claim, &claimed), "ClaimReimbursement");
  claim.set_request_id(NextRequestId());
  EXPECT_EQ(region_->admin().ClaimReimbursement(Admin().get(), claim, &claimed).error_code(),
            grpc::StatusCode::ALREADY_EXISTS)
      << "one claim per invoice";
  v1::ListReimbursementLedgerRequest ledger_request;
  ledger_request.set_donor_id(donor_id);
  v1::ListReimbursementLedgerResponse ledger;
  if (ok(region_->admin().ListReimbursementLedger(Admin().get(), ledger_request, &ledger),
         "ListReimbursementLedger")) {
    EXPECT_FALSE(ledger.entries().empty());
  }

  // Stock: the quarantined unit is listed, then discarded as damaged.
  v1::ListUnitsRequest units_request;
  units_request.set_din(din);
  v1::ListUnitsResponse units;
  if (ok(region_->admin().ListUnits(Admin().get(), units_request, &units), "ListUnits")) {
    ASSERT_EQ(units.units_size(), 1);
    EXPECT_EQ(units.units(0).status(), v1::UNIT_STATUS_QUARANTINED);
  }
  v1::DiscardUnitRequest discard;
  discard.set_request_id(NextRequestId());
  discard.set_din(din);
  discard.set_reason(v1::DISCARD_REASON_DAMAGED);
  discard.set_note("bag leaking at the seal");
  v1::Unit discarded;
  if (ok(region_->admin().DiscardUnit(Admin().get(), discard, &discarded), "DiscardUnit")) {
    EXPECT_EQ(discarded.status(), v1::UNIT_STATUS_DISCARDED);
  }
  v1::GetStockSummaryRequest summary_request;
  v1::GetStockSummaryResponse summary;
  ok(region_->admin().GetStockSummary(Admin().get(), summary_request, &summary), "GetStockSummary");
  v1::ListStationsRequest stations_request;
  v1::ListStationsResponse stations;
  if (ok(region_->admin().ListStations(Admin().get(), stations_request, &stations),
         "ListStations")) {
    EXPECT_EQ(stations.stations_size(), 2);
  }
  v1::ListHospitalsRequest hospitals_request;
  v1::ListHospitalsResponse hospitals;
  if (ok(region_->admin().ListHospitals(Admin().get(), hospitals_request, &hospitals),
         "ListHospitals")) {
    EXPECT_EQ(hospitals.hospitals_size(), 2);
  }

  // Orders: a routine order without a physician's sign-off goes to review; the admin approves.
  v1::PlaceOrderRequest unsigned_order = RedCellOrder(a_neg, 2, v1::PRIORITY_ROUTINE);
  unsigned_order.clear_approvals();
  v1::Order order;
  ASSERT_TRUE(ok(region_->hospital().PlaceOrder(H1().get(), unsigned_order, &order), "PlaceOrder"));
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_IN_REVIEW);
  EXPECT_FALSE(order.review_reason().empty());
  v1::ListOrdersRequest list_orders;
  list_orders.set_status(v1::ORDER_STATUS_IN_REVIEW);
  v1::ListOrdersResponse orders;
  if (ok(region_->admin().ListOrders(Admin().get(), list_orders, &orders), "ListOrders")) {
    EXPECT_EQ(orders.orders_size(), 1);
  }
  v1::ReviewOrderRequest review;
  review.set_request_id(NextRequestId());
  review.set_order_id(order.order_id());
  review.set_approve(true);
  review.set_reviewer("transfusion committee");
  review.set_note("post-operative bleeding, approved");
  if (ok(region_->admin().ReviewOrder(Admin().get(), review, &order), "ReviewOrder")) {
    EXPECT_NE(order.status(), v1::ORDER_STATUS_IN_REVIEW);
  }
  v1::CancelOrderRequest cancel;
  cancel.set_request_id(NextRequestId());
  cancel.set_order_id(order.order_id());
  cancel.set_reason("patient stabilised");
  if (ok(region_->hospital().CancelOrder(H1().get(), cancel, &order), "CancelOrder")) {
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_CANCELLED);
  }
  v1::GetAvailabilityRequest availability_request;
  v1::GetAvailabilityResponse availability;
  if (ok(region_->hospital().GetAvailability(H2().get(), availability_request, &availability),
         "GetAvailability")) {
    EXPECT_EQ(availability.counts_size(), 5 * 8);
  }
}

TEST_F(GatewayE2eTest, AuthorisationThroughTheGateway) {
  v1::ListOrdersRequest list;
  v1::ListOrdersResponse orders;
  EXPECT_EQ(region_->hospital().ListOrders(Region::Context("").get(), list, &orders).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      region_->hospital().ListOrders(Region::Context("wrong").get(), list, &orders).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(region_->hospital().ListOrders(Dispatcher().get(), list, &orders).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::GetDonorRequest get_donor;
  get_donor.set_donor_id("D-1");
  v1::Donor donor;
  EXPECT_EQ(region_->admin().GetDonor(H1().get(), get_donor, &donor).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // A hospital lists only its own orders.
  grpc::Status status = region_->hospital().ListOrders(H2().get(), list, &orders);
  ASSERT_TRUE(status.ok()) << status.error_message();
  for (const v1::Order& o : orders.orders()) EXPECT_EQ(o.hospital_id(), "H2");
}

TEST_F(GatewayE2eTest, BadInputIsRefusedAndChangesNothing) {
  const std::map<std::string, int64_t> before = region_->AllRowCounts();
  {
    v1::PlaceOrderRequest request =
        RedCellOrder(Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE), 0, v1::PRIORITY_ROUTINE);
    v1::Order order;
    grpc::Status status = region_->hospital().PlaceOrder(H1().get(), request, &order);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("quantity"));
  }
  {
    v1::RecordDonationRequest request;
    request.set_request_id(NextRequestId());
    request.set_donor_id("D-unknown");
    request.set_din("A9999260000017X");  // wrong length with a check character
    request.set_station_id("S1");
    v1::AdminRecordDonationResponse response;
    grpc::Status status = region_->admin().RecordDonation(Admin().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  }
  {
    v1::RegisterDonorRequest request;
    request.set_request_id(NextRequestId());
    request.mutable_donor()->set_national_id("110105199003070011");  // bad check digit
    request.mutable_donor()->set_name("X");
    request.mutable_donor()->set_sex(v1::SEX_MALE);
    request.mutable_donor()->set_birth_date("1990-03-07");
    v1::Donor donor;
    grpc::Status status = region_->admin().RegisterDonor(Admin().get(), request, &donor);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  }
  {
    v1::RecordDonationRequest request;
    request.set_request_id(NextRequestId());
    request.set_donor_id("D-unknown");
    request.set_din(NextDin());
    request.set_station_id("NO-SUCH-STATION");
    v1::AdminRecordDonationResponse response;
    grpc::Status status = region_->admin().RecordDonation(Admin().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("station_id"));
  }
  EXPECT_EQ(region_->AllRowCounts(), before);
}

TEST_F(GatewayE2eTest, AnIndependentPythonClientPlacesAndReadsAnOrder) {
  const v1::BloodType ab_pos = Type(v1::ABO_GROUP_AB, v1::RH_D_POSITIVE);
  const std::string din = Donate(RegisterDonor(ab_pos), absl::Hours(2));
  Test(din, ab_pos);
  Process(din);
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", BLOODGRID_SOURCE_DIR,
                   "/tests/e2e/hospital_client.py --target 127.0.0.1:", region_->gateway_port(),
                   " --token ", kHospital1Token, " --abo AB --rhd POSITIVE --units 2");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

}  // namespace
}  // namespace bloodgrid::e2e
