// Lookback cases end to end: a reactive result holds the donor's other stock and opens the case
// in its own transaction (or writes nothing), recall notices per hospital and their
// acknowledgement, the change feed events of testing and collection, and a transfer created and
// dispatched in one call. The real server in-process against a fresh schema on the test MariaDB,
// called through a real gRPC stub.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
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

template <typename Units>
std::vector<std::string> UnitIds(const Units& units) {
  std::vector<std::string> ids;
  for (const v1::Unit& unit : units) ids.push_back(unit.unit_id());
  return ids;
}

class InventoryLookbackTest : public InventoryServerTest {
 protected:
  InventoryLookbackTest() { AddStation("CENTRAL"); }

  v1::Unit GetUnit(const std::string& unit_id) {
    v1::GetUnitRequest request;
    request.set_unit_id(unit_id);
    v1::Unit unit;
    grpc::Status status = Call(&Stub::GetUnit, request, &unit);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return unit;
  }

  // An AVAILABLE apheresis plasma unit of `donor` collected `days_ago` days ago.
  v1::Unit Plasma(const std::string& donor, int days_ago, v1::BloodType type = ANeg()) {
    return AvailableUnit("CENTRAL", type, 300, clock_.Now() - absl::Hours(24) * days_ago,
                         v1::DONATION_TYPE_APHERESIS_PLASMA, donor);
  }

  // Reserves every AVAILABLE plasma unit of `type` (300 mL each, `units` of them) under `key`.
  v1::Reservation ReservePlasma(const std::string& key, v1::BloodType type, int units = 1) {
    v1::Reservation reservation;
    grpc::Status status = Call(&Stub::Reserve,
                               ReserveRequest(key, {"CENTRAL"}, 300 * units, {{type, 0}},
                                              v1::PRIORITY_ROUTINE, v1::COMPONENT_PLASMA),
                               &reservation);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reservation;
  }

  // Issues `unit` (the only AVAILABLE plasma unit of its type) to `hospital` for `order`.
  void IssueTo(const v1::Unit& unit, const std::string& hospital, const std::string& order) {
    const std::string key = absl::StrCat("ISSUE-", unit.unit_id());
    v1::Reservation reservation = ReservePlasma(key, unit.blood_type());
    ASSERT_EQ(reservation.units_size(), 1);
    ASSERT_EQ(reservation.units(0).unit_id(), unit.unit_id());
    v1::IssueRequest issue;
    issue.set_request_id(NextRequestId());
    issue.set_reservation_key(key);
    issue.set_hospital_id(hospital);
    issue.set_order_id(order);
    v1::IssueResponse issued;
    grpc::Status status = Call(&Stub::Issue, issue, &issued);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Every mandatory screen and the typing, `reactive` reactive.
  v1::RecordTestResultsRequest ReactiveRequest(const std::string& din, v1::BloodType typed,
                                               v1::ScreeningTest reactive) {
    v1::RecordTestResultsRequest request = AllClearRequest(din, typed);
    for (v1::TestResultInput& result : *request.mutable_results()) {
      if (result.test() == reactive) result.set_reactive(true);
    }
    return request;
  }

  v1::RecordTestResultsResponse Record(const v1::RecordTestResultsRequest& request) {
    v1::RecordTestResultsResponse response;
    grpc::Status status = Call(&Stub::RecordTestResults, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::LookbackCase GetLookback(const std::string& id) {
    v1::GetLookbackRequest request;
    request.set_lookback_id(id);
    v1::LookbackCase out;
    grpc::Status status = Call(&Stub::GetLookback, request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  v1::ListRecallsResponse Recalls(const std::string& hospital,
                                  v1::RecallStatus status = v1::RECALL_STATUS_UNSPECIFIED,
                                  int page_size = 0, const std::string& token = "") {
    v1::ListRecallsRequest request;
    request.set_hospital_id(hospital);
    request.set_status(status);
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::ListRecallsResponse out;
    grpc::Status s = Call(&Stub::ListRecalls, request, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status Acknowledge(const std::string& recall_id, const std::string& hospital,
                           v1::RecallNotice* out, const std::string& note = "quarantined") {
    v1::AcknowledgeRecallRequest request;
    request.set_request_id(NextRequestId());
    request.set_recall_id(recall_id);
    request.set_hospital_id(hospital);
    request.set_note(note);
    return Call(&Stub::AcknowledgeRecall, request, out, absl::StrCat("hospital:", hospital));
  }

  // The change feed events of `kind` ("testing", "registered", "stock"), in sequence order.
  std::vector<v1::ChangeEvent> FeedEvents(const std::string& kind) {
    std::vector<v1::ChangeEvent> out;
    const int64_t n = schema_.QueryInt(
        absl::StrCat("SELECT COUNT(*) FROM change_feed WHERE kind = '", kind, "'"));
    for (int64_t i = 0; i < n; ++i) {
      const std::string hex =
          schema_.QueryString(absl::StrCat("SELECT HEX(payload) FROM change_feed WHERE kind = '",
                                           kind, "' ORDER BY sequence LIMIT 1 OFFSET ", i));
      v1::ChangeEvent event;
      EXPECT_TRUE(event.ParseFromString(absl::HexStringToBytes(hex)));
      out.push_back(std::move(event));
    }
    return out;
  }

  // TableFingerprint plus the lookback tables and the change feed.
  std::string Fingerprint() {
    std::string out = TableFingerprint();
    for (const char* table :
         {"lookback_cases", "lookback_units", "recall_notices", "change_feed"}) {
      absl::StrAppend(&out, " ", table, "=",
                      schema_.QueryInt(absl::StrCat("SELECT COUNT(*) FROM ", table)));
    }
    absl::StrAppend(
        &out, " recalls_crc=",
        schema_.QueryInt("SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', recall_id, status, "
                         "acknowledgement_note))), 0) FROM recall_notices"),
        " cases_crc=",
        schema_.QueryInt("SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', lookback_id, status))), 0) "
                         "FROM lookback_cases"));
    return out;
  }
};

// ---------------------------------------------------------------------------------------------
// The reactive result

TEST_F(InventoryLookbackTest, ReactiveResultHoldsTheDonorsStockAndOpensTheCaseInTheSameCall) {
  const v1::Unit went_out = Plasma("D-LB", 100, ONeg());  // issued to H002 below
  IssueTo(went_out, "H002", "ORD-9");
  const v1::Unit reserved = Plasma("D-LB", 60);  // reserved for an order below
  const v1::Unit on_shelf = Plasma("D-LB", 30, APos());
  ReservePlasma("LB-HOLD", ANeg());
  ASSERT_EQ(GetUnit(reserved.unit_id()).status(), v1::UNIT_STATUS_RESERVED);
  const std::string in_testing = NewDin();  // collected, not yet released
  const v1::Unit testing =
      Collect(in_testing, "D-LB", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300,
              clock_.Now() - absl::Hours(24) * 10);
  const v1::Unit bystander = Plasma("D-OTHER", 5);  // another donor's: untouched

  const std::string din = NewDin();
  Collect(din, "D-LB", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  const v1::RecordTestResultsResponse response =
      Record(ReactiveRequest(din, ANeg(), v1::SCREENING_TEST_ANTI_HCV));
  EXPECT_EQ(response.outcome(), v1::TESTING_OUTCOME_REACTIVE);
  EXPECT_THAT(UnitIds(response.discarded_units()), ElementsAre(din + "-PL0"));

  // The case, in the reply.
  const v1::LookbackCase& lookback = response.lookback();
  EXPECT_EQ(lookback.lookback_id(), absl::StrCat("LB-", din));
  EXPECT_EQ(lookback.donor_id(), "D-LB");
  EXPECT_EQ(lookback.reactive_din(), din);
  EXPECT_THAT(lookback.markers(), ElementsAre(v1::SCREENING_TEST_ANTI_HCV));
  EXPECT_EQ(lookback.status(), v1::LOOKBACK_STATUS_OPEN);
  EXPECT_EQ(lookback.opened_by(), "admin:tester");
  EXPECT_TRUE(lookback.has_window_start());
  EXPECT_THAT(lookback.reason(), HasSubstr("anti-HCV"));
  EXPECT_THAT(UnitIds(lookback.held_units()),
              UnorderedElementsAre(reserved.unit_id(), on_shelf.unit_id(), testing.unit_id()));
  for (const v1::Unit& unit : lookback.held_units()) {
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_QUARANTINED) << unit.unit_id();
    EXPECT_EQ(unit.hold(), v1::UNIT_HOLD_LOOKBACK) << unit.unit_id();
    EXPECT_TRUE(unit.reservation_key().empty()) << unit.unit_id();
  }
  ASSERT_EQ(lookback.issued_units_size(), 1);
  EXPECT_EQ(lookback.issued_units(0).unit().unit_id(), went_out.unit_id());
  EXPECT_EQ(lookback.issued_units(0).hospital_id(), "H002");
  EXPECT_EQ(lookback.issued_units(0).order_id(), "ORD-9");
  ASSERT_EQ(lookback.recalls_size(), 1);
  const v1::RecallNotice& notice = lookback.recalls(0);
  EXPECT_EQ(notice.hospital_id(), "H002");
  EXPECT_EQ(notice.unit_id(), went_out.unit_id());
  EXPECT_EQ(notice.din(), went_out.din());
  EXPECT_EQ(notice.component(), v1::COMPONENT_PLASMA);
  EXPECT_EQ(notice.order_id(), "ORD-9");
  EXPECT_EQ(notice.status(), v1::RECALL_STATUS_OPEN);
  EXPECT_THAT(notice.reason(), HasSubstr("anti-HCV"));
  EXPECT_THAT(notice.action(), HasSubstr("return"));

  // The units as stored: held at once, and a lookback hold is never released by test results.
  for (const std::string& id : {reserved.unit_id(), on_shelf.unit_id(), testing.unit_id()}) {
    const v1::Unit unit = GetUnit(id);
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_QUARANTINED) << id;
    EXPECT_EQ(unit.hold(), v1::UNIT_HOLD_LOOKBACK) << id;
  }
  ReleaseDin(in_testing, ANeg());
  EXPECT_EQ(GetUnit(testing.unit_id()).status(), v1::UNIT_STATUS_QUARANTINED);
  EXPECT_EQ(GetUnit(bystander.unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(GetUnit(went_out.unit_id()).status(), v1::UNIT_STATUS_ISSUED);

  // The case as stored.
  const v1::LookbackCase stored = GetLookback(lookback.lookback_id());
  EXPECT_THAT(UnitIds(stored.held_units()),
              UnorderedElementsAre(reserved.unit_id(), on_shelf.unit_id(), testing.unit_id()));
  ASSERT_EQ(stored.recalls_size(), 1);
  EXPECT_EQ(stored.recalls(0).recall_id(), notice.recall_id());
  EXPECT_EQ(stored.issued_units(0).hospital_id(), "H002");
  EXPECT_EQ(stored.window_start().seconds(), lookback.window_start().seconds());

  // The change feed: the reactive result for the donor service, the withdrawn unit for the
  // request service, and one registration per collection.
  bool saw_reactive = false;
  for (const v1::ChangeEvent& event : FeedEvents("testing")) {
    const v1::TestingRecorded& testing_event = event.testing();
    if (testing_event.din() != din) continue;
    saw_reactive = true;
    EXPECT_EQ(testing_event.donor_id(), "D-LB");
    EXPECT_EQ(testing_event.outcome(), v1::TESTING_OUTCOME_REACTIVE);
    EXPECT_EQ(testing_event.lookback_id(), absl::StrCat("LB-", din));
    EXPECT_THAT(testing_event.reactive_tests(), ElementsAre(v1::SCREENING_TEST_ANTI_HCV));
    EXPECT_EQ(testing_event.typed_blood_type().abo(), v1::ABO_GROUP_A);
    EXPECT_EQ(testing_event.collected_at().seconds(),
              absl::ToUnixSeconds(clock_.Now() - absl::Hours(2)));
    EXPECT_EQ(event.actor(), "admin:tester");
  }
  EXPECT_TRUE(saw_reactive);
  bool saw_withdrawn = false;
  for (const v1::ChangeEvent& event : FeedEvents("stock")) {
    for (const v1::StockAlert& alert : event.stock().alerts()) {
      if (alert.kind() == v1::STOCK_ALERT_KIND_RESERVED_UNIT_WITHDRAWN) {
        saw_withdrawn = true;
        EXPECT_EQ(alert.reservation_key(), "LB-HOLD");
        EXPECT_THAT(alert.unit_ids(), ElementsAre(reserved.unit_id()));
      }
    }
  }
  EXPECT_TRUE(saw_withdrawn);
  std::vector<std::string> registered;
  for (const v1::ChangeEvent& event : FeedEvents("registered")) {
    registered.push_back(event.registered().unit_id());
    EXPECT_EQ(event.registered().station_id(), "CENTRAL");
    EXPECT_FALSE(event.registered().donor_id().empty());
  }
  EXPECT_THAT(registered, ::testing::Contains(din + "-PL0"));
  EXPECT_THAT(registered, ::testing::Contains(testing.unit_id()));
  EXPECT_EQ(registered.size(), 6u);  // six collections in this test

  // A repeat, and a further result, return the case already open; never a second one.
  v1::RecordTestResultsRequest repeat = ReactiveRequest(din, ANeg(), v1::SCREENING_TEST_ANTI_HCV);
  v1::RecordTestResultsResponse again = Record(repeat);
  EXPECT_EQ(again.lookback().lookback_id(), lookback.lookback_id());
  EXPECT_EQ(again.lookback().recalls_size(), 1);
  v1::RecordTestResultsRequest further;
  further.set_request_id(NextRequestId());
  further.set_din(din);
  v1::TestResultInput* nat = further.add_results();
  nat->set_test(v1::SCREENING_TEST_NAT);
  nat->set_reactive(true);
  again = Record(further);
  EXPECT_EQ(again.lookback().lookback_id(), lookback.lookback_id());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM lookback_cases"), 1);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM recall_notices"), 1);
  // Only typing or a newly reactive donation reaches the feed: one event for this DIN.
  int events_of_din = 0;
  for (const v1::ChangeEvent& event : FeedEvents("testing")) {
    events_of_din += event.testing().din() == din ? 1 : 0;
  }
  EXPECT_EQ(events_of_din, 1);
}

TEST_F(InventoryLookbackTest, ATypingResultReachesTheFeedAndAReleaseWithoutTypingDoesNot) {
  const std::string din = NewDin();
  Collect(din, "D-TYPE", "CENTRAL", OPos());
  v1::RecordTestResultsRequest screens = AllClearRequest(din, OPos());
  screens.mutable_results()->RemoveLast();  // no typing yet
  Record(screens);
  EXPECT_TRUE(FeedEvents("testing").empty());
  v1::RecordTestResultsRequest typing;
  typing.set_request_id(NextRequestId());
  typing.set_din(din);
  v1::TestResultInput* abo = typing.add_results();
  abo->set_test(v1::SCREENING_TEST_ABO_RHD);
  *abo->mutable_blood_type() = ONeg();
  const v1::RecordTestResultsResponse released = Record(typing);
  EXPECT_EQ(released.outcome(), v1::TESTING_OUTCOME_RELEASED);
  EXPECT_FALSE(released.has_lookback());
  const std::vector<v1::ChangeEvent> events = FeedEvents("testing");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].testing().din(), din);
  EXPECT_EQ(events[0].testing().outcome(), v1::TESTING_OUTCOME_RELEASED);
  EXPECT_EQ(events[0].testing().typed_blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(events[0].testing().typed_blood_type().rhd(), v1::RH_D_NEGATIVE);
  EXPECT_TRUE(events[0].testing().lookback_id().empty());
}

TEST_F(InventoryLookbackTest, AReactiveResultThatCannotOpenItsCaseWritesNothing) {
  const v1::Unit on_shelf = Plasma("D-FAIL", 30);
  const std::string din = NewDin();
  Collect(din, "D-FAIL", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  // A row already holding the case's id (for another DIN) makes the case insert fail, after
  // the result, the discard and the hold were written in the same transaction.
  schema_.Exec(absl::StrCat(
      "INSERT INTO lookback_cases (lookback_id, donor_id, reactive_din, markers, opened_us, "
      "opened_by, window_start_us, window_end_us, status, reason) VALUES ('LB-",
      din, "', 'D-X', 'A999925999999', '', 0, 'x', NULL, 0, 1, 'x')"));
  const std::string before = Fingerprint();
  v1::RecordTestResultsRequest reactive = ReactiveRequest(din, ANeg(), v1::SCREENING_TEST_HBSAG);
  v1::RecordTestResultsResponse response;
  EXPECT_FALSE(Call(&Stub::RecordTestResults, reactive, &response).ok());
  EXPECT_EQ(Fingerprint(), before);
  EXPECT_EQ(GetUnit(on_shelf.unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(GetUnit(din + "-PL0").status(), v1::UNIT_STATUS_QUARANTINED);
  EXPECT_EQ(
      schema_.QueryInt(absl::StrCat("SELECT COUNT(*) FROM test_results WHERE din = '", din, "'")),
      0);

  // Once the obstacle is gone the same request does it all.
  schema_.Exec(absl::StrCat("DELETE FROM lookback_cases WHERE lookback_id = 'LB-", din, "'"));
  response = Record(reactive);
  EXPECT_EQ(response.lookback().lookback_id(), absl::StrCat("LB-", din));
  EXPECT_THAT(UnitIds(response.lookback().held_units()), ElementsAre(on_shelf.unit_id()));
  EXPECT_EQ(GetUnit(on_shelf.unit_id()).hold(), v1::UNIT_HOLD_LOOKBACK);
  EXPECT_EQ(GetUnit(din + "-PL0").status(), v1::UNIT_STATUS_DISCARDED);
}

TEST_F(InventoryLookbackTest, ConcurrentReactiveResultsOfOneDonorEndConsistent) {
  const v1::Unit earlier = Plasma("D-RACE", 40);
  const std::string first = NewDin();
  const std::string second = NewDin();
  Collect(first, "D-RACE", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  Collect(second, "D-RACE", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  // Two reactive DINs of the donor at once, and the first DIN twice.
  std::vector<v1::RecordTestResultsRequest> requests = {
      ReactiveRequest(first, ANeg(), v1::SCREENING_TEST_ANTI_HIV),
      ReactiveRequest(second, ANeg(), v1::SCREENING_TEST_ANTI_HIV),
      ReactiveRequest(first, ANeg(), v1::SCREENING_TEST_ANTI_HIV)};
  std::vector<v1::RecordTestResultsResponse> responses(requests.size());
  std::vector<grpc::Status> statuses(requests.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back(
        [&, i] { statuses[i] = Call(&Stub::RecordTestResults, requests[i], &responses[i]); });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(responses[i].outcome(), v1::TESTING_OUTCOME_REACTIVE);
  }
  EXPECT_EQ(responses[0].lookback().lookback_id(), absl::StrCat("LB-", first));
  EXPECT_EQ(responses[2].lookback().lookback_id(), absl::StrCat("LB-", first));
  EXPECT_EQ(responses[1].lookback().lookback_id(), absl::StrCat("LB-", second));
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM lookback_cases"), 2);
  EXPECT_EQ(GetUnit(first + "-PL0").status(), v1::UNIT_STATUS_DISCARDED);
  EXPECT_EQ(GetUnit(second + "-PL0").status(), v1::UNIT_STATUS_DISCARDED);
  const v1::Unit held = GetUnit(earlier.unit_id());
  EXPECT_EQ(held.status(), v1::UNIT_STATUS_QUARANTINED);
  EXPECT_EQ(held.hold(), v1::UNIT_HOLD_LOOKBACK);
  // Each case holds the earlier unit; nothing of the donor is left on the shelf.
  EXPECT_THAT(UnitIds(GetLookback(absl::StrCat("LB-", first)).held_units()),
              ::testing::Contains(earlier.unit_id()));
  EXPECT_THAT(UnitIds(GetLookback(absl::StrCat("LB-", second)).held_units()),
              ::testing::Contains(earlier.unit_id()));
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM units WHERE donor_id = 'D-RACE' AND "
                             "status IN (2, 3)"),
            0);
  // One REACTIVE event per DIN.
  int first_events = 0;
  int second_events = 0;
  for (const v1::ChangeEvent& event : FeedEvents("testing")) {
    first_events += event.testing().din() == first ? 1 : 0;
    second_events += event.testing().din() == second ? 1 : 0;
  }
  EXPECT_EQ(first_events, 1);
  EXPECT_EQ(second_events, 1);
}

TEST_F(InventoryLookbackTest, ACorrectionThatMakesAnIssuedDonationReactiveNotifiesItsHospital) {
  const v1::Unit unit = Plasma("D-CORR", 3);
  IssueTo(unit, "H003", "ORD-C");
  v1::RecordTestResultsRequest correction;
  correction.set_request_id(NextRequestId());
  correction.set_din(unit.din());
  v1::TestResultInput* hiv = correction.add_results();
  hiv->set_test(v1::SCREENING_TEST_ANTI_HIV);
  hiv->set_reactive(true);
  hiv->set_correction_reason("confirmatory test reactive");
  const v1::RecordTestResultsResponse response = Record(correction);
  EXPECT_EQ(response.outcome(), v1::TESTING_OUTCOME_REACTIVE);
  EXPECT_THAT(UnitIds(response.issued_units()), ElementsAre(unit.unit_id()));
  ASSERT_EQ(response.lookback().recalls_size(), 1);
  EXPECT_EQ(response.lookback().recalls(0).hospital_id(), "H003");
  EXPECT_EQ(response.lookback().recalls(0).unit_id(), unit.unit_id());
  EXPECT_THAT(response.lookback().recalls(0).reason(), HasSubstr("anti-HIV-1/2"));
  EXPECT_FALSE(response.lookback().has_window_start());  // nothing earlier to trace
  EXPECT_EQ(Recalls("H003").recalls_size(), 1);
}

// ---------------------------------------------------------------------------------------------
// Recalls

TEST_F(InventoryLookbackTest, HospitalsSeeOnlyTheirRecallsAndAcknowledgingClosesTheCase) {
  const v1::Unit to_h1_first = Plasma("D-REC", 90, ONeg());
  IssueTo(to_h1_first, "H1", "ORD-1");
  const v1::Unit to_h1_second = Plasma("D-REC", 80, APos());
  IssueTo(to_h1_second, "H1", "ORD-2");
  const v1::Unit to_h2 = Plasma("D-REC", 70, ANeg());
  IssueTo(to_h2, "H2", "ORD-3");
  const std::string din = NewDin();
  Collect(din, "D-REC", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  const v1::LookbackCase lookback =
      Record(ReactiveRequest(din, ANeg(), v1::SCREENING_TEST_SYPHILIS)).lookback();
  ASSERT_EQ(lookback.recalls_size(), 3);
  EXPECT_EQ(lookback.status(), v1::LOOKBACK_STATUS_OPEN);

  // Each hospital sees its own notices, newest first, one page at a time.
  const v1::ListRecallsResponse h1_page1 = Recalls("H1", v1::RECALL_STATUS_UNSPECIFIED, 1);
  ASSERT_EQ(h1_page1.recalls_size(), 1);
  ASSERT_FALSE(h1_page1.next_page_token().empty());
  const v1::ListRecallsResponse h1_page2 =
      Recalls("H1", v1::RECALL_STATUS_UNSPECIFIED, 1, h1_page1.next_page_token());
  ASSERT_EQ(h1_page2.recalls_size(), 1);
  EXPECT_TRUE(h1_page2.next_page_token().empty());
  EXPECT_GT(h1_page1.recalls(0).recall_id(), h1_page2.recalls(0).recall_id());
  EXPECT_THAT(
      std::vector<std::string>({h1_page1.recalls(0).unit_id(), h1_page2.recalls(0).unit_id()}),
      UnorderedElementsAre(to_h1_first.unit_id(), to_h1_second.unit_id()));
  const v1::ListRecallsResponse h2 = Recalls("H2");
  ASSERT_EQ(h2.recalls_size(), 1);
  EXPECT_EQ(h2.recalls(0).unit_id(), to_h2.unit_id());
  EXPECT_EQ(h2.recalls(0).hospital_id(), "H2");
  EXPECT_EQ(Recalls("H9").recalls_size(), 0);

  // Another hospital's notice is unknown to H2.
  v1::RecallNotice acked;
  EXPECT_EQ(Acknowledge(h1_page1.recalls(0).recall_id(), "H2", &acked).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Acknowledge("RC-nothing", "H2", &acked).error_code(), grpc::StatusCode::NOT_FOUND);

  // H1 acknowledges both of its notices; the case stays open until H2 has too.
  for (const v1::RecallNotice& notice : {h1_page1.recalls(0), h1_page2.recalls(0)}) {
    ASSERT_TRUE(Acknowledge(notice.recall_id(), "H1", &acked).ok());
    EXPECT_EQ(acked.status(), v1::RECALL_STATUS_ACKNOWLEDGED);
    EXPECT_EQ(acked.acknowledged_by(), "hospital:H1");
    EXPECT_EQ(acked.acknowledgement_note(), "quarantined");
    EXPECT_TRUE(acked.has_acknowledged_at());
  }
  EXPECT_EQ(GetLookback(lookback.lookback_id()).status(), v1::LOOKBACK_STATUS_OPEN);
  EXPECT_EQ(Recalls("H1", v1::RECALL_STATUS_OPEN).recalls_size(), 0);
  EXPECT_EQ(Recalls("H1", v1::RECALL_STATUS_ACKNOWLEDGED).recalls_size(), 2);
  // Acknowledging again returns the notice unchanged.
  clock_.Advance(absl::Minutes(5));
  v1::RecallNotice twice;
  ASSERT_TRUE(Acknowledge(h1_page1.recalls(0).recall_id(), "H1", &twice, "other note").ok());
  EXPECT_EQ(twice.acknowledgement_note(), "quarantined");
  EXPECT_EQ(twice.acknowledged_at().seconds(),
            Recalls("H1", v1::RECALL_STATUS_ACKNOWLEDGED).recalls(0).acknowledged_at().seconds());
  // The last open notice closes the case.
  ASSERT_TRUE(Acknowledge(h2.recalls(0).recall_id(), "H2", &acked).ok());
  const v1::LookbackCase closed = GetLookback(lookback.lookback_id());
  EXPECT_EQ(closed.status(), v1::LOOKBACK_STATUS_ACKNOWLEDGED);
  for (const v1::RecallNotice& notice : closed.recalls()) {
    EXPECT_EQ(notice.status(), v1::RECALL_STATUS_ACKNOWLEDGED) << notice.hospital_id();
  }

  // ListLookbacks, by donor and status, newest first.
  const std::string other_din = NewDin();
  Collect(other_din, "D-ALONE", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  clock_.Advance(absl::Minutes(1));
  const v1::LookbackCase alone =
      Record(ReactiveRequest(other_din, ANeg(), v1::SCREENING_TEST_ALT)).lookback();
  EXPECT_EQ(alone.status(), v1::LOOKBACK_STATUS_ACKNOWLEDGED);  // nobody to notify
  EXPECT_EQ(alone.recalls_size(), 0);
  v1::ListLookbacksRequest list;
  v1::ListLookbacksResponse listed;
  ASSERT_TRUE(Call(&Stub::ListLookbacks, list, &listed).ok());
  ASSERT_EQ(listed.lookbacks_size(), 2);
  EXPECT_EQ(listed.lookbacks(0).lookback_id(), alone.lookback_id());
  EXPECT_EQ(listed.lookbacks(1).lookback_id(), lookback.lookback_id());
  EXPECT_EQ(listed.lookbacks(1).recalls_size(), 3);
  list.set_donor_id("D-REC");
  ASSERT_TRUE(Call(&Stub::ListLookbacks, list, &listed).ok());
  ASSERT_EQ(listed.lookbacks_size(), 1);
  EXPECT_EQ(listed.lookbacks(0).lookback_id(), lookback.lookback_id());
  list.clear_donor_id();
  list.set_page_size(1);
  ASSERT_TRUE(Call(&Stub::ListLookbacks, list, &listed).ok());
  ASSERT_EQ(listed.lookbacks_size(), 1);
  list.set_page_token(listed.next_page_token());
  ASSERT_TRUE(Call(&Stub::ListLookbacks, list, &listed).ok());
  ASSERT_EQ(listed.lookbacks_size(), 1);
  EXPECT_EQ(listed.lookbacks(0).lookback_id(), lookback.lookback_id());
  EXPECT_TRUE(listed.next_page_token().empty());
}

TEST_F(InventoryLookbackTest, BadInputsAreRefusedAndWriteNothing) {
  const v1::Unit unit = Plasma("D-BAD", 20);
  IssueTo(unit, "H1", "ORD-B");
  const std::string din = NewDin();
  Collect(din, "D-BAD", "CENTRAL", ANeg(), v1::DONATION_TYPE_APHERESIS_PLASMA, 300);
  const v1::LookbackCase lookback =
      Record(ReactiveRequest(din, ANeg(), v1::SCREENING_TEST_ANTI_HCV)).lookback();
  ASSERT_EQ(lookback.recalls_size(), 1);
  const std::string recall_id = lookback.recalls(0).recall_id();
  const std::string before = Fingerprint();

  v1::AcknowledgeRecallRequest ack;
  ack.set_request_id(NextRequestId());
  ack.set_recall_id(recall_id);
  ack.set_hospital_id("H1");
  ack.set_note(std::string(1001, 'x'));
  v1::RecallNotice notice;
  EXPECT_INVALID(Call(&Stub::AcknowledgeRecall, ack, &notice), "note");
  ack.set_note("ok");
  ack.clear_hospital_id();
  EXPECT_INVALID(Call(&Stub::AcknowledgeRecall, ack, &notice), "hospital_id");
  ack.set_hospital_id("H1");
  ack.clear_recall_id();
  EXPECT_INVALID(Call(&Stub::AcknowledgeRecall, ack, &notice), "recall_id");
  ack.set_recall_id(recall_id);
  ack.set_request_id("bad id with spaces");
  EXPECT_INVALID(Call(&Stub::AcknowledgeRecall, ack, &notice), "request_id");

  v1::ListRecallsRequest recalls;
  v1::ListRecallsResponse recalls_out;
  EXPECT_INVALID(Call(&Stub::ListRecalls, recalls, &recalls_out), "hospital_id");
  recalls.set_hospital_id("H1");
  recalls.set_page_size(-1);
  EXPECT_INVALID(Call(&Stub::ListRecalls, recalls, &recalls_out), "page_size");
  recalls.set_page_size(0);
  recalls.set_page_token("not-a-token");
  EXPECT_INVALID(Call(&Stub::ListRecalls, recalls, &recalls_out), "page_token");
  recalls.clear_page_token();
  recalls.set_status(static_cast<v1::RecallStatus>(9));
  EXPECT_INVALID(Call(&Stub::ListRecalls, recalls, &recalls_out), "status");

  v1::ListLookbacksRequest lookbacks;
  v1::ListLookbacksResponse lookbacks_out;
  lookbacks.set_page_size(-5);
  EXPECT_INVALID(Call(&Stub::ListLookbacks, lookbacks, &lookbacks_out), "page_size");
  lookbacks.set_page_size(0);
  lookbacks.set_page_token("zzz");
  EXPECT_INVALID(Call(&Stub::ListLookbacks, lookbacks, &lookbacks_out), "page_token");
  lookbacks.clear_page_token();
  lookbacks.set_status(static_cast<v1::LookbackStatus>(7));
  EXPECT_INVALID(Call(&Stub::ListLookbacks, lookbacks, &lookbacks_out), "status");
  v1::GetLookbackRequest get;
  v1::LookbackCase got;
  EXPECT_INVALID(Call(&Stub::GetLookback, get, &got), "lookback_id");
  get.set_lookback_id("LB-A999925000000");
  EXPECT_EQ(Call(&Stub::GetLookback, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Fingerprint(), before);
}

// ---------------------------------------------------------------------------------------------
// Transfers

TEST_F(InventoryLookbackTest, CreateTransferWithDispatchSendsItInTheSameCall) {
  AddStation("BR-1");
  const v1::Unit unit = Plasma("D-TR", 2);
  v1::CreateTransferRequest create;
  create.set_request_id(NextRequestId());
  create.set_from_station_id("CENTRAL");
  create.set_to_station_id("BR-1");
  create.add_items()->set_unit_id(unit.unit_id());
  create.set_dispatch(true);
  v1::Transfer transfer;
  ASSERT_TRUE(Call(&Stub::CreateTransfer, create, &transfer).ok());
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  EXPECT_TRUE(transfer.has_dispatched_at());
  ASSERT_EQ(transfer.units_size(), 1);
  EXPECT_EQ(transfer.units(0).status(), v1::UNIT_STATUS_IN_TRANSIT);
  EXPECT_EQ(GetUnit(unit.unit_id()).status(), v1::UNIT_STATUS_IN_TRANSIT);
  // A retry returns the same transfer and creates nothing.
  v1::Transfer again;
  ASSERT_TRUE(Call(&Stub::CreateTransfer, create, &again).ok());
  EXPECT_EQ(again.transfer_id(), transfer.transfer_id());
  EXPECT_EQ(again.status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM transfers"), 1);
  // It arrives like any dispatched transfer.
  v1::ReceiveTransferRequest receive;
  receive.set_request_id(NextRequestId());
  receive.set_transfer_id(transfer.transfer_id());
  ASSERT_TRUE(Call(&Stub::ReceiveTransfer, receive, &again).ok());
  EXPECT_EQ(again.status(), v1::TRANSFER_STATUS_RECEIVED);
  const v1::Unit arrived = GetUnit(unit.unit_id());
  EXPECT_EQ(arrived.status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(arrived.station_id(), "BR-1");
  // Without dispatch, CreateTransfer still leaves it CREATED.
  const v1::Unit other = Plasma("D-TR2", 2, APos());
  create.set_request_id(NextRequestId());
  create.set_dispatch(false);
  create.mutable_items(0)->set_unit_id(other.unit_id());
  ASSERT_TRUE(Call(&Stub::CreateTransfer, create, &transfer).ok());
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_CREATED);
}

}  // namespace
}  // namespace bloodgrid::inventory::testing
