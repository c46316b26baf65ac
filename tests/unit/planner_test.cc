// The rebalance planner on small hand-made regions whose right answer is known.
#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/blood.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/rebalance_planner.h"
#include "planner/stock_projection.h"

namespace bloodgrid::planner {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr v1::Component kRed = v1::COMPONENT_RED_CELLS;
constexpr v1::Component kPlatelets = v1::COMPONENT_PLATELETS;
constexpr v1::Component kPlasma = v1::COMPONENT_PLASMA;

absl::Time Now() { return absl::FromCivil(absl::CivilHour(2025, 3, 1, 8), absl::UTCTimeZone()); }

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(0);
}

// Builds GetRebalanceInputsResponse messages.
class TestRegion {
 public:
  explicit TestRegion(int horizon_hours = 48) {
    inputs_.set_horizon_hours(horizon_hours);
    inputs_.set_demand_window_days(28);
    SetTime(Now(), inputs_.mutable_as_of());
  }

  TestRegion& Station(const std::string& id, bool active = true) {
    v1::Station* s = inputs_.add_stations();
    s->set_station_id(id);
    s->set_name(id);
    s->set_kind(v1::STATION_KIND_BRANCH);
    s->set_active(active);
    return *this;
  }

  // Both directions.
  TestRegion& Road(const std::string& a, const std::string& b, int minutes) {
    for (const auto& [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
      v1::TransportTime* t = inputs_.add_transport_times();
      t->set_from_station_id(from);
      t->set_to_station_id(to);
      t->set_minutes(minutes);
    }
    return *this;
  }

  // A station x component x blood type row with its demand and par minimum (= par target).
  v1::StockPosition& Cell(const std::string& station, v1::Component component,
                          const std::string& type, double daily_demand, int64_t par = 0) {
    v1::StockPosition* p = inputs_.add_positions();
    p->set_station_id(station);
    p->set_component(component);
    *p->mutable_blood_type() = ParseBloodType(type).value().ToProto();
    p->set_daily_demand(daily_demand);
    p->set_par_minimum(par);
    p->set_par_target(par);
    return *p;
  }

  // A lot of `bags` bags totalling `quantity`, expiring `hours` from now.
  static void Lot(v1::StockPosition& p, double hours, int bags, int quantity,
                  int horizon_hours = 48) {
    v1::ExpiryLot* lot = p.add_available_lots();
    SetTime(Now() + absl::Seconds(hours * 3600), lot->mutable_expires_at());
    lot->mutable_count()->set_units(bags);
    lot->mutable_count()->set_quantity(quantity);
    lot->set_beyond_horizon(hours >= horizon_hours);
  }

  v1::GetRebalanceInputsResponse& inputs() { return inputs_; }

 private:
  v1::GetRebalanceInputsResponse inputs_;
};

// Options that keep the hand arithmetic simple: no demand floor from par, no safety stock on
// top of the cover (3 days of demand).
PlannerOptions Simple() {
  PlannerOptions options;
  options.demand_floor_par_days = 0.0;
  options.cover_safety_factor = 0.0;
  return options;
}

v1::PlanRebalanceResponse Plan(const v1::GetRebalanceInputsResponse& inputs,
                               const PlannerOptions& options) {
  absl::StatusOr<v1::PlanRebalanceResponse> plan = PlanRebalance(inputs, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : v1::PlanRebalanceResponse();
}

const v1::TransferLot& Item(const v1::TransferProposal& p, int i) { return p.items(i).lot(); }

const v1::CoverChange* Effect(const v1::TransferProposal& p, const std::string& station,
                              v1::Component component) {
  for (const v1::CoverChange& c : p.expected_effect()) {
    if (c.station_id() == station && c.component() == component) return &c;
  }
  return nullptr;
}

const v1::RebalanceReason* Reason(const v1::TransferProposal& p, v1::RebalanceReasonKind kind) {
  for (const v1::RebalanceReason& r : p.reasons()) {
    if (r.kind() == kind) return &r;
  }
  return nullptr;
}

const v1::ComponentEffect* Summary(const v1::PlanRebalanceResponse& plan, v1::Component c) {
  for (const v1::ComponentEffect& e : plan.summary()) {
    if (e.component() == c) return &e;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Shortage filled from the station with surplus.

TEST(PlannerTest, ShortageFilledFromSurplusInWholeBags) {
  // A holds 20 bags of 2 U, B one bag of 1 U; both use 2 U a day, par 6. Over 48 h B needs
  // 4 U and should end with max(par 6, 3 days x 2) = 6 U: 1 + x - 4 >= 6, so x >= 9 U, i.e.
  // 5 bags = 10 U. A keeps 30 U (>= its par and cover).
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  TestRegion::Lot(r.Cell("A", kRed, "O-", 2.0, 6), 480, 20, 40);
  TestRegion::Lot(r.Cell("B", kRed, "O-", 2.0, 6), 480, 1, 1);

  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(plan.trips(), 1);
  EXPECT_EQ(plan.horizon_hours(), 48);
  EXPECT_EQ(plan.generated_at().seconds(), absl::ToUnixSeconds(Now()));
  const v1::TransferProposal& p = plan.proposals(0);
  EXPECT_EQ(p.proposal_id(), "P1");
  EXPECT_EQ(p.from_station_id(), "A");
  EXPECT_EQ(p.to_station_id(), "B");
  EXPECT_EQ(p.transport_minutes(), 60);
  ASSERT_EQ(p.items_size(), 1);
  EXPECT_EQ(Item(p, 0).component(), kRed);
  EXPECT_EQ(Item(p, 0).blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(Item(p, 0).blood_type().rhd(), v1::RH_D_NEGATIVE);
  EXPECT_EQ(Item(p, 0).quantity(), 10);

  const v1::RebalanceReason* shortage = Reason(p, v1::REBALANCE_REASON_KIND_SHORTAGE);
  ASSERT_NE(shortage, nullptr);
  EXPECT_EQ(shortage->station_id(), "B");
  EXPECT_DOUBLE_EQ(shortage->days_of_cover(), 0.5);
  EXPECT_EQ(shortage->available_quantity(), 1);
  EXPECT_EQ(shortage->par_minimum(), 6);
  EXPECT_THAT(shortage->message(),
              StartsWith("shortage at B for O- red cells: 0.5 days of cover (minimum 3.0); 3 U "
                         "of demand unmet within 48 h"));
  const v1::RebalanceReason* below_par = Reason(p, v1::REBALANCE_REASON_KIND_BELOW_PAR);
  ASSERT_NE(below_par, nullptr);
  EXPECT_EQ(below_par->message(), "B below par for O- red cells: 1 U available, par minimum 6 U");

  const v1::CoverChange* at_b = Effect(p, "B", kRed);
  ASSERT_NE(at_b, nullptr);
  EXPECT_EQ(at_b->available_before(), 1);
  EXPECT_EQ(at_b->available_after(), 11);
  EXPECT_DOUBLE_EQ(at_b->days_of_cover_before(), 0.5);
  EXPECT_DOUBLE_EQ(at_b->days_of_cover_after(), 5.5);
  EXPECT_EQ(at_b->expected_shortage_before(), 3);
  EXPECT_EQ(at_b->expected_shortage_after(), 0);
  const v1::CoverChange* at_a = Effect(p, "A", kRed);
  ASSERT_NE(at_a, nullptr);
  EXPECT_EQ(at_a->available_before(), 40);
  EXPECT_EQ(at_a->available_after(), 30);
  EXPECT_EQ(at_a->expected_shortage_after(), 0);

  const v1::ComponentEffect* red = Summary(plan, kRed);
  ASSERT_NE(red, nullptr);
  EXPECT_EQ(red->expected_shortage_before(), 3);
  EXPECT_EQ(red->expected_shortage_after(), 0);
  EXPECT_EQ(red->expected_outdate_before(), 0);
  EXPECT_EQ(red->expected_outdate_after(), 0);
}

TEST(PlannerTest, NothingProposedWhenBalanced) {
  TestRegion r;
  r.Station("A").Station("B").Station("C").Road("A", "B", 40).Road("A", "C", 50).Road("B", "C", 30);
  for (const char* s : {"A", "B", "C"}) {
    TestRegion::Lot(r.Cell(s, kRed, "O+", 2.0, 6), 480, 20, 20);
    TestRegion::Lot(r.Cell(s, kPlatelets, "A+", 1.0, 1), 100, 6, 6);
  }
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), PlannerOptions());
  EXPECT_EQ(plan.proposals_size(), 0);
  EXPECT_EQ(plan.trips(), 0);
  ASSERT_EQ(plan.summary_size(), 2);
  EXPECT_EQ(plan.summary(0).component(), kRed);
  EXPECT_EQ(plan.summary(0).expected_shortage_before(), 0);
  EXPECT_EQ(plan.summary(0).expected_shortage_after(), 0);
  EXPECT_EQ(plan.summary(1).component(), kPlatelets);
  EXPECT_EQ(plan.summary(1).expected_outdate_after(), 0);
}

// ---------------------------------------------------------------------------------------------
// Outdates moved to where the demand is.

TEST(PlannerTest, ExpiringUnitsMovedToWhereTheyAreUsed) {
  // A: 6 doses of A+ platelets expiring in 30 h, no demand. B uses 8 a day and holds 50 that
  // keep beyond the horizon: arriving after 1 h, A's doses are used first at B (8/24 x 29 h
  // = 9.7 doses before they expire), so all 6 are saved and B stays well covered.
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  TestRegion::Lot(r.Cell("A", kPlatelets, "A+", 0.0), 30, 6, 6);
  TestRegion::Lot(r.Cell("B", kPlatelets, "A+", 8.0), 100, 50, 50);

  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  const v1::TransferProposal& p = plan.proposals(0);
  EXPECT_EQ(p.from_station_id(), "A");
  EXPECT_EQ(p.to_station_id(), "B");
  ASSERT_EQ(p.items_size(), 1);
  EXPECT_EQ(Item(p, 0).component(), kPlatelets);
  EXPECT_EQ(Item(p, 0).quantity(), 6);
  ASSERT_EQ(p.reasons_size(), 1);
  const v1::RebalanceReason& reason = p.reasons(0);
  EXPECT_EQ(reason.kind(), v1::REBALANCE_REASON_KIND_OUTDATE_RISK);
  EXPECT_EQ(reason.station_id(), "A");
  EXPECT_EQ(reason.expiring_quantity(), 6);
  EXPECT_EQ(reason.earliest_expiry().seconds(), absl::ToUnixSeconds(Now() + absl::Hours(30)));
  EXPECT_DOUBLE_EQ(reason.days_of_cover(), -1.0);
  EXPECT_EQ(reason.message(), "6 doses of A+ platelets expire in 30 h at A with no demand there");
  const v1::CoverChange* at_a = Effect(p, "A", kPlatelets);
  ASSERT_NE(at_a, nullptr);
  EXPECT_EQ(at_a->expected_outdate_before(), 6);
  EXPECT_EQ(at_a->expected_outdate_after(), 0);
  EXPECT_DOUBLE_EQ(at_a->days_of_cover_before(), -1.0);
  const v1::CoverChange* at_b = Effect(p, "B", kPlatelets);
  ASSERT_NE(at_b, nullptr);
  EXPECT_EQ(at_b->expected_outdate_after(), 0);
  EXPECT_EQ(at_b->available_after(), 56);
  const v1::ComponentEffect* platelets = Summary(plan, kPlatelets);
  ASSERT_NE(platelets, nullptr);
  EXPECT_EQ(platelets->expected_outdate_before(), 6);
  EXPECT_EQ(platelets->expected_outdate_after(), 0);
  EXPECT_EQ(platelets->expected_shortage_after(), 0);
}

TEST(PlannerTest, MovesOnlyWhatTheDestinationWillUseBeforeExpiry) {
  // B uses 2 doses a day: in the 23 h between arrival (1 h) and expiry (24 h) it uses 1.92,
  // so 2 bags save 1.92 doses (6 -> 4.08 outdated); a third would outdate at B instead of A.
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  TestRegion::Lot(r.Cell("A", kPlatelets, "B+", 0.0), 24, 6, 6);
  TestRegion::Lot(r.Cell("B", kPlatelets, "B+", 2.0), 100, 20, 20);
  PlannerOptions options = Simple();
  options.expiry_safety_margin = absl::Hours(6);
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), options);
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 2);
  const v1::ComponentEffect* platelets = Summary(plan, kPlatelets);
  ASSERT_NE(platelets, nullptr);
  EXPECT_EQ(platelets->expected_outdate_before(), 6);
  EXPECT_EQ(platelets->expected_outdate_after(), 4);
}

TEST(PlannerTest, LookAheadSeesOutdatesBeyondThePlanningHorizon) {
  // Inputs read 120 h ahead, shortages planned over 24 h. A holds 4 doses expiring in 70 h
  // and has no demand; B uses 3 a day and holds 5 expiring in 110 h. Served first-expire-
  // first-out, B would use A's 4 first and its own 5 by 72 h: nothing expires.
  auto region = [](int inputs_horizon) {
    TestRegion r(inputs_horizon);
    r.Station("A").Station("B").Road("A", "B", 60);
    TestRegion::Lot(r.Cell("A", kPlatelets, "O+", 0.0), 70, 4, 4, inputs_horizon);
    TestRegion::Lot(r.Cell("B", kPlatelets, "O+", 3.0), 110, 5, 5, inputs_horizon);
    return r;
  };
  PlannerOptions options = Simple();
  options.min_days_of_cover = 0.0;  // only stock-outs count as shortage here
  options.horizon_hours = 24;
  TestRegion ahead = region(120);
  v1::PlanRebalanceResponse plan = Plan(ahead.inputs(), options);
  EXPECT_EQ(plan.horizon_hours(), 24);
  ASSERT_EQ(plan.proposals_size(), 1);
  const v1::TransferProposal& p = plan.proposals(0);
  EXPECT_EQ(p.from_station_id(), "A");
  EXPECT_EQ(Item(p, 0).quantity(), 4);
  ASSERT_EQ(p.reasons_size(), 1);
  EXPECT_EQ(p.reasons(0).kind(), v1::REBALANCE_REASON_KIND_OUTDATE_RISK);
  EXPECT_EQ(p.reasons(0).expiring_quantity(), 4);
  EXPECT_EQ(p.reasons(0).message(),
            "4 doses of O+ platelets expire in 70 h at A with no demand there");
  EXPECT_EQ(Summary(plan, kPlatelets)->expected_outdate_before(), 4);
  EXPECT_EQ(Summary(plan, kPlatelets)->expected_outdate_after(), 0);

  // Read only 24 h ahead, both lots fall in the "after the horizon" bucket: nothing to see.
  options.horizon_hours = 0;
  TestRegion blind = region(24);
  EXPECT_EQ(Plan(blind.inputs(), options).proposals_size(), 0);

  // B holding 20 doses expiring in 75 h, more than it uses (9.4): A's doses would be used
  // first there and push as many of B's out, so moving them saves nothing.
  TestRegion crowded(120);
  crowded.Station("A").Station("B").Road("A", "B", 60);
  TestRegion::Lot(crowded.Cell("A", kPlatelets, "O+", 0.0), 70, 4, 4, 120);
  TestRegion::Lot(crowded.Cell("B", kPlatelets, "O+", 3.0), 75, 20, 20, 120);
  options.horizon_hours = 24;
  EXPECT_EQ(Plan(crowded.inputs(), options).proposals_size(), 0);
}

TEST(PlannerTest, FillsTowardsParTarget) {
  // B: 10 U, 1 U a day, par minimum 2, target 12. After 48 h it holds 8: above par and above
  // 3 days of cover, 4 below target, which A (no demand, no par) fills.
  auto region = [](int64_t target) {
    TestRegion r;
    r.Station("A").Station("B").Road("A", "B", 60);
    TestRegion::Lot(r.Cell("A", kRed, "B-", 0.0), 480, 30, 30);
    v1::StockPosition& b = r.Cell("B", kRed, "B-", 1.0, 2);
    b.set_par_target(target);
    TestRegion::Lot(b, 480, 10, 10);
    return r;
  };
  TestRegion below_target = region(12);
  v1::PlanRebalanceResponse plan = Plan(below_target.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 4);
  const v1::RebalanceReason* reason = Reason(plan.proposals(0), v1::REBALANCE_REASON_KIND_SHORTAGE);
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(reason->message(),
            "shortage at B for B- red cells: 10.0 days of cover (minimum 3.0); 8 U left at the "
            "end of 48 h, par target 12 U");
  TestRegion at_target = region(2);
  EXPECT_EQ(Plan(at_target.inputs(), Simple()).proposals_size(), 0);
}

TEST(PlannerTest, SafetyStockRaisesTheCoverLevel) {
  // B: nothing, 1 U a day. Cover level 3 U (3 days) without safety stock; with z = 1 it is
  // 3 + sqrt(3) = 4.7 U. Plus 2 U used over the 48 h horizon: 5 U, then 7 U.
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  TestRegion::Lot(r.Cell("A", kRed, "O-", 0.0), 480, 30, 30);
  r.Cell("B", kRed, "O-", 1.0);
  PlannerOptions options = Simple();
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), options);
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 5);
  options.cover_safety_factor = 1.0;
  plan = Plan(r.inputs(), options);
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 7);
}

// ---------------------------------------------------------------------------------------------
// Refusals.

TEST(PlannerTest, ReservedQuarantinedAndInTransitStockNeverMoves) {
  // A has plenty on paper but only 10 U available; par 6 at A, so at most 4 U may go to B
  // (not critical from the donor's par point of view: the critical exception is off).
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  v1::StockPosition& a = r.Cell("A", kRed, "B+", 1.0, 6);
  TestRegion::Lot(a, 480, 10, 10);
  a.set_reserved_quantity(50);
  a.set_quarantined_quantity(50);
  a.set_in_transit_in_quantity(50);
  r.Cell("B", kRed, "B+", 2.0, 6);
  PlannerOptions options = Simple();
  options.allow_below_par_for_critical = false;
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), options);
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 4);
  const v1::CoverChange* at_a = Effect(plan.proposals(0), "A", kRed);
  ASSERT_NE(at_a, nullptr);
  EXPECT_EQ(at_a->available_before(), 10);
  EXPECT_EQ(at_a->available_after(), 6);

  // With nothing available at A, nothing moves however short B is.
  TestRegion none;
  none.Station("A").Station("B").Road("A", "B", 60);
  v1::StockPosition& held = none.Cell("A", kRed, "B+", 1.0, 6);
  held.set_reserved_quantity(50);
  held.set_quarantined_quantity(50);
  held.set_in_transit_in_quantity(50);
  none.Cell("B", kRed, "B+", 2.0, 6);
  v1::PlanRebalanceResponse nothing = Plan(none.inputs(), Simple());
  EXPECT_EQ(nothing.proposals_size(), 0);
  ASSERT_NE(Summary(nothing, kRed), nullptr);
  EXPECT_EQ(Summary(nothing, kRed)->expected_shortage_before(), 4);
  EXPECT_EQ(Summary(nothing, kRed)->expected_shortage_after(), 4);
}

TEST(PlannerTest, UnitsExpiringBeforeArrivalPlusMarginAreNotMoved) {
  // 6 doses expiring in 10 h, 1 h away from a station that would use them all.
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  TestRegion::Lot(r.Cell("A", kPlatelets, "O+", 0.0), 10, 6, 6);
  TestRegion::Lot(r.Cell("B", kPlatelets, "O+", 20.0), 100, 100, 100);
  PlannerOptions options = Simple();
  options.expiry_safety_margin = absl::Hours(12);  // 10 h < 1 h + 12 h
  v1::PlanRebalanceResponse refused = Plan(r.inputs(), options);
  EXPECT_EQ(refused.proposals_size(), 0);
  ASSERT_NE(Summary(refused, kPlatelets), nullptr);
  EXPECT_EQ(Summary(refused, kPlatelets)->expected_outdate_before(), 6);
  EXPECT_EQ(Summary(refused, kPlatelets)->expected_outdate_after(), 6);

  options.expiry_safety_margin = absl::Hours(6);  // 10 h >= 1 h + 6 h
  v1::PlanRebalanceResponse moved = Plan(r.inputs(), options);
  ASSERT_EQ(moved.proposals_size(), 1);
  EXPECT_EQ(Item(moved.proposals(0), 0).quantity(), 6);
  EXPECT_EQ(Summary(moved, kPlatelets)->expected_outdate_after(), 0);
}

TEST(PlannerTest, DonorKeepsItsParUnlessTheShortageIsCritical) {
  // A: 12 U, par 10, no demand; B: 4 U, 1 U a day, par 6 (4 days of cover: not critical).
  // B wants 4 U (to end the horizon at par 6) but A may give only 12 - 10 = 2.
  auto region = [](int64_t a_par, int b_units, double b_demand) {
    TestRegion r;
    r.Station("A").Station("B").Road("A", "B", 60);
    TestRegion::Lot(r.Cell("A", kRed, "AB-", 0.0, a_par), 480, 12, 12);
    v1::StockPosition& b = r.Cell("B", kRed, "AB-", b_demand, 6);
    if (b_units > 0) TestRegion::Lot(b, 480, b_units, b_units);
    return r;
  };
  TestRegion protected_par = region(10, 4, 1.0);
  v1::PlanRebalanceResponse plan = Plan(protected_par.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 2);

  // Control: without a par at A, B gets the 4 U it wants.
  TestRegion no_par = region(0, 4, 1.0);
  plan = Plan(no_par.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 4);

  // B empty and using 24 U a day: critical (0 days of cover). A may then go below par, down
  // to min(par 10, 1 day x its demand 0) = 0, so all 12 U go.
  TestRegion critical = region(10, 0, 24.0);
  plan = Plan(critical.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 12);
  EXPECT_NE(Reason(plan.proposals(0), v1::REBALANCE_REASON_KIND_SHORTAGE), nullptr);

  // The same with the exception switched off: only the 2 U above par.
  PlannerOptions strict = Simple();
  strict.allow_below_par_for_critical = false;
  plan = Plan(critical.inputs(), strict);
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 2);
}

TEST(PlannerTest, CriticalExceptionKeepsTheDonorsOwnCriticalLevel) {
  // A: 12 U, par 10, uses 0.5 U a day (1 U over the horizon); floor = min(10, 1 x 0.5) = 0.5,
  // so at most 11 bags go, and A still covers its own 1 U of demand.
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  TestRegion::Lot(r.Cell("A", kRed, "A-", 0.5, 10), 480, 12, 12);
  r.Cell("B", kRed, "A-", 24.0, 6);
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 11);
  const v1::CoverChange* at_a = Effect(plan.proposals(0), "A", kRed);
  ASSERT_NE(at_a, nullptr);
  EXPECT_EQ(at_a->expected_shortage_after(), 0);
}

TEST(PlannerTest, GivesSoonestExpiringLotsFirst) {
  // A (no demand) holds 3 U expiring in 40 h and 20 U in 20 days; B has nothing and uses
  // 1 U a day, so it needs 2 U over 48 h plus 3 days of cover at the end. CreateTransfer picks
  // first-expire-first-out, so fresh units go only once the 3 soon-expiring ones are taken:
  // 3 of those (B uses 1.65 of them before they expire) + 4 fresh (3.67 U left at 48 h) = 7.
  // Taking 2 soon-expiring + 4 fresh would be one unit less for the same shortage and
  // outdate, but is not what a first-expire-first-out pick would deliver.
  TestRegion r(48);
  r.Station("A").Station("B").Road("A", "B", 30);
  v1::StockPosition& a = r.Cell("A", kRed, "O+", 0.0);
  TestRegion::Lot(a, 40, 3, 3);
  TestRegion::Lot(a, 480, 20, 20);
  r.Cell("B", kRed, "O+", 1.0);
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 7);
  const v1::CoverChange* at_a = Effect(plan.proposals(0), "A", kRed);
  ASSERT_NE(at_a, nullptr);
  EXPECT_EQ(at_a->available_after(), 16);
  EXPECT_EQ(at_a->expected_outdate_before(), 3);
  EXPECT_EQ(at_a->expected_outdate_after(), 0);
  const v1::CoverChange* at_b = Effect(plan.proposals(0), "B", kRed);
  ASSERT_NE(at_b, nullptr);
  EXPECT_EQ(at_b->expected_outdate_after(), 1);
  EXPECT_EQ(Summary(plan, kRed)->expected_outdate_before(), 3);
  EXPECT_EQ(Summary(plan, kRed)->expected_outdate_after(), 1);
}

// ---------------------------------------------------------------------------------------------
// Trips and transport times.

TEST(PlannerTest, OneTripCarriesSeveralItems) {
  // B is short of O+ red cells and O+ plasma; C (30 min from B) has spare red cells but no
  // plasma (and needs some); A (90 min) has both. Red cells from C would make it three trips
  // (C->B, A->B, A->C); one trip A->B carrying both items makes it two.
  TestRegion r;
  r.Station("A").Station("B").Station("C").Road("A", "B", 90).Road("C", "B", 30).Road("A", "C", 60);
  TestRegion::Lot(r.Cell("A", kRed, "O+", 1.0), 480, 30, 30);
  TestRegion::Lot(r.Cell("A", kPlasma, "O+", 200.0), 300 * 24, 20, 4000);
  TestRegion::Lot(r.Cell("C", kRed, "O+", 1.0), 480, 30, 30);
  r.Cell("C", kPlasma, "O+", 200.0);
  TestRegion::Lot(r.Cell("B", kRed, "O+", 2.0), 480, 4, 4);
  TestRegion::Lot(r.Cell("B", kPlasma, "O+", 200.0), 300 * 24, 1, 200);
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.trips(), 2);
  ASSERT_EQ(plan.proposals_size(), 2);
  const v1::TransferProposal* to_b = nullptr;
  const v1::TransferProposal* to_c = nullptr;
  for (const v1::TransferProposal& p : plan.proposals()) {
    EXPECT_EQ(p.from_station_id(), "A");
    if (p.to_station_id() == "B") to_b = &p;
    if (p.to_station_id() == "C") to_c = &p;
  }
  ASSERT_NE(to_b, nullptr);
  ASSERT_EQ(to_b->items_size(), 2);
  EXPECT_EQ(Item(*to_b, 0).component(), kRed);
  EXPECT_EQ(Item(*to_b, 0).quantity(), 6);  // 4 - 4 + x >= 3 days x 2 U
  EXPECT_EQ(Item(*to_b, 1).component(), kPlasma);
  EXPECT_EQ(Item(*to_b, 1).quantity(), 800);  // 200 - 400 + x >= 600 mL, in 200 mL bags
  ASSERT_NE(to_c, nullptr);
  ASSERT_EQ(to_c->items_size(), 1);
  EXPECT_EQ(Item(*to_c, 0).component(), kPlasma);
  EXPECT_EQ(Item(*to_c, 0).quantity(), 1000);  // 8 mL unmet in the first hour: 992 -> 5 bags
}

TEST(PlannerTest, TransportTimeDelaysTheRelief) {
  // B has nothing and uses 24 U a day (1 U an hour); A is 6 h away. Whatever A sends, the
  // first 6 h of demand at B go unmet.
  TestRegion r(24);
  r.Station("A").Station("B").Road("A", "B", 360);
  TestRegion::Lot(r.Cell("A", kRed, "O-", 0.0), 480, 100, 100, 24);
  r.Cell("B", kRed, "O-", 24.0);
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  // 18 U used over the rest of the horizon + 3 days x 24 U left at its end.
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 90);
  const v1::CoverChange* at_b = Effect(plan.proposals(0), "B", kRed);
  ASSERT_NE(at_b, nullptr);
  EXPECT_EQ(at_b->expected_shortage_before(), 24);
  EXPECT_EQ(at_b->expected_shortage_after(), 6);
  EXPECT_EQ(plan.proposals(0).transport_minutes(), 360);
}

TEST(PlannerTest, NearerStationChosenWhenOnlyItArrivesBeforeExpiry) {
  // Doses expiring in 20 h with a 12 h margin: C (30 min) is reachable, B (10 h) is not,
  // although B uses more.
  TestRegion r;
  r.Station("A")
      .Station("B")
      .Station("C")
      .Road("A", "B", 600)
      .Road("A", "C", 30)
      .Road("B", "C", 600);
  TestRegion::Lot(r.Cell("A", kPlatelets, "AB+", 0.0), 20, 4, 4);
  TestRegion::Lot(r.Cell("B", kPlatelets, "AB+", 12.0), 100, 100, 100);
  TestRegion::Lot(r.Cell("C", kPlatelets, "AB+", 6.0), 100, 40, 40);
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(plan.proposals(0).to_station_id(), "C");
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 4);
  EXPECT_EQ(Summary(plan, kPlatelets)->expected_outdate_after(), 0);
}

TEST(PlannerTest, TransfersArrivingAfterTheHorizonAreNotProposed) {
  TestRegion r(4);
  r.Station("A").Station("B").Road("A", "B", 300);  // 5 h > 4 h horizon
  TestRegion::Lot(r.Cell("A", kRed, "O-", 0.0), 480, 50, 50, 4);
  r.Cell("B", kRed, "O-", 24.0);
  EXPECT_EQ(Plan(r.inputs(), Simple()).proposals_size(), 0);
}

// ---------------------------------------------------------------------------------------------
// Ordering, filters, determinism.

TEST(PlannerTest, ShortageProposalsComeBeforeOutdateOnes) {
  TestRegion r;
  r.Station("A").Station("B").Station("C").Road("A", "B", 60).Road("A", "C", 60).Road("B", "C", 60);
  // Outdate: C's platelets to B. Shortage: A's red cells to C.
  TestRegion::Lot(r.Cell("C", kPlatelets, "O+", 0.0), 30, 3, 3);
  TestRegion::Lot(r.Cell("B", kPlatelets, "O+", 8.0), 100, 50, 50);
  TestRegion::Lot(r.Cell("A", kRed, "A+", 0.0), 480, 30, 30);
  TestRegion::Lot(r.Cell("C", kRed, "A+", 2.0), 480, 2, 2);
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), Simple());
  ASSERT_EQ(plan.proposals_size(), 2);
  EXPECT_EQ(plan.proposals(0).proposal_id(), "P1");
  EXPECT_EQ(plan.proposals(0).from_station_id(), "A");
  EXPECT_EQ(plan.proposals(0).to_station_id(), "C");
  EXPECT_EQ(plan.proposals(0).reasons(0).kind(), v1::REBALANCE_REASON_KIND_SHORTAGE);
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 8);  // 2 - 4 + x >= 6
  EXPECT_EQ(plan.proposals(1).proposal_id(), "P2");
  EXPECT_EQ(plan.proposals(1).from_station_id(), "C");
  EXPECT_EQ(plan.proposals(1).reasons(0).kind(), v1::REBALANCE_REASON_KIND_OUTDATE_RISK);
  EXPECT_EQ(Item(plan.proposals(1), 0).quantity(), 3);
}

TEST(PlannerTest, StationFilterKeepsOnlyItsProposals) {
  TestRegion r;
  r.Station("A").Station("B").Station("C").Station("D");
  r.Road("A", "B", 60).Road("C", "D", 60).Road("A", "C", 60).Road("A", "D", 60);
  r.Road("B", "C", 60).Road("B", "D", 60);
  TestRegion::Lot(r.Cell("A", kRed, "O+", 0.0), 480, 30, 30);
  r.Cell("B", kRed, "O+", 2.0);
  TestRegion::Lot(r.Cell("C", kRed, "B+", 0.0), 480, 30, 30);
  r.Cell("D", kRed, "B+", 2.0);
  v1::PlanRebalanceResponse all = Plan(r.inputs(), Simple());
  EXPECT_EQ(all.proposals_size(), 2);
  PlannerOptions only_d = Simple();
  only_d.station_id = "D";
  v1::PlanRebalanceResponse plan = Plan(r.inputs(), only_d);
  ASSERT_EQ(plan.proposals_size(), 1);
  EXPECT_EQ(plan.proposals(0).from_station_id(), "C");
  EXPECT_EQ(plan.proposals(0).to_station_id(), "D");
  EXPECT_EQ(Item(plan.proposals(0), 0).quantity(), 10);  // 0 - 4 + x >= 6
}

TEST(PlannerTest, InactiveStationsAreLeftOut) {
  TestRegion r;
  r.Station("A", /*active=*/false).Station("B").Road("A", "B", 60);
  TestRegion::Lot(r.Cell("A", kRed, "O+", 0.0), 480, 30, 30);
  r.Cell("B", kRed, "O+", 2.0);
  EXPECT_EQ(Plan(r.inputs(), Simple()).proposals_size(), 0);
}

// A region of six stations with random stock, demand and par levels (fixed seed).
v1::GetRebalanceInputsResponse RandomRegion(std::mt19937& rng) {
  TestRegion r(72);
  const std::vector<std::string> stations = {"S1", "S2", "S3", "S4", "S5", "S6"};
  for (const std::string& s : stations) r.Station(s);
  for (size_t i = 0; i < stations.size(); ++i) {
    for (size_t j = i + 1; j < stations.size(); ++j) {
      r.Road(stations[i], stations[j], 20 + static_cast<int>(rng() % 120));
    }
  }
  for (const std::string& s : stations) {
    for (const char* type : {"O+", "A+", "B+", "O-"}) {
      const double red_demand = 0.5 + static_cast<double>(rng() % 40) / 10.0;
      const int64_t red_par = rng() % 8;
      v1::StockPosition& red = r.Cell(s, kRed, type, red_demand, red_par);
      const double hours = 200.0 + static_cast<double>(rng() % 400);
      const int bags = static_cast<int>(rng() % 15) + 1;
      TestRegion::Lot(red, hours, bags, 2 * bags, 72);
      const double plt_demand = static_cast<double>(rng() % 30) / 10.0;
      const int64_t plt_par = rng() % 3;
      v1::StockPosition& plt = r.Cell(s, kPlatelets, type, plt_demand, plt_par);
      for (int k = 0; k < 3; ++k) {
        const int doses = static_cast<int>(rng() % 5);
        if (doses > 0) TestRegion::Lot(plt, 20 + 30 * k, doses, doses, 72);
      }
    }
  }
  return r.inputs();
}

TEST(PlannerTest, SameInputSameOutputWhateverTheOrder) {
  std::mt19937 rng(7);
  const v1::GetRebalanceInputsResponse inputs = RandomRegion(rng);
  v1::PlanRebalanceResponse first = Plan(inputs, PlannerOptions());
  v1::PlanRebalanceResponse second = Plan(inputs, PlannerOptions());
  EXPECT_GT(first.proposals_size(), 0);
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());

  v1::GetRebalanceInputsResponse shuffled = inputs;
  std::shuffle(shuffled.mutable_positions()->begin(), shuffled.mutable_positions()->end(), rng);
  std::shuffle(shuffled.mutable_stations()->begin(), shuffled.mutable_stations()->end(), rng);
  std::shuffle(shuffled.mutable_transport_times()->begin(),
               shuffled.mutable_transport_times()->end(), rng);
  v1::PlanRebalanceResponse third = Plan(shuffled, PlannerOptions());
  EXPECT_EQ(first.SerializeAsString(), third.SerializeAsString());
  // Lexicographic: the plan never makes the region's expected shortage or outdate worse.
  for (const v1::ComponentEffect& e : first.summary()) {
    EXPECT_LE(e.expected_shortage_after(), e.expected_shortage_before());
  }
}

TEST(PlannerTest, ConcurrentPlansAreTheSame) {
  std::mt19937 rng(11);
  const v1::GetRebalanceInputsResponse inputs = RandomRegion(rng);
  const std::string expected = Plan(inputs, PlannerOptions()).SerializeAsString();
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (std::string& result : results) {
    threads.emplace_back([&inputs, &result] {
      absl::StatusOr<v1::PlanRebalanceResponse> plan = PlanRebalance(inputs, PlannerOptions());
      if (plan.ok()) result = plan->SerializeAsString();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& result : results) EXPECT_EQ(result, expected);
}

// ---------------------------------------------------------------------------------------------
// Bad input.

TEST(PlannerTest, BadInputIsInvalidArgumentNamingTheField) {
  TestRegion r;
  r.Station("A").Station("B").Road("A", "B", 60);
  r.Cell("A", kRed, "O+", 1.0);

  auto error = [](const v1::GetRebalanceInputsResponse& in, const PlannerOptions& o) {
    absl::StatusOr<v1::PlanRebalanceResponse> plan = PlanRebalance(in, o);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(plan.status().message());
  };
  v1::GetRebalanceInputsResponse in = r.inputs();
  in.set_horizon_hours(0);
  EXPECT_THAT(error(in, Simple()), StartsWith("horizon_hours: must be 1..336"));
  in.set_horizon_hours(337);
  EXPECT_THAT(error(in, Simple()), StartsWith("horizon_hours:"));

  in = r.inputs();
  in.clear_as_of();
  EXPECT_THAT(error(in, Simple()), StartsWith("as_of:"));

  PlannerOptions unknown = Simple();
  unknown.station_id = "Z";
  EXPECT_THAT(error(r.inputs(), unknown), StartsWith("station_id: unknown"));

  in = r.inputs();
  in.mutable_positions(0)->set_station_id("Z");
  EXPECT_THAT(error(in, Simple()), StartsWith("positions[0].station_id: unknown station Z"));

  in = r.inputs();
  in.mutable_positions(0)->mutable_blood_type()->set_rhd(v1::RH_D_UNSPECIFIED);
  EXPECT_THAT(error(in, Simple()), StartsWith("positions[0].blood_type:"));

  in = r.inputs();
  in.mutable_positions(0)->set_component(v1::COMPONENT_UNSPECIFIED);
  EXPECT_THAT(error(in, Simple()), StartsWith("positions[0].component:"));

  in = r.inputs();
  in.mutable_positions(0)->set_daily_demand(-1);
  EXPECT_THAT(error(in, Simple()), StartsWith("positions[0].daily_demand:"));

  in = r.inputs();
  TestRegion::Lot(*in.mutable_positions(0), 100, 0, 5);
  EXPECT_THAT(error(in, Simple()), StartsWith("positions[0].available_lots[0].count:"));

  in = r.inputs();
  *in.add_positions() = in.positions(0);
  EXPECT_THAT(error(in, Simple()), HasSubstr("listed twice"));

  in = r.inputs();
  in.mutable_transport_times(0)->set_minutes(-5);
  EXPECT_THAT(error(in, Simple()), StartsWith("transport_times[0].minutes:"));

  in = r.inputs();
  *in.add_transport_times() = in.transport_times(0);
  EXPECT_THAT(error(in, Simple()), StartsWith("transport_times[2]:"));

  in = r.inputs();
  in.mutable_positions(0)->set_par_target(-1);
  EXPECT_THAT(error(in, Simple()), StartsWith("positions[0].par_target:"));

  PlannerOptions bad = Simple();
  bad.horizon_hours = 49;  // the inputs read 48 h ahead
  EXPECT_THAT(error(r.inputs(), bad), StartsWith("options.horizon_hours: must be 0..48"));
  bad = Simple();
  bad.min_days_of_cover = -1;
  EXPECT_THAT(error(r.inputs(), bad), StartsWith("options.min_days_of_cover:"));
  bad = Simple();
  bad.cover_safety_factor = -0.5;
  EXPECT_THAT(error(r.inputs(), bad), StartsWith("options.cover_safety_factor:"));
  bad = Simple();
  bad.quarantine_release_fraction = 1.5;
  EXPECT_THAT(error(r.inputs(), bad), StartsWith("options.quarantine_release_fraction:"));
  bad = Simple();
  bad.expiry_safety_margin = -absl::Hours(1);
  EXPECT_THAT(error(r.inputs(), bad), StartsWith("options.expiry_safety_margin:"));
}

// ---------------------------------------------------------------------------------------------
// The pieces.

TEST(StockProjectionTest, ServesFirstExpireFirstOut) {
  // 1 U an hour for 48 h. 10 U expiring at 5 h (5 used, 5 outdated), 20 U beyond, 8 U
  // arriving at 30 h beyond: 43 of the 48 h are served (5 from the first lot, 20, then 8 from
  // 30 h... the beyond stock runs out at 25 h, nothing until 30 h).
  std::vector<SupplySource> sources = {
      {0.0, 5.0, 10.0}, {0.0, kNeverExpires, 20.0}, {30.0, kNeverExpires, 8.0}};
  StockProjection p = ProjectStock(sources, 24.0, 48.0);
  EXPECT_DOUBLE_EQ(p.demand, 48.0);
  EXPECT_DOUBLE_EQ(p.served, 33.0);
  EXPECT_DOUBLE_EQ(p.unmet, 15.0);
  EXPECT_DOUBLE_EQ(p.outdated, 5.0);
  EXPECT_DOUBLE_EQ(p.end_stock, 0.0);
  EXPECT_DOUBLE_EQ(p.served_by_source[0], 5.0);
  EXPECT_DOUBLE_EQ(p.served_by_source[1], 20.0);
  EXPECT_DOUBLE_EQ(p.served_by_source[2], 8.0);

  StockProjection idle = ProjectStock({{0.0, 10.0, 4.0}, {0.0, kNeverExpires, 6.0}}, 0.0, 48.0);
  EXPECT_DOUBLE_EQ(idle.outdated, 4.0);
  EXPECT_DOUBLE_EQ(idle.end_stock, 6.0);
  EXPECT_DOUBLE_EQ(idle.unmet, 0.0);
}

TEST(StockProjectionTest, SourcesArrivingAfterTheHorizonAreIgnored) {
  StockProjection p = ProjectStock({{50.0, kNeverExpires, 10.0}}, 12.0, 48.0);
  EXPECT_DOUBLE_EQ(p.unmet, 24.0);
  EXPECT_DOUBLE_EQ(p.end_stock, 0.0);
}

TEST(EstimateDailyDemandTest, WindowAverageWithParFloor) {
  EXPECT_DOUBLE_EQ(EstimateDailyDemand(56, 28, 0, 7.0), 2.0);
  EXPECT_DOUBLE_EQ(EstimateDailyDemand(0, 28, 14, 7.0), 2.0);   // new station: par floor
  EXPECT_DOUBLE_EQ(EstimateDailyDemand(84, 28, 14, 7.0), 3.0);  // history above the floor
  EXPECT_DOUBLE_EQ(EstimateDailyDemand(0, 28, 14, 0.0), 0.0);   // no floor
  EXPECT_DOUBLE_EQ(EstimateDailyDemand(10, 0, 0, 7.0), 0.0);
}

TEST(PlannerOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidatePlannerOptions(PlannerOptions()).ok());
  PlannerOptions o;
  o.max_solver_nodes = 0;
  EXPECT_THAT(std::string(ValidatePlannerOptions(o).message()),
              StartsWith("options.max_solver_nodes:"));
  o = PlannerOptions();
  o.min_days_of_cover_by_component[v1::COMPONENT_UNSPECIFIED] = 1.0;
  EXPECT_THAT(std::string(ValidatePlannerOptions(o).message()),
              StartsWith("options.min_days_of_cover_by_component:"));
}

}  // namespace
}  // namespace bloodgrid::planner
