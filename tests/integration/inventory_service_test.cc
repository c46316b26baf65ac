// InventoryService end to end: the real server in-process against a fresh schema on the test
// MariaDB, called through a real gRPC stub. Every RPC, its refusals (with the field named and
// nothing written), idempotent retries, the sweepers, and the stock stream.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/integration/inventory_test_support.h"

namespace bloodgrid::inventory::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using Stub = v1::InventoryService::Stub;

#define EXPECT_INVALID(status, field)                                                     \
  do {                                                                                    \
    const grpc::Status s_ = (status);                                                     \
    EXPECT_EQ(s_.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s_.error_message(); \
    EXPECT_THAT(s_.error_message(), StartsWith(std::string(field) + ":"));                \
  } while (false)

std::vector<std::string> UnitIds(const google::protobuf::RepeatedPtrField<v1::Unit>& units) {
  std::vector<std::string> ids;
  for (const v1::Unit& unit : units) ids.push_back(unit.unit_id());
  return ids;
}

class InventoryServiceTest : public InventoryServerTest {
 protected:
  v1::Unit GetUnit(const std::string& unit_id) {
    v1::GetUnitRequest request;
    request.set_unit_id(unit_id);
    v1::Unit unit;
    grpc::Status status = Call(&Stub::GetUnit, request, &unit);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return unit;
  }

  v1::Reservation Reserve(const v1::ReserveRequest& request) {
    v1::Reservation reservation;
    grpc::Status status = Call(&Stub::Reserve, request, &reservation);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reservation;
  }

  // A unit whose expiry is `days` days (plus the rest of today) from the test's now.
  v1::Unit AvailableExpiringIn(const std::string& station, v1::BloodType type, int days,
                               int volume_ml = 200) {
    return AvailableUnit(station, type, volume_ml, clock_.Now() - absl::Hours(24) * (35 - days));
  }

  std::vector<v1::StockLevel> Summary(const std::string& station) {
    v1::GetStockSummaryRequest request;
    request.set_station_id(station);
    v1::GetStockSummaryResponse response;
    grpc::Status status = Call(&Stub::GetStockSummary, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.levels().begin(), response.levels().end()};
  }

  static const v1::StockLevel* Row(const std::vector<v1::StockLevel>& rows,
                                   const std::string& station, v1::Component component,
                                   v1::BloodType type) {
    for (const v1::StockLevel& level : rows) {
      if (level.station_id() == station && level.component() == component &&
          level.blood_type().abo() == type.abo() && level.blood_type().rhd() == type.rhd()) {
        return &level;
      }
    }
    return nullptr;
  }
};

// ---------------------------------------------------------------------------------------------
// Stations and par levels

TEST_F(InventoryServiceTest, StationsAndParLevels) {
  const v1::Station central = AddStation("CENTRAL", true, 39.9, 116.4);
  EXPECT_EQ(central.name(), "Station CENTRAL");
  EXPECT_TRUE(central.has_created_at());
  AddStation("BR-1");
  AddStation("BR-2", false);

  v1::GetStationRequest get;
  get.set_station_id("CENTRAL");
  v1::Station got;
  ASSERT_TRUE(Call(&Stub::GetStation, get, &got).ok());
  EXPECT_NEAR(got.location().latitude(), 39.9, 1e-9);
  get.set_station_id("NOPE");
  EXPECT_EQ(Call(&Stub::GetStation, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::ListStationsRequest list;
  list.set_page_size(2);
  v1::ListStationsResponse page;
  ASSERT_TRUE(Call(&Stub::ListStations, list, &page).ok());
  ASSERT_EQ(page.stations_size(), 2);
  EXPECT_EQ(page.stations(0).station_id(), "BR-1");
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  ASSERT_TRUE(Call(&Stub::ListStations, list, &page).ok());
  ASSERT_EQ(page.stations_size(), 1);
  EXPECT_EQ(page.stations(0).station_id(), "CENTRAL");
  EXPECT_TRUE(page.next_page_token().empty());

  // The same content again changes nothing (not even updated_at).
  clock_.Advance(absl::Minutes(5));
  v1::UpsertStationRequest same;
  same.set_request_id(NextRequestId());
  *same.mutable_station() = central;
  v1::Station unchanged;
  ASSERT_TRUE(Call(&Stub::UpsertStation, same, &unchanged).ok());
  EXPECT_EQ(unchanged.updated_at().seconds(), central.updated_at().seconds());
  same.set_request_id(NextRequestId());
  same.mutable_station()->set_name("Central Blood Station");
  ASSERT_TRUE(Call(&Stub::UpsertStation, same, &unchanged).ok());
  EXPECT_EQ(unchanged.name(), "Central Blood Station");
  EXPECT_GT(unchanged.updated_at().seconds(), central.updated_at().seconds());

  v1::SetParLevelRequest par;
  par.set_request_id(NextRequestId());
  par.set_station_id("CENTRAL");
  par.set_component(v1::COMPONENT_RED_CELLS);
  *par.mutable_blood_type() = ONeg();
  par.set_minimum(4);
  par.set_target(8);
  v1::ParLevel level;
  ASSERT_TRUE(Call(&Stub::SetParLevel, par, &level).ok());
  EXPECT_EQ(level.target(), 8);
  v1::ListParLevelsRequest list_par;
  list_par.set_station_id("CENTRAL");
  v1::ListParLevelsResponse levels;
  ASSERT_TRUE(Call(&Stub::ListParLevels, list_par, &levels).ok());
  ASSERT_EQ(levels.par_levels_size(), 1);
  EXPECT_EQ(levels.par_levels(0).minimum(), 4);

  // Refusals write nothing.
  const std::string before = TableFingerprint();
  v1::SetParLevelRequest bad = par;
  bad.set_request_id(NextRequestId());
  bad.set_station_id("NOPE");
  EXPECT_EQ(Call(&Stub::SetParLevel, bad, &level).error_code(), grpc::StatusCode::NOT_FOUND);
  bad = par;
  bad.set_request_id(NextRequestId());
  bad.mutable_blood_type()->clear_rhd();
  EXPECT_INVALID(Call(&Stub::SetParLevel, bad, &level), "blood_type");
  bad = par;
  bad.set_request_id(NextRequestId());
  bad.set_target(3);
  EXPECT_INVALID(Call(&Stub::SetParLevel, bad, &level), "target");
  bad = par;
  bad.set_request_id("has spaces");
  EXPECT_INVALID(Call(&Stub::SetParLevel, bad, &level), "request_id");
  bad = par;  // the same request_id for another request
  bad.set_minimum(5);
  EXPECT_INVALID(Call(&Stub::SetParLevel, bad, &level), "request_id");
  v1::UpsertStationRequest bad_station;
  bad_station.set_request_id(NextRequestId());
  bad_station.mutable_station()->set_station_id("bad id");
  EXPECT_INVALID(Call(&Stub::UpsertStation, bad_station, &got), "station.station_id");
  bad_station.mutable_station()->set_station_id("BR-3");
  bad_station.mutable_station()->set_name("Branch 3");
  EXPECT_INVALID(Call(&Stub::UpsertStation, bad_station, &got), "station.kind");
  bad_station.mutable_station()->set_kind(v1::STATION_KIND_BRANCH);
  bad_station.mutable_station()->mutable_location()->set_latitude(91);
  EXPECT_INVALID(Call(&Stub::UpsertStation, bad_station, &got), "station.location.latitude");
  bad_station.clear_request_id();
  EXPECT_INVALID(Call(&Stub::UpsertStation, bad_station, &got), "request_id");
  EXPECT_EQ(TableFingerprint(), before);

  // A replay of the first SetParLevel returns its result.
  v1::ParLevel replay;
  ASSERT_TRUE(Call(&Stub::SetParLevel, par, &replay).ok());
  EXPECT_EQ(replay.SerializeAsString(), level.SerializeAsString());
}

// ---------------------------------------------------------------------------------------------
// Collection

TEST_F(InventoryServiceTest, RegisterCollectionCreatesAQuarantinedUnit) {
  AddStation("CENTRAL");
  AddStation("CLOSED", false);
  const std::string din = NewDin();
  const absl::Time collected = clock_.Now() - absl::Hours(3);  // 2025-06-01 05:00 UTC
  v1::RegisterCollectionRequest request = CollectionRequest(
      din, "D-1", "CENTRAL", OPos(), v1::DONATION_TYPE_WHOLE_BLOOD, 400, collected);
  v1::RegisterCollectionResponse first;
  ASSERT_TRUE(Call(&Stub::RegisterCollection, request, &first).ok());
  EXPECT_TRUE(first.created());
  const v1::Unit& unit = first.unit();
  EXPECT_EQ(unit.unit_id(), din + "-WB0");
  EXPECT_EQ(unit.status(), v1::UNIT_STATUS_QUARANTINED);
  EXPECT_EQ(unit.hold(), v1::UNIT_HOLD_TESTING);
  EXPECT_EQ(unit.component(), v1::COMPONENT_WHOLE_BLOOD);
  EXPECT_EQ(unit.quantity(), 2);  // 400 mL = 2 U
  // CPDA-1 (default) 35 days, day 0 = collection day, ends 23:59 (UTC region here).
  EXPECT_EQ(FromTimestamp(unit.expires_at()),
            absl::FromCivil(absl::CivilMinute(2025, 7, 6, 23, 59), absl::UTCTimeZone()));
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM unit_events WHERE kind = 1"), 1);

  // Replaying the request returns the first answer; the same DIN for the same donor under a
  // new request_id returns the unit (created = false) and adds nothing.
  v1::RegisterCollectionResponse again;
  ASSERT_TRUE(Call(&Stub::RegisterCollection, request, &again).ok());
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  request.set_request_id(NextRequestId());
  ASSERT_TRUE(Call(&Stub::RegisterCollection, request, &again).ok());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.unit().unit_id(), unit.unit_id());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM units"), 1);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM unit_events"), 1);

  // The DIN typed with its check character and grouped as printed is the same DIN.
  const Din parsed = *ParseDin(din);
  request.set_request_id(NextRequestId());
  request.set_din(absl::StrCat(parsed.Printed(), " ", std::string(1, parsed.CheckCharacter())));
  ASSERT_TRUE(Call(&Stub::RegisterCollection, request, &again).ok());
  EXPECT_FALSE(again.created());

  const std::string before = TableFingerprint();
  v1::RegisterCollectionRequest other_donor = request;
  other_donor.set_request_id(NextRequestId());
  other_donor.set_donor_id("D-2");
  EXPECT_EQ(Call(&Stub::RegisterCollection, other_donor, &again).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  struct Bad {
    std::string field;
    std::function<void(v1::RegisterCollectionRequest&)> spoil;
    grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
  };
  const std::vector<Bad> bad = {
      {"din", [&](auto& r) { r.set_din(din.substr(0, 12)); }},
      {"din",
       [&](auto& r) {
         const char wrong = parsed.CheckCharacter() == '0' ? '1' : '0';
         r.set_din(din + std::string(1, wrong));
       }},
      {"station_id", [](auto& r) { r.set_station_id("NOWHERE"); }},
      // Past the clock skew the donor service allows too (common/donation_rules.h).
      {"collected_at",
       [&](auto& r) {
         *r.mutable_collected_at() = Ts(clock_.Now() + absl::Minutes(1) + absl::Seconds(1));
       }},
      {"volume_ml", [](auto& r) { r.set_volume_ml(-5); }},
      {"donation_type", [](auto& r) { r.clear_donation_type(); }},
      {"request_id", [](auto& r) { r.set_request_id("bad id!"); }},
      {"request_id", [](auto& r) { r.clear_request_id(); }},
      {"", [](auto& r) { r.set_station_id("CLOSED"); }, grpc::StatusCode::FAILED_PRECONDITION},
  };
  for (const Bad& b : bad) {
    v1::RegisterCollectionRequest spoiled = CollectionRequest(
        NewDin(), "D-3", "CENTRAL", OPos(), v1::DONATION_TYPE_WHOLE_BLOOD, 400, collected);
    b.spoil(spoiled);
    grpc::Status status = Call(&Stub::RegisterCollection, spoiled, &again);
    EXPECT_EQ(status.error_code(), b.code) << b.field << ": " << status.error_message();
    if (!b.field.empty()) {
      EXPECT_THAT(status.error_message(), StartsWith(b.field + ":"));
    }
  }
  EXPECT_EQ(TableFingerprint(), before);

  // Apheresis platelets: one dose, 5 days.
  v1::Unit platelets = Collect(NewDin(), "D-4", "CENTRAL", ANeg(),
                               v1::DONATION_TYPE_APHERESIS_PLATELETS, 250, collected);
  EXPECT_EQ(platelets.component(), v1::COMPONENT_PLATELETS);
  EXPECT_EQ(platelets.quantity(), 1);
  EXPECT_EQ(FromTimestamp(platelets.expires_at()),
            absl::FromCivil(absl::CivilMinute(2025, 6, 6, 23, 59), absl::UTCTimeZone()));
}

// ---------------------------------------------------------------------------------------------
// Testing and release

TEST_F(InventoryServiceTest, TestResultsReleaseTheDonation) {
  AddStation("CENTRAL");
  const std::string din = NewDin();
  Collect(din, "D-1", "CENTRAL", v1::BloodType());  // type not known at collection

  v1::RecordTestResultsRequest partial;
  partial.set_request_id(NextRequestId());
  partial.set_din(din);
  partial.add_results()->set_test(v1::SCREENING_TEST_ALT);
  partial.add_results()->set_test(v1::SCREENING_TEST_HBSAG);
  v1::RecordTestResultsResponse response;
  ASSERT_TRUE(Call(&Stub::RecordTestResults, partial, &response).ok());
  EXPECT_EQ(response.outcome(), v1::TESTING_OUTCOME_PENDING);
  EXPECT_EQ(response.donor_id(), "D-1");
  EXPECT_THAT(response.pending_tests(),
              ElementsAre(v1::SCREENING_TEST_ANTI_HCV, v1::SCREENING_TEST_ANTI_HIV,
                          v1::SCREENING_TEST_SYPHILIS, v1::SCREENING_TEST_ABO_RHD));
  EXPECT_EQ(GetUnit(din + "-WB0").status(), v1::UNIT_STATUS_QUARANTINED);

  response = ReleaseDin(din, APos());
  EXPECT_EQ(response.outcome(), v1::TESTING_OUTCOME_RELEASED);
  EXPECT_EQ(response.results_size(), 6);
  EXPECT_TRUE(response.pending_tests().empty());
  ASSERT_EQ(response.released_units_size(), 1);
  EXPECT_EQ(response.released_units(0).status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(response.released_units(0).blood_type().abo(), v1::ABO_GROUP_A);
  EXPECT_FALSE(response.blood_type_changed());  // nothing was known at collection
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM test_results"), 6);

  // The same results again: a no-op.
  response = ReleaseDin(din, APos());
  EXPECT_EQ(response.outcome(), v1::TESTING_OUTCOME_RELEASED);
  EXPECT_TRUE(response.released_units().empty());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM test_results"), 6);

  // Typing that differs from the collection's: reported, and the unit carries the typed one.
  const std::string other = NewDin();
  Collect(other, "D-2", "CENTRAL", OPos());
  response = ReleaseDin(other, APos());
  EXPECT_TRUE(response.blood_type_changed());
  EXPECT_EQ(GetUnit(other + "-WB0").blood_type().abo(), v1::ABO_GROUP_A);

  // A different result needs a correction reason; bad requests and unknown DINs write nothing.
  const std::string before = TableFingerprint();
  v1::RecordTestResultsRequest correction;
  correction.set_request_id(NextRequestId());
  correction.set_din(din);
  v1::TestResultInput* alt = correction.add_results();
  alt->set_test(v1::SCREENING_TEST_ALT);
  alt->set_reactive(true);
  grpc::Status status = Call(&Stub::RecordTestResults, correction, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("correction_reason"));
  v1::RecordTestResultsRequest unknown = partial;
  unknown.set_request_id(NextRequestId());
  unknown.set_din(NewDin());
  EXPECT_EQ(Call(&Stub::RecordTestResults, unknown, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::RecordTestResultsRequest bad = partial;
  bad.set_request_id(NextRequestId());
  bad.set_din("A99992");
  EXPECT_INVALID(Call(&Stub::RecordTestResults, bad, &response), "din");
  bad.set_din(din);
  bad.clear_results();
  EXPECT_INVALID(Call(&Stub::RecordTestResults, bad, &response), "results");
  bad.add_results()->set_test(v1::SCREENING_TEST_ABO_RHD);
  EXPECT_INVALID(Call(&Stub::RecordTestResults, bad, &response), "results[0].blood_type");
  EXPECT_EQ(TableFingerprint(), before);
}

TEST_F(InventoryServiceTest, ReactiveResultDiscardsEveryUnitOfTheDonation) {
  AddStation("CENTRAL");
  const std::string din = NewDin();
  Collect(din, "D-9", "CENTRAL", ONeg(), v1::DONATION_TYPE_WHOLE_BLOOD, 400);
  v1::ProcessDonationRequest process;
  process.set_request_id(NextRequestId());
  process.set_din(din);
  process.add_components()->set_component(v1::COMPONENT_RED_CELLS);
  v1::ComponentSpec* plasma = process.add_components();
  plasma->set_component(v1::COMPONENT_PLASMA);
  plasma->set_volume_ml(200);
  v1::ProcessDonationResponse processed;
  ASSERT_TRUE(Call(&Stub::ProcessDonation, process, &processed).ok());
  ASSERT_EQ(processed.children_size(), 2);
  EXPECT_EQ(processed.children(0).status(), v1::UNIT_STATUS_QUARANTINED);  // inherits testing hold

  v1::RecordTestResultsRequest reactive = AllClearRequest(din, ONeg());
  reactive.mutable_results(2)->set_reactive(true);  // anti-HCV
  v1::RecordTestResultsResponse response;
  ASSERT_TRUE(Call(&Stub::RecordTestResults, reactive, &response).ok());
  EXPECT_EQ(response.outcome(), v1::TESTING_OUTCOME_REACTIVE);
  EXPECT_EQ(response.donor_id(), "D-9");
  EXPECT_THAT(response.reactive_tests(), ElementsAre(v1::SCREENING_TEST_ANTI_HCV));
  EXPECT_THAT(UnitIds(response.discarded_units()),
              UnorderedElementsAre(din + "-RC1", din + "-PL1"));
  for (const v1::Unit& unit : response.discarded_units()) {
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_DISCARDED);
    EXPECT_EQ(unit.discard_reason(), v1::DISCARD_REASON_REACTIVE_TEST);
  }
  EXPECT_TRUE(response.released_units().empty());

  // A correction back to non-reactive never revives a discarded unit.
  v1::RecordTestResultsRequest correction;
  correction.set_request_id(NextRequestId());
  correction.set_din(din);
  v1::TestResultInput* hcv = correction.add_results();
  hcv->set_test(v1::SCREENING_TEST_ANTI_HCV);
  hcv->set_reactive(false);
  hcv->set_correction_reason("retest non-reactive");
  ASSERT_TRUE(Call(&Stub::RecordTestResults, correction, &response).ok());
  EXPECT_EQ(response.outcome(), v1::TESTING_OUTCOME_RELEASED);
  EXPECT_TRUE(response.released_units().empty());
  EXPECT_EQ(GetUnit(din + "-RC1").status(), v1::UNIT_STATUS_DISCARDED);

  v1::GetUnitTraceRequest trace_request;
  trace_request.set_din(din);
  v1::GetUnitTraceResponse trace;
  ASSERT_TRUE(Call(&Stub::GetUnitTrace, trace_request, &trace).ok());
  EXPECT_EQ(trace.test_results_size(), 7);  // 6 first results + the correction
  int superseded = 0;
  for (const v1::TestResult& result : trace.test_results())
    superseded += result.superseded() ? 1 : 0;
  EXPECT_EQ(superseded, 1);
  EXPECT_EQ(trace.test_results(6).correction_reason(), "retest non-reactive");
  EXPECT_FALSE(trace.test_results(6).corrects_result_id().empty());
}

// ---------------------------------------------------------------------------------------------
// Processing

TEST_F(InventoryServiceTest, ProcessDonationMakesComponents) {
  AddStation("CENTRAL");
  const v1::Unit whole = AvailableUnit("CENTRAL", ONeg(), 400);
  const std::string din = whole.din();
  v1::ProcessDonationRequest process;
  process.set_request_id(NextRequestId());
  process.set_din(din);
  process.add_components()->set_component(v1::COMPONENT_RED_CELLS);
  v1::ComponentSpec* plasma = process.add_components();
  plasma->set_component(v1::COMPONENT_PLASMA);
  plasma->set_volume_ml(200);
  process.add_components()->set_component(v1::COMPONENT_PLATELETS);
  v1::ProcessDonationResponse response;
  ASSERT_TRUE(Call(&Stub::ProcessDonation, process, &response).ok());
  EXPECT_EQ(response.parent().status(), v1::UNIT_STATUS_PROCESSED);
  ASSERT_EQ(response.children_size(), 3);
  EXPECT_EQ(response.children(0).unit_id(), din + "-RC1");
  EXPECT_EQ(response.children(0).quantity(), 2);
  EXPECT_EQ(response.children(0).expires_at().seconds(), whole.expires_at().seconds());
  EXPECT_EQ(response.children(1).unit_id(), din + "-PL1");
  EXPECT_EQ(response.children(1).quantity(), 200);
  EXPECT_GT(response.children(1).expires_at().seconds(),
            whole.expires_at().seconds() + 300 * 86400);  // plasma keeps a year
  EXPECT_EQ(response.children(2).quantity(), 1);
  for (const v1::Unit& child : response.children()) {
    EXPECT_EQ(child.status(), v1::UNIT_STATUS_AVAILABLE);
    EXPECT_EQ(child.parent_unit_id(), whole.unit_id());
    EXPECT_EQ(child.donor_id(), whole.donor_id());
    EXPECT_EQ(child.blood_type().rhd(), v1::RH_D_NEGATIVE);
  }

  const std::string before = TableFingerprint();
  process.set_request_id(NextRequestId());
  grpc::Status status = Call(&Stub::ProcessDonation, process, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("PROCESSED"));
  const v1::Unit apheresis = AvailableUnit("CENTRAL", ONeg(), 250, absl::InfinitePast(),
                                           v1::DONATION_TYPE_APHERESIS_PLATELETS);
  const std::string before_apheresis = TableFingerprint();
  process.set_request_id(NextRequestId());
  process.set_din(apheresis.din());
  EXPECT_EQ(Call(&Stub::ProcessDonation, process, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  process.set_request_id(NextRequestId());
  process.set_din(NewDin());
  EXPECT_EQ(Call(&Stub::ProcessDonation, process, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(TableFingerprint(), before_apheresis);

  const v1::Unit fresh = AvailableUnit("CENTRAL", APos(), 200);
  const std::string before_bad = TableFingerprint();
  v1::ProcessDonationRequest bad;
  bad.set_request_id(NextRequestId());
  bad.set_din(fresh.din());
  bad.add_components()->set_component(v1::COMPONENT_PLASMA);
  EXPECT_INVALID(Call(&Stub::ProcessDonation, bad, &response), "components[0].volume_ml");
  bad.mutable_components(0)->set_volume_ml(150);
  bad.add_components()->set_component(v1::COMPONENT_PLASMA);
  bad.mutable_components(1)->set_volume_ml(100);
  EXPECT_INVALID(Call(&Stub::ProcessDonation, bad, &response), "components");
  bad.clear_components();
  bad.add_components()->set_component(v1::COMPONENT_WHOLE_BLOOD);
  EXPECT_INVALID(Call(&Stub::ProcessDonation, bad, &response), "components[0].component");
  EXPECT_EQ(TableFingerprint(), before_bad);
  (void)before;
}

// ---------------------------------------------------------------------------------------------
// Reservations

TEST_F(InventoryServiceTest, ReserveFollowsThePreferenceOrderAndIsIdempotent) {
  AddStation("CENTRAL");
  AddStation("BR-1");
  const v1::Unit a_late = AvailableExpiringIn("CENTRAL", APos(), 25);
  const v1::Unit a_soon = AvailableExpiringIn("CENTRAL", APos(), 15);
  const v1::Unit o_central = AvailableExpiringIn("CENTRAL", OPos(), 5);
  const v1::Unit a_branch = AvailableExpiringIn("BR-1", APos(), 10);
  const std::vector<std::pair<v1::BloodType, int>> a_patient = {{APos(), 0}, {OPos(), 1}};

  // ROUTINE: tier first (A before O), serving station first, then FEFO.
  v1::Reservation first = Reserve(ReserveRequest("ORD-1/1/1", {"CENTRAL", "BR-1"}, 2, a_patient));
  EXPECT_EQ(first.status(), v1::RESERVATION_STATUS_HELD);
  EXPECT_THAT(UnitIds(first.units()), UnorderedElementsAre(a_soon.unit_id(), a_late.unit_id()));
  EXPECT_EQ(first.reserved_quantity(), 2);
  EXPECT_TRUE(first.has_hold_expires_at());
  for (const v1::Unit& unit : first.units()) {
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_RESERVED);
    EXPECT_EQ(unit.reservation_key(), "ORD-1/1/1");
  }

  // A retry with the same key returns the same bags and reserves nothing more.
  const std::string before_retry = TableFingerprint();
  v1::Reservation retry = Reserve(ReserveRequest("ORD-1/1/1", {"CENTRAL", "BR-1"}, 2, a_patient));
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(TableFingerprint(), before_retry);

  // ROUTINE prefers A at the fallback station over O at the serving one ...
  v1::Reservation routine = Reserve(ReserveRequest("ORD-2/1/1", {"CENTRAL", "BR-1"}, 1, a_patient));
  EXPECT_THAT(UnitIds(routine.units()), ElementsAre(a_branch.unit_id()));
  v1::ReleaseRequest release;
  release.set_request_id(NextRequestId());
  release.set_reservation_key("ORD-2/1/1");
  v1::Reservation released;
  ASSERT_TRUE(Call(&Stub::Release, release, &released).ok());
  EXPECT_EQ(released.status(), v1::RESERVATION_STATUS_RELEASED);
  // ... EMERGENCY takes what is on the serving station's shelf.
  v1::Reservation emergency = Reserve(
      ReserveRequest("ORD-3/1/1", {"CENTRAL", "BR-1"}, 1, a_patient, v1::PRIORITY_EMERGENCY));
  EXPECT_THAT(UnitIds(emergency.units()), ElementsAre(o_central.unit_id()));

  // Never a bag that expires before the floor; short stock is not an error.
  v1::ReserveRequest floored = ReserveRequest("ORD-4/1/1", {"BR-1"}, 2, {{APos(), 0}});
  *floored.mutable_expiry_floor() = Ts(clock_.Now() + absl::Hours(24) * 12);
  v1::Reservation short_stock = Reserve(floored);
  EXPECT_EQ(short_stock.units_size(), 0);
  EXPECT_EQ(short_stock.reserved_quantity(), 0);
  EXPECT_EQ(short_stock.requested_quantity(), 2);
  EXPECT_EQ(GetUnit(a_branch.unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);

  // The trace names the order and the reservation.
  v1::GetUnitTraceRequest trace_request;
  trace_request.set_din(a_soon.din());
  v1::GetUnitTraceResponse trace;
  ASSERT_TRUE(Call(&Stub::GetUnitTrace, trace_request, &trace).ok());
  const v1::UnitEvent& reserved = trace.events(trace.events_size() - 1);
  EXPECT_EQ(reserved.kind(), v1::UNIT_EVENT_KIND_RESERVED);
  EXPECT_EQ(reserved.reservation_key(), "ORD-1/1/1");
  EXPECT_EQ(reserved.order_id(), "ORD-ORD-1/1/1");
  EXPECT_EQ(reserved.hospital_id(), "H001");
  EXPECT_EQ(reserved.actor(), "admin:tester");
}

TEST_F(InventoryServiceTest, ReserveTakesTheLeastOvershoot) {
  AddStation("CENTRAL");
  const v1::Unit two_a = AvailableExpiringIn("CENTRAL", OPos(), 5, 400);
  AvailableExpiringIn("CENTRAL", OPos(), 6, 400);
  const v1::Unit one = AvailableExpiringIn("CENTRAL", OPos(), 9, 200);
  v1::Reservation r = Reserve(ReserveRequest("K-1", {"CENTRAL"}, 3, {{OPos(), 0}}));
  EXPECT_THAT(UnitIds(r.units()), UnorderedElementsAre(two_a.unit_id(), one.unit_id()));
  EXPECT_EQ(r.reserved_quantity(), 3);
}

TEST_F(InventoryServiceTest, ReserveRefusesBadInputAndWritesNothing) {
  AddStation("CENTRAL");
  AddStation("CLOSED", false);
  AvailableUnit("CENTRAL", OPos());
  const std::string before = TableFingerprint();
  struct Bad {
    std::string field;
    std::function<void(v1::ReserveRequest&)> spoil;
  };
  const std::vector<Bad> bad = {
      {"station_ids[1]", [](auto& r) { r.add_station_ids("NOWHERE"); }},
      {"reservation_key", [](auto& r) { r.clear_reservation_key(); }},
      {"reservation_key", [](auto& r) { r.set_reservation_key("bad key"); }},
      {"station_ids", [](auto& r) { r.clear_station_ids(); }},
      {"component", [](auto& r) { r.clear_component(); }},
      {"quantity", [](auto& r) { r.set_quantity(-1); }},
      {"candidates", [](auto& r) { r.clear_candidates(); }},
      {"candidates[0].blood_type",
       [](auto& r) { r.mutable_candidates(0)->mutable_blood_type()->clear_abo(); }},
      {"priority", [](auto& r) { r.clear_priority(); }},
      {"expiry_floor", [](auto& r) { r.clear_expiry_floor(); }},
  };
  for (const Bad& b : bad) {
    v1::ReserveRequest request = ReserveRequest("BAD-1", {"CENTRAL"}, 1, {{OPos(), 0}});
    b.spoil(request);
    v1::Reservation out;
    EXPECT_INVALID(Call(&Stub::Reserve, request, &out), b.field);
  }
  EXPECT_EQ(TableFingerprint(), before);
  // An inactive station is skipped, not an error.
  v1::Reservation skipped =
      Reserve(ReserveRequest("OK-1", {"CLOSED", "CENTRAL"}, 1, {{OPos(), 0}}));
  EXPECT_EQ(skipped.units_size(), 1);
}

TEST_F(InventoryServiceTest, ReleaseConfirmAndGetReservation) {
  AddStation("CENTRAL");
  for (int i = 0; i < 3; ++i) AvailableUnit("CENTRAL", OPos());
  v1::Reservation r = Reserve(ReserveRequest("R-1", {"CENTRAL"}, 3, {{OPos(), 0}}));
  ASSERT_EQ(r.units_size(), 3);

  v1::ReleaseRequest one;
  one.set_request_id(NextRequestId());
  one.set_reservation_key("R-1");
  one.add_unit_ids(r.units(0).unit_id());
  one.set_reason("line reduced");
  v1::Reservation after;
  ASSERT_TRUE(Call(&Stub::Release, one, &after).ok());
  EXPECT_EQ(after.status(), v1::RESERVATION_STATUS_HELD);
  EXPECT_EQ(after.units_size(), 2);
  EXPECT_EQ(GetUnit(r.units(0).unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);
  // A replay changes nothing more.
  v1::Reservation replay;
  const std::string before_replay = TableFingerprint();
  ASSERT_TRUE(Call(&Stub::Release, one, &replay).ok());
  EXPECT_EQ(replay.SerializeAsString(), after.SerializeAsString());
  EXPECT_EQ(TableFingerprint(), before_replay);

  // A unit this reservation does not hold.
  v1::ReleaseRequest not_held = one;
  not_held.set_request_id(NextRequestId());
  EXPECT_INVALID(Call(&Stub::Release, not_held, &replay), "unit_ids[0]");
  not_held.set_reservation_key("NO-SUCH");
  not_held.set_request_id(NextRequestId());
  EXPECT_EQ(Call(&Stub::Release, not_held, &replay).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::ConfirmReservationRequest confirm;
  confirm.set_reservation_key("R-1");
  v1::Reservation confirmed;
  ASSERT_TRUE(Call(&Stub::ConfirmReservation, confirm, &confirmed).ok());
  EXPECT_EQ(confirmed.status(), v1::RESERVATION_STATUS_CONFIRMED);
  EXPECT_FALSE(confirmed.has_hold_expires_at());
  EXPECT_TRUE(confirmed.has_confirmed_at());
  ASSERT_TRUE(Call(&Stub::ConfirmReservation, confirm, &confirmed).ok());
  EXPECT_EQ(confirmed.status(), v1::RESERVATION_STATUS_CONFIRMED);

  v1::ReleaseRequest all;
  all.set_request_id(NextRequestId());
  all.set_reservation_key("R-1");
  ASSERT_TRUE(Call(&Stub::Release, all, &after).ok());
  EXPECT_EQ(after.status(), v1::RESERVATION_STATUS_RELEASED);
  EXPECT_EQ(after.units_size(), 0);
  all.set_request_id(NextRequestId());
  ASSERT_TRUE(Call(&Stub::Release, all, &after).ok());  // released stays released
  EXPECT_EQ(after.status(), v1::RESERVATION_STATUS_RELEASED);
  EXPECT_EQ(Call(&Stub::ConfirmReservation, confirm, &confirmed).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::GetReservationRequest get;
  get.set_reservation_key("R-1");
  v1::Reservation got;
  ASSERT_TRUE(Call(&Stub::GetReservation, get, &got).ok());
  EXPECT_EQ(got.status(), v1::RESERVATION_STATUS_RELEASED);
  get.set_reservation_key("NOPE");
  EXPECT_EQ(Call(&Stub::GetReservation, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  get.set_reservation_key("");
  EXPECT_INVALID(Call(&Stub::GetReservation, get, &got), "reservation_key");
  // The key stays used: reserving with it again returns the released reservation, no units.
  v1::Reservation same_key = Reserve(ReserveRequest("R-1", {"CENTRAL"}, 3, {{OPos(), 0}}));
  EXPECT_EQ(same_key.status(), v1::RESERVATION_STATUS_RELEASED);
  EXPECT_EQ(same_key.units_size(), 0);
}

TEST_F(InventoryServiceTest, IssueAndOutcomes) {
  AddStation("CENTRAL");
  AddStation("BR-1");
  for (int i = 0; i < 4; ++i) AvailableUnit("CENTRAL", OPos());
  v1::Reservation r = Reserve(ReserveRequest("ISS-1", {"CENTRAL"}, 4, {{OPos(), 0}}));
  ASSERT_EQ(r.units_size(), 4);
  std::vector<std::string> ids = UnitIds(r.units());

  v1::IssueRequest issue;
  issue.set_request_id(NextRequestId());
  issue.set_reservation_key("ISS-1");
  issue.set_hospital_id("H001");
  issue.set_order_id("ORD-77");
  const std::string before_bad = TableFingerprint();
  v1::IssueRequest bad_issue = issue;
  bad_issue.clear_hospital_id();
  v1::IssueResponse issued;
  EXPECT_INVALID(Call(&Stub::Issue, bad_issue, &issued), "hospital_id");
  bad_issue = issue;
  bad_issue.set_request_id(NextRequestId());
  bad_issue.add_unit_ids("not-a-unit");
  EXPECT_INVALID(Call(&Stub::Issue, bad_issue, &issued), "unit_ids[0]");
  bad_issue = issue;
  bad_issue.set_request_id(NextRequestId());
  bad_issue.set_reservation_key("NONE");
  EXPECT_EQ(Call(&Stub::Issue, bad_issue, &issued).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(TableFingerprint(), before_bad);

  ASSERT_TRUE(Call(&Stub::Issue, issue, &issued).ok());
  EXPECT_EQ(issued.units_size(), 4);
  EXPECT_EQ(issued.reservation().status(), v1::RESERVATION_STATUS_ISSUED);
  for (const v1::Unit& unit : issued.units()) {
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_ISSUED);
    EXPECT_EQ(unit.order_id(), "ORD-77");
    EXPECT_EQ(unit.hospital_id(), "H001");
    EXPECT_TRUE(unit.has_issued_at());
  }

  auto outcome = [&](const std::string& unit_id, v1::TransfusionOutcome what,
                     std::optional<bool> cold_chain, const std::string& order = "ORD-77",
                     const std::string& station = "") {
    v1::RecordOutcomeRequest request;
    request.set_request_id(NextRequestId());
    request.set_unit_id(unit_id);
    request.set_outcome(what);
    if (cold_chain.has_value()) request.set_cold_chain_ok(*cold_chain);
    request.set_order_id(order);
    request.set_return_station_id(station);
    v1::Unit unit;
    grpc::Status status = Call(&Stub::RecordOutcome, request, &unit);
    return std::make_pair(status, unit);
  };
  auto [s0, transfused] = outcome(ids[0], v1::TRANSFUSION_OUTCOME_TRANSFUSED, std::nullopt);
  ASSERT_TRUE(s0.ok()) << s0.error_message();
  EXPECT_EQ(transfused.status(), v1::UNIT_STATUS_TRANSFUSED);
  auto [s0b, again] = outcome(ids[0], v1::TRANSFUSION_OUTCOME_TRANSFUSED, std::nullopt);
  ASSERT_TRUE(s0b.ok());
  EXPECT_EQ(again.status(), v1::UNIT_STATUS_TRANSFUSED);
  auto [s1, restocked] = outcome(ids[1], v1::TRANSFUSION_OUTCOME_RETURNED, true, "ORD-77", "BR-1");
  ASSERT_TRUE(s1.ok()) << s1.error_message();
  EXPECT_EQ(restocked.status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(restocked.station_id(), "BR-1");
  EXPECT_TRUE(restocked.order_id().empty());
  auto [s2, broken] = outcome(ids[2], v1::TRANSFUSION_OUTCOME_RETURNED, false);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(broken.status(), v1::UNIT_STATUS_DISCARDED);
  EXPECT_EQ(broken.discard_reason(), v1::DISCARD_REASON_COLD_CHAIN_FAILURE);

  const std::string before = TableFingerprint();
  EXPECT_INVALID(outcome(ids[3], v1::TRANSFUSION_OUTCOME_WASTED, std::nullopt, "ORD-OTHER").first,
                 "order_id");
  EXPECT_INVALID(outcome(ids[3], v1::TRANSFUSION_OUTCOME_RETURNED, std::nullopt).first,
                 "cold_chain_ok");
  EXPECT_INVALID(outcome(ids[3], v1::TRANSFUSION_OUTCOME_RETURNED, true, "ORD-77", "NOWHERE").first,
                 "return_station_id");
  EXPECT_EQ(outcome(ids[1], v1::TRANSFUSION_OUTCOME_TRANSFUSED, std::nullopt).first.error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // back on the shelf, not issued
  EXPECT_EQ(outcome(ids[0], v1::TRANSFUSION_OUTCOME_WASTED, std::nullopt).first.error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // already transfused
  EXPECT_EQ(outcome("nope", v1::TRANSFUSION_OUTCOME_WASTED, std::nullopt).first.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(TableFingerprint(), before);
  auto [s3, wasted] = outcome(ids[3], v1::TRANSFUSION_OUTCOME_WASTED, std::nullopt);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(wasted.discard_reason(), v1::DISCARD_REASON_WASTED);

  // Never issued expired: a unit that expired while reserved is refused, naming it.
  const v1::Unit short_lived = AvailableExpiringIn("CENTRAL", ANeg(), 1);
  v1::Reservation late = Reserve(ReserveRequest("ISS-2", {"CENTRAL"}, 1, {{ANeg(), 0}}));
  ASSERT_EQ(late.units_size(), 1);
  clock_.Advance(absl::Hours(24) * 3);
  const std::string before_expired = TableFingerprint();
  issue.set_request_id(NextRequestId());
  issue.set_reservation_key("ISS-2");
  grpc::Status expired = Call(&Stub::Issue, issue, &issued);
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(expired.error_message(), HasSubstr(short_lived.unit_id()));
  EXPECT_EQ(TableFingerprint(), before_expired);
}

TEST_F(InventoryServiceTest, CrashBetweenReserveAndCommitIsHealed) {
  AddStation("CENTRAL");
  for (int i = 0; i < 4; ++i) AvailableUnit("CENTRAL", ONeg());
  // Two orders reserve; both callers "crash" before recording the reservation.
  v1::ReserveRequest healed_request = ReserveRequest("ORD-A/1/1", {"CENTRAL"}, 2, {{ONeg(), 0}});
  healed_request.set_hold_seconds(60);
  v1::ReserveRequest orphan_request = ReserveRequest("ORD-B/1/1", {"CENTRAL"}, 2, {{ONeg(), 0}});
  orphan_request.set_hold_seconds(60);
  const v1::Reservation healed = Reserve(healed_request);
  const v1::Reservation orphan = Reserve(orphan_request);
  ASSERT_EQ(healed.units_size(), 2);
  ASSERT_EQ(orphan.units_size(), 2);

  // The first caller restarts and retries with the same key: the same bags, nothing more.
  const v1::Reservation retried = Reserve(healed_request);
  EXPECT_EQ(UnitIds(retried.units()), UnitIds(healed.units()));
  v1::ConfirmReservationRequest confirm;
  confirm.set_reservation_key("ORD-A/1/1");
  v1::Reservation confirmed;
  ASSERT_TRUE(Call(&Stub::ConfirmReservation, confirm, &confirmed).ok());

  // The second never comes back: the sweeper releases its hold once it expires, not before.
  clock_.Advance(absl::Seconds(59));
  absl::StatusOr<int> swept = server_->inventory().SweepReservations();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 0);
  clock_.Advance(absl::Seconds(2));
  swept = server_->inventory().SweepReservations();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1);
  v1::GetReservationRequest get;
  get.set_reservation_key("ORD-B/1/1");
  v1::Reservation expired;
  ASSERT_TRUE(Call(&Stub::GetReservation, get, &expired).ok());
  EXPECT_EQ(expired.status(), v1::RESERVATION_STATUS_EXPIRED);
  EXPECT_EQ(expired.units_size(), 0);
  for (const v1::Unit& unit : orphan.units()) {
    EXPECT_EQ(GetUnit(unit.unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);
  }
  EXPECT_EQ(
      schema_.QueryInt("SELECT COUNT(*) FROM unit_events WHERE kind = 7 AND "
                       "actor = 'system:reservation-sweeper' AND reason = 'reservation expired'"),
      2);
  get.set_reservation_key("ORD-A/1/1");
  ASSERT_TRUE(Call(&Stub::GetReservation, get, &confirmed).ok());
  EXPECT_EQ(confirmed.status(), v1::RESERVATION_STATUS_CONFIRMED);
  EXPECT_EQ(confirmed.units_size(), 2);
  // Too late to confirm the orphan; its freed bags go to the next order.
  confirm.set_reservation_key("ORD-B/1/1");
  EXPECT_EQ(Call(&Stub::ConfirmReservation, confirm, &confirmed).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  const v1::Reservation next = Reserve(ReserveRequest("ORD-C/1/1", {"CENTRAL"}, 2, {{ONeg(), 0}}));
  EXPECT_THAT(UnitIds(next.units()),
              UnorderedElementsAre(orphan.units(0).unit_id(), orphan.units(1).unit_id()));
}

// ---------------------------------------------------------------------------------------------
// Expiry and discard

TEST_F(InventoryServiceTest, ExpirySweeperAndFinalStates) {
  AddStation("CENTRAL");
  const v1::Unit shelf = AvailableExpiringIn("CENTRAL", OPos(), 1);
  const v1::Unit held = AvailableExpiringIn("CENTRAL", ONeg(), 1);
  const v1::Unit fresh = AvailableExpiringIn("CENTRAL", OPos(), 20);
  const std::string testing_din = NewDin();
  Collect(testing_din, "D-T", "CENTRAL", APos(), v1::DONATION_TYPE_WHOLE_BLOOD, 200,
          clock_.Now() - absl::Hours(24) * 34);
  v1::Reservation r = Reserve(ReserveRequest("EXP-1", {"CENTRAL"}, 1, {{ONeg(), 0}}));
  ASSERT_EQ(r.units_size(), 1);

  absl::StatusOr<int> none = server_->inventory().SweepExpiredUnits();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);
  clock_.Advance(absl::Hours(24) * 3);
  absl::StatusOr<int> swept = server_->inventory().SweepExpiredUnits();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 3);
  EXPECT_EQ(GetUnit(shelf.unit_id()).status(), v1::UNIT_STATUS_EXPIRED);
  EXPECT_EQ(GetUnit(held.unit_id()).status(), v1::UNIT_STATUS_EXPIRED);
  EXPECT_TRUE(GetUnit(held.unit_id()).reservation_key().empty());
  EXPECT_EQ(GetUnit(testing_din + "-WB0").status(), v1::UNIT_STATUS_EXPIRED);
  EXPECT_EQ(GetUnit(fresh.unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);

  // Final states never change: no discard, no release by late test results.
  const std::string before = TableFingerprint();
  v1::DiscardUnitRequest discard;
  discard.set_request_id(NextRequestId());
  discard.set_unit_id(shelf.unit_id());
  discard.set_reason(v1::DISCARD_REASON_DAMAGED);
  v1::Unit unit;
  EXPECT_EQ(Call(&Stub::DiscardUnit, discard, &unit).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(TableFingerprint(), before);
  ReleaseDin(testing_din, APos());
  EXPECT_EQ(GetUnit(testing_din + "-WB0").status(), v1::UNIT_STATUS_EXPIRED);
}

TEST_F(InventoryServiceTest, DiscardUnit) {
  AddStation("CENTRAL");
  const v1::Unit damaged = AvailableUnit("CENTRAL", OPos());
  const v1::Unit by_din = AvailableUnit("CENTRAL", OPos());
  const v1::Unit recalled = AvailableUnit("CENTRAL", OPos());
  const v1::Unit reserved = AvailableUnit("CENTRAL", ANeg());
  Reserve(ReserveRequest("DIS-1", {"CENTRAL"}, 1, {{ANeg(), 0}}));
  const v1::Unit split = AvailableUnit("CENTRAL", APos(), 400);
  v1::ProcessDonationRequest process;
  process.set_request_id(NextRequestId());
  process.set_din(split.din());
  process.add_components()->set_component(v1::COMPONENT_RED_CELLS);
  process.add_components()->set_component(v1::COMPONENT_CRYO);
  v1::ProcessDonationResponse processed;
  ASSERT_TRUE(Call(&Stub::ProcessDonation, process, &processed).ok());

  auto discard = [&](std::function<void(v1::DiscardUnitRequest&)> fill) {
    v1::DiscardUnitRequest request;
    request.set_request_id(NextRequestId());
    fill(request);
    v1::Unit unit;
    grpc::Status status = Call(&Stub::DiscardUnit, request, &unit);
    return std::make_pair(status, unit);
  };
  auto [s1, u1] = discard([&](auto& r) {
    r.set_unit_id(damaged.unit_id());
    r.set_reason(v1::DISCARD_REASON_DAMAGED);
  });
  ASSERT_TRUE(s1.ok()) << s1.error_message();
  EXPECT_EQ(u1.status(), v1::UNIT_STATUS_DISCARDED);
  EXPECT_EQ(u1.discard_reason(), v1::DISCARD_REASON_DAMAGED);
  auto [s2, u2] = discard([&](auto& r) {
    r.set_din(by_din.din());
    r.set_reason(v1::DISCARD_REASON_QUALITY_FAILURE);
  });
  ASSERT_TRUE(s2.ok()) << s2.error_message();
  EXPECT_EQ(u2.unit_id(), by_din.unit_id());
  auto [s3, u3] = discard([&](auto& r) {
    r.set_unit_id(recalled.unit_id());
    r.set_reason(v1::DISCARD_REASON_LOOKBACK);
  });
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(u3.status(), v1::UNIT_STATUS_RECALLED);

  const std::string before = TableFingerprint();
  EXPECT_EQ(discard([&](auto& r) {
              r.set_unit_id(reserved.unit_id());
              r.set_reason(v1::DISCARD_REASON_DAMAGED);
            }).first.error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_INVALID(discard([&](auto& r) {
                   r.set_din(split.din());
                   r.set_reason(v1::DISCARD_REASON_DAMAGED);
                 }).first,
                 "din");  // two live components: give unit_id
  EXPECT_EQ(discard([&](auto& r) {
              r.set_din(damaged.din());
              r.set_reason(v1::DISCARD_REASON_DAMAGED);
            }).first.error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // every unit of the DIN is final
  EXPECT_EQ(discard([&](auto& r) {
              r.set_unit_id("nope");
              r.set_reason(v1::DISCARD_REASON_DAMAGED);
            }).first.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_INVALID(discard([&](auto& r) {
                   r.set_unit_id(reserved.unit_id());
                   r.set_reason(v1::DISCARD_REASON_OTHER);
                 }).first,
                 "note");
  EXPECT_INVALID(discard([&](auto& r) { r.set_unit_id(reserved.unit_id()); }).first, "reason");
  EXPECT_EQ(TableFingerprint(), before);
}

// ---------------------------------------------------------------------------------------------
// Transfers

TEST_F(InventoryServiceTest, TransfersMoveStockBetweenStations) {
  AddStation("CENTRAL", true, 39.90, 116.40);
  AddStation("BR-1", true, 39.95, 116.90);
  const v1::Unit o_soon = AvailableExpiringIn("CENTRAL", OPos(), 5);
  const v1::Unit o_mid = AvailableExpiringIn("CENTRAL", OPos(), 10);
  const v1::Unit o_late = AvailableExpiringIn("CENTRAL", OPos(), 20);
  const v1::Unit a_unit = AvailableExpiringIn("CENTRAL", APos(), 20);

  v1::CreateTransferRequest create;
  create.set_request_id(NextRequestId());
  create.set_from_station_id("CENTRAL");
  create.set_to_station_id("BR-1");
  v1::TransferLot* lot = create.add_items()->mutable_lot();
  lot->set_component(v1::COMPONENT_WHOLE_BLOOD);
  *lot->mutable_blood_type() = OPos();
  lot->set_quantity(2);
  create.add_items()->set_unit_id(a_unit.unit_id());
  create.set_reason("rebalance");
  v1::Transfer transfer;
  ASSERT_TRUE(Call(&Stub::CreateTransfer, create, &transfer).ok());
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_CREATED);
  EXPECT_THAT(UnitIds(transfer.units()),
              ElementsAre(o_soon.unit_id(), o_mid.unit_id(), a_unit.unit_id()));
  EXPECT_TRUE(transfer.shortfalls().empty());
  EXPECT_EQ(transfer.created_by(), "admin:tester");
  EXPECT_GT(FromTimestamp(transfer.expected_arrival_at()), clock_.Now() + absl::Minutes(30));
  for (const v1::Unit& unit : transfer.units()) {
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_RESERVED);
    EXPECT_EQ(unit.transfer_id(), transfer.transfer_id());
  }
  // Picked units cannot be reserved meanwhile.
  v1::Reservation r = Reserve(ReserveRequest("TR-R", {"CENTRAL"}, 3, {{OPos(), 0}}));
  EXPECT_THAT(UnitIds(r.units()), ElementsAre(o_late.unit_id()));
  const v1::StockLevel* central_row =
      Row(Summary("CENTRAL"), "CENTRAL", v1::COMPONENT_WHOLE_BLOOD, OPos());
  ASSERT_NE(central_row, nullptr);
  EXPECT_EQ(central_row->reserved().units(), 3);
  EXPECT_EQ(central_row->available().units(), 0);

  // Cancelling is allowed only before dispatch; a second transfer shows it.
  v1::CreateTransferRequest second = create;
  second.set_request_id(NextRequestId());
  second.clear_items();
  v1::Reservation freed;
  v1::ReleaseRequest release;
  release.set_request_id(NextRequestId());
  release.set_reservation_key("TR-R");
  ASSERT_TRUE(Call(&Stub::Release, release, &freed).ok());
  second.add_items()->set_unit_id(o_late.unit_id());
  v1::Transfer cancelled;
  ASSERT_TRUE(Call(&Stub::CreateTransfer, second, &cancelled).ok());
  v1::CancelTransferRequest cancel;
  cancel.set_request_id(NextRequestId());
  cancel.set_transfer_id(cancelled.transfer_id());
  cancel.set_reason("not needed");
  ASSERT_TRUE(Call(&Stub::CancelTransfer, cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.status(), v1::TRANSFER_STATUS_CANCELLED);
  EXPECT_EQ(GetUnit(o_late.unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_TRUE(GetUnit(o_late.unit_id()).transfer_id().empty());

  v1::DispatchTransferRequest dispatch;
  dispatch.set_request_id(NextRequestId());
  dispatch.set_transfer_id(transfer.transfer_id());
  ASSERT_TRUE(Call(&Stub::DispatchTransfer, dispatch, &transfer).ok());
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  EXPECT_TRUE(transfer.has_dispatched_at());
  for (const v1::Unit& unit : transfer.units())
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_IN_TRANSIT);
  const v1::StockLevel* incoming = Row(Summary("BR-1"), "BR-1", v1::COMPONENT_WHOLE_BLOOD, OPos());
  ASSERT_NE(incoming, nullptr);
  EXPECT_EQ(incoming->in_transit_in().units(), 2);
  dispatch.set_request_id(NextRequestId());
  ASSERT_TRUE(Call(&Stub::DispatchTransfer, dispatch, &transfer).ok());  // unchanged
  cancel.set_request_id(NextRequestId());
  cancel.set_transfer_id(transfer.transfer_id());
  v1::Transfer refused;
  EXPECT_EQ(Call(&Stub::CancelTransfer, cancel, &refused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::ReceiveTransferRequest receive;
  receive.set_request_id(NextRequestId());
  receive.set_transfer_id(transfer.transfer_id());
  receive.add_rejected_unit_ids(o_late.unit_id());  // not on this transfer
  EXPECT_INVALID(Call(&Stub::ReceiveTransfer, receive, &refused), "rejected_unit_ids[0]");
  receive.set_request_id(NextRequestId());
  receive.set_rejected_unit_ids(0, a_unit.unit_id());
  receive.set_note("A+ bag warm on arrival");
  ASSERT_TRUE(Call(&Stub::ReceiveTransfer, receive, &transfer).ok());
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_RECEIVED);
  EXPECT_THAT(transfer.rejected_unit_ids(), ElementsAre(a_unit.unit_id()));
  for (const v1::Unit& unit : transfer.units()) {
    EXPECT_EQ(unit.station_id(), "BR-1");
    EXPECT_TRUE(unit.transfer_id().empty());
    EXPECT_EQ(unit.status(), unit.unit_id() == a_unit.unit_id() ? v1::UNIT_STATUS_DISCARDED
                                                                : v1::UNIT_STATUS_AVAILABLE);
  }
  receive.set_request_id(NextRequestId());
  ASSERT_TRUE(Call(&Stub::ReceiveTransfer, receive, &transfer).ok());  // unchanged
  const v1::StockLevel* arrived = Row(Summary("BR-1"), "BR-1", v1::COMPONENT_WHOLE_BLOOD, OPos());
  ASSERT_NE(arrived, nullptr);
  EXPECT_EQ(arrived->available().units(), 2);
  EXPECT_EQ(arrived->in_transit_in().units(), 0);

  // Refusals write nothing.
  const std::string before = TableFingerprint();
  v1::CreateTransferRequest bad = create;
  bad.set_request_id(NextRequestId());
  bad.set_to_station_id("CENTRAL");
  EXPECT_INVALID(Call(&Stub::CreateTransfer, bad, &refused), "to_station_id");
  bad.set_to_station_id("NOWHERE");
  EXPECT_INVALID(Call(&Stub::CreateTransfer, bad, &refused), "to_station_id");
  bad.set_to_station_id("BR-1");
  bad.clear_items();
  bad.add_items()->set_unit_id(o_soon.unit_id());  // now at BR-1, not at CENTRAL
  EXPECT_EQ(Call(&Stub::CreateTransfer, bad, &refused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  bad.clear_items();
  v1::TransferLot* none = bad.add_items()->mutable_lot();
  none->set_component(v1::COMPONENT_PLATELETS);
  *none->mutable_blood_type() = Type(v1::ABO_GROUP_AB, v1::RH_D_NEGATIVE);
  none->set_quantity(1);
  EXPECT_EQ(Call(&Stub::CreateTransfer, bad, &refused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  v1::GetTransferRequest get;
  get.set_transfer_id("TR-none");
  EXPECT_EQ(Call(&Stub::GetTransfer, get, &refused).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(TableFingerprint(), before);

  // A lot that cannot be filled is picked as far as possible.
  v1::CreateTransferRequest partial = create;
  partial.set_request_id(NextRequestId());
  partial.clear_items();
  v1::TransferLot* big = partial.add_items()->mutable_lot();
  big->set_component(v1::COMPONENT_WHOLE_BLOOD);
  *big->mutable_blood_type() = OPos();
  big->set_quantity(10);
  v1::Transfer partial_transfer;
  ASSERT_TRUE(Call(&Stub::CreateTransfer, partial, &partial_transfer).ok());
  EXPECT_THAT(UnitIds(partial_transfer.units()), ElementsAre(o_late.unit_id()));
  ASSERT_EQ(partial_transfer.shortfalls_size(), 1);
  EXPECT_EQ(partial_transfer.shortfalls(0).quantity(), 9);

  v1::ListTransfersRequest list;
  list.set_page_size(2);
  v1::ListTransfersResponse listed;
  ASSERT_TRUE(Call(&Stub::ListTransfers, list, &listed).ok());
  ASSERT_EQ(listed.transfers_size(), 2);
  EXPECT_FALSE(listed.next_page_token().empty());
  std::set<std::string> seen;
  for (const v1::Transfer& t : listed.transfers()) seen.insert(t.transfer_id());
  list.set_page_token(listed.next_page_token());
  ASSERT_TRUE(Call(&Stub::ListTransfers, list, &listed).ok());
  ASSERT_EQ(listed.transfers_size(), 1);
  seen.insert(listed.transfers(0).transfer_id());
  EXPECT_EQ(seen.size(), 3u);
  v1::ListTransfersRequest received_only;
  received_only.set_status(v1::TRANSFER_STATUS_RECEIVED);
  ASSERT_TRUE(Call(&Stub::ListTransfers, received_only, &listed).ok());
  ASSERT_EQ(listed.transfers_size(), 1);
  EXPECT_EQ(listed.transfers(0).transfer_id(), transfer.transfer_id());
  list.set_status(v1::TRANSFER_STATUS_CREATED);  // the token belongs to another filter
  EXPECT_INVALID(Call(&Stub::ListTransfers, list, &listed), "page_token");
}

TEST_F(InventoryServiceTest, ReservationBoundTransferAndArrivals) {
  AddStation("CENTRAL", true, 39.90, 116.40);
  AddStation("BR-1", true, 39.95, 116.90);
  const v1::Unit bound = AvailableExpiringIn("CENTRAL", ONeg(), 20);
  v1::Reservation r = Reserve(ReserveRequest("ORD-T/1/1", {"BR-1", "CENTRAL"}, 1, {{ONeg(), 0}}));
  ASSERT_THAT(UnitIds(r.units()), ElementsAre(bound.unit_id()));

  // The reservation's bag travels to the hospital's station and stays held by it throughout,
  // once the reservation is confirmed: a HELD one could lapse on the road.
  v1::CreateTransferRequest create;
  create.set_request_id(NextRequestId());
  create.set_from_station_id("CENTRAL");
  create.set_to_station_id("BR-1");
  create.set_reservation_key("ORD-T/1/1");
  create.add_items()->set_unit_id(bound.unit_id());
  v1::Transfer transfer;
  const std::string unconfirmed = TableFingerprint();
  grpc::Status while_held = Call(&Stub::CreateTransfer, create, &transfer);
  EXPECT_EQ(while_held.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(while_held.error_message(), HasSubstr("HELD"));
  EXPECT_EQ(TableFingerprint(), unconfirmed);
  v1::ConfirmReservationRequest confirm;
  confirm.set_reservation_key("ORD-T/1/1");
  v1::Reservation confirmed;
  ASSERT_TRUE(Call(&Stub::ConfirmReservation, confirm, &confirmed).ok());
  create.set_request_id(NextRequestId());
  ASSERT_TRUE(Call(&Stub::CreateTransfer, create, &transfer).ok());
  ASSERT_EQ(transfer.units_size(), 1);
  EXPECT_EQ(transfer.units(0).status(), v1::UNIT_STATUS_RESERVED);
  EXPECT_EQ(transfer.units(0).reservation_key(), "ORD-T/1/1");
  EXPECT_EQ(transfer.reservation_key(), "ORD-T/1/1");
  v1::ReleaseRequest release;
  release.set_request_id(NextRequestId());
  release.set_reservation_key("ORD-T/1/1");
  release.add_unit_ids(bound.unit_id());
  v1::Reservation refused;
  EXPECT_EQ(Call(&Stub::Release, release, &refused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // on a transfer
  v1::DispatchTransferRequest dispatch;
  dispatch.set_request_id(NextRequestId());
  dispatch.set_transfer_id(transfer.transfer_id());
  ASSERT_TRUE(Call(&Stub::DispatchTransfer, dispatch, &transfer).ok());
  v1::GetReservationRequest get;
  get.set_reservation_key("ORD-T/1/1");
  v1::Reservation travelling;
  ASSERT_TRUE(Call(&Stub::GetReservation, get, &travelling).ok());
  ASSERT_EQ(travelling.units_size(), 1);
  EXPECT_EQ(travelling.units(0).status(), v1::UNIT_STATUS_IN_TRANSIT);
  v1::IssueRequest issue;
  issue.set_request_id(NextRequestId());
  issue.set_reservation_key("ORD-T/1/1");
  issue.set_hospital_id("H001");
  issue.set_order_id("ORD-T");
  v1::IssueResponse issued;
  EXPECT_EQ(Call(&Stub::Issue, issue, &issued).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::ReceiveTransferRequest receive;
  receive.set_request_id(NextRequestId());
  receive.set_transfer_id(transfer.transfer_id());
  ASSERT_TRUE(Call(&Stub::ReceiveTransfer, receive, &transfer).ok());
  EXPECT_EQ(transfer.units(0).status(), v1::UNIT_STATUS_RESERVED);
  EXPECT_EQ(transfer.units(0).station_id(), "BR-1");
  issue.set_request_id(NextRequestId());
  ASSERT_TRUE(Call(&Stub::Issue, issue, &issued).ok());
  EXPECT_EQ(issued.units(0).status(), v1::UNIT_STATUS_ISSUED);
  EXPECT_EQ(issued.reservation().status(), v1::RESERVATION_STATUS_ISSUED);

  // Only units held by the named reservation move with it.
  const v1::Unit loose = AvailableExpiringIn("CENTRAL", ONeg(), 20);
  Reserve(ReserveRequest("ORD-U/1/1", {"BR-1"}, 1, {{ONeg(), 0}}));  // nothing at BR-1
  confirm.set_reservation_key("ORD-U/1/1");
  ASSERT_TRUE(Call(&Stub::ConfirmReservation, confirm, &confirmed).ok());
  const std::string before = TableFingerprint();
  create.set_request_id(NextRequestId());
  create.set_reservation_key("ORD-U/1/1");
  create.mutable_items(0)->set_unit_id(loose.unit_id());
  EXPECT_EQ(Call(&Stub::CreateTransfer, create, &transfer).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(TableFingerprint(), before);

  // A bag put on lookback hold while travelling is quarantined on arrival; one that expired on
  // the way arrives EXPIRED.
  const v1::Unit suspect =
      AvailableUnit("CENTRAL", ANeg(), 300, clock_.Now() - absl::Hours(24) * 40,
                    v1::DONATION_TYPE_APHERESIS_PLASMA, "D-SUS");
  const v1::Unit short_lived = AvailableExpiringIn("CENTRAL", APos(), 1);
  v1::CreateTransferRequest second;
  second.set_request_id(NextRequestId());
  second.set_from_station_id("CENTRAL");
  second.set_to_station_id("BR-1");
  second.add_items()->set_unit_id(suspect.unit_id());
  second.add_items()->set_unit_id(short_lived.unit_id());
  v1::Transfer moving;
  ASSERT_TRUE(Call(&Stub::CreateTransfer, second, &moving).ok());
  dispatch.set_request_id(NextRequestId());
  dispatch.set_transfer_id(moving.transfer_id());
  ASSERT_TRUE(Call(&Stub::DispatchTransfer, dispatch, &moving).ok());
  const std::string reactive_din = NewDin();
  Collect(reactive_din, "D-SUS", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  v1::QuarantineByDonorRequest lookback;
  lookback.set_request_id(NextRequestId());
  lookback.set_donor_id("D-SUS");
  lookback.set_reactive_din(reactive_din);
  v1::QuarantineByDonorResponse report;
  ASSERT_TRUE(Call(&Stub::QuarantineByDonor, lookback, &report).ok());
  ASSERT_THAT(UnitIds(report.quarantined_units()), ElementsAre(suspect.unit_id()));
  EXPECT_EQ(report.quarantined_units(0).status(), v1::UNIT_STATUS_IN_TRANSIT);
  clock_.Advance(absl::Hours(24) * 3);
  receive.set_request_id(NextRequestId());
  receive.set_transfer_id(moving.transfer_id());
  ASSERT_TRUE(Call(&Stub::ReceiveTransfer, receive, &moving).ok());
  const v1::Unit held = GetUnit(suspect.unit_id());
  EXPECT_EQ(held.status(), v1::UNIT_STATUS_QUARANTINED);
  EXPECT_EQ(held.hold(), v1::UNIT_HOLD_LOOKBACK);
  EXPECT_EQ(held.station_id(), "BR-1");
  EXPECT_EQ(GetUnit(short_lived.unit_id()).status(), v1::UNIT_STATUS_EXPIRED);
}

// ---------------------------------------------------------------------------------------------
// Lookback

TEST_F(InventoryServiceTest, LookbackQuarantinesStockAndListsIssuedUnits) {
  AddStation("CENTRAL");
  const absl::Duration day = absl::Hours(24);
  auto plasma = [&](int days_ago) {
    return AvailableUnit("CENTRAL", ANeg(), 300, clock_.Now() - day * days_ago,
                         v1::DONATION_TYPE_APHERESIS_PLASMA, "D-LB");
  };
  const v1::Unit went_out = plasma(100);  // issued to a hospital below
  const v1::Unit held = plasma(60);       // reserved for an order below
  const v1::Unit on_shelf = plasma(30);   // still available
  Reserve(ReserveRequest("LB-ISSUE", {"CENTRAL"}, 300, {{ANeg(), 0}}, v1::PRIORITY_ROUTINE,
                         v1::COMPONENT_PLASMA));
  v1::IssueRequest issue;
  issue.set_request_id(NextRequestId());
  issue.set_reservation_key("LB-ISSUE");
  issue.set_hospital_id("H002");
  issue.set_order_id("ORD-9");
  v1::IssueResponse issue_response;
  ASSERT_TRUE(Call(&Stub::Issue, issue, &issue_response).ok());
  ASSERT_EQ(issue_response.units_size(), 1);
  ASSERT_EQ(issue_response.units(0).unit_id(), went_out.unit_id());  // first to expire
  Reserve(ReserveRequest("LB-HOLD", {"CENTRAL"}, 300, {{ANeg(), 0}}, v1::PRIORITY_ROUTINE,
                         v1::COMPONENT_PLASMA));
  ASSERT_EQ(GetUnit(held.unit_id()).status(), v1::UNIT_STATUS_RESERVED);
  // The reactive donation, today.
  const std::string reactive_din = NewDin();
  Collect(reactive_din, "D-LB", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);

  v1::QuarantineByDonorRequest lookback;
  lookback.set_request_id(NextRequestId());
  lookback.set_donor_id("D-LB");
  lookback.set_reactive_din(reactive_din);
  lookback.set_reason("anti-HCV reactive");
  v1::QuarantineByDonorResponse report;
  ASSERT_TRUE(Call(&Stub::QuarantineByDonor, lookback, &report).ok());
  EXPECT_TRUE(report.has_window_start());
  EXPECT_THAT(UnitIds(report.quarantined_units()),
              UnorderedElementsAre(held.unit_id(), on_shelf.unit_id()));
  for (const v1::Unit& unit : report.quarantined_units()) {
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_QUARANTINED);
    EXPECT_EQ(unit.hold(), v1::UNIT_HOLD_LOOKBACK);
  }
  ASSERT_EQ(report.issued_units_size(), 1);
  EXPECT_EQ(report.issued_units(0).unit().unit_id(), went_out.unit_id());
  EXPECT_EQ(report.issued_units(0).order_id(), "ORD-9");
  EXPECT_EQ(report.issued_units(0).hospital_id(), "H002");
  EXPECT_THAT(report.affected_reservation_keys(), ElementsAre("LB-HOLD"));
  EXPECT_EQ(GetUnit(reactive_din + "-PL0").hold(), v1::UNIT_HOLD_TESTING);  // not touched

  // Lookback holds are never released by test results; a repeat reports the same units.
  ReleaseDin(on_shelf.din(), ANeg());
  EXPECT_EQ(GetUnit(on_shelf.unit_id()).status(), v1::UNIT_STATUS_QUARANTINED);
  lookback.set_request_id(NextRequestId());
  ASSERT_TRUE(Call(&Stub::QuarantineByDonor, lookback, &report).ok());
  EXPECT_EQ(report.quarantined_units_size(), 2);
  EXPECT_EQ(report.issued_units_size(), 1);
  EXPECT_TRUE(report.affected_reservation_keys().empty());

  // A donor with nothing earlier: an empty report. Bad input writes nothing.
  lookback.set_request_id(NextRequestId());
  lookback.set_donor_id("D-NEW");
  ASSERT_TRUE(Call(&Stub::QuarantineByDonor, lookback, &report).ok());
  EXPECT_FALSE(report.has_window_start());
  EXPECT_TRUE(report.quarantined_units().empty());
  const std::string before = TableFingerprint();
  lookback.set_request_id(NextRequestId());
  lookback.set_reactive_din("XYZ");
  EXPECT_INVALID(Call(&Stub::QuarantineByDonor, lookback, &report), "reactive_din");
  lookback.set_reactive_din(reactive_din);
  lookback.clear_donor_id();
  EXPECT_INVALID(Call(&Stub::QuarantineByDonor, lookback, &report), "donor_id");
  EXPECT_EQ(TableFingerprint(), before);
}

// ---------------------------------------------------------------------------------------------
// Views

TEST_F(InventoryServiceTest, StockSummaryListUnitsAndTrace) {
  AddStation("CENTRAL");
  AddStation("BR-1");
  v1::SetParLevelRequest par;
  par.set_request_id(NextRequestId());
  par.set_station_id("CENTRAL");
  par.set_component(v1::COMPONENT_WHOLE_BLOOD);
  *par.mutable_blood_type() = ONeg();
  par.set_minimum(5);
  par.set_target(10);
  v1::ParLevel level;
  ASSERT_TRUE(Call(&Stub::SetParLevel, par, &level).ok());
  std::vector<v1::Unit> units;
  for (int i = 0; i < 3; ++i) units.push_back(AvailableExpiringIn("CENTRAL", ONeg(), 1 + 10 * i));
  units.push_back(AvailableExpiringIn("CENTRAL", OPos(), 12));
  units.push_back(AvailableExpiringIn("BR-1", ONeg(), 8));
  Collect(NewDin(), "D-Q", "CENTRAL", ONeg());
  Reserve(ReserveRequest("SUM-1", {"CENTRAL"}, 1, {{ONeg(), 0}}));

  const std::vector<v1::StockLevel> central = Summary("CENTRAL");
  const v1::StockLevel* o_neg = Row(central, "CENTRAL", v1::COMPONENT_WHOLE_BLOOD, ONeg());
  ASSERT_NE(o_neg, nullptr);
  EXPECT_EQ(o_neg->available().units(), 2);
  EXPECT_EQ(o_neg->reserved().units(), 1);
  EXPECT_EQ(o_neg->quarantined().units(), 1);
  EXPECT_EQ(o_neg->expiring_soon().units(), 0);  // the one expiring tomorrow is the reserved one
  EXPECT_EQ(o_neg->par_minimum(), 5);
  EXPECT_TRUE(o_neg->below_par());
  EXPECT_NE(Row(central, "CENTRAL", v1::COMPONENT_WHOLE_BLOOD, OPos()), nullptr);
  EXPECT_EQ(Row(central, "BR-1", v1::COMPONENT_WHOLE_BLOOD, ONeg()), nullptr);
  v1::GetStockSummaryRequest all;
  v1::GetStockSummaryResponse everything;
  ASSERT_TRUE(Call(&Stub::GetStockSummary, all, &everything).ok());
  EXPECT_EQ(everything.levels_size(), 3);
  EXPECT_EQ(everything.expiring_soon_hours(), 48);
  EXPECT_EQ(everything.levels(0).station_id(), "BR-1");
  all.set_station_id("NOWHERE");
  EXPECT_EQ(Call(&Stub::GetStockSummary, all, &everything).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // ListUnits: filters, keyset pages in expiry order, no row twice.
  v1::ListUnitsRequest list;
  list.set_status(v1::UNIT_STATUS_AVAILABLE);
  list.set_page_size(2);
  std::vector<std::string> listed;
  for (int page = 0; page < 5; ++page) {
    v1::ListUnitsResponse response;
    ASSERT_TRUE(Call(&Stub::ListUnits, list, &response).ok());
    for (const v1::Unit& unit : response.units()) listed.push_back(unit.unit_id());
    if (response.next_page_token().empty()) break;
    list.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(listed.size(), 4u);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), 4u);
  v1::ListUnitsRequest filtered;
  filtered.set_station_id("CENTRAL");
  *filtered.mutable_blood_type() = ONeg();
  filtered.set_component(v1::COMPONENT_WHOLE_BLOOD);
  v1::ListUnitsResponse response;
  ASSERT_TRUE(Call(&Stub::ListUnits, filtered, &response).ok());
  EXPECT_EQ(response.units_size(), 4);  // 2 available, 1 reserved, 1 quarantined
  for (int i = 1; i < response.units_size(); ++i) {
    EXPECT_LE(response.units(i - 1).expires_at().seconds(),
              response.units(i).expires_at().seconds());
  }
  filtered.set_din(units[1].din());
  ASSERT_TRUE(Call(&Stub::ListUnits, filtered, &response).ok());
  EXPECT_THAT(UnitIds(response.units()), ElementsAre(units[1].unit_id()));
  list.set_status(v1::UNIT_STATUS_RESERVED);  // token of another filter
  EXPECT_INVALID(Call(&Stub::ListUnits, list, &response), "page_token");
  filtered.mutable_blood_type()->clear_rhd();
  EXPECT_INVALID(Call(&Stub::ListUnits, filtered, &response), "blood_type");
  v1::ListUnitsRequest negative;
  negative.set_page_size(-1);
  EXPECT_INVALID(Call(&Stub::ListUnits, negative, &response), "page_size");

  v1::GetUnitRequest get;
  get.set_unit_id("nope");
  v1::Unit unit;
  EXPECT_EQ(Call(&Stub::GetUnit, get, &unit).error_code(), grpc::StatusCode::NOT_FOUND);

  // The trace: every event of the DIN in order, with who did it.
  v1::GetUnitTraceRequest trace_request;
  trace_request.set_din(units[0].din());
  v1::GetUnitTraceResponse trace;
  ASSERT_TRUE(Call(&Stub::GetUnitTrace, trace_request, &trace).ok());
  ASSERT_EQ(trace.units_size(), 1);
  std::vector<v1::UnitEventKind> kinds;
  for (const v1::UnitEvent& event : trace.events()) {
    kinds.push_back(event.kind());
    EXPECT_EQ(event.actor(), "admin:tester");
  }
  EXPECT_THAT(kinds,
              ElementsAre(v1::UNIT_EVENT_KIND_COLLECTED, v1::UNIT_EVENT_KIND_TEST_RECORDED,
                          v1::UNIT_EVENT_KIND_RELEASED_FOR_USE, v1::UNIT_EVENT_KIND_RESERVED));
  EXPECT_EQ(trace.events(2).from_status(), v1::UNIT_STATUS_QUARANTINED);
  EXPECT_EQ(trace.events(2).to_status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(trace.test_results_size(), 6);
  trace_request.set_din(NewDin());
  EXPECT_EQ(Call(&Stub::GetUnitTrace, trace_request, &trace).error_code(),
            grpc::StatusCode::NOT_FOUND);
  trace_request.set_din("12");
  EXPECT_INVALID(Call(&Stub::GetUnitTrace, trace_request, &trace), "din");
}

TEST_F(InventoryServiceTest, RebalanceInputs) {
  AddStation("CENTRAL", true, 39.90, 116.40);
  AddStation("BR-1", true, 39.95, 116.90);
  AddStation("OFF", false);
  v1::SetParLevelRequest par;
  par.set_request_id(NextRequestId());
  par.set_station_id("BR-1");
  par.set_component(v1::COMPONENT_WHOLE_BLOOD);
  *par.mutable_blood_type() = OPos();
  par.set_minimum(7);
  par.set_target(14);
  v1::ParLevel level;
  ASSERT_TRUE(Call(&Stub::SetParLevel, par, &level).ok());
  AvailableExpiringIn("CENTRAL", OPos(), 2);
  AvailableExpiringIn("CENTRAL", OPos(), 30);
  v1::GetRebalanceInputsRequest request;
  request.set_horizon_hours(72);
  v1::GetRebalanceInputsResponse response;
  ASSERT_TRUE(Call(&Stub::GetRebalanceInputs, request, &response).ok());
  EXPECT_EQ(response.stations_size(), 2);
  EXPECT_EQ(response.transport_times_size(), 2);
  EXPECT_EQ(response.demand_window_days(), 28);
  bool central_seen = false;
  for (const v1::StockPosition& p : response.positions()) {
    if (p.station_id() == "CENTRAL") {
      central_seen = true;
      ASSERT_EQ(p.available_lots_size(), 2);
      EXPECT_FALSE(p.available_lots(0).beyond_horizon());
      EXPECT_TRUE(p.available_lots(1).beyond_horizon());
    } else {
      EXPECT_EQ(p.station_id(), "BR-1");
      EXPECT_DOUBLE_EQ(p.daily_demand(), 1.0);  // par 7 / 7 days
    }
  }
  EXPECT_TRUE(central_seen);
  request.set_horizon_hours(0);
  EXPECT_INVALID(Call(&Stub::GetRebalanceInputs, request, &response), "horizon_hours");
}

// ---------------------------------------------------------------------------------------------
// The stock stream

TEST_F(InventoryServiceTest, WatchStockStreamsCommittedChanges) {
  AddStation("CENTRAL");
  AddStation("BR-1");
  v1::SetParLevelRequest par;
  par.set_request_id(NextRequestId());
  par.set_station_id("CENTRAL");
  par.set_component(v1::COMPONENT_WHOLE_BLOOD);
  *par.mutable_blood_type() = OPos();
  par.set_minimum(2);
  par.set_target(4);
  v1::ParLevel level;
  ASSERT_TRUE(Call(&Stub::SetParLevel, par, &level).ok());
  AvailableUnit("CENTRAL", OPos());
  AvailableUnit("CENTRAL", OPos());
  AvailableUnit("BR-1", OPos());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::WatchStockRequest request;
  request.set_station_id("CENTRAL");
  request.set_include_snapshot(true);
  std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader = stub_->WatchStock(&context, request);
  v1::StockEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_TRUE(event.snapshot());
  ASSERT_TRUE(event.has_level());
  EXPECT_EQ(event.level().station_id(), "CENTRAL");
  EXPECT_EQ(event.level().available().units(), 2);

  // A reservation at the watched station: its new level, then the below-par alert.
  Reserve(ReserveRequest("W-1", {"CENTRAL"}, 1, {{OPos(), 0}}));
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 2u);
  EXPECT_FALSE(event.snapshot());
  ASSERT_TRUE(event.has_level());
  EXPECT_EQ(event.level().available().units(), 1);
  EXPECT_EQ(event.level().reserved().units(), 1);
  EXPECT_TRUE(event.level().below_par());
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 3u);
  ASSERT_TRUE(event.has_alert());
  EXPECT_EQ(event.alert().kind(), v1::STOCK_ALERT_KIND_BELOW_PAR);
  // Changes at another station are not sent to this watcher; the next event is CENTRAL's.
  Reserve(ReserveRequest("W-2", {"BR-1"}, 1, {{OPos(), 0}}));
  Reserve(ReserveRequest("W-3", {"CENTRAL"}, 1, {{OPos(), 0}}));
  ASSERT_TRUE(reader->Read(&event));
  ASSERT_TRUE(event.has_level());
  EXPECT_EQ(event.level().station_id(), "CENTRAL");
  EXPECT_EQ(event.level().available().units(), 0);
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.alert().kind(), v1::STOCK_ALERT_KIND_OUT_OF_STOCK);

  // The server shutting down ends the stream with UNAVAILABLE.
  server_->Shutdown();
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(InventoryServiceTest, WatchStockRefusesAnUnknownStation) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchStockRequest request;
  request.set_station_id("NOWHERE");
  std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader = stub_->WatchStock(&context, request);
  v1::StockEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// request_id on every mutating RPC

TEST_F(InventoryServiceTest, EveryMutatingRpcRefusesAMalformedRequestId) {
  AddStation("CENTRAL");
  const v1::Unit unit = AvailableUnit("CENTRAL", OPos());
  Reserve(ReserveRequest("RID-1", {"CENTRAL"}, 1, {{OPos(), 0}}));
  const std::string before = TableFingerprint();
  for (const std::string& bad_id : {std::string(), std::string("has space"), std::string(129, 'x'),
                                    std::string("semi;colon")}) {
    SCOPED_TRACE(bad_id);
    v1::UpsertStationRequest upsert;
    upsert.set_request_id(bad_id);
    v1::Station station;
    EXPECT_INVALID(Call(&Stub::UpsertStation, upsert, &station), "request_id");
    v1::SetParLevelRequest par;
    par.set_request_id(bad_id);
    v1::ParLevel level;
    EXPECT_INVALID(Call(&Stub::SetParLevel, par, &level), "request_id");
    v1::RegisterCollectionRequest collect = CollectionRequest(NewDin(), "D", "CENTRAL", OPos());
    collect.set_request_id(bad_id);
    v1::RegisterCollectionResponse collected;
    EXPECT_INVALID(Call(&Stub::RegisterCollection, collect, &collected), "request_id");
    v1::RecordTestResultsRequest tests = AllClearRequest(unit.din(), OPos());
    tests.set_request_id(bad_id);
    v1::RecordTestResultsResponse tested;
    EXPECT_INVALID(Call(&Stub::RecordTestResults, tests, &tested), "request_id");
    v1::ProcessDonationRequest process;
    process.set_request_id(bad_id);
    process.set_din(unit.din());
    process.add_components()->set_component(v1::COMPONENT_RED_CELLS);
    v1::ProcessDonationResponse processed;
    EXPECT_INVALID(Call(&Stub::ProcessDonation, process, &processed), "request_id");
    v1::ReleaseRequest release;
    release.set_request_id(bad_id);
    release.set_reservation_key("RID-1");
    v1::Reservation reservation;
    EXPECT_INVALID(Call(&Stub::Release, release, &reservation), "request_id");
    v1::IssueRequest issue;
    issue.set_request_id(bad_id);
    issue.set_reservation_key("RID-1");
    issue.set_hospital_id("H001");
    issue.set_order_id("O1");
    v1::IssueResponse issued;
    EXPECT_INVALID(Call(&Stub::Issue, issue, &issued), "request_id");
    v1::RecordOutcomeRequest outcome;
    outcome.set_request_id(bad_id);
    outcome.set_unit_id(unit.unit_id());
    outcome.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
    outcome.set_order_id("O1");
    v1::Unit outcome_unit;
    EXPECT_INVALID(Call(&Stub::RecordOutcome, outcome, &outcome_unit), "request_id");
    v1::CreateTransferRequest create;
    create.set_request_id(bad_id);
    v1::Transfer transfer;
    EXPECT_INVALID(Call(&Stub::CreateTransfer, create, &transfer), "request_id");
    v1::DispatchTransferRequest dispatch;
    dispatch.set_request_id(bad_id);
    dispatch.set_transfer_id("TR-1");
    EXPECT_INVALID(Call(&Stub::DispatchTransfer, dispatch, &transfer), "request_id");
    v1::ReceiveTransferRequest receive;
    receive.set_request_id(bad_id);
    receive.set_transfer_id("TR-1");
    EXPECT_INVALID(Call(&Stub::ReceiveTransfer, receive, &transfer), "request_id");
    v1::CancelTransferRequest cancel;
    cancel.set_request_id(bad_id);
    cancel.set_transfer_id("TR-1");
    EXPECT_INVALID(Call(&Stub::CancelTransfer, cancel, &transfer), "request_id");
    v1::DiscardUnitRequest discard;
    discard.set_request_id(bad_id);
    discard.set_unit_id(unit.unit_id());
    discard.set_reason(v1::DISCARD_REASON_DAMAGED);
    v1::Unit discarded;
    EXPECT_INVALID(Call(&Stub::DiscardUnit, discard, &discarded), "request_id");
    v1::QuarantineByDonorRequest lookback;
    lookback.set_request_id(bad_id);
    lookback.set_donor_id("D");
    lookback.set_reactive_din(unit.din());
    v1::QuarantineByDonorResponse report;
    EXPECT_INVALID(Call(&Stub::QuarantineByDonor, lookback, &report), "request_id");
  }
  EXPECT_EQ(TableFingerprint(), before);
}

// ---------------------------------------------------------------------------------------------
// The background sweepers

class BackgroundSweeperTest : public InventoryServerTest {
 protected:
  BackgroundSweeperTest()
      : InventoryServerTest(/*pool_size=*/4, /*max_threads=*/64,
                            /*sweep_interval=*/absl::Milliseconds(20)) {}
};

TEST_F(BackgroundSweeperTest, ReleasesLapsedHoldsAndExpiresUnitsOnTheirOwn) {
  AddStation("CENTRAL");
  const v1::Unit held = AvailableUnit("CENTRAL", OPos());
  const v1::Unit shelf = AvailableUnit("CENTRAL", ONeg(), 200, clock_.Now() - absl::Hours(24) * 34);
  v1::ReserveRequest request = ReserveRequest("BG-1", {"CENTRAL"}, 1, {{OPos(), 0}});
  request.set_hold_seconds(30);
  v1::Reservation reservation;
  ASSERT_TRUE(Call(&Stub::Reserve, request, &reservation).ok());
  clock_.Advance(absl::Hours(24) * 2);  // past the hold and past the O- bag's expiry
  v1::GetReservationRequest get;
  get.set_reservation_key("BG-1");
  v1::GetUnitRequest get_unit;
  get_unit.set_unit_id(shelf.unit_id());
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  v1::Unit expired;
  while (absl::Now() < give_up) {
    ASSERT_TRUE(Call(&Stub::GetReservation, get, &reservation).ok());
    ASSERT_TRUE(Call(&Stub::GetUnit, get_unit, &expired).ok());
    if (reservation.status() == v1::RESERVATION_STATUS_EXPIRED &&
        expired.status() == v1::UNIT_STATUS_EXPIRED) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(reservation.status(), v1::RESERVATION_STATUS_EXPIRED);
  EXPECT_EQ(expired.status(), v1::UNIT_STATUS_EXPIRED);
  get_unit.set_unit_id(held.unit_id());
  v1::Unit freed;
  ASSERT_TRUE(Call(&Stub::GetUnit, get_unit, &freed).ok());
  EXPECT_EQ(freed.status(), v1::UNIT_STATUS_AVAILABLE);
}

}  // namespace
}  // namespace bloodgrid::inventory::testing
