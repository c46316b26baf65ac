// RequestOperations on the in-memory store and inventory (tests/request): placing, allocating,
// partial allocation and back-orders, review, cancellation and dispatch, with no database and
// no network. The same flows against MariaDB and the real InventoryService are in
// tests/integration/request_service_test.cc.
#include "request_service/request_operations.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/policy.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/request/fake_inventory_client.h"
#include "tests/request/fake_request_store.h"
#include "tests/support/status_matchers.h"

namespace bloodgrid::request {
namespace {

using ::bloodgrid::testing::IsOk;
using ::bloodgrid::testing::StatusIs;
using ::testing::HasSubstr;

v1::PolicyProfile Policy() {
  auto policy = LoadPolicyFile(std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : v1::PolicyProfile();
}

BloodType Type(absl::string_view text) { return *ParseBloodType(text); }

class RequestOperationsTest : public ::testing::Test {
 protected:
  RequestOperationsTest() : clock_(absl::Now()), policy_(Policy()) {
    OperationsOptions options;
    options.fallback_transfers = false;
    options.hospital_cache_ttl = absl::ZeroDuration();
    options.reconcile_grace = absl::ZeroDuration();
    operations_ =
        std::make_unique<RequestOperations>(&store_, &inventory_, &policy_, &clock_, options);
    inventory_.AddStation("S1");
    v1::UpsertHospitalRequest hospital;
    hospital.set_request_id("h1");
    v1::Hospital* h = hospital.mutable_hospital();
    h->set_hospital_id("H1");
    h->set_name("General");
    h->set_serving_station_id("S1");
    h->set_active(true);
    EXPECT_THAT(operations_->UpsertHospital(Admin(), hospital), IsOk());
  }

  static CallContext Admin() { return Context("admin:ops"); }
  static CallContext Hospital() { return Context("hospital:H1"); }
  static CallContext Context(const std::string& actor) {
    CallContext context;
    context.actor = actor;
    context.deadline = absl::Now() + absl::Seconds(30);
    return context;
  }

  void Stock(int count, absl::string_view type = "A+") {
    for (int i = 0; i < count; ++i) {
      inventory_.AddUnit(absl::StrCat("u", ++units_), "S1", v1::COMPONENT_RED_CELLS, Type(type),
                         clock_.Now() + absl::Hours(24 * 20));
    }
  }

  v1::PlaceOrderRequest Order(const std::string& request_id, int quantity,
                              v1::Priority priority = v1::PRIORITY_URGENT) {
    v1::PlaceOrderRequest r;
    r.set_request_id(request_id);
    r.set_hospital_id("H1");
    v1::Patient* p = r.mutable_patient();
    p->set_patient_ref(absl::StrCat("MRN-", request_id));
    *p->mutable_blood_type() = Type("A+").ToProto();
    p->set_sex(v1::SEX_MALE);
    p->set_age_years(40);
    p->set_hemoglobin_g_l(62);
    p->set_bleeding(true);
    v1::OrderLineRequest* line = r.add_lines();
    line->set_component(v1::COMPONENT_RED_CELLS);
    line->set_quantity(quantity);
    r.set_priority(priority);
    r.set_indication("acute GI bleeding");
    ToTimestamp(clock_.Now() + absl::Hours(4), r.mutable_needed_by());
    r.mutable_approvals()->set_physician("dr-li");
    r.mutable_approvals()->set_department_head("dr-wang");
    r.mutable_approvals()->set_medical_affairs("ma-zhou");
    return r;
  }

  v1::Order Get(const std::string& order_id) {
    v1::GetOrderRequest request;
    request.set_order_id(order_id);
    absl::StatusOr<v1::Order> order = operations_->GetOrder(Admin(), request);
    EXPECT_THAT(order, IsOk());
    return order.ok() ? *order : v1::Order();
  }

  v1::DispatchOrderRequest Dispatch(const std::string& order_id, bool allow_partial = false) {
    v1::DispatchOrderRequest request;
    request.set_request_id(absl::StrCat("dispatch-", order_id));
    request.set_order_id(order_id);
    request.set_allow_partial(allow_partial);
    return request;
  }

  std::vector<std::string> EventKinds(const std::string& order_id) {
    std::vector<std::string> kinds;
    for (const StoredEvent& e : store_.Events(order_id)) kinds.push_back(e.kind);
    return kinds;
  }

  FakeClock clock_;
  v1::PolicyProfile policy_;
  FakeRequestStore store_;
  FakeInventoryClient inventory_;
  std::unique_ptr<RequestOperations> operations_;
  int units_ = 0;
};

TEST_F(RequestOperationsTest, PlacedOrderIsAllocatedAndConfirmed) {
  Stock(3);
  BG_ASSERT_OK_AND_ASSIGN(v1::Order order, operations_->PlaceOrder(Hospital(), Order("p-1", 2)));
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  ASSERT_EQ(order.lines_size(), 1);
  EXPECT_EQ(order.lines(0).allocated_quantity(), 2);
  EXPECT_EQ(order.lines(0).backordered_quantity(), 0);
  ASSERT_EQ(order.lines(0).units_size(), 2);
  const std::string key = ReservationKey(order.order_id(), 1, 1);
  EXPECT_EQ(inventory_.ReservationOf(key).status(), v1::RESERVATION_STATUS_CONFIRMED);
  EXPECT_EQ(inventory_.StatusOf("u3"), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_THAT(EventKinds(order.order_id()), ::testing::ElementsAre("RECEIVED", "UNITS_ALLOCATED"));

  // The same request_id answers with the same order.
  BG_ASSERT_OK_AND_ASSIGN(v1::Order again, operations_->PlaceOrder(Hospital(), Order("p-1", 2)));
  EXPECT_EQ(again.order_id(), order.order_id());
  EXPECT_THAT(operations_->PlaceOrder(Hospital(), Order("p-1", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("request_id")));
}

TEST_F(RequestOperationsTest, ShortStockIsBackOrderedAndFilledLater) {
  Stock(1);
  BG_ASSERT_OK_AND_ASSIGN(v1::Order order, operations_->PlaceOrder(Hospital(), Order("p-1", 3)));
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_EQ(order.lines(0).allocated_quantity(), 1);
  EXPECT_EQ(order.lines(0).backordered_quantity(), 2);

  // Nothing new on the shelf: the back-order pass finds nothing.
  BG_ASSERT_OK_AND_ASSIGN(int filled, operations_->FillBackorders(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(filled, 1);
  EXPECT_EQ(Get(order.order_id()).status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);

  Stock(2);
  BG_ASSERT_OK_AND_ASSIGN(filled, operations_->FillBackorders(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(filled, 1);
  const v1::Order topped = Get(order.order_id());
  EXPECT_EQ(topped.status(), v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(topped.lines(0).allocated_quantity(), 3);
  EXPECT_EQ(topped.lines(0).backordered_quantity(), 0);
  BG_ASSERT_OK_AND_ASSIGN(auto backordered,
                          store_.ListBackorderedOrders(10, absl::Now() + absl::Seconds(30)));
  EXPECT_TRUE(backordered.empty());
}

TEST_F(RequestOperationsTest, PartialDispatchNeedsAllowPartial) {
  Stock(1);
  BG_ASSERT_OK_AND_ASSIGN(v1::Order order, operations_->PlaceOrder(Hospital(), Order("p-1", 2)));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_THAT(operations_->DispatchOrder(Admin(), Dispatch(order.order_id())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("allow_partial")));
  BG_ASSERT_OK_AND_ASSIGN(v1::Order dispatched,
                          operations_->DispatchOrder(Admin(), Dispatch(order.order_id(), true)));
  EXPECT_EQ(dispatched.status(), v1::ORDER_STATUS_DISPATCHED);
  EXPECT_EQ(dispatched.lines(0).backordered_quantity(), 0);
  ASSERT_EQ(dispatched.exceptions_size(), 1);
  EXPECT_EQ(dispatched.exceptions(0).kind(), v1::ORDER_EXCEPTION_KIND_SHORT_DISPATCHED);
  EXPECT_EQ(inventory_.StatusOf("u1"), v1::UNIT_STATUS_ISSUED);
}

TEST_F(RequestOperationsTest, DispatchIssuesTheUnitsOnce) {
  Stock(2);
  BG_ASSERT_OK_AND_ASSIGN(v1::Order order, operations_->PlaceOrder(Hospital(), Order("p-1", 2)));
  BG_ASSERT_OK_AND_ASSIGN(v1::Order dispatched,
                          operations_->DispatchOrder(Admin(), Dispatch(order.order_id())));
  EXPECT_EQ(dispatched.status(), v1::ORDER_STATUS_DISPATCHED);
  EXPECT_TRUE(dispatched.has_dispatched_at());
  EXPECT_EQ(inventory_.StatusOf("u1"), v1::UNIT_STATUS_ISSUED);
  EXPECT_EQ(inventory_.StatusOf("u2"), v1::UNIT_STATUS_ISSUED);
  // A repeat replays; a cancellation now is refused.
  BG_ASSERT_OK_AND_ASSIGN(v1::Order again,
                          operations_->DispatchOrder(Admin(), Dispatch(order.order_id())));
  EXPECT_EQ(again.SerializeAsString(), dispatched.SerializeAsString());
  v1::CancelOrderRequest cancel;
  cancel.set_request_id("c-1");
  cancel.set_order_id(order.order_id());
  cancel.set_reason("too late");
  EXPECT_THAT(operations_->CancelOrder(Hospital(), cancel),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "order is DISPATCHED: it cannot be cancelled"));
  EXPECT_THAT(
      EventKinds(order.order_id()),
      ::testing::ElementsAre("RECEIVED", "UNITS_ALLOCATED", "DISPATCH_STARTED", "DISPATCHED"));
}

TEST_F(RequestOperationsTest, CancelReleasesTheReservation) {
  Stock(2);
  BG_ASSERT_OK_AND_ASSIGN(v1::Order order, operations_->PlaceOrder(Hospital(), Order("p-1", 2)));
  v1::CancelOrderRequest cancel;
  cancel.set_request_id("c-1");
  cancel.set_order_id(order.order_id());
  cancel.set_hospital_id("H1");
  cancel.set_reason("patient stable");
  BG_ASSERT_OK_AND_ASSIGN(v1::Order cancelled, operations_->CancelOrder(Hospital(), cancel));
  EXPECT_EQ(cancelled.status(), v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(cancelled.status_reason(), "patient stable");
  EXPECT_EQ(inventory_.ReservationOf(ReservationKey(order.order_id(), 1, 1)).status(),
            v1::RESERVATION_STATUS_RELEASED);
  EXPECT_EQ(inventory_.StatusOf("u1"), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(inventory_.StatusOf("u2"), v1::UNIT_STATUS_AVAILABLE);
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord record,
                          store_.LoadOrder(order.order_id(), absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(record.reservations[0].state, ReservationState::kReleased);

  // Another hospital may not cancel.
  BG_ASSERT_OK_AND_ASSIGN(v1::Order other, operations_->PlaceOrder(Hospital(), Order("p-2", 1)));
  cancel.set_request_id("c-2");
  cancel.set_order_id(other.order_id());
  cancel.set_hospital_id("H2");
  EXPECT_THAT(operations_->CancelOrder(Hospital(), cancel),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(RequestOperationsTest, RoutineOrderFailingItsIndicationWaitsForReview) {
  Stock(2);
  v1::PlaceOrderRequest request = Order("rev-1", 2, v1::PRIORITY_ROUTINE);
  request.mutable_patient()->set_hemoglobin_g_l(115);
  BG_ASSERT_OK_AND_ASSIGN(v1::Order order, operations_->PlaceOrder(Hospital(), request));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_IN_REVIEW);
  EXPECT_THAT(order.review_reason(), HasSubstr("Hb 115 g/L > 100 g/L"));
  EXPECT_EQ(inventory_.StatusOf("u1"), v1::UNIT_STATUS_AVAILABLE);

  v1::ReviewOrderRequest review;
  review.set_request_id("review-1");
  review.set_order_id(order.order_id());
  review.set_approve(true);
  review.set_reviewer("dr-chen");
  BG_ASSERT_OK_AND_ASSIGN(v1::Order approved, operations_->ReviewOrder(Admin(), review));
  EXPECT_EQ(approved.status(), v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(approved.lines(0).allocated_quantity(), 2);
  review.set_request_id("review-2");
  EXPECT_THAT(operations_->ReviewOrder(Admin(), review),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already reviewed")));
}

TEST_F(RequestOperationsTest, InventoryOutageLeavesTheOrderForTheReconciler) {
  Stock(2);
  inventory_.SetOutage(absl::UnavailableError("inventory down"));
  EXPECT_THAT(operations_->PlaceOrder(Hospital(), Order("p-1", 2)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("inventory reserve")));
  inventory_.SetOutage(absl::OkStatus());
  BG_ASSERT_OK_AND_ASSIGN(int done,
                          operations_->ReconcileOrders(true, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(done, 1);
  BG_ASSERT_OK_AND_ASSIGN(auto orders,
                          store_.ListOrders({}, {}, 10, absl::Now() + absl::Seconds(30)));
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0].status(), v1::ORDER_STATUS_ALLOCATED);
}

}  // namespace
}  // namespace bloodgrid::request
