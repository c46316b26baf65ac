// The inventory's pure rules: the unit state machine, release status derived from test
// results, collection and component planning, the reservation choice, FEFO picking, outcomes,
// stock alerts and request shape checks.
#include "inventory_service/inventory_rules.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

const v1::PolicyProfile& CnPolicy() {
  static const v1::PolicyProfile* const policy = [] {
    absl::StatusOr<v1::PolicyProfile> loaded =
        LoadPolicyFile(std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto");
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.status();
      return new v1::PolicyProfile();
    }
    return new v1::PolicyProfile(*std::move(loaded));
  }();
  return *policy;
}

absl::Time At(int y, int m, int d, int hh = 0, int mm = 0) {
  return absl::FromCivil(absl::CivilMinute(y, m, d, hh, mm), absl::UTCTimeZone());
}

// ---------------------------------------------------------------------------------------------
// State machine.

struct TransitionCase {
  v1::UnitStatus from;
  v1::UnitStatus to;
  bool allowed;
};

TEST(InventoryTransitionTest, FollowsTheLifeOfABag) {
  const TransitionCase cases[] = {
      {Q, A, true},
      {Q, D, true},
      {Q, P, true},
      {Q, RC, true},
      {Q, E, true},
      {A, R, true},
      {A, Q, true},
      {A, D, true},
      {A, E, true},
      {A, P, true},
      {R, A, true},
      {R, I, true},
      {R, T, true},
      {R, Q, true},
      {R, E, true},
      {T, A, true},
      {T, R, true},
      {T, Q, true},
      {T, E, true},
      {T, D, true},
      {I, X, true},
      {I, RT, true},
      {I, D, true},
      {RT, A, true},
      {RT, D, true},
      {RT, E, true},
      // Never: untested to an order, skipping the reservation, issue back to the shelf.
      {Q, R, false},
      {Q, I, false},
      {A, I, false},
      {A, T, false},
      {I, A, false},
      {I, R, false},
      {T, I, false},
      {RT, R, false},
      {R, P, false},
      {I, E, false},
  };
  for (const TransitionCase& c : cases) {
    EXPECT_EQ(CheckTransition(c.from, c.to).ok(), c.allowed)
        << StatusName(c.from) << " -> " << StatusName(c.to);
  }
}

TEST(InventoryTransitionTest, FinalStatesNeverChange) {
  for (v1::UnitStatus final_status : {X, E, D, RC, P}) {
    EXPECT_TRUE(IsFinalStatus(final_status));
    for (int to = 1; to <= 11; ++to) {
      const absl::Status status = CheckTransition(final_status, static_cast<v1::UnitStatus>(to));
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition)
          << StatusName(final_status) << " -> " << to;
    }
  }
  for (v1::UnitStatus live : {Q, A, R, T, I, RT}) EXPECT_FALSE(IsFinalStatus(live));
}

TEST(InventoryTransitionTest, EveryTableRowLeavesALiveState) {
  for (const Transition& t : AllowedTransitions()) {
    EXPECT_FALSE(IsFinalStatus(t.from)) << StatusName(t.from);
    EXPECT_NE(t.from, t.to);
  }
}

// ---------------------------------------------------------------------------------------------
// Derived release status.

CurrentResult Screen(v1::ScreeningTest test, bool reactive) {
  return CurrentResult{test, reactive, {}};
}
CurrentResult Typed(BloodType type) {
  return CurrentResult{v1::SCREENING_TEST_ABO_RHD, false, type};
}

std::vector<CurrentResult> AllClear() {
  return {Screen(v1::SCREENING_TEST_ALT, false),      Screen(v1::SCREENING_TEST_HBSAG, false),
          Screen(v1::SCREENING_TEST_ANTI_HCV, false), Screen(v1::SCREENING_TEST_ANTI_HIV, false),
          Screen(v1::SCREENING_TEST_SYPHILIS, false), Typed({v1::ABO_GROUP_O, v1::RH_D_NEGATIVE})};
}

TEST(InventoryTestingStateTest, RequiredTestsIncludeTyping) {
  const std::vector<v1::ScreeningTest> required = RequiredReleaseTests(CnPolicy());
  EXPECT_THAT(required, ElementsAre(v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG,
                                    v1::SCREENING_TEST_ANTI_HCV, v1::SCREENING_TEST_ANTI_HIV,
                                    v1::SCREENING_TEST_SYPHILIS, v1::SCREENING_TEST_ABO_RHD));
  v1::PolicyProfile without_typing;
  without_typing.mutable_release()->add_mandatory_tests(v1::SCREENING_TEST_ALT);
  EXPECT_THAT(RequiredReleaseTests(without_typing),
              ElementsAre(v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_ABO_RHD));
}

TEST(InventoryTestingStateTest, DerivedFromResults) {
  const std::vector<v1::ScreeningTest> required = RequiredReleaseTests(CnPolicy());
  struct Case {
    std::string name;
    std::vector<CurrentResult> results;
    v1::TestingOutcome outcome;
    std::vector<v1::ScreeningTest> pending;
    std::vector<v1::ScreeningTest> reactive;
  };
  std::vector<CurrentResult> missing_hiv = AllClear();
  missing_hiv.erase(missing_hiv.begin() + 3);
  std::vector<CurrentResult> untyped = AllClear();
  untyped.pop_back();
  std::vector<CurrentResult> hcv = AllClear();
  hcv[2].reactive = true;
  std::vector<CurrentResult> nat = AllClear();
  nat.push_back(Screen(v1::SCREENING_TEST_NAT, true));
  std::vector<CurrentResult> reactive_but_incomplete = {Screen(v1::SCREENING_TEST_SYPHILIS, true)};
  const std::vector<Case> cases = {
      {"all clear and typed", AllClear(), v1::TESTING_OUTCOME_RELEASED, {}, {}},
      {"nothing yet", {}, v1::TESTING_OUTCOME_PENDING, required, {}},
      {"one screen missing",
       missing_hiv,
       v1::TESTING_OUTCOME_PENDING,
       {v1::SCREENING_TEST_ANTI_HIV},
       {}},
      {"not typed", untyped, v1::TESTING_OUTCOME_PENDING, {v1::SCREENING_TEST_ABO_RHD}, {}},
      {"reactive", hcv, v1::TESTING_OUTCOME_REACTIVE, {}, {v1::SCREENING_TEST_ANTI_HCV}},
      {"reactive optional test", nat, v1::TESTING_OUTCOME_REACTIVE, {}, {v1::SCREENING_TEST_NAT}},
      {"reactive before the rest",
       reactive_but_incomplete,
       v1::TESTING_OUTCOME_REACTIVE,
       {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
        v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_ABO_RHD},
       {v1::SCREENING_TEST_SYPHILIS}},
  };
  for (const Case& c : cases) {
    const TestingState state = DeriveTestingState(required, c.results);
    EXPECT_EQ(state.outcome, c.outcome) << c.name;
    EXPECT_EQ(state.pending, c.pending) << c.name;
    EXPECT_EQ(state.reactive, c.reactive) << c.name;
  }
  const TestingState released = DeriveTestingState(required, AllClear());
  ASSERT_TRUE(released.typed.has_value());
  EXPECT_EQ(*released.typed, (BloodType{v1::ABO_GROUP_O, v1::RH_D_NEGATIVE}));
}

TEST(InventoryTestingStateTest, ClassifiesNewSameAndCorrections) {
  v1::TestResultInput alt;
  alt.set_test(v1::SCREENING_TEST_ALT);
  alt.set_reactive(false);
  EXPECT_EQ(ClassifyResult(nullptr, alt), ResultChange::kNew);
  const CurrentResult clear = Screen(v1::SCREENING_TEST_ALT, false);
  EXPECT_EQ(ClassifyResult(&clear, alt), ResultChange::kUnchanged);
  alt.set_reactive(true);
  EXPECT_EQ(ClassifyResult(&clear, alt), ResultChange::kCorrection);

  v1::TestResultInput typing;
  typing.set_test(v1::SCREENING_TEST_ABO_RHD);
  typing.mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  typing.mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  const CurrentResult a_pos = Typed({v1::ABO_GROUP_A, v1::RH_D_POSITIVE});
  EXPECT_EQ(ClassifyResult(&a_pos, typing), ResultChange::kUnchanged);
  typing.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
  EXPECT_EQ(ClassifyResult(&a_pos, typing), ResultChange::kCorrection);
}

// ---------------------------------------------------------------------------------------------
// Collection and component processing (CN profile).

v1::RegisterCollectionRequest Collection(v1::DonationType type, int volume_ml,
                                         absl::Time collected) {
  v1::RegisterCollectionRequest request;
  request.set_request_id("r1");
  request.set_din("A999921123456");
  request.set_donor_id("D1");
  request.set_donation_type(type);
  request.set_volume_ml(volume_ml);
  ToTimestamp(collected, request.mutable_collected_at());
  request.set_station_id("CENTRAL");
  return request;
}

TEST(InventoryCollectionTest, MeasureAndExpiryFromThePolicy) {
  const absl::Time collected = At(2025, 3, 1, 9, 30);
  struct Case {
    v1::DonationType type;
    int volume_ml;
    v1::Component component;
    int quantity;
    absl::Time expires;
  };
  const Case cases[] = {
      // CPDA-1 whole blood 35 d, 1 U per 200 mL, day 0 = collection day, ending 23:59.
      {v1::DONATION_TYPE_WHOLE_BLOOD, 400, v1::COMPONENT_WHOLE_BLOOD, 2, At(2025, 4, 5, 23, 59)},
      {v1::DONATION_TYPE_WHOLE_BLOOD, 300, v1::COMPONENT_WHOLE_BLOOD, 1, At(2025, 4, 5, 23, 59)},
      {v1::DONATION_TYPE_WHOLE_BLOOD, 100, v1::COMPONENT_WHOLE_BLOOD, 1, At(2025, 4, 5, 23, 59)},
      {v1::DONATION_TYPE_APHERESIS_PLATELETS, 250, v1::COMPONENT_PLATELETS, 1,
       At(2025, 3, 6, 23, 59)},
      {v1::DONATION_TYPE_APHERESIS_PLASMA, 580, v1::COMPONENT_PLASMA, 580, At(2026, 3, 1, 23, 59)},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CollectionPlan> plan =
        PlanCollection(CnPolicy(), absl::UTCTimeZone(), Collection(c.type, c.volume_ml, collected));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->component, c.component);
    EXPECT_EQ(plan->quantity, c.quantity) << c.volume_ml;
    EXPECT_EQ(plan->expires_at, c.expires) << absl::FormatTime(plan->expires_at);
  }
  v1::RegisterCollectionRequest acd = Collection(v1::DONATION_TYPE_WHOLE_BLOOD, 400, collected);
  acd.set_anticoagulant(v1::PolicyProfile::ANTICOAGULANT_ACD_B);
  EXPECT_EQ(PlanCollection(CnPolicy(), absl::UTCTimeZone(), acd)->expires_at,
            At(2025, 3, 22, 23, 59));
  acd.set_quantity(3);
  EXPECT_EQ(PlanCollection(CnPolicy(), absl::UTCTimeZone(), acd)->quantity, 3);
  v1::RegisterCollectionRequest platelets_acd =
      Collection(v1::DONATION_TYPE_APHERESIS_PLATELETS, 250, collected);
  platelets_acd.set_anticoagulant(v1::PolicyProfile::ANTICOAGULANT_ACD_B);
  absl::StatusOr<CollectionPlan> no_shelf_life =
      PlanCollection(CnPolicy(), absl::UTCTimeZone(), platelets_acd);
  EXPECT_EQ(no_shelf_life.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_shelf_life.status().message(), HasSubstr("anticoagulant"));
}

TEST(InventoryComponentTest, SplitsWholeBloodWithMeasuresAndExpiry) {
  v1::Unit parent;
  parent.set_volume_ml(400);
  ToTimestamp(At(2025, 3, 1, 9, 30), parent.mutable_collected_at());
  std::vector<v1::ComponentSpec> specs(4);
  specs[0].set_component(v1::COMPONENT_RED_CELLS);
  specs[1].set_component(v1::COMPONENT_PLASMA);
  specs[1].set_volume_ml(200);
  specs[2].set_component(v1::COMPONENT_PLATELETS);
  specs[3].set_component(v1::COMPONENT_PLASMA);
  specs[3].set_volume_ml(50);
  specs[3].set_preparation(v1::PolicyProfile::PREPARATION_FROZEN_PLASMA);
  const absl::Time processed = At(2025, 3, 2, 8, 0);
  absl::StatusOr<std::vector<ComponentPlan>> plans =
      PlanComponents(CnPolicy(), absl::UTCTimeZone(), parent, specs, processed);
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(plans->size(), 4u);
  const ComponentPlan& red = (*plans)[0];
  EXPECT_EQ(red.component, v1::COMPONENT_RED_CELLS);
  EXPECT_EQ(red.division, 1);
  EXPECT_EQ(red.quantity, 2);    // 400 mL whole blood = 2 U
  EXPECT_EQ(red.volume_ml, 75);  // (400 - 250) mL shared by the two without a volume
  EXPECT_EQ(red.expires_at, At(2025, 4, 5, 23, 59));  // 35 d from collection, not processing
  const ComponentPlan& plasma = (*plans)[1];
  EXPECT_EQ(plasma.division, 1);
  EXPECT_EQ(plasma.quantity, 200);  // mL
  EXPECT_EQ(plasma.expires_at, At(2026, 3, 1, 23, 59));
  const ComponentPlan& platelets = (*plans)[2];
  EXPECT_EQ(platelets.quantity, 1);  // one dose
  EXPECT_EQ(platelets.expires_at, At(2025, 3, 6, 23, 59));
  const ComponentPlan& frozen = (*plans)[3];
  EXPECT_EQ(frozen.division, 2);                          // second plasma of the donation
  EXPECT_EQ(frozen.expires_at, At(2029, 2, 28, 23, 59));  // 1460 d
}

TEST(InventoryComponentTest, WashedRedCellsNeverOutliveTheOriginalExpiry) {
  v1::Unit parent;
  parent.set_volume_ml(200);
  ToTimestamp(At(2025, 3, 1, 9, 30), parent.mutable_collected_at());
  std::vector<v1::ComponentSpec> specs(1);
  specs[0].set_component(v1::COMPONENT_RED_CELLS);
  specs[0].set_preparation(v1::PolicyProfile::PREPARATION_WASHED);
  // Washed on day 10: 24 h from washing.
  absl::StatusOr<std::vector<ComponentPlan>> early =
      PlanComponents(CnPolicy(), absl::UTCTimeZone(), parent, specs, At(2025, 3, 11, 10, 0));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ((*early)[0].expires_at, At(2025, 3, 12, 10, 0));
  EXPECT_EQ((*early)[0].quantity, 1);
  // Washed on the last day: capped at the red cells' own expiry.
  absl::StatusOr<std::vector<ComponentPlan>> late =
      PlanComponents(CnPolicy(), absl::UTCTimeZone(), parent, specs, At(2025, 4, 5, 12, 0));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ((*late)[0].expires_at, At(2025, 4, 5, 23, 59));
}

TEST(InventoryComponentTest, ChildVolumesCannotExceedTheParent) {
  v1::Unit parent;
  parent.set_volume_ml(200);
  ToTimestamp(At(2025, 3, 1), parent.mutable_collected_at());
  std::vector<v1::ComponentSpec> specs(2);
  specs[0].set_component(v1::COMPONENT_PLASMA);
  specs[0].set_volume_ml(150);
  specs[1].set_component(v1::COMPONENT_PLASMA);
  specs[1].set_volume_ml(100);
  absl::StatusOr<std::vector<ComponentPlan>> plans =
      PlanComponents(CnPolicy(), absl::UTCTimeZone(), parent, specs, At(2025, 3, 1, 12, 0));
  EXPECT_EQ(plans.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plans.status().message(), HasSubstr("components"));
}

TEST(InventoryComponentTest, UnitIds) {
  EXPECT_EQ(UnitIdFor("A999921123456", v1::COMPONENT_WHOLE_BLOOD, 0), "A999921123456-WB0");
  EXPECT_EQ(UnitIdFor("A999921123456", v1::COMPONENT_PLASMA, 2), "A999921123456-PL2");
}

// ---------------------------------------------------------------------------------------------
// The reservation choice.

const absl::Time kNow = At(2025, 6, 1, 8, 0);

ChoiceUnit Bag(std::string id, int tier, int station, int expires_in_days, int quantity = 1) {
  return ChoiceUnit{std::move(id), tier, station, kNow + absl::Hours(24) * expires_in_days,
                    quantity};
}

std::vector<std::string> Ids(const std::vector<ChoiceUnit>& units,
                             const std::vector<size_t>& chosen) {
  std::vector<std::string> ids;
  for (size_t i : chosen) ids.push_back(units[i].unit_id);
  return ids;
}

std::vector<std::string> Choose(v1::Priority priority, int quantity,
                                const std::vector<ChoiceUnit>& units, absl::Time floor = kNow) {
  return Ids(units, ChooseUnits(priority, quantity, floor, units));
}

TEST(InventoryChoiceTest, PreferenceTierBeforeExpiry) {
  // A- patient: A- (tier 0) before O- (tier 1), even when the O- bags expire sooner.
  const std::vector<ChoiceUnit> units = {Bag("o-1", 1, 0, 2), Bag("a-1", 0, 0, 20),
                                         Bag("a-2", 0, 0, 10), Bag("o-2", 1, 0, 3)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 2, units), ElementsAre("a-2", "a-1"));
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 3, units), ElementsAre("a-2", "a-1", "o-1"));
}

TEST(InventoryChoiceTest, FirstExpireFirstOutWithinATier) {
  const std::vector<ChoiceUnit> units = {Bag("c", 0, 0, 30), Bag("a", 0, 0, 5), Bag("b", 0, 0, 9)};
  EXPECT_THAT(Choose(v1::PRIORITY_URGENT, 2, units), ElementsAre("a", "b"));
  // Equal expiry: unit id breaks the tie.
  const std::vector<ChoiceUnit> tied = {Bag("z", 0, 0, 5), Bag("m", 0, 0, 5)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 1, tied), ElementsAre("m"));
}

TEST(InventoryChoiceTest, StationOrderRoutineVersusEmergency) {
  // Serving station (rank 0) has only the tier-1 type; a fallback (rank 1) has the identical type.
  const std::vector<ChoiceUnit> units = {Bag("serving-o", 1, 0, 20), Bag("fallback-a", 0, 1, 25)};
  // ROUTINE/URGENT: the better match first, bags elsewhere come by transfer.
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 1, units), ElementsAre("fallback-a"));
  EXPECT_THAT(Choose(v1::PRIORITY_URGENT, 1, units), ElementsAre("fallback-a"));
  // EMERGENCY: what is on the shelf now.
  EXPECT_THAT(Choose(v1::PRIORITY_EMERGENCY, 1, units), ElementsAre("serving-o"));
  // Within a tier, ROUTINE still prefers the serving station over an earlier expiry elsewhere.
  const std::vector<ChoiceUnit> same_tier = {Bag("far-soon", 0, 1, 2), Bag("near-late", 0, 0, 20)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 1, same_tier), ElementsAre("near-late"));
}

TEST(InventoryChoiceTest, LeastOvershoot) {
  // Want 3 U: FEFO takes 2 U + 2 U (overshoot 1); the 1-U bag of the same tier and station
  // reaches 3 exactly and replaces the last bag.
  const std::vector<ChoiceUnit> units = {Bag("two-a", 0, 0, 5, 2), Bag("two-b", 0, 0, 6, 2),
                                         Bag("one", 0, 0, 9, 1)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 3, units), ElementsAre("two-a", "one"));
  // Plasma in mL: want 300; 200 + 200 overshoots by 100; the 100-mL bag fits exactly, the
  // 150-mL bag would overshoot less than 200 but more than 100.
  const std::vector<ChoiceUnit> plasma = {Bag("p200a", 0, 0, 100, 200),
                                          Bag("p200b", 0, 0, 101, 200), Bag("p150", 0, 0, 102, 150),
                                          Bag("p100", 0, 0, 103, 100)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 300, plasma), ElementsAre("p200a", "p100"));
  // Ties in overshoot: the earliest expiry wins (the bag already taken, when it ties).
  const std::vector<ChoiceUnit> ties = {Bag("first", 0, 0, 5, 2), Bag("second", 0, 0, 6, 2),
                                        Bag("late-one-a", 0, 0, 9, 1),
                                        Bag("late-one-b", 0, 0, 8, 1)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 3, ties), ElementsAre("first", "late-one-b"));
}

TEST(InventoryChoiceTest, OvershootReplacementStaysInItsTierAndStation) {
  // The exact-fit bag is another tier: the order of preference wins over the overshoot.
  const std::vector<ChoiceUnit> units = {Bag("a-two", 0, 0, 5, 2), Bag("o-one", 1, 0, 5, 1)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 1, units), ElementsAre("a-two"));
  const std::vector<ChoiceUnit> stations = {Bag("here-two", 0, 0, 5, 2),
                                            Bag("there-one", 0, 1, 5, 1)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 1, stations), ElementsAre("here-two"));
}

TEST(InventoryChoiceTest, NeverSplitsABagAndShortStockGivesWhatThereIs) {
  const std::vector<ChoiceUnit> one_big = {Bag("big", 0, 0, 5, 2)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 1, one_big), ElementsAre("big"));
  const std::vector<ChoiceUnit> short_stock = {Bag("x", 0, 0, 5), Bag("y", 1, 1, 6)};
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 5, short_stock), ElementsAre("x", "y"));
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 5, {}), IsEmpty());
}

TEST(InventoryChoiceTest, ExpiryFloor) {
  const absl::Time floor = kNow + absl::Hours(24) * 3;
  const std::vector<ChoiceUnit> units = {Bag("too-soon", 0, 0, 2), Bag("at-floor", 0, 0, 3),
                                         Bag("ok", 0, 0, 4)};
  // A bag expiring at or before the floor is never taken, even when short.
  EXPECT_THAT(Choose(v1::PRIORITY_EMERGENCY, 2, units, floor), ElementsAre("ok"));
  EXPECT_THAT(Choose(v1::PRIORITY_ROUTINE, 3, units, floor), ElementsAre("ok"));
}

TEST(InventoryChoiceTest, PickFefoForTransfers) {
  const std::vector<ChoiceUnit> units = {Bag("late", 0, 0, 30, 2), Bag("soon", 0, 0, 3, 1),
                                         Bag("mid", 0, 0, 10, 1), Bag("gone", 0, 0, 1, 1)};
  const absl::Time floor = kNow + absl::Hours(36);
  EXPECT_THAT(Ids(units, PickFefo(2, floor, units)), ElementsAre("soon", "mid"));
  EXPECT_THAT(Ids(units, PickFefo(10, floor, units)), ElementsAre("soon", "mid", "late"));
}

// ---------------------------------------------------------------------------------------------
// Outcomes, alerts, transport, periods.

TEST(InventoryOutcomeTest, Table) {
  struct Case {
    v1::TransfusionOutcome outcome;
    bool cold_chain_ok;
    bool expired;
    v1::UnitStatus final_status;
    bool via_returned;
    v1::DiscardReason reason;
  };
  const Case cases[] = {
      {v1::TRANSFUSION_OUTCOME_TRANSFUSED, false, false, X, false, v1::DISCARD_REASON_UNSPECIFIED},
      {v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED, false, true, X, false,
       v1::DISCARD_REASON_UNSPECIFIED},
      {v1::TRANSFUSION_OUTCOME_RETURNED, true, false, A, true, v1::DISCARD_REASON_UNSPECIFIED},
      {v1::TRANSFUSION_OUTCOME_RETURNED, false, false, D, true,
       v1::DISCARD_REASON_COLD_CHAIN_FAILURE},
      {v1::TRANSFUSION_OUTCOME_RETURNED, true, true, E, true, v1::DISCARD_REASON_UNSPECIFIED},
      {v1::TRANSFUSION_OUTCOME_WASTED, true, false, D, false, v1::DISCARD_REASON_WASTED},
  };
  for (const Case& c : cases) {
    const OutcomePlan plan = PlanOutcome(c.outcome, c.cold_chain_ok, c.expired);
    EXPECT_EQ(plan.final_status, c.final_status) << c.outcome;
    EXPECT_EQ(plan.via_returned, c.via_returned) << c.outcome;
    EXPECT_EQ(plan.discard_reason, c.reason) << c.outcome;
    if (plan.via_returned) {
      EXPECT_TRUE(CheckTransition(I, RT).ok());
      EXPECT_TRUE(CheckTransition(RT, plan.final_status).ok());
    } else {
      EXPECT_TRUE(CheckTransition(I, plan.final_status).ok());
    }
  }
}

v1::StockLevel Level(int units, int64_t quantity, int64_t par_minimum) {
  v1::StockLevel level;
  level.set_station_id("S1");
  level.set_component(v1::COMPONENT_RED_CELLS);
  level.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
  level.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
  level.mutable_available()->set_units(units);
  level.mutable_available()->set_quantity(quantity);
  level.set_par_minimum(par_minimum);
  return level;
}

std::vector<v1::StockAlertKind> Kinds(const std::vector<v1::StockAlert>& alerts) {
  std::vector<v1::StockAlertKind> kinds;
  for (const v1::StockAlert& alert : alerts) kinds.push_back(alert.kind());
  return kinds;
}

TEST(InventoryAlertTest, LevelTransitions) {
  const v1::StockLevel above = Level(5, 5, 4);
  const v1::StockLevel below = Level(3, 3, 4);
  const v1::StockLevel empty = Level(0, 0, 4);
  EXPECT_THAT(Kinds(LevelAlerts(&above, below)), ElementsAre(v1::STOCK_ALERT_KIND_BELOW_PAR));
  EXPECT_THAT(Kinds(LevelAlerts(&below, above)), ElementsAre(v1::STOCK_ALERT_KIND_PAR_RESTORED));
  EXPECT_THAT(Kinds(LevelAlerts(&below, empty)), ElementsAre(v1::STOCK_ALERT_KIND_OUT_OF_STOCK));
  EXPECT_THAT(Kinds(LevelAlerts(&above, empty)),
              ElementsAre(v1::STOCK_ALERT_KIND_BELOW_PAR, v1::STOCK_ALERT_KIND_OUT_OF_STOCK));
  EXPECT_THAT(Kinds(LevelAlerts(&below, below)), IsEmpty());
  EXPECT_THAT(Kinds(LevelAlerts(nullptr, below)), ElementsAre(v1::STOCK_ALERT_KIND_BELOW_PAR));
  EXPECT_THAT(Kinds(LevelAlerts(nullptr, above)), IsEmpty());
  // No par level: never below par.
  EXPECT_THAT(Kinds(LevelAlerts(nullptr, Level(0, 0, 0))), IsEmpty());
}

TEST(InventoryTransportTest, DistanceAndTime) {
  v1::Station a;
  v1::Station b;
  EXPECT_EQ(TransportTime(a, b, TransportSettings{}), absl::Hours(2));  // no locations
  a.mutable_location()->set_latitude(39.9042);                          // Beijing
  a.mutable_location()->set_longitude(116.4074);
  b.mutable_location()->set_latitude(39.1256);  // Tianjin
  b.mutable_location()->set_longitude(117.1902);
  EXPECT_NEAR(DistanceKm(a.location(), b.location()), 110, 5);
  const absl::Duration time = TransportTime(a, b, TransportSettings{});
  EXPECT_GT(time, absl::Minutes(130));  // ~110 km x 1.3 at 60 km/h
  EXPECT_LT(time, absl::Minutes(150));
  EXPECT_EQ(TransportTime(a, a, TransportSettings{}), absl::Minutes(15));
}

TEST(InventoryPeriodTest, SubtractNeverShortensTheWindow) {
  v1::PolicyProfile::Period year;
  year.set_months(12);
  EXPECT_EQ(SubtractPeriod(absl::CivilDay(2025, 6, 15), year), absl::CivilDay(2024, 6, 15));
  v1::PolicyProfile::Period month;
  month.set_months(1);
  EXPECT_EQ(SubtractPeriod(absl::CivilDay(2025, 3, 31), month), absl::CivilDay(2025, 2, 28));
  v1::PolicyProfile::Period leap;
  leap.set_years(1);
  EXPECT_EQ(SubtractPeriod(absl::CivilDay(2025, 2, 28), leap), absl::CivilDay(2024, 2, 28));
  v1::PolicyProfile::Period days;
  days.set_days(10);
  EXPECT_EQ(SubtractPeriod(absl::CivilDay(2025, 1, 5), days), absl::CivilDay(2024, 12, 26));
}

// ---------------------------------------------------------------------------------------------
// Request shape checks name the field.

v1::ReserveRequest GoodReserve() {
  v1::ReserveRequest request;
  request.set_reservation_key("ORD-1/1/1");
  request.add_station_ids("CENTRAL");
  request.set_component(v1::COMPONENT_RED_CELLS);
  request.set_quantity(2);
  v1::CandidateBloodType* a = request.add_candidates();
  a->mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  a->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  request.set_priority(v1::PRIORITY_ROUTINE);
  ToTimestamp(kNow, request.mutable_expiry_floor());
  return request;
}

TEST(InventoryValidationTest, ReserveNamesTheField) {
  EXPECT_TRUE(ValidateReserve(GoodReserve()).ok());
  struct Case {
    std::string field;
    std::function<void(v1::ReserveRequest&)> spoil;
  };
  const std::vector<Case> cases = {
      {"reservation_key", [](auto& r) { r.clear_reservation_key(); }},
      {"reservation_key", [](auto& r) { r.set_reservation_key("has space"); }},
      {"station_ids", [](auto& r) { r.clear_station_ids(); }},
      {"station_ids[1]", [](auto& r) { r.add_station_ids("CENTRAL"); }},
      {"station_ids[0]", [](auto& r) { r.set_station_ids(0, "bad/id"); }},
      {"component", [](auto& r) { r.clear_component(); }},
      {"quantity", [](auto& r) { r.set_quantity(0); }},
      {"candidates", [](auto& r) { r.clear_candidates(); }},
      {"candidates[0].blood_type",
       [](auto& r) { r.mutable_candidates(0)->mutable_blood_type()->clear_rhd(); }},
      {"candidates[1].tier",
       [](auto& r) {
         r.mutable_candidates(0)->set_tier(2);
         v1::CandidateBloodType* o = r.add_candidates();
         o->mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
         o->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
         o->set_tier(1);
       }},
      {"candidates[1].blood_type", [](auto& r) { *r.add_candidates() = r.candidates(0); }},
      {"priority", [](auto& r) { r.clear_priority(); }},
      {"expiry_floor", [](auto& r) { r.clear_expiry_floor(); }},
      {"hold_seconds", [](auto& r) { r.set_hold_seconds(3601); }},
  };
  for (const Case& c : cases) {
    v1::ReserveRequest request = GoodReserve();
    c.spoil(request);
    const absl::Status status = ValidateReserve(request);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), ::testing::StartsWith(c.field + ":")) << status;
  }
}

TEST(InventoryValidationTest, CollectionAndTests) {
  v1::RegisterCollectionRequest good = Collection(v1::DONATION_TYPE_WHOLE_BLOOD, 400, kNow);
  EXPECT_TRUE(ValidateRegisterCollection(good, CnPolicy(), kNow).ok());
  struct Case {
    std::string field;
    std::function<void(v1::RegisterCollectionRequest&)> spoil;
  };
  const std::vector<Case> cases = {
      {"din", [](auto& r) { r.set_din("A99992112345"); }},
      {"din", [](auto& r) { r.set_din("A999921123456X"); }},  // wrong check character
      {"donor_id", [](auto& r) { r.clear_donor_id(); }},
      {"donation_type", [](auto& r) { r.clear_donation_type(); }},
      {"volume_ml", [](auto& r) { r.set_volume_ml(0); }},
      {"volume_ml", [](auto& r) { r.set_volume_ml(450); }},  // not a CN whole-blood volume
      {"volume_ml",
       [](auto& r) {
         r.set_donation_type(v1::DONATION_TYPE_APHERESIS_PLATELETS);
         r.set_volume_ml(9000);
       }},
      {"anticoagulant", [](auto& r) { r.set_anticoagulant(v1::PolicyProfile::ANTICOAGULANT_MAP); }},
      {"collected_at", [](auto& r) { r.clear_collected_at(); }},
      {"collected_at",
       [](auto& r) { ToTimestamp(kNow + absl::Hours(1), r.mutable_collected_at()); }},
      {"station_id", [](auto& r) { r.set_station_id(""); }},
      {"blood_type", [](auto& r) { r.mutable_blood_type()->set_abo(v1::ABO_GROUP_A); }},
      {"quantity", [](auto& r) { r.set_quantity(0); }},
  };
  for (const Case& c : cases) {
    v1::RegisterCollectionRequest request = good;
    c.spoil(request);
    const absl::Status status = ValidateRegisterCollection(request, CnPolicy(), kNow);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), ::testing::StartsWith(c.field + ":")) << status;
  }
  // The donor service's clock-skew tolerance applies here too (common/donation_rules.h).
  v1::RegisterCollectionRequest ahead = good;
  ToTimestamp(kNow + absl::Seconds(5), ahead.mutable_collected_at());
  EXPECT_TRUE(ValidateRegisterCollection(ahead, CnPolicy(), kNow).ok());
  // With the check character, and grouped as printed.
  good.set_din("A9999 21 123456 3");
  EXPECT_TRUE(ValidateRegisterCollection(good, CnPolicy(), kNow).ok());

  v1::RecordTestResultsRequest tests;
  tests.set_din("A999921123456");
  EXPECT_THAT(std::string(ValidateRecordTestResults(tests, kNow).message()), HasSubstr("results:"));
  tests.add_results()->set_test(v1::SCREENING_TEST_ALT);
  EXPECT_TRUE(ValidateRecordTestResults(tests, kNow).ok());
  tests.add_results()->set_test(v1::SCREENING_TEST_ALT);
  EXPECT_THAT(std::string(ValidateRecordTestResults(tests, kNow).message()),
              HasSubstr("results[1].test: given twice"));
  tests.mutable_results(1)->set_test(v1::SCREENING_TEST_ABO_RHD);
  EXPECT_THAT(std::string(ValidateRecordTestResults(tests, kNow).message()),
              HasSubstr("results[1].blood_type"));
}

TEST(InventoryValidationTest, ProcessingDiscardAndTransfers) {
  v1::ProcessDonationRequest process;
  process.set_din("A999921123456");
  EXPECT_THAT(std::string(ValidateProcessDonation(process, kNow).message()),
              HasSubstr("components:"));
  process.add_components()->set_component(v1::COMPONENT_WHOLE_BLOOD);
  EXPECT_THAT(std::string(ValidateProcessDonation(process, kNow).message()),
              HasSubstr("components[0].component"));
  process.mutable_components(0)->set_component(v1::COMPONENT_PLASMA);
  EXPECT_THAT(std::string(ValidateProcessDonation(process, kNow).message()),
              HasSubstr("components[0].volume_ml"));
  process.mutable_components(0)->set_volume_ml(200);
  EXPECT_TRUE(ValidateProcessDonation(process, kNow).ok());

  v1::DiscardUnitRequest discard;
  discard.set_unit_id("U1");
  EXPECT_THAT(std::string(ValidateDiscardUnit(discard).message()), HasSubstr("reason:"));
  discard.set_reason(v1::DISCARD_REASON_OTHER);
  EXPECT_THAT(std::string(ValidateDiscardUnit(discard).message()), HasSubstr("note:"));
  discard.set_note("label torn");
  EXPECT_TRUE(ValidateDiscardUnit(discard).ok());

  v1::CreateTransferRequest transfer;
  transfer.set_from_station_id("A");
  transfer.set_to_station_id("A");
  EXPECT_THAT(std::string(ValidateCreateTransfer(transfer).message()), HasSubstr("to_station_id:"));
  transfer.set_to_station_id("B");
  EXPECT_THAT(std::string(ValidateCreateTransfer(transfer).message()), HasSubstr("items:"));
  transfer.add_items()->set_unit_id("U1");
  transfer.add_items()->set_unit_id("U1");
  EXPECT_THAT(std::string(ValidateCreateTransfer(transfer).message()),
              HasSubstr("items[1].unit_id"));
  transfer.mutable_items(1)->mutable_lot()->set_component(v1::COMPONENT_RED_CELLS);
  EXPECT_THAT(std::string(ValidateCreateTransfer(transfer).message()),
              HasSubstr("items[1].lot.blood_type"));
}

}  // namespace
}  // namespace bloodgrid::inventory
