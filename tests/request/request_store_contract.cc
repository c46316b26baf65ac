// The store contract suite (request_store_contract.h): what request_store.h promises, checked
// the same way against every implementation.
#include "tests/request/request_store_contract.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
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
using ::testing::UnorderedElementsAre;

// Business time of the tests: fixed, microsecond-aligned.
const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }

db::IdempotencyKey Key(const std::string& request_id, const std::string& hash = "h1") {
  return db::IdempotencyKey{"Contract|user:test", request_id, hash};
}

v1::Hospital Hospital(const std::string& id, const std::string& name = "General") {
  v1::Hospital h;
  h.set_hospital_id(id);
  h.set_name(name);
  h.set_serving_station_id("S1");
  h.add_fallback_station_ids("S2");
  h.set_address("1 Road");
  h.set_active(true);
  return h;
}

// A RECEIVED order of `quantity` red cells (line 1) with one PENDING reservation intent.
OrderRecord NewOrder(const std::string& id, const std::string& hospital_id = "H1", int quantity = 2,
                     v1::Priority priority = v1::PRIORITY_ROUTINE,
                     const std::string& patient_ref = "P1") {
  OrderRecord record;
  record.request_hash = absl::StrCat("hash-", id);
  v1::Order& o = record.order;
  o.set_order_id(id);
  o.set_hospital_id(hospital_id);
  o.set_request_id(absl::StrCat("req-", id));
  o.set_status(v1::ORDER_STATUS_RECEIVED);
  o.set_priority(priority);
  o.mutable_patient()->set_patient_ref(patient_ref);
  o.mutable_patient()->mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  o.mutable_patient()->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  o.set_indication("surgery");
  v1::OrderLine* line = o.add_lines();
  line->set_line_no(1);
  line->set_component(v1::COMPONENT_RED_CELLS);
  line->set_quantity(quantity);
  ReservationRecord r;
  r.key = ReservationKey(id, 1, 1);
  r.line_no = 1;
  r.attempt = 1;
  r.state = ReservationState::kPending;
  r.component = v1::COMPONENT_RED_CELLS;
  r.quantity = quantity;
  r.candidates = {{BloodType{v1::ABO_GROUP_A, v1::RH_D_POSITIVE}, 0}};
  r.station_ids = {"S1", "S2"};
  r.expiry_floor = kT0 + absl::Hours(2);
  record.reservations.push_back(r);
  return record;
}

AllocationRecord Unit(const std::string& order_id, const std::string& unit_id,
                      const std::string& din) {
  AllocationRecord a;
  a.line_no = 1;
  a.reservation_key = ReservationKey(order_id, 1, 1);
  a.unit.set_unit_id(unit_id);
  a.unit.set_din(din);
  a.unit.set_component(v1::COMPONENT_RED_CELLS);
  a.unit.mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  a.unit.mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  a.unit.set_station_id("S1");
  ToTimestamp(kT0 + absl::Hours(24 * 20), a.unit.mutable_expires_at());
  a.unit.set_quantity(1);
  return a;
}

std::string Event(const std::string& kind, v1::OrderStatus from, v1::OrderStatus to,
                  const std::string& actor = "user:test") {
  return absl::StrCat(kind, " ", static_cast<int>(from), "->", static_cast<int>(to), " ", actor);
}

// A decide function that returns `change` whatever the order.
RequestStore::DecideFn Always(OrderChange change) {
  return [change](const OrderRecord&) -> absl::StatusOr<OrderChange> { return change; };
}

OrderChange StatusChange(v1::OrderStatus status) {
  OrderChange change;
  change.status = status;
  return change;
}

}  // namespace

void RequestStoreContractTest::SetUp() {
  backend_ = GetParam()();
  ASSERT_THAT(store().UpsertHospital(Hospital("H1"), Key("seed-H1"), kT0, Deadline()), IsOk());
}

void RequestStoreContractTest::Create(const OrderRecord& record) { Create(record, kT0); }

void RequestStoreContractTest::Create(const OrderRecord& record, absl::Time at) {
  ASSERT_THAT(store().CreateOrder(record, {v1::ORDER_STATUS_RECEIVED}, "user:test", at, Deadline()),
              IsOk());
}

absl::StatusOr<UpdateResult> RequestStoreContractTest::Update(const std::string& id,
                                                              OrderChange change) {
  return Update(id, std::move(change), kT0 + absl::Minutes(1));
}

absl::StatusOr<UpdateResult> RequestStoreContractTest::Update(const std::string& id,
                                                              OrderChange change, absl::Time at,
                                                              const db::IdempotencyKey* key) {
  return store().UpdateOrder(id, key, "user:test", at, Deadline(), Always(std::move(change)));
}

// Records units on a RECEIVED order: ALLOCATED when `units` fill it.
void RequestStoreContractTest::Allocate(const std::string& id, std::vector<AllocationRecord> units,
                                        v1::OrderStatus status) {
  OrderChange change;
  change.new_allocations = std::move(units);
  change.reservation_states = {{ReservationKey(id, 1, 1), ReservationState::kConfirmed}};
  change.status = status;
  change.event_kind = "UNITS_ALLOCATED";
  ASSERT_THAT(Update(id, change), IsOk());
}

void RequestStoreContractTest::Dispatch(const std::string& id, absl::Time at) {
  ASSERT_THAT(Update(id, StatusChange(v1::ORDER_STATUS_DISPATCHED), at), IsOk());
}

namespace {

// ---------------------------------------------------------------------------------------------
// Hospitals.

TEST_P(RequestStoreContractTest, UpsertHospitalKeepsCreatedAtAndReplaysItsKey) {
  BG_ASSERT_OK_AND_ASSIGN(v1::Hospital first, store().GetHospital("H1", Deadline()));
  EXPECT_EQ(FromTimestamp(first.created_at()), kT0);
  EXPECT_THAT(first.fallback_station_ids(), ElementsAre("S2"));

  v1::Hospital renamed = Hospital("H1", "Renamed");
  renamed.clear_fallback_station_ids();
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Hospital second,
      store().UpsertHospital(renamed, Key("rename"), kT0 + absl::Hours(1), Deadline()));
  EXPECT_EQ(second.name(), "Renamed");
  EXPECT_EQ(FromTimestamp(second.created_at()), kT0);
  EXPECT_EQ(FromTimestamp(second.updated_at()), kT0 + absl::Hours(1));
  EXPECT_THAT(second.fallback_station_ids(), IsEmpty());

  // The same key again: the first answer, nothing changed.
  BG_ASSERT_OK_AND_ASSIGN(v1::Hospital replayed,
                          store().UpsertHospital(Hospital("H1", "Other"), Key("rename"),
                                                 kT0 + absl::Hours(2), Deadline()));
  EXPECT_EQ(replayed.name(), "Renamed");
  BG_ASSERT_OK_AND_ASSIGN(v1::Hospital now, store().GetHospital("H1", Deadline()));
  EXPECT_EQ(now.name(), "Renamed");
  // The key used for another request.
  EXPECT_THAT(store().UpsertHospital(Hospital("H1"), Key("rename", "other-hash"), kT0, Deadline()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("request_id: ")));
  EXPECT_THAT(store().GetHospital("H9", Deadline()),
              StatusIs(absl::StatusCode::kNotFound, "hospital H9 not found"));
}

TEST_P(RequestStoreContractTest, ListHospitalsPagesById) {
  for (const char* id : {"H3", "H2", "H4"}) {
    ASSERT_THAT(
        store().UpsertHospital(Hospital(id), Key(absl::StrCat("seed-", id)), kT0, Deadline()),
        IsOk());
  }
  auto ids = [](const std::vector<v1::Hospital>& hospitals) {
    std::vector<std::string> out;
    for (const v1::Hospital& h : hospitals) out.push_back(h.hospital_id());
    return out;
  };
  BG_ASSERT_OK_AND_ASSIGN(auto page, store().ListHospitals("", 2, Deadline()));
  EXPECT_THAT(ids(page), ElementsAre("H1", "H2"));
  BG_ASSERT_OK_AND_ASSIGN(page, store().ListHospitals("H2", 2, Deadline()));
  EXPECT_THAT(ids(page), ElementsAre("H3", "H4"));
  BG_ASSERT_OK_AND_ASSIGN(page, store().ListHospitals("H4", 2, Deadline()));
  EXPECT_TRUE(page.empty());
}

// ---------------------------------------------------------------------------------------------
// Creating and loading orders.

TEST_P(RequestStoreContractTest, CreateOrderWritesTheOrderAndItsFirstEvents) {
  OrderRecord record = NewOrder("ORD-1");
  record.order.set_status(v1::ORDER_STATUS_IN_REVIEW);
  record.order.set_review_reason("Hb too high");
  record.reservations.clear();
  ASSERT_THAT(store().CreateOrder(record, {v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_IN_REVIEW},
                                  "user:test", kT0, Deadline()),
              IsOk());
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord loaded, store().LoadOrder("ORD-1", Deadline()));
  EXPECT_EQ(loaded.order.status(), v1::ORDER_STATUS_IN_REVIEW);
  EXPECT_EQ(loaded.order.review_reason(), "Hb too high");
  EXPECT_EQ(loaded.order.patient().patient_ref(), "P1");
  EXPECT_EQ(loaded.request_hash, "hash-ORD-1");
  EXPECT_EQ(FromTimestamp(loaded.order.created_at()), kT0);
  ASSERT_EQ(loaded.order.lines_size(), 1);
  EXPECT_EQ(loaded.order.lines(0).allocated_quantity(), 0);
  EXPECT_EQ(loaded.order.lines(0).backordered_quantity(), 0);
  EXPECT_THAT(
      Events("ORD-1"),
      ElementsAre(Event("RECEIVED", v1::ORDER_STATUS_UNSPECIFIED, v1::ORDER_STATUS_RECEIVED),
                  Event("IN_REVIEW", v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_IN_REVIEW)));

  BG_ASSERT_OK_AND_ASSIGN(auto found, store().FindOrderByRequest("H1", "req-ORD-1", Deadline()));
  EXPECT_EQ(found,
            std::make_optional(std::make_pair(std::string("ORD-1"), std::string("hash-ORD-1"))));
  BG_ASSERT_OK_AND_ASSIGN(found, store().FindOrderByRequest("H1", "req-none", Deadline()));
  EXPECT_FALSE(found.has_value());
}

TEST_P(RequestStoreContractTest, CreateOrderRefusesRepeatsAndUnknownHospitals) {
  Create(NewOrder("ORD-1"));
  OrderRecord same_request = NewOrder("ORD-2");
  same_request.order.set_request_id("req-ORD-1");
  same_request.reservations.clear();
  EXPECT_THAT(
      store().CreateOrder(same_request, {v1::ORDER_STATUS_RECEIVED}, "user:test", kT0, Deadline()),
      StatusIs(absl::StatusCode::kAlreadyExists));
  OrderRecord elsewhere = NewOrder("ORD-3", "H9");
  elsewhere.reservations.clear();
  EXPECT_THAT(
      store().CreateOrder(elsewhere, {v1::ORDER_STATUS_RECEIVED}, "user:test", kT0, Deadline()),
      StatusIs(absl::StatusCode::kFailedPrecondition, "hospital H9 is not registered"));
  EXPECT_THAT(store().LoadOrder("ORD-2", Deadline()),
              StatusIs(absl::StatusCode::kNotFound, "order ORD-2 not found"));
  EXPECT_THAT(store().LoadOrder("ORD-3", Deadline()), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RequestStoreContractTest, LoadOrderDerivesLinesFromCurrentUnits) {
  Create(NewOrder("ORD-1", "H1", 3));
  Allocate("ORD-1", {Unit("ORD-1", "u2", "D2"), Unit("ORD-1", "u1", "D1")},
           v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord loaded, store().LoadOrder("ORD-1", Deadline()));
  const v1::OrderLine& line = loaded.order.lines(0);
  EXPECT_EQ(line.allocated_quantity(), 2);
  EXPECT_EQ(line.backordered_quantity(), 1);
  ASSERT_EQ(line.units_size(), 2);
  // Units recorded together come by unit id.
  EXPECT_EQ(line.units(0).unit_id(), "u1");
  EXPECT_EQ(line.units(1).unit_id(), "u2");
  ASSERT_EQ(loaded.reservations.size(), 1u);
  EXPECT_EQ(loaded.reservations[0].state, ReservationState::kConfirmed);
  EXPECT_EQ(loaded.reservations[0].expiry_floor, kT0 + absl::Hours(2));
  EXPECT_EQ(loaded.reservations[0].station_ids, (std::vector<std::string>{"S1", "S2"}));

  // A withdrawn unit stays on the record, not on the line; a line closed short is no
  // back-order.
  OrderChange withdraw;
  withdraw.withdrawn_unit_ids = {"u1"};
  withdraw.close_lines_short = {1};
  ASSERT_THAT(Update("ORD-1", withdraw), IsOk());
  BG_ASSERT_OK_AND_ASSIGN(loaded, store().LoadOrder("ORD-1", Deadline()));
  EXPECT_EQ(loaded.order.lines(0).allocated_quantity(), 1);
  EXPECT_EQ(loaded.order.lines(0).backordered_quantity(), 0);
  EXPECT_THAT(loaded.closed_short_lines, ElementsAre(1));
  ASSERT_EQ(loaded.allocations.size(), 2u);
  EXPECT_TRUE(loaded.allocations[0].withdrawn);

  // Allocated again, it comes back.
  OrderChange again;
  again.new_allocations = {Unit("ORD-1", "u1", "D1")};
  again.new_allocations[0].unit.set_transfer_id("T1");
  ASSERT_THAT(Update("ORD-1", again), IsOk());
  BG_ASSERT_OK_AND_ASSIGN(loaded, store().LoadOrder("ORD-1", Deadline()));
  EXPECT_EQ(loaded.order.lines(0).allocated_quantity(), 2);
  EXPECT_EQ(loaded.allocations.size(), 2u);
  EXPECT_EQ(loaded.order.lines(0).units(0).transfer_id(), "T1");
}

// ---------------------------------------------------------------------------------------------
// UpdateOrder.

TEST_P(RequestStoreContractTest, UpdateOrderAppliesTheChangeWithItsEvent) {
  Create(NewOrder("ORD-1"));
  int calls = 0;
  BG_ASSERT_OK_AND_ASSIGN(
      UpdateResult result,
      store().UpdateOrder("ORD-1", nullptr, "user:test", kT0 + absl::Minutes(1), Deadline(),
                          [&calls](const OrderRecord& current) -> absl::StatusOr<OrderChange> {
                            ++calls;
                            EXPECT_EQ(current.order.status(), v1::ORDER_STATUS_RECEIVED);
                            OrderChange change;
                            change.status = v1::ORDER_STATUS_CANCELLED;
                            change.status_reason = "duplicate";
                            change.event_note = "duplicate";
                            change.reservation_states = {
                                {ReservationKey("ORD-1", 1, 1), ReservationState::kAbandoned}};
                            return change;
                          }));
  EXPECT_GE(calls, 1);
  EXPECT_FALSE(result.replayed);
  EXPECT_EQ(result.order.status(), v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(result.order.status_reason(), "duplicate");
  EXPECT_EQ(FromTimestamp(result.order.closed_at()), kT0 + absl::Minutes(1));
  EXPECT_EQ(FromTimestamp(result.order.updated_at()), kT0 + absl::Minutes(1));
  EXPECT_EQ(result.record.reservations[0].state, ReservationState::kAbandoned);
  EXPECT_THAT(
      Events("ORD-1"),
      ElementsAre(Event("RECEIVED", v1::ORDER_STATUS_UNSPECIFIED, v1::ORDER_STATUS_RECEIVED),
                  Event("CANCELLED", v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_CANCELLED)));
}

TEST_P(RequestStoreContractTest, EventsFollowStatusChangesAndNamedKindsOnly) {
  Create(NewOrder("ORD-1"));
  // Reservation bookkeeping alone writes no event.
  OrderChange bookkeeping;
  bookkeeping.reservation_states = {{ReservationKey("ORD-1", 1, 1), ReservationState::kEmpty}};
  ASSERT_THAT(Update("ORD-1", bookkeeping), IsOk());
  // A named kind alone is no change (OrderChange::empty); with a change it is written.
  OrderChange kind_only;
  kind_only.event_kind = "NOTHING";
  ASSERT_THAT(Update("ORD-1", kind_only), IsOk());
  OrderChange planned;
  planned.event_kind = "TRANSFER_PLANNED";
  planned.event_note = "T1";
  planned.unit_transfer_ids = {{"u9", "T1"}};
  ASSERT_THAT(Update("ORD-1", planned), IsOk());
  // A status change with a kind of its own is recorded under that kind.
  Allocate("ORD-1", {Unit("ORD-1", "u1", "D1"), Unit("ORD-1", "u2", "D2")});
  EXPECT_THAT(
      Events("ORD-1"),
      ElementsAre(Event("RECEIVED", v1::ORDER_STATUS_UNSPECIFIED, v1::ORDER_STATUS_RECEIVED),
                  Event("TRANSFER_PLANNED", v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_RECEIVED),
                  Event("UNITS_ALLOCATED", v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_ALLOCATED)));
}

TEST_P(RequestStoreContractTest, ADecideErrorChangesNothing) {
  Create(NewOrder("ORD-1"));
  EXPECT_THAT(store().UpdateOrder("ORD-1", nullptr, "user:test", kT0, Deadline(),
                                  [](const OrderRecord&) -> absl::StatusOr<OrderChange> {
                                    return absl::PermissionDeniedError("not yours");
                                  }),
              StatusIs(absl::StatusCode::kPermissionDenied, "not yours"));
  EXPECT_THAT(store().UpdateOrder("ORD-9", nullptr, "user:test", kT0, Deadline(),
                                  Always(StatusChange(v1::ORDER_STATUS_CANCELLED))),
              StatusIs(absl::StatusCode::kNotFound));
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord loaded, store().LoadOrder("ORD-1", Deadline()));
  EXPECT_EQ(loaded.order.status(), v1::ORDER_STATUS_RECEIVED);
  EXPECT_EQ(Events("ORD-1").size(), 1u);
}

TEST_P(RequestStoreContractTest, TransitionsTheStateMachineRefusesChangeNothing) {
  struct Case {
    std::vector<v1::OrderStatus> path;  // from RECEIVED
    v1::OrderStatus refused;
  };
  const std::vector<Case> cases = {
      {{}, v1::ORDER_STATUS_DISPATCHED},
      {{}, v1::ORDER_STATUS_COMPLETED},
      {{v1::ORDER_STATUS_CANCELLED}, v1::ORDER_STATUS_RECEIVED},
      {{v1::ORDER_STATUS_ALLOCATED, v1::ORDER_STATUS_DISPATCHED}, v1::ORDER_STATUS_CANCELLED},
      {{v1::ORDER_STATUS_IN_REVIEW}, v1::ORDER_STATUS_ALLOCATED},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string id = absl::StrCat("ORD-", ++n);
    SCOPED_TRACE(id);
    OrderRecord record = NewOrder(id);
    record.reservations.clear();
    Create(record);
    for (v1::OrderStatus s : c.path) ASSERT_THAT(Update(id, StatusChange(s)), IsOk());
    BG_ASSERT_OK_AND_ASSIGN(OrderRecord before, store().LoadOrder(id, Deadline()));
    const size_t events = Events(id).size();
    OrderChange change = StatusChange(c.refused);
    change.event_note = "must not be written";
    EXPECT_THAT(Update(id, change, kT0 + absl::Hours(1)),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         CheckTransition(before.order.status(), c.refused).message()));
    BG_ASSERT_OK_AND_ASSIGN(OrderRecord after, store().LoadOrder(id, Deadline()));
    EXPECT_EQ(after.order.status(), before.order.status());
    EXPECT_EQ(after.order.updated_at().seconds(), before.order.updated_at().seconds());
    EXPECT_EQ(Events(id).size(), events);
  }
}

TEST_P(RequestStoreContractTest, ACompletedKeyReplaysItsAnswer) {
  Create(NewOrder("ORD-1"));
  const db::IdempotencyKey key = Key("cancel-1");
  OrderChange cancel = StatusChange(v1::ORDER_STATUS_CANCELLED);
  BG_ASSERT_OK_AND_ASSIGN(UpdateResult first,
                          Update("ORD-1", cancel, kT0 + absl::Minutes(1), &key));
  EXPECT_FALSE(first.replayed);
  int calls = 0;
  BG_ASSERT_OK_AND_ASSIGN(
      UpdateResult second,
      store().UpdateOrder("ORD-1", &key, "user:test", kT0 + absl::Minutes(2), Deadline(),
                          [&calls](const OrderRecord&) -> absl::StatusOr<OrderChange> {
                            ++calls;
                            return OrderChange();
                          }));
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(second.replayed);
  EXPECT_EQ(second.order.SerializeAsString(), first.order.SerializeAsString());
  v1::Order looked_up;
  BG_ASSERT_OK_AND_ASSIGN(bool done, store().LookupIdempotent(key, &looked_up, Deadline()));
  EXPECT_TRUE(done);
  EXPECT_EQ(looked_up.status(), v1::ORDER_STATUS_CANCELLED);
  BG_ASSERT_OK_AND_ASSIGN(done, store().LookupIdempotent(Key("unused"), &looked_up, Deadline()));
  EXPECT_FALSE(done);
  const db::IdempotencyKey reused = Key("cancel-1", "another request");
  EXPECT_THAT(Update("ORD-1", cancel, kT0, &reused),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("request_id: ")));
  EXPECT_THAT(store().LookupIdempotent(reused, &looked_up, Deadline()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Events("ORD-1").size(), 2u);

  // A key whose decide failed is not completed: the retry decides again.
  Create(NewOrder("ORD-2"));
  const db::IdempotencyKey failing = Key("dispatch-2");
  EXPECT_THAT(Update("ORD-2", StatusChange(v1::ORDER_STATUS_DISPATCHED), kT0, &failing),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  BG_ASSERT_OK_AND_ASSIGN(done, store().LookupIdempotent(failing, &looked_up, Deadline()));
  EXPECT_FALSE(done);
}

TEST_P(RequestStoreContractTest, WithoutReadBackTheAnswerIsTheOrderBefore) {
  Create(NewOrder("ORD-1"));
  OrderChange change;
  change.read_back = false;
  change.unit_transfer_ids = {{"u1", "T1"}};
  change.status = v1::ORDER_STATUS_ALLOCATED;
  BG_ASSERT_OK_AND_ASSIGN(UpdateResult result, Update("ORD-1", change));
  EXPECT_EQ(result.order.status(), v1::ORDER_STATUS_RECEIVED);
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord loaded, store().LoadOrder("ORD-1", Deadline()));
  EXPECT_EQ(loaded.order.status(), v1::ORDER_STATUS_ALLOCATED);
}

TEST_P(RequestStoreContractTest, AFollowUpIsCreatedInTheSameChange) {
  Create(NewOrder("ORD-1"));
  OrderChange change = StatusChange(v1::ORDER_STATUS_ALLOCATED);
  change.follow_up = NewOrder("ORD-2");
  ASSERT_THAT(Update("ORD-1", change), IsOk());
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord next, store().LoadOrder("ORD-2", Deadline()));
  EXPECT_EQ(next.order.status(), v1::ORDER_STATUS_RECEIVED);
  EXPECT_EQ(next.reservations.size(), 1u);
  EXPECT_THAT(Events("ORD-2"), ElementsAre(Event("RECEIVED", v1::ORDER_STATUS_UNSPECIFIED,
                                                 v1::ORDER_STATUS_RECEIVED)));
  // A follow-up that cannot be created takes the whole change back.
  OrderChange clash = StatusChange(v1::ORDER_STATUS_CANCELLED);
  clash.follow_up = NewOrder("ORD-2");
  EXPECT_THAT(Update("ORD-1", clash), StatusIs(absl::StatusCode::kAlreadyExists));
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord first, store().LoadOrder("ORD-1", Deadline()));
  EXPECT_EQ(first.order.status(), v1::ORDER_STATUS_ALLOCATED);
}

TEST_P(RequestStoreContractTest, OutcomesReviewsAndExceptionsAreKept) {
  Create(NewOrder("ORD-1"));
  Allocate("ORD-1", {Unit("ORD-1", "u1", "D1"), Unit("ORD-1", "u2", "D2")});
  Dispatch("ORD-1", kT0 + absl::Hours(1));
  OrderChange report;
  report.outcomes.push_back(
      {"u1", v1::TRANSFUSION_OUTCOME_TRANSFUSED, kT0 + absl::Hours(3), v1::AdverseReaction()});
  report.outcomes.back().adverse_reaction->set_description("fever");
  report.status = v1::ORDER_STATUS_DELIVERED;
  report.delivered_at = kT0 + absl::Hours(2);
  report.received_by = "Nurse";
  v1::OrderException e;
  e.set_kind(v1::ORDER_EXCEPTION_KIND_UNIT_WITHDRAWN);
  e.set_line_no(1);
  e.set_message("note");
  e.set_recorded_by("user:test");
  report.new_exceptions = {e};
  v1::OrderReview review;
  review.set_reviewer("Dr");
  review.set_retrospective(true);
  report.review = review;
  ASSERT_THAT(Update("ORD-1", report, kT0 + absl::Hours(4)), IsOk());
  BG_ASSERT_OK_AND_ASSIGN(OrderRecord loaded, store().LoadOrder("ORD-1", Deadline()));
  EXPECT_EQ(loaded.order.status(), v1::ORDER_STATUS_DELIVERED);
  EXPECT_EQ(FromTimestamp(loaded.order.dispatched_at()), kT0 + absl::Hours(1));
  EXPECT_EQ(FromTimestamp(loaded.order.delivered_at()), kT0 + absl::Hours(2));
  const v1::OrderUnit& u1 = loaded.order.lines(0).units(0);
  EXPECT_EQ(u1.outcome(), v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  EXPECT_EQ(FromTimestamp(u1.outcome_at()), kT0 + absl::Hours(3));
  EXPECT_EQ(u1.adverse_reaction().description(), "fever");
  ASSERT_EQ(loaded.order.exceptions_size(), 1);
  EXPECT_EQ(FromTimestamp(loaded.order.exceptions(0).recorded_at()), kT0 + absl::Hours(4));
  ASSERT_EQ(loaded.order.reviews_size(), 1);
  EXPECT_TRUE(loaded.order.reviews(0).retrospective());
}

// ---------------------------------------------------------------------------------------------
// Queries.

TEST_P(RequestStoreContractTest, ListOrdersFiltersAndPagesNewestFirst) {
  ASSERT_THAT(store().UpsertHospital(Hospital("H2"), Key("seed-H2"), kT0, Deadline()), IsOk());
  Create(NewOrder("ORD-1"), kT0);
  Create(NewOrder("ORD-2", "H2"), kT0 + absl::Seconds(1));
  Create(NewOrder("ORD-3", "H1", 2, v1::PRIORITY_URGENT, "P2"), kT0 + absl::Seconds(2));
  Create(NewOrder("ORD-5"), kT0 + absl::Seconds(3));
  Create(NewOrder("ORD-4"), kT0 + absl::Seconds(3));
  ASSERT_THAT(Update("ORD-4", StatusChange(v1::ORDER_STATUS_CANCELLED)), IsOk());
  auto ids = [this](const OrderFilter& filter, const OrderCursor& cursor, int limit) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<v1::Order>> orders =
        store().ListOrders(filter, cursor, limit, Deadline());
    EXPECT_THAT(orders, IsOk());
    if (orders.ok()) {
      for (const v1::Order& o : *orders) out.push_back(o.order_id());
    }
    return out;
  };
  EXPECT_THAT(ids({}, {}, 10), ElementsAre("ORD-5", "ORD-4", "ORD-3", "ORD-2", "ORD-1"));
  // Keyset paging: strictly after (created_at, order_id).
  EXPECT_THAT(ids({}, {}, 2), ElementsAre("ORD-5", "ORD-4"));
  EXPECT_THAT(ids({}, {kT0 + absl::Seconds(3), "ORD-4"}, 2), ElementsAre("ORD-3", "ORD-2"));
  EXPECT_THAT(ids({}, {kT0 + absl::Seconds(3), "ORD-5"}, 1), ElementsAre("ORD-4"));
  OrderFilter filter;
  filter.status = v1::ORDER_STATUS_CANCELLED;
  EXPECT_THAT(ids(filter, {}, 10), ElementsAre("ORD-4"));
  filter = OrderFilter();
  filter.hospital_id = "H2";
  EXPECT_THAT(ids(filter, {}, 10), ElementsAre("ORD-2"));
  filter = OrderFilter();
  filter.priority = v1::PRIORITY_URGENT;
  EXPECT_THAT(ids(filter, {}, 10), ElementsAre("ORD-3"));
  filter = OrderFilter();
  filter.patient_ref = "P2";
  EXPECT_THAT(ids(filter, {}, 10), ElementsAre("ORD-3"));
  filter = OrderFilter();
  filter.created_after = kT0 + absl::Seconds(1);
  filter.created_before = kT0 + absl::Seconds(3);
  EXPECT_THAT(ids(filter, {}, 10), ElementsAre("ORD-3", "ORD-2"));
}

TEST_P(RequestStoreContractTest, FindDeliveriesAndDailyQuantities) {
  Create(NewOrder("ORD-1", "H1", 2), kT0);
  Create(NewOrder("ORD-2", "H1", 3), kT0 + absl::Minutes(1));
  Create(NewOrder("ORD-3", "H1", 4), kT0 + absl::Minutes(2));
  Create(NewOrder("ORD-4", "H1", 5, v1::PRIORITY_ROUTINE, "P9"), kT0 + absl::Minutes(3));
  ASSERT_THAT(Update("ORD-3", StatusChange(v1::ORDER_STATUS_CANCELLED)), IsOk());
  BG_ASSERT_OK_AND_ASSIGN(
      auto daily, store().DailyQuantities("H1", "P1", kT0, kT0 + absl::Hours(1), Deadline()));
  EXPECT_THAT(daily, ElementsAre(Pair(v1::COMPONENT_RED_CELLS, 5)));
  BG_ASSERT_OK_AND_ASSIGN(daily, store().DailyQuantities("H1", "P1", kT0 + absl::Seconds(1),
                                                         kT0 + absl::Hours(1), Deadline()));
  EXPECT_THAT(daily, ElementsAre(Pair(v1::COMPONENT_RED_CELLS, 3)));

  Allocate("ORD-1", {Unit("ORD-1", "u1", "D1"), Unit("ORD-1", "u2", "D2")});
  Dispatch("ORD-1", kT0 + absl::Hours(1));
  Allocate("ORD-2", {Unit("ORD-2", "u1", "D1")}, v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  BG_ASSERT_OK_AND_ASSIGN(
      auto deliveries, store().FindDeliveries({"D1", "D2", "D1", "D9"}, std::nullopt, Deadline()));
  ASSERT_EQ(deliveries.size(), 2u);  // ORD-2 was not dispatched
  EXPECT_EQ(deliveries[0].din(), "D1");
  EXPECT_EQ(deliveries[0].order_id(), "ORD-1");
  EXPECT_EQ(deliveries[0].hospital_name(), "General");
  EXPECT_EQ(deliveries[0].patient_ref(), "P1");
  EXPECT_EQ(deliveries[0].order_status(), v1::ORDER_STATUS_DISPATCHED);
  EXPECT_EQ(deliveries[1].din(), "D2");
  BG_ASSERT_OK_AND_ASSIGN(deliveries,
                          store().FindDeliveries({"D1"}, kT0 + absl::Hours(2), Deadline()));
  EXPECT_TRUE(deliveries.empty());
}

TEST_P(RequestStoreContractTest, JobQueries) {
  // ORD-1 RECEIVED; ORD-2 allocated and settled; ORD-3 back-ordered (URGENT); ORD-4
  // back-ordered being dispatched; ORD-5 back-ordered, ROUTINE, newest; ORD-6 dispatched.
  for (int i = 1; i <= 6; ++i) {
    Create(NewOrder(absl::StrCat("ORD-", i), "H1", 2,
                    i == 3 ? v1::PRIORITY_URGENT : v1::PRIORITY_ROUTINE),
           kT0 + absl::Seconds(i));
  }
  Allocate("ORD-2", {Unit("ORD-2", "a", "DA"), Unit("ORD-2", "b", "DB")});
  Allocate("ORD-3", {Unit("ORD-3", "c", "DC")}, v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  Allocate("ORD-4", {Unit("ORD-4", "d", "DD")}, v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  OrderChange dispatching;
  dispatching.dispatch_intent = true;
  dispatching.event_kind = "DISPATCH_STARTED";
  ASSERT_THAT(Update("ORD-4", dispatching), IsOk());
  Allocate("ORD-5", {Unit("ORD-5", "e", "DE")}, v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  Allocate("ORD-6", {Unit("ORD-6", "f", "DF"), Unit("ORD-6", "g", "DG")});
  Dispatch("ORD-6", kT0 + absl::Hours(1));
  OrderChange reported;
  reported.outcomes.push_back(
      {"f", v1::TRANSFUSION_OUTCOME_TRANSFUSED, kT0 + absl::Hours(2), std::nullopt});
  ASSERT_THAT(Update("ORD-6", reported, kT0 + absl::Hours(2)), IsOk());

  BG_ASSERT_OK_AND_ASSIGN(auto backordered, store().ListBackorderedOrders(10, Deadline()));
  EXPECT_THAT(backordered, ElementsAre("ORD-3", "ORD-5"));
  BG_ASSERT_OK_AND_ASSIGN(backordered, store().ListBackorderedOrders(1, Deadline()));
  EXPECT_THAT(backordered, ElementsAre("ORD-3"));

  BG_ASSERT_OK_AND_ASSIGN(auto unreported,
                          store().ListUnreportedUnits(kT0 + absl::Hours(2), 10, Deadline()));
  EXPECT_THAT(unreported, ElementsAre(Pair("ORD-6", "g")));
  BG_ASSERT_OK_AND_ASSIGN(unreported,
                          store().ListUnreportedUnits(kT0 + absl::Hours(1), 10, Deadline()));
  EXPECT_THAT(unreported, IsEmpty());

  // To reconcile: RECEIVED (ORD-1, its intent PENDING), a dispatch under way (ORD-4); the
  // others' reservations are settled.
  BG_ASSERT_OK_AND_ASSIGN(auto reconcile,
                          store().ListOrdersToReconcile(absl::InfiniteFuture(), 10, Deadline()));
  EXPECT_THAT(reconcile, UnorderedElementsAre("ORD-1", "ORD-4"));
  EXPECT_EQ(reconcile.front(), "ORD-1");  // oldest change first
  BG_ASSERT_OK_AND_ASSIGN(reconcile,
                          store().ListOrdersToReconcile(kT0 + absl::Seconds(1), 10, Deadline()));
  EXPECT_THAT(reconcile, IsEmpty());
  // An ABANDONED reservation on a final order is work too.
  OrderChange abandon = StatusChange(v1::ORDER_STATUS_CANCELLED);
  abandon.reservation_states = {{ReservationKey("ORD-2", 1, 1), ReservationState::kAbandoned}};
  ASSERT_THAT(Update("ORD-2", abandon, kT0 + absl::Hours(5)), IsOk());
  BG_ASSERT_OK_AND_ASSIGN(reconcile,
                          store().ListOrdersToReconcile(absl::InfiniteFuture(), 10, Deadline()));
  EXPECT_THAT(reconcile, ElementsAre("ORD-1", "ORD-4", "ORD-2"));
  BG_ASSERT_OK_AND_ASSIGN(reconcile,
                          store().ListOrdersToReconcile(absl::InfiniteFuture(), 1, Deadline()));
  EXPECT_THAT(reconcile, ElementsAre("ORD-1"));
}

TEST_P(RequestStoreContractTest, PingAnswersWhenTheStoreIsUp) {
  EXPECT_THAT(store().Ping(Deadline()), IsOk());
}

}  // namespace
}  // namespace bloodgrid::request
