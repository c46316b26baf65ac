// The unit lifecycle decisions of inventory_rules.h: what each operation does to a unit in
// each status, the reservation and transfer status rules, and the allocation order the store
// reads candidates in. Every change a decision returns must be a transition of the state
// machine.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::inventory {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr v1::UnitStatus Q = v1::UNIT_STATUS_QUARANTINED;
constexpr v1::UnitStatus A = v1::UNIT_STATUS_AVAILABLE;
constexpr v1::UnitStatus R = v1::UNIT_STATUS_RESERVED;
constexpr v1::UnitStatus T = v1::UNIT_STATUS_IN_TRANSIT;
constexpr v1::UnitStatus I = v1::UNIT_STATUS_ISSUED;
constexpr v1::UnitStatus X = v1::UNIT_STATUS_TRANSFUSED;
constexpr v1::UnitStatus RT = v1::UNIT_STATUS_RETURNED;
constexpr v1::UnitStatus E = v1::UNIT_STATUS_EXPIRED;
constexpr v1::UnitStatus D = v1::UNIT_STATUS_DISCARDED;
constexpr v1::UnitStatus RC = v1::UNIT_STATUS_RECALLED;
constexpr v1::UnitStatus P = v1::UNIT_STATUS_PROCESSED;
constexpr v1::UnitStatus kNoChange = v1::UNIT_STATUS_UNSPECIFIED;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

StoredUnit Unit(v1::UnitStatus status, v1::UnitHold hold = v1::UNIT_HOLD_UNSPECIFIED) {
  StoredUnit row;
  row.unit.set_unit_id("A999921123456-RC1");
  row.unit.set_din("A999921123456");
  row.unit.set_component(v1::COMPONENT_RED_CELLS);
  row.unit.set_station_id("S1");
  row.unit.set_status(status);
  row.unit.set_hold(hold);
  row.unit.mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  row.unit.mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  row.unit.set_quantity(1);
  ToTimestamp(kNow - absl::Hours(24), row.unit.mutable_collected_at());
  ToTimestamp(kNow + absl::Hours(24) * 30, row.unit.mutable_expires_at());
  return row;
}

StoredUnit Held(v1::UnitStatus status, const std::string& reservation,
                const std::string& transfer = "") {
  StoredUnit row = Unit(status);
  row.unit.set_reservation_key(reservation);
  row.unit.set_transfer_id(transfer);
  return row;
}

// The status a list of changes ends in (kNoChange when there is none that writes the unit),
// checking each step against the state machine.
v1::UnitStatus FinalStatus(const StoredUnit& before, const std::vector<UnitChange>& changes) {
  v1::UnitStatus status = before.unit.status();
  v1::UnitStatus last = kNoChange;
  for (const UnitChange& change : changes) {
    if (change.write == UnitChange::Write::kEventOnly) continue;
    EXPECT_TRUE(CheckTransition(status, change.after.unit.status()).ok())
        << StatusName(status) << " -> " << StatusName(change.after.unit.status());
    if (change.after.unit.status() != v1::UNIT_STATUS_QUARANTINED) {
      EXPECT_EQ(change.after.unit.hold(), v1::UNIT_HOLD_UNSPECIFIED);
    }
    status = change.after.unit.status();
    last = status;
  }
  return last;
}

// ---------------------------------------------------------------------------------------------
// Status lists bound into the store's queries.

TEST(InventoryLifecycleTest, StatusesTheStoreBindsIntoItsQueries) {
  EXPECT_THAT(InStockStatuses(), ElementsAre(Q, A, R));
  EXPECT_THAT(ExpirableStatuses(), ElementsAre(Q, A, R, RT));
  EXPECT_EQ(OnShelfStatus(), A);
  EXPECT_EQ(InTransitStatus(), T);
  EXPECT_EQ(HeldReservationStatus(), v1::RESERVATION_STATUS_HELD);
  EXPECT_EQ(NewTransferStatus(), v1::TRANSFER_STATUS_CREATED);
  EXPECT_EQ(NewDonationTestingOutcome(), v1::TESTING_OUTCOME_PENDING);
  EXPECT_EQ(ClearScreenOutcome(), v1::TESTING_OUTCOME_RELEASED);
  for (v1::UnitStatus status : ExpirableStatuses()) {
    EXPECT_TRUE(CheckTransition(status, E).ok()) << StatusName(status);
  }
}

// ---------------------------------------------------------------------------------------------
// Allocation order: one function for the choice and for the store's group reads.

TEST(InventoryAllocationOrderTest, KeyByPriority) {
  struct Case {
    v1::Priority priority;
    int32_t tier;
    int32_t rank;
    std::pair<int32_t, int32_t> key;
  };
  const Case cases[] = {
      {v1::PRIORITY_ROUTINE, 1, 2, {1, 2}},
      {v1::PRIORITY_URGENT, 1, 2, {1, 2}},
      {v1::PRIORITY_EMERGENCY, 1, 2, {2, 1}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(AllocationOrderKey(c.priority, c.tier, c.rank), c.key) << c.priority;
  }
}

TEST(InventoryAllocationOrderTest, GroupsTierFirstExceptInAnEmergency) {
  const std::vector<int32_t> tiers = {0, 1};
  const std::vector<int32_t> ranks = {0, 2};
  using G = PreferenceGroup;
  EXPECT_THAT(PreferenceGroups(v1::PRIORITY_ROUTINE, tiers, ranks),
              ElementsAre(G{0, 0}, G{0, 2}, G{1, 0}, G{1, 2}));
  EXPECT_THAT(PreferenceGroups(v1::PRIORITY_URGENT, tiers, ranks),
              ElementsAre(G{0, 0}, G{0, 2}, G{1, 0}, G{1, 2}));
  EXPECT_THAT(PreferenceGroups(v1::PRIORITY_EMERGENCY, tiers, ranks),
              ElementsAre(G{0, 0}, G{1, 0}, G{0, 2}, G{1, 2}));
  EXPECT_THAT(PreferenceGroups(v1::PRIORITY_ROUTINE, {}, ranks), IsEmpty());
}

TEST(InventoryAllocationOrderTest, GroupOrderAgreesWithTheChoice) {
  // A unit of an earlier group is always preferred to one of a later group.
  const std::vector<int32_t> tiers = {0, 1, 3};
  const std::vector<int32_t> ranks = {0, 1, 2};
  for (v1::Priority priority :
       {v1::PRIORITY_ROUTINE, v1::PRIORITY_URGENT, v1::PRIORITY_EMERGENCY}) {
    const std::vector<PreferenceGroup> groups = PreferenceGroups(priority, tiers, ranks);
    for (size_t i = 0; i + 1 < groups.size(); ++i) {
      ChoiceUnit earlier{"z", groups[i].tier, groups[i].station_rank, kNow + absl::Hours(99), 1};
      ChoiceUnit later{"a", groups[i + 1].tier, groups[i + 1].station_rank, kNow, 1};
      EXPECT_TRUE(PreferredBefore(priority, earlier, later)) << priority << " group " << i;
      EXPECT_FALSE(PreferredBefore(priority, later, earlier)) << priority << " group " << i;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Collection, testing, processing.

TEST(InventoryLifecycleTest, CollectedUnitIsQuarantinedForTesting) {
  v1::RegisterCollectionRequest request;
  request.set_din("A999921123456");
  request.set_station_id("S1");
  request.set_donor_id("D1");
  request.set_volume_ml(400);
  CollectionPlan plan{v1::COMPONENT_WHOLE_BLOOD, 2, kNow + absl::Hours(24) * 35};
  const UnitChange change = CollectedUnit(request, plan);
  EXPECT_EQ(change.write, UnitChange::Write::kNewUnit);
  EXPECT_EQ(change.after.unit.unit_id(), "A999921123456-WB0");
  EXPECT_EQ(change.after.unit.status(), Q);
  EXPECT_EQ(change.after.unit.hold(), v1::UNIT_HOLD_TESTING);
  EXPECT_EQ(change.after.unit.quantity(), 2);
  EXPECT_EQ(change.event.kind, v1::UNIT_EVENT_KIND_COLLECTED);
}

TestingState Outcome(v1::TestingOutcome outcome) {
  TestingState state;
  state.outcome = outcome;
  if (outcome == v1::TESTING_OUTCOME_REACTIVE) state.reactive = {v1::SCREENING_TEST_ANTI_HIV};
  return state;
}

TEST(InventoryLifecycleTest, StatusAfterTestResults) {
  using Listed = TestingDecision::Listed;
  struct Case {
    StoredUnit unit;
    v1::TestingOutcome outcome;
    v1::UnitStatus after;  // kNoChange: the unit keeps its status
    Listed listed;
  };
  const Case cases[] = {
      {Unit(Q, v1::UNIT_HOLD_TESTING), v1::TESTING_OUTCOME_RELEASED, A, Listed::kReleased},
      {Unit(Q, v1::UNIT_HOLD_TESTING), v1::TESTING_OUTCOME_PENDING, kNoChange, Listed::kNone},
      // A lookback hold is not lifted by results.
      {Unit(Q, v1::UNIT_HOLD_LOOKBACK), v1::TESTING_OUTCOME_RELEASED, kNoChange, Listed::kNone},
      {Unit(A), v1::TESTING_OUTCOME_RELEASED, kNoChange, Listed::kNone},
      {Unit(Q, v1::UNIT_HOLD_TESTING), v1::TESTING_OUTCOME_REACTIVE, D, Listed::kDiscarded},
      {Unit(A), v1::TESTING_OUTCOME_REACTIVE, D, Listed::kDiscarded},
      {Held(R, "order-1"), v1::TESTING_OUTCOME_REACTIVE, D, Listed::kDiscarded},
      {Held(T, "", "TR-1"), v1::TESTING_OUTCOME_REACTIVE, D, Listed::kDiscarded},
      {Unit(RT), v1::TESTING_OUTCOME_REACTIVE, D, Listed::kDiscarded},
      {Unit(I), v1::TESTING_OUTCOME_REACTIVE, kNoChange, Listed::kIssued},
      {Unit(X), v1::TESTING_OUTCOME_REACTIVE, kNoChange, Listed::kTransfused},
      {Unit(X), v1::TESTING_OUTCOME_RELEASED, kNoChange, Listed::kNone},
      {Unit(P), v1::TESTING_OUTCOME_REACTIVE, kNoChange, Listed::kNone},
      {Unit(E), v1::TESTING_OUTCOME_REACTIVE, kNoChange, Listed::kNone},
  };
  for (const Case& c : cases) {
    const TestingDecision decision = DecideAfterTesting(c.unit, Outcome(c.outcome), {});
    EXPECT_EQ(FinalStatus(c.unit, decision.changes), c.after)
        << StatusName(c.unit.unit.status()) << " " << v1::TestingOutcome_Name(c.outcome);
    EXPECT_EQ(decision.listed, c.listed)
        << StatusName(c.unit.unit.status()) << " " << v1::TestingOutcome_Name(c.outcome);
  }
}

TEST(InventoryLifecycleTest, ReactiveDiscardLeavesItsReservationWithAnAlert) {
  const TestingDecision decision =
      DecideAfterTesting(Held(R, "order-1"), Outcome(v1::TESTING_OUTCOME_REACTIVE), {});
  ASSERT_EQ(decision.changes.size(), 1u);
  const UnitChange& discard = decision.changes[0];
  EXPECT_EQ(discard.after.unit.discard_reason(), v1::DISCARD_REASON_REACTIVE_TEST);
  EXPECT_EQ(discard.after.unit.reservation_key(), "");
  EXPECT_EQ(discard.event.reservation_key, "order-1");
  EXPECT_EQ(discard.event.note, "SCREENING_TEST_ANTI_HIV");
  ASSERT_EQ(discard.alerts.size(), 1u);
  EXPECT_EQ(discard.alerts[0].kind(), v1::STOCK_ALERT_KIND_RESERVED_UNIT_WITHDRAWN);
  EXPECT_EQ(discard.alerts[0].reservation_key(), "order-1");
}

TEST(InventoryLifecycleTest, TypingAndTraceComeBeforeTheRelease) {
  TestingState state = Outcome(v1::TESTING_OUTCOME_RELEASED);
  state.typed = BloodType{v1::ABO_GROUP_O, v1::RH_D_NEGATIVE};
  const std::vector<std::string> recorded = {"SCREENING_TEST_ABO_RHD", "SCREENING_TEST_ANTI_HIV"};
  const StoredUnit unit = Unit(Q, v1::UNIT_HOLD_TESTING);
  const TestingDecision decision = DecideAfterTesting(unit, state, recorded);
  ASSERT_EQ(decision.changes.size(), 3u);
  EXPECT_EQ(decision.changes[0].event.kind, v1::UNIT_EVENT_KIND_BLOOD_TYPE_SET);
  EXPECT_EQ(decision.changes[0].after.unit.blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(decision.changes[1].write, UnitChange::Write::kEventOnly);
  EXPECT_EQ(decision.changes[1].event.note, "SCREENING_TEST_ABO_RHD, SCREENING_TEST_ANTI_HIV");
  EXPECT_EQ(decision.changes[2].event.kind, v1::UNIT_EVENT_KIND_RELEASED_FOR_USE);
  EXPECT_EQ(decision.changes[2].after.unit.blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(FinalStatus(unit, decision.changes), A);
}

TEST(InventoryLifecycleTest, ProcessingOnlyFromQuarantinedOrAvailable) {
  struct Case {
    v1::UnitStatus status;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {Q, absl::StatusCode::kOk},
      {A, absl::StatusCode::kOk},
      {P, absl::StatusCode::kFailedPrecondition},
      {R, absl::StatusCode::kFailedPrecondition},
      {I, absl::StatusCode::kFailedPrecondition},
      {D, absl::StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CheckProcessing(Unit(c.status), kNow).code(), c.code) << StatusName(c.status);
  }
  EXPECT_THAT(std::string(CheckProcessing(Unit(P), kNow).message()),
              HasSubstr("already PROCESSED"));
  EXPECT_EQ(CheckProcessing(Unit(A), kNow - absl::Hours(48)).code(),
            absl::StatusCode::kInvalidArgument);
  const StoredUnit parent = Unit(Q, v1::UNIT_HOLD_TESTING);
  EXPECT_EQ(FinalStatus(parent, {ProcessedParent(parent, 2, kNow)}), P);
  ComponentPlan plan;
  plan.component = v1::COMPONENT_PLASMA;
  plan.division = 1;
  const UnitChange child = ComponentUnit(parent, plan, kNow);
  EXPECT_EQ(child.write, UnitChange::Write::kNewUnit);
  EXPECT_EQ(child.after.unit.status(), Q);  // the parent's status and hold, before processing
  EXPECT_EQ(child.after.unit.hold(), v1::UNIT_HOLD_TESTING);
  EXPECT_EQ(child.after.unit.unit_id(), "A999921123456-PL1");
  EXPECT_EQ(child.after.unit.parent_unit_id(), parent.unit.unit_id());
}

// ---------------------------------------------------------------------------------------------
// Reservations.

v1::Reservation WithUnitStatuses(v1::ReservationStatus status, std::vector<v1::UnitStatus> units) {
  v1::Reservation r;
  r.set_reservation_key("order-1");
  r.set_status(status);
  ToTimestamp(kNow + absl::Minutes(5), r.mutable_hold_expires_at());
  for (v1::UnitStatus unit : units) r.add_units()->set_status(unit);
  return r;
}

TEST(InventoryReservationTest, StatusFromItsUnits) {
  constexpr auto kHeld = v1::RESERVATION_STATUS_HELD;
  constexpr auto kConfirmed = v1::RESERVATION_STATUS_CONFIRMED;
  constexpr auto kIssued = v1::RESERVATION_STATUS_ISSUED;
  constexpr auto kReleased = v1::RESERVATION_STATUS_RELEASED;
  struct Case {
    v1::ReservationStatus status;
    std::vector<v1::UnitStatus> units;
    v1::ReservationStatus expected;
  };
  const Case cases[] = {
      {kHeld, {R}, kHeld},           {kConfirmed, {R, I}, kConfirmed},
      {kConfirmed, {T}, kConfirmed}, {kConfirmed, {I, I}, kIssued},
      {kConfirmed, {I, X}, kIssued}, {kHeld, {}, kReleased},
      {kConfirmed, {}, kReleased},
  };
  for (const Case& c : cases) {
    v1::Reservation r = WithUnitStatuses(c.status, c.units);
    EXPECT_EQ(ReservationStatusFromUnits(r), c.expected) << ReservationStatusName(c.status);
    EXPECT_EQ(SettleReservation(&r), c.expected != c.status);
    EXPECT_EQ(r.status(), c.expected);
    EXPECT_EQ(r.has_hold_expires_at(), c.expected == c.status);
  }
}

TEST(InventoryReservationTest, Confirmation) {
  struct Case {
    v1::ReservationStatus status;
    absl::Duration hold_left;
    absl::StatusCode code;
    bool changes;
  };
  const Case cases[] = {
      {v1::RESERVATION_STATUS_HELD, absl::Minutes(5), absl::StatusCode::kOk, true},
      {v1::RESERVATION_STATUS_HELD, absl::ZeroDuration(), absl::StatusCode::kFailedPrecondition,
       false},
      {v1::RESERVATION_STATUS_CONFIRMED, absl::Minutes(5), absl::StatusCode::kOk, false},
      {v1::RESERVATION_STATUS_ISSUED, absl::Minutes(5), absl::StatusCode::kOk, false},
      {v1::RESERVATION_STATUS_RELEASED, absl::Minutes(5), absl::StatusCode::kFailedPrecondition,
       false},
      {v1::RESERVATION_STATUS_EXPIRED, absl::Minutes(5), absl::StatusCode::kFailedPrecondition,
       false},
  };
  for (const Case& c : cases) {
    v1::Reservation r = WithUnitStatuses(c.status, {});
    ToTimestamp(kNow + c.hold_left, r.mutable_hold_expires_at());
    absl::StatusOr<std::optional<v1::Reservation>> confirmed = ConfirmedReservation(r, kNow);
    EXPECT_EQ(confirmed.status().code(), c.code) << ReservationStatusName(c.status);
    if (!confirmed.ok()) continue;
    EXPECT_EQ(confirmed->has_value(), c.changes) << ReservationStatusName(c.status);
    if (confirmed->has_value()) {
      EXPECT_EQ((*confirmed)->status(), v1::RESERVATION_STATUS_CONFIRMED);
      EXPECT_FALSE((*confirmed)->has_hold_expires_at());
      EXPECT_EQ(FromTimestamp((*confirmed)->confirmed_at()), kNow);
    }
  }
}

TEST(InventoryReservationTest, HoldLapse) {
  v1::Reservation held = WithUnitStatuses(v1::RESERVATION_STATUS_HELD, {R});
  EXPECT_FALSE(HoldLapsed(held, kNow));
  EXPECT_TRUE(HoldLapsed(held, kNow + absl::Minutes(5)));
  v1::Reservation confirmed = WithUnitStatuses(v1::RESERVATION_STATUS_CONFIRMED, {R});
  EXPECT_FALSE(HoldLapsed(confirmed, kNow + absl::Hours(1)));
  EXPECT_EQ(ExpiredReservation(held).status(), v1::RESERVATION_STATUS_EXPIRED);
  EXPECT_TRUE(IsClosedReservation(v1::RESERVATION_STATUS_EXPIRED));
  EXPECT_TRUE(IsClosedReservation(v1::RESERVATION_STATUS_RELEASED));
  EXPECT_FALSE(IsClosedReservation(v1::RESERVATION_STATUS_ISSUED));

  struct Case {
    StoredUnit unit;
    v1::UnitStatus after;
  };
  const Case cases[] = {
      {Held(R, "order-1"), A},
      {Held(R, "order-1", "TR-1"), kNoChange},  // on a transfer: stays with it
      {Held(I, "order-1"), kNoChange},
  };
  for (const Case& c : cases) {
    std::optional<UnitChange> change = UnreserveOnHoldExpiry(c.unit, held);
    EXPECT_EQ(change.has_value(), c.after != kNoChange);
    if (change.has_value()) {
      EXPECT_EQ(FinalStatus(c.unit, {*change}), c.after);
      EXPECT_EQ(change->after.unit.reservation_key(), "");
      EXPECT_EQ(change->event.reason, "reservation expired");
    }
  }
}

TEST(InventoryReservationTest, ReleaseAndIssueTargets) {
  std::vector<StoredUnit> units = {Held(R, "k"), Held(I, "k"), Held(T, "k", "TR-1")};
  for (size_t i = 0; i < units.size(); ++i) units[i].unit.set_unit_id(absl::StrCat("u", i));
  v1::ReleaseRequest release;
  EXPECT_THAT(*ReleaseTargets(units, release), ElementsAre(0u));
  release.add_unit_ids(units[1].unit.unit_id());
  EXPECT_EQ(ReleaseTargets(units, release).status().code(), absl::StatusCode::kInvalidArgument);

  v1::IssueRequest issue;
  absl::StatusOr<IssueSelection> all = IssueTargets(units, issue);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(all->to_issue, ElementsAre(0u, 2u));
  EXPECT_THAT(all->already_issued, ElementsAre(1u));
  issue.add_unit_ids("unknown");
  EXPECT_EQ(IssueTargets(units, issue).status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_TRUE(CheckIssuable(units[0], kNow).ok());
  EXPECT_EQ(CheckIssuable(units[2], kNow).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckIssuable(units[0], kNow + absl::Hours(24) * 31).code(),
            absl::StatusCode::kFailedPrecondition);

  v1::Reservation r = WithUnitStatuses(v1::RESERVATION_STATUS_CONFIRMED, {});
  absl::StatusOr<UnitChange> released = ReleaseUnit(units[0], r, "");
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(FinalStatus(units[0], {*released}), A);
  EXPECT_EQ(released->event.reason, "released");
  EXPECT_EQ(ReleaseUnit(Held(R, "k", "TR-1"), r, "").status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::IssueRequest to_hospital;
  to_hospital.set_order_id("O1");
  to_hospital.set_hospital_id("H1");
  const UnitChange issued = IssueUnit(units[0], to_hospital, kNow);
  EXPECT_EQ(FinalStatus(units[0], {issued}), I);
  EXPECT_EQ(issued.after.unit.order_id(), "O1");
  EXPECT_EQ(FromTimestamp(issued.after.unit.issued_at()), kNow);
  EXPECT_EQ(CheckIssueReservation(WithUnitStatuses(v1::RESERVATION_STATUS_RELEASED, {})).code(),
            absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------------
// Outcomes.

TEST(InventoryOutcomeChangesTest, Table) {
  struct Case {
    v1::TransfusionOutcome outcome;
    bool cold_chain_ok;
    absl::Duration expires_in;
    std::vector<v1::UnitStatus> steps;
  };
  const Case cases[] = {
      {v1::TRANSFUSION_OUTCOME_TRANSFUSED, false, absl::Hours(24), {X}},
      {v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED, false, absl::Hours(24), {X}},
      {v1::TRANSFUSION_OUTCOME_WASTED, false, absl::Hours(24), {D}},
      {v1::TRANSFUSION_OUTCOME_RETURNED, true, absl::Hours(24), {RT, A}},
      {v1::TRANSFUSION_OUTCOME_RETURNED, false, absl::Hours(24), {RT, D}},
      {v1::TRANSFUSION_OUTCOME_RETURNED, true, -absl::Hours(1), {RT, E}},
  };
  for (const Case& c : cases) {
    StoredUnit unit = Held(I, "k");
    unit.unit.set_order_id("O1");
    ToTimestamp(kNow + c.expires_in, unit.unit.mutable_expires_at());
    v1::RecordOutcomeRequest request;
    request.set_unit_id(unit.unit.unit_id());
    request.set_order_id("O1");
    request.set_outcome(c.outcome);
    request.set_cold_chain_ok(c.cold_chain_ok);
    ASSERT_TRUE(CheckOutcome(unit.unit, request).ok());
    const std::vector<UnitChange> changes = OutcomeChanges(unit, request, "S2", kNow);
    std::vector<v1::UnitStatus> steps;
    for (const UnitChange& change : changes) steps.push_back(change.after.unit.status());
    EXPECT_EQ(steps, c.steps) << v1::TransfusionOutcome_Name(c.outcome);
    FinalStatus(unit, changes);
    for (const UnitChange& change : changes) {
      EXPECT_EQ(change.after.unit.outcome(), c.outcome);
    }
    if (c.steps.back() == A) {
      EXPECT_EQ(changes.back().after.unit.station_id(), "S2");
      EXPECT_EQ(changes.back().after.unit.order_id(), "");
      EXPECT_FALSE(changes.back().after.unit.has_issued_at());
    }
  }
  v1::RecordOutcomeRequest other;
  other.set_unit_id("u");
  other.set_order_id("O2");
  StoredUnit issued = Unit(I);
  issued.unit.set_order_id("O1");
  EXPECT_EQ(CheckOutcome(issued.unit, other).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckOutcome(Unit(A).unit, other).code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------------
// Transfers.

v1::Transfer Transfer(v1::TransferStatus status, const std::string& reservation = "") {
  v1::Transfer transfer;
  transfer.set_transfer_id("TR-1");
  transfer.set_to_station_id("S2");
  transfer.set_status(status);
  transfer.set_reservation_key(reservation);
  return transfer;
}

TEST(InventoryTransferTest, TransferStatusSteps) {
  struct Case {
    v1::TransferStatus status;
    absl::StatusCode dispatch, receive, cancel;
    bool dispatch_now, receive_now, cancel_now;
  };
  constexpr auto kOk = absl::StatusCode::kOk;
  constexpr auto kNo = absl::StatusCode::kFailedPrecondition;
  const Case cases[] = {
      {v1::TRANSFER_STATUS_CREATED, kOk, kNo, kOk, true, false, true},
      {v1::TRANSFER_STATUS_IN_TRANSIT, kOk, kOk, kNo, false, true, false},
      {v1::TRANSFER_STATUS_RECEIVED, kNo, kOk, kNo, false, false, false},
      {v1::TRANSFER_STATUS_CANCELLED, kNo, kNo, kOk, false, false, false},
  };
  for (const Case& c : cases) {
    const v1::Transfer transfer = Transfer(c.status);
    const std::string name = TransferStatusName(c.status);
    EXPECT_EQ(TransferToDispatch(transfer).status().code(), c.dispatch) << name;
    EXPECT_EQ(TransferToReceive(transfer).status().code(), c.receive) << name;
    EXPECT_EQ(TransferToCancel(transfer).status().code(), c.cancel) << name;
    if (c.dispatch == kOk) {
      EXPECT_EQ(*TransferToDispatch(transfer), c.dispatch_now) << name;
    }
    if (c.receive == kOk) {
      EXPECT_EQ(*TransferToReceive(transfer), c.receive_now) << name;
    }
    if (c.cancel == kOk) {
      EXPECT_EQ(*TransferToCancel(transfer), c.cancel_now) << name;
    }
  }
  EXPECT_THAT(
      std::string(TransferToReceive(Transfer(v1::TRANSFER_STATUS_CREATED)).status().message()),
      HasSubstr("not dispatched yet"));
}

TEST(InventoryTransferTest, UnitsOnTheRoad) {
  const v1::Transfer transfer = Transfer(v1::TRANSFER_STATUS_IN_TRANSIT);
  // Dispatch moves only units still RESERVED for this transfer.
  EXPECT_EQ(FinalStatus(Held(R, "", "TR-1"), {*DispatchUnit(Held(R, "", "TR-1"), transfer)}), T);
  EXPECT_FALSE(DispatchUnit(Held(R, "", "TR-2"), transfer).has_value());
  EXPECT_FALSE(DispatchUnit(Unit(D), transfer).has_value());

  struct Case {
    StoredUnit unit;
    bool rejected;
    absl::Duration expires_in;
    v1::UnitStatus after;
    bool alert;
  };
  StoredUnit lookback = Held(T, "", "TR-1");
  lookback.lookback_on_arrival = true;
  StoredUnit held_lookback = Held(T, "order-1", "TR-1");
  held_lookback.lookback_on_arrival = true;
  const Case cases[] = {
      {Held(T, "", "TR-1"), false, absl::Hours(24), A, false},
      {Held(T, "order-1", "TR-1"), false, absl::Hours(24), R, false},
      {Held(T, "", "TR-1"), true, absl::Hours(24), D, false},
      {Held(T, "order-1", "TR-1"), true, absl::Hours(24), D, true},
      {Held(T, "order-1", "TR-1"), false, -absl::Hours(1), E, true},
      {lookback, false, absl::Hours(24), Q, false},
      {held_lookback, false, absl::Hours(24), Q, true},
      {Held(T, "", "TR-2"), false, absl::Hours(24), kNoChange, false},
  };
  for (const Case& c : cases) {
    StoredUnit unit = c.unit;
    ToTimestamp(kNow + c.expires_in, unit.unit.mutable_expires_at());
    std::optional<UnitChange> change = ReceiveUnit(unit, transfer, c.rejected, kNow);
    ASSERT_EQ(change.has_value(), c.after != kNoChange);
    if (!change.has_value()) continue;
    EXPECT_EQ(FinalStatus(unit, {*change}), c.after);
    EXPECT_EQ(change->after.unit.station_id(), "S2");
    EXPECT_EQ(change->after.unit.transfer_id(), "");
    EXPECT_FALSE(change->after.lookback_on_arrival);
    EXPECT_EQ(change->alerts.size(), c.alert ? 1u : 0u) << StatusName(c.after);
    if (c.after == Q) {
      EXPECT_EQ(change->after.unit.hold(), v1::UNIT_HOLD_LOOKBACK);
    }
    if (c.alert) {
      EXPECT_EQ(change->alerts[0].station_id(), "S2");  // where it arrived
    }
  }

  // Cancel: back on the shelf, unless the transfer moves a reservation's units.
  const v1::Transfer created = Transfer(v1::TRANSFER_STATUS_CREATED);
  EXPECT_EQ(FinalStatus(Held(R, "", "TR-1"),
                        {*CancelTransferUnit(Held(R, "", "TR-1"), created, "no driver")}),
            A);
  const v1::Transfer bound = Transfer(v1::TRANSFER_STATUS_CREATED, "order-1");
  std::optional<UnitChange> stays =
      CancelTransferUnit(Held(R, "order-1", "TR-1"), bound, "no driver");
  ASSERT_TRUE(stays.has_value());
  EXPECT_EQ(stays->after.unit.status(), R);
  EXPECT_EQ(stays->after.unit.reservation_key(), "order-1");
  EXPECT_EQ(stays->after.unit.transfer_id(), "");
  EXPECT_FALSE(CancelTransferUnit(Held(R, "", "TR-9"), created, "").has_value());
}

TEST(InventoryTransferTest, WhatMayMove) {
  v1::CreateTransferRequest free;
  free.set_from_station_id("S1");
  free.set_to_station_id("S2");
  v1::CreateTransferRequest bound = free;
  bound.set_reservation_key("order-1");
  struct Case {
    StoredUnit unit;
    bool free_ok;
    bool bound_ok;
  };
  const Case cases[] = {
      {Unit(A), true, false},
      {Held(R, "order-1"), false, true},
      {Held(R, "order-2"), false, false},
      {Held(R, "order-1", "TR-1"), false, false},
      {Unit(Q), false, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CheckMovable(c.unit.unit, free, 0).ok(), c.free_ok)
        << StatusName(c.unit.unit.status());
    EXPECT_EQ(CheckMovable(c.unit.unit, bound, 0).ok(), c.bound_ok)
        << StatusName(c.unit.unit.status());
  }
  StoredUnit elsewhere = Unit(A);
  elsewhere.unit.set_station_id("S3");
  EXPECT_THAT(std::string(CheckMovable(elsewhere.unit, free, 2).message()),
              HasSubstr("items[2]: unit"));
  const UnitChange picked = PickForTransfer(Unit(A), "TR-1", free);
  EXPECT_EQ(FinalStatus(Unit(A), {picked}), R);
  EXPECT_EQ(picked.after.unit.transfer_id(), "TR-1");
  EXPECT_EQ(CheckTransferReservation(WithUnitStatuses(v1::RESERVATION_STATUS_HELD, {})).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      CheckTransferReservation(WithUnitStatuses(v1::RESERVATION_STATUS_CONFIRMED, {})).ok());
}

// ---------------------------------------------------------------------------------------------
// Discard, lookback, expiry.

TEST(InventoryDiscardTest, OnlyQuarantinedOrAvailable) {
  struct Case {
    v1::UnitStatus status;
    v1::DiscardReason reason;
    v1::UnitStatus after;  // kNoChange: refused
  };
  const Case cases[] = {
      {Q, v1::DISCARD_REASON_DAMAGED, D},         {A, v1::DISCARD_REASON_DAMAGED, D},
      {A, v1::DISCARD_REASON_LOOKBACK, RC},       {Q, v1::DISCARD_REASON_LOOKBACK, RC},
      {R, v1::DISCARD_REASON_DAMAGED, kNoChange}, {I, v1::DISCARD_REASON_DAMAGED, kNoChange},
      {T, v1::DISCARD_REASON_DAMAGED, kNoChange}, {E, v1::DISCARD_REASON_DAMAGED, kNoChange},
  };
  for (const Case& c : cases) {
    v1::DiscardUnitRequest request;
    request.set_reason(c.reason);
    absl::StatusOr<UnitChange> change = DiscardChange(Unit(c.status), request);
    ASSERT_EQ(change.ok(), c.after != kNoChange) << StatusName(c.status);
    if (!change.ok()) {
      EXPECT_EQ(change.status().code(), absl::StatusCode::kFailedPrecondition);
      continue;
    }
    EXPECT_EQ(FinalStatus(Unit(c.status), {*change}), c.after);
    EXPECT_EQ(change->after.unit.discard_reason(), c.reason);
  }
  const std::vector<StoredUnit> units = {Unit(P), Unit(A), Unit(D)};
  EXPECT_EQ(*LiveUnitOfDin(units, "A999921123456"), 1u);
  EXPECT_EQ(LiveUnitOfDin({Unit(P), Unit(D)}, "A999921123456").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LiveUnitOfDin({Unit(A), Unit(Q)}, "A999921123456").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(InventoryLookbackTest, WhatALookbackDoesToEachUnit) {
  using Kind = LookbackDecision::Kind;
  struct Case {
    StoredUnit unit;
    Kind kind;
    v1::UnitStatus after;
    std::string withdrawn_from;
  };
  StoredUnit issued = Unit(I);
  ToTimestamp(kNow, issued.unit.mutable_issued_at());
  StoredUnit transfused = Unit(X);
  ToTimestamp(kNow, transfused.unit.mutable_issued_at());
  StoredUnit restocked = Unit(A);  // came back from a hospital: still on the shelf
  ToTimestamp(kNow, restocked.unit.mutable_issued_at());
  StoredUnit caught = Held(T, "", "TR-1");
  caught.lookback_on_arrival = true;
  const Case cases[] = {
      {Unit(Q, v1::UNIT_HOLD_TESTING), Kind::kHold, Q, ""},
      {Unit(Q, v1::UNIT_HOLD_LOOKBACK), Kind::kAlreadyHeld, kNoChange, ""},
      {Unit(A), Kind::kHold, Q, ""},
      {restocked, Kind::kHold, Q, ""},
      {Held(R, "order-1"), Kind::kHold, Q, "order-1"},
      {Held(T, "", "TR-1"), Kind::kHold, T, ""},
      {caught, Kind::kAlreadyHeld, kNoChange, ""},
      {issued, Kind::kIssued, kNoChange, ""},
      {transfused, Kind::kIssued, kNoChange, ""},
      {Unit(RT), Kind::kUntouched, kNoChange, ""},
      {Unit(D), Kind::kUntouched, kNoChange, ""},
  };
  for (const Case& c : cases) {
    const LookbackDecision decision = DecideLookback(c.unit, "lookback");
    const std::string name = StatusName(c.unit.unit.status());
    EXPECT_EQ(decision.kind, c.kind) << name;
    EXPECT_EQ(decision.withdrawn_from, c.withdrawn_from) << name;
    if (decision.kind != Kind::kHold) continue;
    EXPECT_EQ(FinalStatus(c.unit, {decision.change}), c.after) << name;
    if (c.after == Q) {
      EXPECT_EQ(decision.change.after.unit.hold(), v1::UNIT_HOLD_LOOKBACK) << name;
      EXPECT_EQ(decision.change.after.unit.reservation_key(), "") << name;
    } else {
      EXPECT_TRUE(decision.change.after.lookback_on_arrival) << name;
    }
    EXPECT_EQ(decision.change.alerts.size(), c.withdrawn_from.empty() ? 0u : 1u) << name;
  }
}

TEST(InventoryExpiryTest, ExpiredUnitsLeaveTheirReservationAndAlertPerRow) {
  for (v1::UnitStatus status : ExpirableStatuses()) {
    const StoredUnit unit = Held(status, status == R ? "order-1" : "");
    const UnitChange change = ExpireUnit(unit);
    EXPECT_EQ(FinalStatus(unit, {change}), E);
    EXPECT_EQ(change.after.unit.reservation_key(), "");
    EXPECT_EQ(change.alerts.size(), status == R ? 1u : 0u);
  }
  v1::Unit a = Unit(A).unit;
  v1::Unit b = a;
  b.set_unit_id("A999921123457-RC1");
  v1::Unit c = a;
  c.set_unit_id("A999921123458-RC1");
  c.set_station_id("S0");
  const std::vector<v1::StockAlert> alerts = UnitsExpiredAlerts({a, b, c});
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].station_id(), "S0");
  EXPECT_EQ(alerts[0].message(), "1 units expired at S0");
  EXPECT_THAT(alerts[1].unit_ids(), ElementsAre(a.unit_id(), b.unit_id()));
  EXPECT_EQ(alerts[1].kind(), v1::STOCK_ALERT_KIND_UNITS_EXPIRED);
}

}  // namespace
}  // namespace bloodgrid::inventory
