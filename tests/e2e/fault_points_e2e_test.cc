// Workflows cut short by a SIGKILL at a fault point (common/fault_point.h; the points are listed
// in docs/workflows.md), with real processes: the process that owns the next step is started
// with BLOODGRID_FAULT_POINTS naming the point, dies there in the middle of one call, and is
// started again. The client does not retry unless a case says so; what the region holds
// afterwards is asserted, then the audit (bench/invariants.h). One region serves every case.
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/invariants.h"
#include "common/fault_point.h"
#include "tests/e2e/region.h"
#include "tests/e2e/scenario.h"

namespace bloodgrid::e2e {
namespace {

// How long a cross-service step may lag before the audit calls it a violation.
constexpr absl::Duration kOrphanGrace = absl::Seconds(3);
constexpr int kBags = 4;
// How old a donation without its unit is when the donor service's reconciler settles it.
constexpr int kReconcileGraceSeconds = 2;

class FaultPointsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RegionOptions options;
    options.service_flags["donor"] = {
        absl::StrCat("--donation_unit_grace_s=", kReconcileGraceSeconds),
        "--donation_unit_interval_s=1"};
    region_ = new Region("fault-points", std::move(options));
    if (::testing::Test::HasFailure()) return;
    SetUpTopology(*region_);
    for (int i = 0; i < kBags; ++i) StockUp(*region_, OPos());
  }
  static void TearDownTestSuite() {
    delete region_;
    region_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(region_, nullptr); }

  static v1::BloodType OPos() { return Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE); }

  // A context that waits for the (restarted) gateway's connection instead of failing at once:
  // the call is still sent once.
  static std::unique_ptr<grpc::ClientContext> Ready(const char* token) {
    std::unique_ptr<grpc::ClientContext> context = Region::Context(token);
    context->set_wait_for_ready(true);
    return context;
  }

  // Restarts `process` armed at `point`, to die in the next call. A restarted backend is
  // first reached through the gateway with `probe`, a read (whose channel reconnects after a
  // backoff), so that the next call does reach it.
  static void Arm(const std::string& process, const std::string& point,
                  std::function<grpc::Status()> probe = nullptr) {
    region_->Restart(process, 0, {{kFaultPointsEnv, point}});
    if (process == "gateway") return;
    if (probe == nullptr) {
      probe = [] {
        v1::ListStationsResponse stations;
        return region_->admin().ListStations(Ready(kAdminToken).get(), v1::ListStationsRequest(),
                                             &stations);
      };
    }
    grpc::Status status = Answered(probe);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // The armed process ended by its own SIGKILL at the point; starts it again, unarmed.
  static void ExpectDiedAtPointAndRestart(const std::string& process, const std::string& point) {
    std::optional<int> status = region_->WaitForExit(process, 0, absl::Seconds(20));
    ASSERT_TRUE(status.has_value()) << process << " did not die at " << point;
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << *status;
    region_->Start(process, 0);
  }

  // Reads (never a workflow call) polled through a backend's reconnect after a restart.
  template <typename Call>
  static grpc::Status Answered(Call call) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    grpc::Status status;
    while (absl::Now() < give_up) {
      status = call();
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return status;
  }

  static std::vector<v1::Transfer> TransfersWithReason(const std::string& reason) {
    v1::ListTransfersResponse response;
    grpc::Status status = Answered([&] {
      return region_->dispatch().ListTransfers(Ready(kDispatchToken).get(),
                                               v1::ListTransfersRequest(), &response);
    });
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<v1::Transfer> found;
    for (const v1::Transfer& t : response.transfers()) {
      if (t.reason() == reason) found.push_back(t);
    }
    return found;
  }

  // Hospital H1's order ids.
  static std::set<std::string> OrdersOfH1() {
    v1::ListOrdersRequest request;
    request.set_page_size(1000);
    v1::ListOrdersResponse response;
    grpc::Status status = Answered([&] {
      return region_->hospital().ListOrders(Ready(kHospital1Token).get(), request, &response);
    });
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::set<std::string> ids;
    for (const v1::Order& order : response.orders()) ids.insert(order.order_id());
    return ids;
  }
  // Polls H1's order until it reaches `status` (or 30 s pass); the last order read.
  static v1::Order AwaitOrderStatus(const std::string& order_id, v1::OrderStatus status) {
    v1::GetOrderRequest get;
    get.set_order_id(order_id);
    v1::Order order;
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (absl::Now() < give_up) {
      grpc::Status read = Answered(
          [&] { return region_->hospital().GetOrder(Ready(kHospital1Token).get(), get, &order); });
      if (read.ok() && order.status() == status) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return order;
  }
  static void ArmRequest(const std::string& point) {
    Arm("request", point, [] {
      v1::ListOrdersResponse orders;
      return region_->hospital().ListOrders(Ready(kHospital1Token).get(), v1::ListOrdersRequest(),
                                            &orders);
    });
  }

  static v1::CreateTransferRequest OneBagToS2(const std::string& reason) {
    v1::CreateTransferRequest request;
    request.set_request_id(NextRequestId());
    request.set_from_station_id("S1");
    request.set_to_station_id("S2");
    v1::TransferLot& lot = *request.add_items()->mutable_lot();
    lot.set_component(v1::COMPONENT_RED_CELLS);
    *lot.mutable_blood_type() = OPos();
    lot.set_quantity(2);
    request.set_reason(reason);
    return request;
  }

  // The audit once the grace has passed: polled until it holds or 20 s more have passed.
  static void ExpectAuditHolds() {
    absl::SleepFor(kOrphanGrace + absl::Seconds(1));
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    absl::StatusOr<bench::InvariantReport> report;
    while (true) {
      report = bench::CheckInvariants(AuditTarget(*region_, kOrphanGrace));
      if ((report.ok() && report->ok()) || absl::Now() > give_up) break;
      absl::SleepFor(absl::Milliseconds(500));
    }
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok()) << report->Summary();
  }

  static v1::Donor GetDonor(const std::string& donor_id) {
    v1::GetDonorRequest request;
    request.set_donor_id(donor_id);
    v1::Donor donor;
    grpc::Status status = Answered(
        [&] { return region_->admin().GetDonor(Ready(kAdminToken).get(), request, &donor); });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return donor;
  }

  static std::vector<v1::Unit> UnitsOf(const std::string& din) {
    v1::ListUnitsRequest request;
    request.set_din(din);
    v1::ListUnitsResponse response;
    grpc::Status status = Answered(
        [&] { return region_->admin().ListUnits(Ready(kAdminToken).get(), request, &response); });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.units().begin(), response.units().end()};
  }

  // RecordTestResults with every screen negative but anti-HIV reactive, and the typing.
  static v1::RecordTestResultsRequest ReactiveResults(const std::string& din) {
    return TestResults(din, OPos(), /*reactive_hiv=*/true);
  }
  // The shared cases below (each described where it is defined).
  static void ExpectOrderAllocatedWithoutTheClient(const std::string& point);
  static void ExpectTransferLeftDispatched(const std::string& process, const std::string& point,
                                           const std::string& reason);
  static void ExpectDonationCompletedWithoutTheClient(const std::string& process,
                                                      const std::string& point);
  static void ExpectReactiveResultLeavesTheStockSafe(const std::string& process,
                                                     const std::string& point);
  static void ExpectReactiveResultDefersTheDonor(const std::string& process,
                                                 const std::string& point);

  static Region* region_;
};

Region* FaultPointsE2eTest::region_ = nullptr;

// CreateAndDispatchTransfer is one inventory transaction (create + dispatch): a kill just
// before its commit leaves nothing, a kill just after leaves a transfer on its way; never a
// CREATED transfer holding units nobody sends.
TEST_F(FaultPointsE2eTest, InventoryKilledBeforeTheTransferCommitsLeavesNoTransfer) {
  const std::string point = "db.commit.before:create transfer";
  const std::string reason = "fault point: inventory before commit";
  Arm("inventory", point);
  v1::Transfer transfer;
  grpc::Status status = region_->dispatch().CreateTransfer(Ready(kDispatchToken).get(),
                                                           OneBagToS2(reason), &transfer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart("inventory", point);
  EXPECT_TRUE(TransfersWithReason(reason).empty());
  ExpectAuditHolds();
}

// Killed once the transfer is committed (by the inventory, or by the gateway that asked for
// it): the transfer exists once, already dispatched, with no client retry.
void FaultPointsE2eTest::ExpectTransferLeftDispatched(const std::string& process,
                                                      const std::string& point,
                                                      const std::string& reason) {
  Arm(process, point);
  v1::Transfer transfer;
  grpc::Status status = region_->dispatch().CreateTransfer(Ready(kDispatchToken).get(),
                                                           OneBagToS2(reason), &transfer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart(process, point);
  std::vector<v1::Transfer> transfers = TransfersWithReason(reason);
  ASSERT_EQ(transfers.size(), 1u);
  EXPECT_EQ(transfers[0].status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  EXPECT_EQ(transfers[0].units_size(), 1);
  ExpectAuditHolds();
}

TEST_F(FaultPointsE2eTest, InventoryKilledAfterTheTransferCommitsLeavesItDispatched) {
  ExpectTransferLeftDispatched("inventory", "db.commit.after:create transfer",
                               "fault point: inventory after commit");
}

TEST_F(FaultPointsE2eTest, GatewayKilledAfterCreateTransferLeavesItDispatched) {
  ExpectTransferLeftDispatched("gateway", "gateway.create_and_dispatch_transfer.after_create",
                               "fault point: gateway after create");
}

// RecordDonation is two calls from the gateway (donor, then inventory). Cut short between them,
// the donation exists at the donor service only; the donor service's reconciler (run here with a
// grace of kReconcileGraceSeconds) registers its unit with no client retry, and a later retry of
// the same request_id answers with the same donation and that one unit.
void FaultPointsE2eTest::ExpectDonationCompletedWithoutTheClient(const std::string& process,
                                                                 const std::string& point) {
  Region& region = *region_;
  const std::string donor_id = RegisterDonor(region, OPos());
  const v1::RecordDonationRequest request = DonationRequest(donor_id, absl::Hours(1));
  Arm(process, point, [&] {
    v1::GetDonorRequest get;
    get.set_donor_id(donor_id);
    v1::Donor donor;
    return region.admin().GetDonor(Ready(kAdminToken).get(), get, &donor);
  });
  v1::AdminRecordDonationResponse response;
  grpc::Status status = region.admin().RecordDonation(Ready(kAdminToken).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart(process, point);
  EXPECT_EQ(GetDonor(donor_id).donation_count(), 1) << "the donor service recorded it";

  std::vector<v1::Unit> units;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (units.empty() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(500));
    units = UnitsOf(request.din());
  }
  ASSERT_EQ(units.size(), 1u) << "no unit registered for the donation without the client";
  EXPECT_EQ(units[0].status(), v1::UNIT_STATUS_QUARANTINED);
  ExpectAuditHolds();

  // The client's retry changes nothing: the same donation, the one unit.
  status = region.admin().RecordDonation(Ready(kAdminToken).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.unit().unit_id(), units[0].unit_id());
  EXPECT_EQ(UnitsOf(request.din()).size(), 1u);
  EXPECT_EQ(GetDonor(donor_id).donation_count(), 1);
}

TEST_F(FaultPointsE2eTest, DonorKilledAfterCommittingTheDonationCompletesWithoutTheClient) {
  ExpectDonationCompletedWithoutTheClient("donor", "db.commit.after:record donation");
}

TEST_F(FaultPointsE2eTest, GatewayKilledAfterTheDonationCompletesWithoutTheClient) {
  ExpectDonationCompletedWithoutTheClient("gateway", "gateway.record_donation.after_donation");
}

// Killed once the unit is registered, the workflow has nothing left to do but answer.
TEST_F(FaultPointsE2eTest, InventoryKilledAfterRegisteringTheUnitLeavesTheDonationComplete) {
  const std::string point = "db.commit.after:register collection";
  const std::string donor_id = RegisterDonor(*region_, OPos());
  const v1::RecordDonationRequest request = DonationRequest(donor_id, absl::Hours(1));
  Arm("inventory", point);
  v1::AdminRecordDonationResponse response;
  grpc::Status status =
      region_->admin().RecordDonation(Ready(kAdminToken).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart("inventory", point);
  EXPECT_EQ(GetDonor(donor_id).donation_count(), 1);
  const std::vector<v1::Unit> units = UnitsOf(request.din());
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].status(), v1::UNIT_STATUS_QUARANTINED);
  ExpectAuditHolds();
}

// RecordTestResults: the inventory's one transaction is the step that must happen; a kill right
// after it (of the inventory before it answers, or of the gateway before the donor fast path)
// has already left the region's stock safe.
void FaultPointsE2eTest::ExpectReactiveResultLeavesTheStockSafe(const std::string& process,
                                                                const std::string& point) {
  Region& region = *region_;
  const std::string donor_id = RegisterDonor(region, OPos());
  const std::string din = Donate(region, donor_id, absl::Hours(1));
  const v1::RecordTestResultsRequest request = ReactiveResults(din);
  Arm(process, point);
  v1::AdminRecordTestResultsResponse response;
  grpc::Status status =
      region.admin().RecordTestResults(Ready(kAdminToken).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart(process, point);

  const std::vector<v1::Unit> units = UnitsOf(din);
  ASSERT_FALSE(units.empty());
  for (const v1::Unit& unit : units) {
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_DISCARDED) << unit.unit_id();
  }
  v1::ListLookbacksRequest lookbacks;
  lookbacks.set_donor_id(donor_id);
  v1::ListLookbacksResponse cases;
  status = Answered(
      [&] { return region.admin().ListLookbacks(Ready(kAdminToken).get(), lookbacks, &cases); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(cases.lookbacks_size(), 1);
  EXPECT_EQ(cases.lookbacks(0).reactive_din(), din);

  // A retry (same request_id) replays the inventory's answer and reaches the donor service:
  // the donor is deferred for good, once.
  status = region.admin().RecordTestResults(Ready(kAdminToken).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(GetDonor(donor_id).permanently_deferred());
  ExpectAuditHolds();
}

TEST_F(FaultPointsE2eTest, InventoryKilledAfterCommittingAReactiveResultLeavesTheStockSafe) {
  ExpectReactiveResultLeavesTheStockSafe("inventory", "db.commit.after:record test results");
}

TEST_F(FaultPointsE2eTest, GatewayKilledAfterRecordingAReactiveResultLeavesTheStockSafe) {
  ExpectReactiveResultLeavesTheStockSafe("gateway", "gateway.record_test_results.after_record");
}

// The donor is deferred with no client retry wherever RecordTestResults is cut short after the
// inventory's commit: the donor service consumes the inventory's change feed, so the gateway's
// fast path, which these kills cut off, is not the only way the result reaches the donor.
void FaultPointsE2eTest::ExpectReactiveResultDefersTheDonor(const std::string& process,
                                                            const std::string& point) {
  Region& region = *region_;
  const std::string donor_id = RegisterDonor(region, OPos());
  const std::string din = Donate(region, donor_id, absl::Hours(1));
  Arm(process, point);
  v1::AdminRecordTestResultsResponse response;
  grpc::Status status =
      region.admin().RecordTestResults(Ready(kAdminToken).get(), ReactiveResults(din), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart(process, point);

  bool deferred = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!deferred && absl::Now() < give_up) {
    deferred = GetDonor(donor_id).permanently_deferred();
    if (!deferred) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(deferred) << "the donor service applies the result from the inventory's feed";
  ExpectAuditHolds();
}

TEST_F(FaultPointsE2eTest, InventoryKilledAfterCommittingAReactiveResultDefersTheDonor) {
  ExpectReactiveResultDefersTheDonor("inventory", "db.commit.after:record test results");
}

TEST_F(FaultPointsE2eTest, GatewayKilledAfterRecordingAReactiveResultDefersTheDonor) {
  ExpectReactiveResultDefersTheDonor("gateway", "gateway.record_test_results.after_record");
}

TEST_F(FaultPointsE2eTest, GatewayKilledAfterTheTypingFastPathDefersTheDonor) {
  ExpectReactiveResultDefersTheDonor("gateway", "gateway.record_test_results.after_typing");
}

// PlaceOrder is the request service's own sequence (intent, Reserve at the inventory, record,
// confirm). Killed between its steps, the restarted service's start-up reconciler allocates the
// order with the units the inventory holds for it, with no client retry.
void FaultPointsE2eTest::ExpectOrderAllocatedWithoutTheClient(const std::string& point) {
  const v1::BloodType a_pos = Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE);
  StockUp(*region_, a_pos);
  const std::set<std::string> before = OrdersOfH1();
  ArmRequest(point);
  v1::Order order;
  grpc::Status status = region_->hospital().PlaceOrder(
      Ready(kHospital1Token).get(), RedCellOrder(a_pos, 2, v1::PRIORITY_URGENT), &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart("request", point);

  std::vector<std::string> placed;
  for (const std::string& id : OrdersOfH1()) {
    if (before.count(id) == 0) placed.push_back(id);
  }
  ASSERT_EQ(placed.size(), 1u) << "the order was committed before the kill";
  order = AwaitOrderStatus(placed[0], v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
  ASSERT_EQ(order.lines_size(), 1);
  EXPECT_EQ(order.lines(0).units_size(), 1) << "one 2 U bag, allocated once";
  ExpectAuditHolds();
}

TEST_F(FaultPointsE2eTest, RequestKilledAfterTheOrderIntentAllocatesItWithoutTheClient) {
  ExpectOrderAllocatedWithoutTheClient("request.place_order.after_intent");
}

TEST_F(FaultPointsE2eTest, RequestKilledAfterReservingAllocatesTheOrderWithoutTheClient) {
  ExpectOrderAllocatedWithoutTheClient("request.allocate.after_reserve");
}

// DispatchOrder: the inventory issued the units, the order is not DISPATCHED yet when the
// request service dies; its dispatch intent makes the restarted service finish the dispatch.
TEST_F(FaultPointsE2eTest, RequestKilledAfterIssuingDispatchesTheOrderWithoutTheClient) {
  const v1::BloodType b_pos = Type(v1::ABO_GROUP_B, v1::RH_D_POSITIVE);
  StockUp(*region_, b_pos);
  v1::Order order;
  grpc::Status status = region_->hospital().PlaceOrder(
      Ready(kHospital1Token).get(), RedCellOrder(b_pos, 2, v1::PRIORITY_URGENT), &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
  const std::string order_id = order.order_id();

  const std::string point = "request.dispatch.after_issue";
  ArmRequest(point);
  v1::DispatchOrderRequest dispatch;
  dispatch.set_request_id(NextRequestId());
  dispatch.set_order_id(order_id);
  status = region_->dispatch().DispatchOrder(Ready(kDispatchToken).get(), dispatch, &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ExpectDiedAtPointAndRestart("request", point);

  order = AwaitOrderStatus(order_id, v1::ORDER_STATUS_DISPATCHED);
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_DISPATCHED) << order.ShortDebugString();
  ASSERT_EQ(order.lines_size(), 1);
  ASSERT_EQ(order.lines(0).units_size(), 1);
  const v1::OrderUnit& shipped = order.lines(0).units(0);
  int issued = 0;
  for (const v1::Unit& unit : UnitsOf(shipped.din())) {
    issued += unit.unit_id() == shipped.unit_id() && unit.status() == v1::UNIT_STATUS_ISSUED &&
              unit.hospital_id() == "H1";
  }
  EXPECT_EQ(issued, 1) << "the inventory issued the bag to H1, once";
  ExpectAuditHolds();
}

}  // namespace
}  // namespace bloodgrid::e2e
