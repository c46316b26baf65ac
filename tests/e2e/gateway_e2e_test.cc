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

  // Another hospital cannot see it; the dispatcher dispatches it; the hospital confirms and reports.
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

TEST_F(GatewayE2eTest, AuthorisationThroughTheGateway) {
  v1::ListOrdersRequest list;
  v1::ListOrdersResponse orders;
  EXPECT_EQ(region_->hospital().ListOrders(Region::Context("").get(), list, &orders).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(region_->hospital().ListOrders(Region::Context("wrong").get(), list, &orders).error_code(),
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
    v1::PlaceOrderRequest request = RedCellOrder(Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE), 0,
                                                 v1::PRIORITY_ROUTINE);
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
  const std::string command = absl::StrCat(
      "/usr/bin/python3 ", BLOODGRID_SOURCE_DIR, "/tests/e2e/hospital_client.py --target 127.0.0.1:",
      region_->gateway_port(), " --token ", kHospital1Token, " --abo AB --rhd POSITIVE --units 2");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

}  // namespace
}  // namespace bloodgrid::e2e
