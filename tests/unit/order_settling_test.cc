// The order-settling decisions of request_rules.h: each takes an order as the store loaded it
// and returns the change UpdateOrder applies. Table-driven: one row per situation.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/policy.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "request_service/request_rules.h"
#include "tests/support/status_matchers.h"

namespace bloodgrid::request {
namespace {

using ::bloodgrid::testing::IsOk;
using ::bloodgrid::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

const v1::PolicyProfile& Policy() {
  static const v1::PolicyProfile* const kPolicy = [] {
    auto policy = LoadPolicyFile(std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto");
    if (!policy.ok()) {
      ADD_FAILURE() << policy.status();
      return new v1::PolicyProfile();
    }
    return new v1::PolicyProfile(*policy);
  }();
  return *kPolicy;
}

struct LineSpec {
  int line_no;
  int quantity;
  int allocated;
};

// An order of red cells for an A RhD-positive patient, as LoadOrder shows it: one unit of
// quantity 1 per allocated U (unit ids "U<line>-<n>", on reservation "<id>/<line>/1").
OrderRecord Order(v1::OrderStatus status, std::vector<LineSpec> lines,
                  v1::Priority priority = v1::PRIORITY_ROUTINE) {
  OrderRecord record;
  v1::Order& o = record.order;
  o.set_order_id("ORD-1");
  o.set_hospital_id("H1");
  o.set_status(status);
  o.set_priority(priority);
  o.mutable_patient()->set_patient_ref("P1");
  o.mutable_patient()->mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  o.mutable_patient()->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  o.mutable_patient()->set_sex(v1::SEX_MALE);
  for (const LineSpec& spec : lines) {
    v1::OrderLine* line = o.add_lines();
    line->set_line_no(spec.line_no);
    line->set_component(v1::COMPONENT_RED_CELLS);
    line->set_quantity(spec.quantity);
    line->set_allocated_quantity(spec.allocated);
    for (int i = 1; i <= spec.allocated; ++i) {
      AllocationRecord a;
      a.line_no = spec.line_no;
      a.reservation_key = ReservationKey(o.order_id(), spec.line_no, 1);
      a.unit.set_unit_id(absl::StrCat("U", spec.line_no, "-", i));
      a.unit.set_din(absl::StrCat("DIN", spec.line_no, i));
      a.unit.set_component(v1::COMPONENT_RED_CELLS);
      a.unit.set_quantity(1);
      *line->add_units() = a.unit;
      record.allocations.push_back(a);
    }
  }
  return record;
}

ReservationRecord Reservation(int line_no, int attempt, ReservationState state, int phase = 0) {
  ReservationRecord r;
  r.key = ReservationKey("ORD-1", line_no, attempt);
  r.line_no = line_no;
  r.attempt = attempt;
  r.phase = phase;
  r.state = state;
  r.component = v1::COMPONENT_RED_CELLS;
  r.quantity = 1;
  return r;
}

AllocationPass Pass(std::map<int, int> phase_count, std::map<int, int> next_phase = {}) {
  AllocationPass pass;
  pass.stations = {"S1", "S2"};
  pass.phase_count = std::move(phase_count);
  pass.next_phase = std::move(next_phase);
  pass.policy = &Policy();
  pass.transport_time = absl::Hours(2);
  return pass;
}

v1::Unit HeldUnit(const std::string& id, v1::AboGroup abo = v1::ABO_GROUP_A,
                  v1::RhD rhd = v1::RH_D_POSITIVE) {
  v1::Unit u;
  u.set_unit_id(id);
  u.set_din(absl::StrCat("DIN-", id));
  u.set_component(v1::COMPONENT_RED_CELLS);
  u.mutable_blood_type()->set_abo(abo);
  u.mutable_blood_type()->set_rhd(rhd);
  u.set_station_id("S1");
  u.set_quantity(1);
  u.set_status(v1::UNIT_STATUS_RESERVED);
  return u;
}

v1::Reservation Held(std::vector<v1::Unit> units,
                     v1::ReservationStatus status = v1::RESERVATION_STATUS_HELD) {
  v1::Reservation r;
  r.set_status(status);
  for (v1::Unit& u : units) *r.add_units() = std::move(u);
  return r;
}

std::optional<v1::OrderStatus> NoChange() { return std::nullopt; }

// ---------------------------------------------------------------------------------------------
// Step 1 of an allocation pass: reservation intents (back-orders).

TEST(DecideReservationIntentsTest, OneIntentPerShortLineWhosePhaseExists) {
  struct Case {
    std::string name;
    v1::OrderStatus status;
    std::vector<LineSpec> lines;
    std::vector<ReservationRecord> reservations;
    bool dispatch_intent;
    std::map<int, int> next_phase;
    std::vector<std::string> expected_keys;
    std::optional<v1::OrderStatus> expected_status;
  };
  const std::vector<Case> cases = {
      {"new order, both lines short",
       v1::ORDER_STATUS_RECEIVED,
       {{1, 2, 0}, {2, 1, 0}},
       {},
       false,
       {},
       {"ORD-1/1/1", "ORD-1/2/1"},
       NoChange()},
      {"back-order tops up the short line only, next attempt",
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
       {{1, 2, 2}, {2, 3, 1}},
       {Reservation(2, 1, ReservationState::kConfirmed)},
       false,
       {},
       {"ORD-1/2/2"},
       NoChange()},
      {"pending intent first",
       v1::ORDER_STATUS_RECEIVED,
       {{1, 2, 0}},
       {Reservation(1, 1, ReservationState::kPending)},
       false,
       {},
       {},
       NoChange()},
      {"dispatch under way",
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
       {{1, 2, 1}},
       {},
       true,
       {},
       {},
       NoChange()},
      {"not allocatable", v1::ORDER_STATUS_CANCELLED, {{1, 2, 0}}, {}, false, {}, {}, NoChange()},
      {"every phase tried: a RECEIVED order settles short",
       v1::ORDER_STATUS_RECEIVED,
       {{1, 2, 0}},
       {},
       false,
       {{1, 1}},
       {},
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED},
      {"every phase tried: an allocated order stays",
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
       {{1, 2, 1}},
       {},
       false,
       {{1, 1}},
       {},
       NoChange()},
      {"nothing short", v1::ORDER_STATUS_ALLOCATED, {{1, 2, 2}}, {}, false, {}, {}, NoChange()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    OrderRecord record = Order(c.status, c.lines);
    record.reservations = c.reservations;
    record.dispatch_intent = c.dispatch_intent;
    BG_ASSERT_OK_AND_ASSIGN(
        OrderChange change,
        DecideReservationIntents(record, Pass({{1, 1}, {2, 1}}, c.next_phase), kNow));
    std::vector<std::string> keys;
    for (const ReservationRecord& r : change.new_reservations) {
      keys.push_back(r.key);
      EXPECT_EQ(r.state, ReservationState::kPending);
      EXPECT_EQ(r.station_ids, (std::vector<std::string>{"S1", "S2"}));
      EXPECT_EQ(r.expiry_floor, kNow + absl::Hours(2));
      EXPECT_FALSE(r.candidates.empty());
    }
    EXPECT_EQ(keys, c.expected_keys);
    EXPECT_EQ(change.status, c.expected_status);
  }
}

TEST(DecideReservationIntentsTest, AsksForTheShortfall) {
  const OrderRecord record = Order(v1::ORDER_STATUS_PARTIALLY_ALLOCATED, {{1, 5, 2}});
  BG_ASSERT_OK_AND_ASSIGN(OrderChange change,
                          DecideReservationIntents(record, Pass({{1, 1}}), kNow));
  ASSERT_EQ(change.new_reservations.size(), 1u);
  EXPECT_EQ(change.new_reservations[0].quantity, 3);
}

TEST(NewReservationIntentTest, ExpiryFloorIsNeededByPlusTransport) {
  OrderRecord record = Order(v1::ORDER_STATUS_RECEIVED, {{1, 1, 0}});
  ToTimestamp(kNow + absl::Hours(5), record.order.mutable_needed_by());
  BG_ASSERT_OK_AND_ASSIGN(
      ReservationRecord r,
      NewReservationIntent(record.order, 1, 1, 0, 1, {"S1"}, Policy(), absl::Hours(2), kNow));
  EXPECT_EQ(r.expiry_floor, kNow + absl::Hours(7));
  EXPECT_THAT(
      NewReservationIntent(record.order, 9, 1, 0, 1, {"S1"}, Policy(), absl::Hours(2), kNow),
      StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(
      NewReservationIntent(record.order, 1, 1, 7, 1, {"S1"}, Policy(), absl::Hours(2), kNow),
      StatusIs(absl::StatusCode::kInternal));
}

// ---------------------------------------------------------------------------------------------
// Step 3: recording what inventory reserved, and settling.

TEST(DecideReservedUnitsTest, SettlesTheOrder) {
  struct Case {
    std::string name;
    v1::OrderStatus status;
    int quantity;
    v1::Reservation reserved;
    std::map<int, int> phase_count;
    ReservationState expected_state;
    int expected_units;
    std::optional<v1::OrderStatus> expected_status;
  };
  const std::vector<Case> cases = {
      {"filled",
       v1::ORDER_STATUS_RECEIVED,
       2,
       Held({HeldUnit("a"), HeldUnit("b")}),
       {{1, 1}},
       ReservationState::kReserved,
       2,
       v1::ORDER_STATUS_ALLOCATED},
      {"short: back-ordered",
       v1::ORDER_STATUS_RECEIVED,
       3,
       Held({HeldUnit("a")}),
       {{1, 1}},
       ReservationState::kReserved,
       1,
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED},
      {"short with a later phase to come: stays RECEIVED",
       v1::ORDER_STATUS_RECEIVED,
       3,
       Held({HeldUnit("a")}),
       {{1, 2}},
       ReservationState::kReserved,
       1,
       NoChange()},
      {"nothing found",
       v1::ORDER_STATUS_RECEIVED,
       1,
       Held({}),
       {{1, 1}},
       ReservationState::kEmpty,
       0,
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED},
      {"hold lapsed before it was recorded",
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
       1,
       Held({HeldUnit("a")}, v1::RESERVATION_STATUS_EXPIRED),
       {{1, 1}},
       ReservationState::kReleased,
       0,
       NoChange()},
      {"back-order filled",
       v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
       1,
       Held({HeldUnit("a")}),
       {{1, 1}},
       ReservationState::kReserved,
       1,
       v1::ORDER_STATUS_ALLOCATED},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    OrderRecord record = Order(c.status, {{1, c.quantity, 0}});
    record.reservations = {Reservation(1, 1, ReservationState::kPending)};
    const OrderChange change = DecideReservedUnits(record, {{"ORD-1/1/1", c.reserved}},
                                                   Pass(c.phase_count), "user:doc", kNow);
    EXPECT_THAT(change.reservation_states, ElementsAre(Pair("ORD-1/1/1", c.expected_state)));
    EXPECT_EQ(static_cast<int>(change.new_allocations.size()), c.expected_units);
    EXPECT_EQ(change.status, c.expected_status);
    EXPECT_EQ(change.event_kind, c.expected_units > 0 ? "UNITS_ALLOCATED" : "");
  }
}

TEST(DecideReservedUnitsTest, AnOrderThatLeftAllocationAbandonsItsIntents) {
  for (bool dispatching : {false, true}) {
    OrderRecord record =
        Order(dispatching ? v1::ORDER_STATUS_PARTIALLY_ALLOCATED : v1::ORDER_STATUS_CANCELLED,
              {{1, 2, 0}});
    record.dispatch_intent = dispatching;
    record.reservations = {Reservation(1, 1, ReservationState::kPending),
                           Reservation(1, 2, ReservationState::kConfirmed)};
    const OrderChange change = DecideReservedUnits(record, {{"ORD-1/1/1", Held({HeldUnit("a")})}},
                                                   Pass({{1, 1}}), "user:doc", kNow);
    EXPECT_THAT(change.reservation_states,
                ElementsAre(Pair("ORD-1/1/1", ReservationState::kAbandoned)));
    EXPECT_THAT(change.new_allocations, IsEmpty());
    EXPECT_FALSE(change.status.has_value());
  }
}

TEST(DecideReservedUnitsTest, SkipsUnitsAlreadyOnTheOrderAndRecordsDeviations) {
  OrderRecord record = Order(v1::ORDER_STATUS_RECEIVED, {{1, 3, 1}});
  record.order.mutable_approvals()->set_physician("Dr Li");
  record.reservations = {Reservation(1, 2, ReservationState::kPending)};
  const OrderChange change = DecideReservedUnits(
      record,
      {{"ORD-1/1/2",
        Held({HeldUnit("U1-1"), HeldUnit("o", v1::ABO_GROUP_O), HeldUnit("b", v1::ABO_GROUP_A)})}},
      Pass({{1, 1}}), "user:doc", kNow);
  ASSERT_EQ(change.new_allocations.size(), 2u);
  EXPECT_EQ(change.new_allocations[0].unit.unit_id(), "o");
  EXPECT_EQ(change.new_allocations[0].reservation_key, "ORD-1/1/2");
  EXPECT_EQ(change.status, v1::ORDER_STATUS_ALLOCATED);
  ASSERT_EQ(change.new_exceptions.size(), 1u);
  EXPECT_EQ(change.new_exceptions[0].kind(), v1::ORDER_EXCEPTION_KIND_ABO_NON_IDENTICAL);
  EXPECT_EQ(change.new_exceptions[0].recorded_by(), "Dr Li");
  EXPECT_EQ(change.event_note, "DIN-o (line 1), DIN-b (line 1)");
}

// ---------------------------------------------------------------------------------------------
// Withdrawals, settling reservations with inventory.

TEST(WithdrawUnitsTest, BackOrdersWhatALostUnitLeavesShort) {
  struct Case {
    v1::OrderStatus status;
    std::set<std::string> units;
    std::optional<v1::OrderStatus> expected;
  };
  const std::vector<Case> cases = {
      {v1::ORDER_STATUS_ALLOCATED, {"U1-1"}, v1::ORDER_STATUS_PARTIALLY_ALLOCATED},
      {v1::ORDER_STATUS_ALLOCATED, {}, NoChange()},
      {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, {"U1-1"}, NoChange()},
      // Past allocation the status is not the back-order's business.
      {v1::ORDER_STATUS_RECEIVED, {"U1-1"}, NoChange()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(v1::OrderStatus_Name(c.status));
    const OrderRecord record = Order(c.status, {{1, 2, 2}});
    OrderChange change;
    WithdrawUnits(record, c.units, change);
    EXPECT_EQ(change.withdrawn_unit_ids, std::vector<std::string>(c.units.begin(), c.units.end()));
    EXPECT_EQ(change.status, c.expected);
  }
}

TEST(DecideSettledReservationsTest, RecordsWhatInventorySaid) {
  OrderRecord record = Order(v1::ORDER_STATUS_ALLOCATED, {{1, 1, 1}, {2, 1, 0}});
  record.reservations = {Reservation(1, 1, ReservationState::kReserved),
                         Reservation(2, 1, ReservationState::kAbandoned),
                         Reservation(2, 2, ReservationState::kReserved)};
  TransferFacts facts;
  facts.transfer_ids = {{"U1-1", "T1"}};
  const OrderChange confirmed =
      DecideSettledReservations(record, {"ORD-1/1/1"}, {"ORD-1/2/1"}, {}, facts);
  EXPECT_THAT(confirmed.reservation_states,
              ElementsAre(Pair("ORD-1/1/1", ReservationState::kConfirmed),
                          Pair("ORD-1/2/1", ReservationState::kReleased)));
  EXPECT_EQ(confirmed.unit_transfer_ids, facts.transfer_ids);
  EXPECT_FALSE(confirmed.read_back);
  EXPECT_EQ(confirmed.event_kind, "");

  const OrderChange lapsed = DecideSettledReservations(record, {}, {}, {"ORD-1/1/1"}, {});
  EXPECT_THAT(lapsed.reservation_states,
              ElementsAre(Pair("ORD-1/1/1", ReservationState::kReleased)));
  EXPECT_THAT(lapsed.withdrawn_unit_ids, ElementsAre("U1-1"));
  EXPECT_EQ(lapsed.status, v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_EQ(lapsed.event_kind, "HOLD_LAPSED");
  EXPECT_EQ(lapsed.event_note, "1 unit(s) lost: the reservation lapsed");
}

TEST(DecideVerifiedAllocationsTest, WithdrawsWithAnExceptionEach) {
  const OrderRecord record = Order(v1::ORDER_STATUS_ALLOCATED, {{1, 2, 2}});
  const OrderChange change =
      DecideVerifiedAllocations(record, {{"U1-2", "expired"}}, {}, "system:lookback", kNow);
  EXPECT_THAT(change.withdrawn_unit_ids, ElementsAre("U1-2"));
  EXPECT_EQ(change.status, v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_EQ(change.event_kind, "UNITS_WITHDRAWN");
  ASSERT_EQ(change.new_exceptions.size(), 1u);
  EXPECT_EQ(change.new_exceptions[0].message(), "unit DIN12 withdrawn: expired");
  EXPECT_EQ(change.new_exceptions[0].recorded_by(), "system:lookback");

  TransferFacts facts;
  v1::Transfer t;
  t.set_transfer_id("T9");
  t.set_from_station_id("S2");
  t.set_to_station_id("S1");
  *t.add_units() = HeldUnit("U1-1");
  facts.created = {t};
  const OrderChange planned = DecideVerifiedAllocations(record, {}, facts, "x", kNow);
  EXPECT_EQ(planned.event_kind, "TRANSFER_PLANNED");
  EXPECT_EQ(planned.event_note, "T9: S2 -> S1 (DIN-U1-1)");
}

// ---------------------------------------------------------------------------------------------
// The client's lifecycle calls.

TEST(DecideCancelTest, ByStatus) {
  struct Case {
    v1::OrderStatus status;
    bool dispatch_intent;
    std::string hospital_id;
    absl::StatusCode code;
    bool cancels;
  };
  const std::vector<Case> cases = {
      {v1::ORDER_STATUS_RECEIVED, false, "", absl::StatusCode::kOk, true},
      {v1::ORDER_STATUS_IN_REVIEW, false, "H1", absl::StatusCode::kOk, true},
      {v1::ORDER_STATUS_ALLOCATED, false, "", absl::StatusCode::kOk, true},
      {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, false, "", absl::StatusCode::kOk, true},
      {v1::ORDER_STATUS_CANCELLED, false, "", absl::StatusCode::kOk, false},
      {v1::ORDER_STATUS_ALLOCATED, true, "", absl::StatusCode::kFailedPrecondition, false},
      {v1::ORDER_STATUS_DISPATCHED, false, "", absl::StatusCode::kFailedPrecondition, false},
      {v1::ORDER_STATUS_REJECTED, false, "", absl::StatusCode::kFailedPrecondition, false},
      {v1::ORDER_STATUS_RECEIVED, false, "H2", absl::StatusCode::kPermissionDenied, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(v1::OrderStatus_Name(c.status), " ", c.dispatch_intent));
    OrderRecord record = Order(c.status, {{1, 2, 1}});
    record.dispatch_intent = c.dispatch_intent;
    record.reservations = {Reservation(1, 1, ReservationState::kConfirmed),
                           Reservation(1, 2, ReservationState::kEmpty)};
    absl::StatusOr<OrderChange> change = DecideCancel(record, c.hospital_id, "no longer needed");
    EXPECT_EQ(change.status().code(), c.code) << change.status();
    if (!change.ok()) continue;
    EXPECT_EQ(change->status.has_value(), c.cancels);
    if (c.cancels) {
      EXPECT_EQ(*change->status, v1::ORDER_STATUS_CANCELLED);
      EXPECT_EQ(change->status_reason, "no longer needed");
      EXPECT_THAT(change->reservation_states,
                  ElementsAre(Pair("ORD-1/1/1", ReservationState::kAbandoned)));
    }
  }
  EXPECT_THAT(DecideCancel(Order(v1::ORDER_STATUS_DISPATCHED, {}), "", "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "order is DISPATCHED: it cannot be cancelled"));
}

TEST(DecideReviewTest, ByStatusAndFlags) {
  struct Case {
    std::string name;
    v1::OrderStatus status;
    v1::Priority priority;
    bool flagged;
    bool approve;
    absl::StatusCode code;
    std::optional<v1::OrderStatus> expected_status;
    std::string event_kind;
  };
  const std::vector<Case> cases = {
      {"approved", v1::ORDER_STATUS_IN_REVIEW, v1::PRIORITY_ROUTINE, true, true,
       absl::StatusCode::kOk, v1::ORDER_STATUS_RECEIVED, "APPROVED"},
      {"rejected", v1::ORDER_STATUS_IN_REVIEW, v1::PRIORITY_ROUTINE, true, false,
       absl::StatusCode::kOk, v1::ORDER_STATUS_REJECTED, "REJECTED"},
      {"retrospective", v1::ORDER_STATUS_ALLOCATED, v1::PRIORITY_URGENT, true, true,
       absl::StatusCode::kOk, NoChange(), "RETROSPECTIVE_REVIEW"},
      {"nothing to review", v1::ORDER_STATUS_ALLOCATED, v1::PRIORITY_URGENT, false, true,
       absl::StatusCode::kFailedPrecondition, NoChange(), ""},
      {"routine never flagged past review", v1::ORDER_STATUS_ALLOCATED, v1::PRIORITY_ROUTINE, true,
       true, absl::StatusCode::kFailedPrecondition, NoChange(), ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    OrderRecord record = Order(c.status, {{1, 1, 0}}, c.priority);
    if (c.flagged) {
      record.order.add_exceptions()->set_kind(v1::ORDER_EXCEPTION_KIND_INDICATION_NOT_MET);
    }
    v1::ReviewOrderRequest request;
    request.set_approve(c.approve);
    request.set_reviewer("Dr Wang");
    request.set_note("seen");
    absl::StatusOr<OrderChange> change = DecideReview(record, request, kNow);
    EXPECT_EQ(change.status().code(), c.code) << change.status();
    if (!change.ok()) continue;
    EXPECT_EQ(change->status, c.expected_status);
    EXPECT_EQ(change->event_kind, c.event_kind);
    ASSERT_TRUE(change->review.has_value());
    EXPECT_EQ(change->review->retrospective(), c.event_kind == "RETROSPECTIVE_REVIEW");
    EXPECT_EQ(FromTimestamp(change->review->reviewed_at()), kNow);
  }
  OrderRecord reviewed = Order(v1::ORDER_STATUS_IN_REVIEW, {});
  reviewed.order.add_reviews();
  EXPECT_THAT(DecideReview(reviewed, v1::ReviewOrderRequest(), kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition, "order ORD-1 was already reviewed"));
}

TEST(DispatchTest, DispatchableStatuses) {
  struct Case {
    v1::OrderStatus status;
    bool allow_partial;
    bool ok;
  };
  const std::vector<Case> cases = {
      {v1::ORDER_STATUS_ALLOCATED, false, true},
      {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, true, true},
      {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, false, false},
      {v1::ORDER_STATUS_RECEIVED, true, false},
      {v1::ORDER_STATUS_CANCELLED, true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(v1::OrderStatus_Name(c.status), " ", c.allow_partial));
    const OrderRecord record = Order(c.status, {{1, 1, 0}});
    EXPECT_EQ(CheckDispatchable(record, c.allow_partial).ok(), c.ok);
    absl::StatusOr<OrderChange> start = DecideDispatchStart(record, c.allow_partial);
    EXPECT_EQ(start.ok(), c.ok);
    if (start.ok()) {
      EXPECT_EQ(start->dispatch_intent, true);
      EXPECT_EQ(start->allow_partial, c.allow_partial);
      EXPECT_EQ(start->event_kind, "DISPATCH_STARTED");
    }
  }
  OrderRecord started = Order(v1::ORDER_STATUS_ALLOCATED, {});
  started.dispatch_intent = true;
  BG_ASSERT_OK_AND_ASSIGN(OrderChange again, DecideDispatchStart(started, false));
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(DecideDispatchFailed(started, "no stock").dispatch_intent, false);
  EXPECT_TRUE(DecideDispatchFailed(Order(v1::ORDER_STATUS_ALLOCATED, {}), "x").empty());
}

TEST(DispatchTest, DispatchedClosesShortLinesAndIssuesReservations) {
  OrderRecord record = Order(v1::ORDER_STATUS_PARTIALLY_ALLOCATED, {{1, 2, 2}, {2, 3, 1}});
  record.dispatch_intent = true;
  BG_ASSERT_OK_AND_ASSIGN(OrderChange change,
                          DecideDispatched(record, "ORD-2", Pass({}), "user:disp", kNow));
  EXPECT_EQ(change.status, v1::ORDER_STATUS_DISPATCHED);
  EXPECT_EQ(change.dispatch_intent, false);
  EXPECT_THAT(change.reservation_states, ElementsAre(Pair("ORD-1/1/1", ReservationState::kIssued),
                                                     Pair("ORD-1/2/1", ReservationState::kIssued)));
  EXPECT_THAT(change.close_lines_short, ElementsAre(2));
  ASSERT_EQ(change.new_exceptions.size(), 1u);
  EXPECT_EQ(change.new_exceptions[0].kind(), v1::ORDER_EXCEPTION_KIND_SHORT_DISPATCHED);
  EXPECT_THAT(change.new_exceptions[0].message(), HasSubstr("1 of 3"));
  EXPECT_FALSE(change.follow_up.has_value());

  record.dispatch_intent = false;
  EXPECT_THAT(DecideDispatched(record, "ORD-2", Pass({}), "x", kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no dispatch under way")));
  BG_ASSERT_OK_AND_ASSIGN(OrderChange done, DecideDispatched(Order(v1::ORDER_STATUS_DISPATCHED, {}),
                                                             "ORD-2", Pass({}), "x", kNow));
  EXPECT_TRUE(done.empty());
}

TEST(DispatchTest, MassiveTransfusionPlacesTheNextRound) {
  OrderRecord record = Order(v1::ORDER_STATUS_ALLOCATED, {{1, 4, 4}}, v1::PRIORITY_EMERGENCY);
  record.dispatch_intent = true;
  record.order.set_massive_transfusion(true);
  record.order.set_massive_transfusion_id("ORD-1");
  record.order.set_round(1);
  BG_ASSERT_OK_AND_ASSIGN(OrderChange change,
                          DecideDispatched(record, "ORD-2", Pass({}), "user:disp", kNow));
  ASSERT_TRUE(change.follow_up.has_value());
  const v1::Order& next = change.follow_up->order;
  EXPECT_EQ(next.order_id(), "ORD-2");
  EXPECT_EQ(next.request_id(), "mt:ORD-1:round:2");
  EXPECT_EQ(next.round(), 2);
  EXPECT_EQ(next.status(), v1::ORDER_STATUS_RECEIVED);
  ASSERT_EQ(next.lines_size(), 1);
  EXPECT_EQ(next.lines(0).quantity(), 4);
  EXPECT_EQ(next.lines(0).allocated_quantity(), 0);
  ASSERT_EQ(change.follow_up->reservations.size(), 1u);
  EXPECT_EQ(change.follow_up->reservations[0].key, "ORD-2/1/1");
}

TEST(DecideDeliveryTest, ByStatus) {
  struct Case {
    v1::OrderStatus status;
    absl::StatusCode code;
    bool delivers;
  };
  const std::vector<Case> cases = {
      {v1::ORDER_STATUS_DISPATCHED, absl::StatusCode::kOk, true},
      {v1::ORDER_STATUS_DELIVERED, absl::StatusCode::kOk, false},
      {v1::ORDER_STATUS_COMPLETED, absl::StatusCode::kOk, false},
      {v1::ORDER_STATUS_ALLOCATED, absl::StatusCode::kFailedPrecondition, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(v1::OrderStatus_Name(c.status));
    absl::StatusOr<OrderChange> change =
        DecideDelivery(Order(c.status, {}), "H1", kNow - absl::Minutes(5), "Nurse Zhao");
    EXPECT_EQ(change.status().code(), c.code);
    if (!change.ok()) continue;
    EXPECT_EQ(change->status.has_value(), c.delivers);
    if (c.delivers) {
      EXPECT_EQ(change->delivered_at, kNow - absl::Minutes(5));
      EXPECT_EQ(change->received_by, "Nurse Zhao");
    }
  }
  EXPECT_THAT(DecideDelivery(Order(v1::ORDER_STATUS_DISPATCHED, {}), "H9", kNow, ""),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// ---------------------------------------------------------------------------------------------
// Outcomes.

TEST(TransfusionReportTest, CompletesWhenEveryUnitIsReported) {
  struct Case {
    std::string name;
    v1::OrderStatus status;
    int units_reported_before;
    std::optional<v1::OrderStatus> expected;
  };
  const std::vector<Case> cases = {
      {"first of two: delivered", v1::ORDER_STATUS_DISPATCHED, 0, v1::ORDER_STATUS_DELIVERED},
      {"last of two: completed", v1::ORDER_STATUS_DELIVERED, 1, v1::ORDER_STATUS_COMPLETED},
      {"last of two, never confirmed delivered", v1::ORDER_STATUS_DISPATCHED, 1,
       v1::ORDER_STATUS_COMPLETED},
      {"first of two, already delivered", v1::ORDER_STATUS_DELIVERED, 0, NoChange()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    OrderRecord record = Order(c.status, {{1, 2, 2}});
    // U1-2 may carry an earlier report; U1-1 is reported now.
    if (c.units_reported_before > 0) {
      record.allocations[1].unit.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
    }
    v1::ReportTransfusionRequest request;
    request.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
    BG_ASSERT_OK_AND_ASSIGN(OrderChange change,
                            DecideTransfusionReport(record, request, "DIN11", kNow, kNow));
    EXPECT_EQ(change.status, c.expected);
    ASSERT_EQ(change.outcomes.size(), 1u);
    EXPECT_EQ(change.outcomes[0].unit_id, "U1-1");
    EXPECT_EQ(change.event_kind, "OUTCOME_REPORTED");
    EXPECT_EQ(change.delivered_at.has_value(), c.status == v1::ORDER_STATUS_DISPATCHED);
  }
}

TEST(TransfusionReportTest, RepeatsAndConflicts) {
  OrderRecord record = Order(v1::ORDER_STATUS_DELIVERED, {{1, 2, 2}});
  record.allocations[0].unit.set_outcome(v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED);
  v1::ReportTransfusionRequest request;
  request.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  BG_ASSERT_OK_AND_ASSIGN(OrderChange repeat,
                          DecideTransfusionReport(record, request, "DIN11", kNow, kNow));
  EXPECT_TRUE(repeat.empty());
  request.mutable_adverse_reaction();
  BG_ASSERT_OK_AND_ASSIGN(OrderChange reaction,
                          DecideTransfusionReport(record, request, "DIN11", kNow, kNow));
  EXPECT_EQ(reaction.event_kind, "ADVERSE_REACTION_ADDED");
  request.set_outcome(v1::TRANSFUSION_OUTCOME_WASTED);
  EXPECT_THAT(DecideTransfusionReport(record, request, "DIN11", kNow, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already reported")));
  EXPECT_THAT(DecideTransfusionReport(record, request, "DIN99", kNow, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, "din: DIN99 is not on order ORD-1"));
  EXPECT_TRUE(
      SameOutcome(v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED, v1::TRANSFUSION_OUTCOME_TRANSFUSED));
  EXPECT_FALSE(
      SameOutcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED, v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED));
}

TEST(DecidePresumedTransfusionTest, CompletesOnTheLastUnit) {
  OrderRecord record = Order(v1::ORDER_STATUS_DISPATCHED, {{1, 2, 2}});
  const OrderChange first = DecidePresumedTransfusion(record, "U1-1", kNow);
  EXPECT_FALSE(first.status.has_value());
  EXPECT_EQ(first.event_kind, "PRESUMED_TRANSFUSED");
  record.allocations[1].unit.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  EXPECT_EQ(DecidePresumedTransfusion(record, "U1-1", kNow).status, v1::ORDER_STATUS_COMPLETED);
  record.allocations[0].unit.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  EXPECT_TRUE(DecidePresumedTransfusion(record, "U1-1", kNow).empty());
  EXPECT_TRUE(DecidePresumedTransfusion(record, "nope", kNow).empty());
}

}  // namespace
}  // namespace bloodgrid::request
