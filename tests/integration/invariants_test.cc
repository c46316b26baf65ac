// The invariant checker (bench/invariants.h) against a region built through the real donor,
// inventory and request services (in-process, real gRPC, each on a throwaway schema of the
// test MariaDB): the settled region passes every rule; then each rule is shown to fail on the
// corruption it exists to catch, written directly in SQL and undone before the next one, and
// the grace-bound rules are shown to tolerate what is merely in flight.
#include "bench/invariants.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/donor.grpc.pb.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "bloodgrid/v1/request.grpc.pb.h"
#include "common/din.h"
#include "common/national_id.h"
#include "common/proto_time.h"
#include "donor_service/donor_server.h"
#include "gmock/gmock.h"
#include "inventory_service/inventory_server.h"
#include "request_service/request_server.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::bench {
namespace {

using ::bloodgrid::testing::TestSchema;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kPolicy[] = BLOODGRID_POLICY_DIR "/cn-gb18467-2011.textproto";

v1::BloodType OPos() {
  v1::BloodType t;
  t.set_abo(v1::ABO_GROUP_O);
  t.set_rhd(v1::RH_D_POSITIVE);
  return t;
}

// An 18-digit resident id with a valid ISO 7064 MOD 11-2 check digit (GB 11643-1999).
std::string NationalId(int sequence) {
  return WithChineseIdCheckCharacter(absl::StrFormat("11010519900307%03d", sequence % 1000));
}

// Rules that fire in `report`.
std::vector<std::string> FiredRules(const InvariantReport& report) {
  std::vector<std::string> fired;
  for (const std::string& v : report.violations) {
    const std::string rule = v.substr(0, v.find(':'));
    if (fired.empty() || fired.back() != rule) fired.push_back(rule);
  }
  return fired;
}

class InvariantsTest : public ::testing::Test {
 protected:
  InvariantsTest() : donor_("iv_don"), inventory_("iv_inv"), request_("iv_req") {}

  void SetUp() override {
    StartServers();
    if (HasFatalFailure()) return;
    BuildRegion();
  }

  void TearDown() override {
    if (request_server_ != nullptr) request_server_->Shutdown();
    if (inventory_server_ != nullptr) inventory_server_->Shutdown();
    if (donor_server_ != nullptr) donor_server_->Shutdown();
  }

  void StartServers() {
    donor::DonorServer::Options donor_options;
    donor_options.server.name = "donor_invariants_test";
    donor_options.server.listen_address = "127.0.0.1";
    donor_options.server.drain_timeout = absl::Milliseconds(200);
    donor_options.db = donor_.options(4);
    donor_options.policy_file = kPolicy;
    donor_options.wait_for_database = absl::Seconds(10);
    auto donor = donor::DonorServer::BuildAndStart(donor_options);
    ASSERT_TRUE(donor.ok()) << donor.status();
    donor_server_ = *std::move(donor);

    inventory::InventoryServer::Options inventory_options;
    inventory_options.server.name = "inventory_invariants_test";
    inventory_options.server.listen_address = "127.0.0.1";
    inventory_options.server.drain_timeout = absl::Milliseconds(200);
    inventory_options.db = inventory_.options(8);
    inventory_options.policy_file = kPolicy;
    inventory_options.wait_for_database = absl::Seconds(10);
    // A settled region: nothing changes behind the test's back.
    inventory_options.reservation_sweep_interval = absl::ZeroDuration();
    inventory_options.expiry_sweep_interval = absl::ZeroDuration();
    auto inventory = inventory::InventoryServer::BuildAndStart(inventory_options);
    ASSERT_TRUE(inventory.ok()) << inventory.status();
    inventory_server_ = *std::move(inventory);

    request::RequestServerOptions request_options;
    request_options.server.name = "request_invariants_test";
    request_options.server.listen_address = "127.0.0.1";
    request_options.server.drain_timeout = absl::Milliseconds(200);
    request_options.db = request_.options(8);
    request_options.policy_file = kPolicy;
    request_options.inventory_target = absl::StrCat("127.0.0.1:", inventory_server_->port());
    request_options.run_jobs = false;
    request_options.wait_for_database = absl::Seconds(10);
    auto request = request::RequestServer::BuildAndStart(request_options);
    ASSERT_TRUE(request.ok()) << request.status();
    request_server_ = *std::move(request);

    auto channel = [](int port) {
      return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                 grpc::InsecureChannelCredentials());
    };
    donor_stub_ = v1::DonorService::NewStub(channel(donor_server_->port()));
    inventory_stub_ = v1::InventoryService::NewStub(channel(inventory_server_->port()));
    request_stub_ = v1::RequestService::NewStub(channel(request_server_->port()));
  }

  // Runs one call with a deadline and an actor; EXPECTs success.
  void Call(const std::string& what, const std::function<grpc::Status(grpc::ClientContext*)>& rpc,
            const std::string& actor = "admin:invariants-test") {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    context.AddMetadata("x-bloodgrid-actor", actor);
    grpc::Status status = rpc(&context);
    EXPECT_TRUE(status.ok()) << what << ": " << status.error_message();
  }

  std::string NextId(absl::string_view prefix) { return absl::StrCat(prefix, "-", ++sequence_); }

  // A donation recorded at the donor service and registered, released and processed into red
  // cells (2 U) and 200 mL of plasma at S1, as the gateway's workflows do it.
  void Donate() {
    const int n = ++sequence_;
    v1::RegisterDonorRequest donor_request;
    donor_request.set_request_id(NextId("donor"));
    v1::Donor& donor = *donor_request.mutable_donor();
    donor.set_national_id(NationalId(n));
    donor.set_name("Invariant Donor");
    donor.set_sex(v1::SEX_MALE);
    donor.set_birth_date("1990-03-07");
    *donor.mutable_blood_type() = OPos();
    donor.mutable_contact()->set_phone("13800138000");
    donor.set_home_station_id("S1");
    v1::Donor registered;
    Call("RegisterDonor", [&](grpc::ClientContext* c) {
      return donor_stub_->RegisterDonor(c, donor_request, &registered);
    });

    const std::string din = Din::Create("A9999", 25, n)->ToString();
    v1::RecordDonationRequest donation;
    donation.set_request_id(NextId("donation"));
    donation.set_donor_id(registered.donor_id());
    donation.set_din(din);
    donation.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
    donation.set_volume_ml(400);
    donation.set_station_id("S1");
    ToTimestamp(absl::Now() - absl::Hours(2), donation.mutable_collected_at());
    v1::DonorScreening& screening = *donation.mutable_screening();
    screening.set_weight_kg(72);
    screening.set_hemoglobin_g_l(145);
    screening.set_systolic_mmhg(118);
    screening.set_diastolic_mmhg(76);
    screening.set_pulse_bpm(72);
    v1::RecordDonationResponse recorded;
    Call("RecordDonation", [&](grpc::ClientContext* c) {
      return donor_stub_->RecordDonation(c, donation, &recorded);
    });

    v1::RegisterCollectionRequest collect;
    collect.set_request_id(NextId("collect"));
    collect.set_din(din);
    collect.set_donor_id(registered.donor_id());
    collect.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
    *collect.mutable_blood_type() = OPos();
    collect.set_volume_ml(400);
    *collect.mutable_collected_at() = donation.collected_at();
    collect.set_station_id("S1");
    v1::RegisterCollectionResponse collected;
    Call("RegisterCollection", [&](grpc::ClientContext* c) {
      return inventory_stub_->RegisterCollection(c, collect, &collected);
    });

    v1::RecordTestResultsRequest tests;
    tests.set_request_id(NextId("tests"));
    tests.set_din(din);
    for (v1::ScreeningTest test :
         {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
          v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_SYPHILIS}) {
      tests.add_results()->set_test(test);
    }
    v1::TestResultInput& typing = *tests.add_results();
    typing.set_test(v1::SCREENING_TEST_ABO_RHD);
    *typing.mutable_blood_type() = OPos();
    v1::RecordTestResultsResponse tested;
    Call("RecordTestResults", [&](grpc::ClientContext* c) {
      return inventory_stub_->RecordTestResults(c, tests, &tested);
    });

    v1::ProcessDonationRequest process;
    process.set_request_id(NextId("process"));
    process.set_din(din);
    process.add_components()->set_component(v1::COMPONENT_RED_CELLS);
    v1::ComponentSpec& plasma = *process.add_components();
    plasma.set_component(v1::COMPONENT_PLASMA);
    plasma.set_volume_ml(200);
    v1::ProcessDonationResponse processed;
    Call("ProcessDonation", [&](grpc::ClientContext* c) {
      return inventory_stub_->ProcessDonation(c, process, &processed);
    });
  }

  v1::Order PlaceOrder(int units) {
    v1::PlaceOrderRequest r;
    r.set_request_id(NextId("order"));
    r.set_hospital_id("H1");
    v1::Patient& p = *r.mutable_patient();
    p.set_patient_ref(NextId("MRN"));
    *p.mutable_blood_type() = OPos();
    p.set_sex(v1::SEX_MALE);
    p.set_age_years(64);
    p.set_hemoglobin_g_l(62);
    v1::OrderLineRequest& line = *r.add_lines();
    line.set_component(v1::COMPONENT_RED_CELLS);
    line.set_quantity(units);
    r.set_priority(v1::PRIORITY_URGENT);
    r.set_indication("symptomatic anaemia");
    ToTimestamp(absl::Now() + absl::Hours(4), r.mutable_needed_by());
    r.mutable_approvals()->set_physician("dr-li");
    r.mutable_approvals()->set_department_head("dr-wang");
    r.mutable_approvals()->set_medical_affairs("ma-zhou");
    v1::Order order;
    Call(
        "PlaceOrder",
        [&](grpc::ClientContext* c) { return request_stub_->PlaceOrder(c, r, &order); },
        "hospital:H1");
    return order;
  }

  void Dispatch(const std::string& order_id) {
    v1::DispatchOrderRequest r;
    r.set_request_id(NextId("dispatch"));
    r.set_order_id(order_id);
    v1::Order order;
    Call(
        "DispatchOrder",
        [&](grpc::ClientContext* c) { return request_stub_->DispatchOrder(c, r, &order); },
        "dispatcher:d1");
  }

  void Report(const v1::Order& order, v1::TransfusionOutcome outcome) {
    v1::ReportTransfusionRequest r;
    r.set_request_id(NextId("report"));
    r.set_order_id(order.order_id());
    r.set_hospital_id("H1");
    r.set_din(order.lines(0).units(0).din());
    r.set_outcome(outcome);
    if (outcome == v1::TRANSFUSION_OUTCOME_RETURNED) r.set_cold_chain_ok(true);
    v1::Order updated;
    Call(
        "ReportTransfusion",
        [&](grpc::ClientContext* c) { return request_stub_->ReportTransfusion(c, r, &updated); },
        "hospital:H1");
  }

  void Cancel(const std::string& order_id) {
    v1::CancelOrderRequest r;
    r.set_request_id(NextId("cancel"));
    r.set_order_id(order_id);
    r.set_hospital_id("H1");
    r.set_reason("patient stabilised");
    v1::Order order;
    Call(
        "CancelOrder",
        [&](grpc::ClientContext* c) { return request_stub_->CancelOrder(c, r, &order); },
        "hospital:H1");
  }

  // A plasma transfer of one AVAILABLE unit from S1 to S2, taken to `stage` (CREATED,
  // IN_TRANSIT or RECEIVED).
  void Transfer(v1::TransferStatus stage) {
    const std::string unit_id = inventory_.QueryString(absl::StrCat(
        "SELECT unit_id FROM units WHERE status = ", v1::UNIT_STATUS_AVAILABLE, " AND component = ",
        v1::COMPONENT_PLASMA, " AND station_id = 'S1' ORDER BY unit_id LIMIT 1"));
    ASSERT_FALSE(unit_id.empty());
    v1::CreateTransferRequest create;
    create.set_request_id(NextId("transfer"));
    create.set_from_station_id("S1");
    create.set_to_station_id("S2");
    create.add_items()->set_unit_id(unit_id);
    create.set_reason("balancing");
    v1::Transfer transfer;
    Call("CreateTransfer", [&](grpc::ClientContext* c) {
      return inventory_stub_->CreateTransfer(c, create, &transfer);
    });
    if (stage == v1::TRANSFER_STATUS_CREATED) return;
    v1::DispatchTransferRequest dispatch;
    dispatch.set_request_id(NextId("transfer-dispatch"));
    dispatch.set_transfer_id(transfer.transfer_id());
    Call("DispatchTransfer", [&](grpc::ClientContext* c) {
      return inventory_stub_->DispatchTransfer(c, dispatch, &transfer);
    });
    if (stage == v1::TRANSFER_STATUS_IN_TRANSIT) return;
    v1::ReceiveTransferRequest receive;
    receive.set_request_id(NextId("transfer-receive"));
    receive.set_transfer_id(transfer.transfer_id());
    Call("ReceiveTransfer", [&](grpc::ClientContext* c) {
      return inventory_stub_->ReceiveTransfer(c, receive, &transfer);
    });
  }

  // Stations, a hospital, six processed donations; orders in every state the lifecycle
  // reaches; transfers at every stage.
  void BuildRegion() {
    for (const auto& [id, kind] :
         {std::pair{"S1", v1::STATION_KIND_CENTRAL}, std::pair{"S2", v1::STATION_KIND_BRANCH}}) {
      v1::UpsertStationRequest r;
      r.set_request_id(NextId("station"));
      r.mutable_station()->set_station_id(id);
      r.mutable_station()->set_name(id);
      r.mutable_station()->set_kind(kind);
      r.mutable_station()->set_active(true);
      v1::Station station;
      Call("UpsertStation",
           [&](grpc::ClientContext* c) { return inventory_stub_->UpsertStation(c, r, &station); });
    }
    v1::UpsertHospitalRequest hospital;
    hospital.set_request_id(NextId("hospital"));
    hospital.mutable_hospital()->set_hospital_id("H1");
    hospital.mutable_hospital()->set_name("Hospital H1");
    hospital.mutable_hospital()->set_serving_station_id("S1");
    hospital.mutable_hospital()->add_fallback_station_ids("S2");
    hospital.mutable_hospital()->set_active(true);
    v1::Hospital upserted;
    Call("UpsertHospital", [&](grpc::ClientContext* c) {
      return request_stub_->UpsertHospital(c, hospital, &upserted);
    });
    for (int i = 0; i < 6; ++i) Donate();

    allocated_ = PlaceOrder(2);  // one bag, confirmed
    two_bags_ = PlaceOrder(4);   // two bags
    const v1::Order transfused = PlaceOrder(2);
    Dispatch(transfused.order_id());
    Report(transfused, v1::TRANSFUSION_OUTCOME_TRANSFUSED);
    const v1::Order cancelled = PlaceOrder(2);
    Cancel(cancelled.order_id());
    const v1::Order returned = PlaceOrder(2);
    Dispatch(returned.order_id());
    Report(returned, v1::TRANSFUSION_OUTCOME_RETURNED);  // back on the shelf
    PlaceOrder(2);                                       // may take the returned bag
    dispatched_ = PlaceOrder(2);
    Dispatch(dispatched_.order_id());  // ISSUED, no outcome yet
    Transfer(v1::TRANSFER_STATUS_CREATED);
    Transfer(v1::TRANSFER_STATUS_IN_TRANSIT);
    Transfer(v1::TRANSFER_STATUS_RECEIVED);
    ASSERT_EQ(allocated_.status(), v1::ORDER_STATUS_ALLOCATED);
    ASSERT_EQ(two_bags_.lines(0).units_size(), 2);
  }

  InvariantTarget Target() const {
    const db::DbOptions admin = testing::AdminDbOptions();
    InvariantTarget target;
    target.host = admin.host;
    target.port = admin.port;
    target.user = admin.user;
    target.password = admin.password;
    target.donor_schema = donor_.name();
    target.inventory_schema = inventory_.name();
    target.request_schema = request_.name();
    target.orphan_grace = absl::Minutes(2);
    return target;
  }

  InvariantReport Check() {
    absl::StatusOr<InvariantReport> report = CheckInvariants(Target());
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *std::move(report) : InvariantReport();
  }

  TestSchema donor_;
  TestSchema inventory_;
  TestSchema request_;
  std::unique_ptr<donor::DonorServer> donor_server_;
  std::unique_ptr<inventory::InventoryServer> inventory_server_;
  std::unique_ptr<request::RequestServer> request_server_;
  std::unique_ptr<v1::DonorService::Stub> donor_stub_;
  std::unique_ptr<v1::InventoryService::Stub> inventory_stub_;
  std::unique_ptr<v1::RequestService::Stub> request_stub_;
  int sequence_ = 0;
  v1::Order allocated_;
  v1::Order two_bags_;
  v1::Order dispatched_;
};

TEST_F(InvariantsTest, ASettledRegionKeepsEveryRule) {
  const InvariantReport report = Check();
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.rules.size(), 24u);
  EXPECT_EQ(report.orders, 7);
  // Six donations: six PROCESSED whole-blood units, six red-cell and six plasma units.
  EXPECT_EQ(report.units, 18);
  int64_t sum = 0;
  for (const auto& [status, count] : report.units_by_status) sum += count;
  EXPECT_EQ(sum, report.units);
  EXPECT_EQ(report.units_by_status.at("PROCESSED"), 6);
  EXPECT_EQ(report.units_by_status.at("TRANSFUSED"), 1);
  EXPECT_EQ(report.units_by_status.at("ISSUED"), 1);
  EXPECT_EQ(report.units_by_status.at("IN_TRANSIT"), 1);
  EXPECT_THAT(report.Summary(), HasSubstr("invariants: OK"));
}

// One corruption: statements that break the region, statements that restore it exactly, and
// the finding it must produce (a substring of one of `rule`'s violations).
struct Corruption {
  std::string rule;
  std::string what;
  std::string finding;
  std::vector<std::pair<TestSchema*, std::string>> corrupt;
  std::vector<std::pair<TestSchema*, std::string>> restore;
};

bool Reports(const InvariantReport& report, const std::string& rule, const std::string& finding) {
  const std::string prefix = rule + ": ";
  for (const std::string& v : report.violations) {
    if (v.rfind(prefix, 0) == 0 && v.find(finding) != std::string::npos) return true;
  }
  return false;
}

TEST_F(InvariantsTest, EveryRuleFiresOnTheCorruptionItGuardsAgainst) {
  ASSERT_TRUE(Check().ok());
  TestSchema* const inv = &inventory_;
  TestSchema* const req = &request_;
  TestSchema* const don = &donor_;
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  const int64_t long_ago_us = now_us - absl::ToInt64Microseconds(absl::Minutes(10));
  auto unit_field = [&](const std::string& unit, const std::string& column) {
    return inv->QueryString(
        absl::StrCat("SELECT ", column, " FROM units WHERE unit_id = '", unit, "'"));
  };

  // The ids the corruptions act on.
  const std::string a_order = allocated_.order_id();
  const std::string a_unit = allocated_.lines(0).units(0).unit_id();
  const std::string a_key =
      req->QueryString(absl::StrCat("SELECT reservation_key FROM allocations WHERE unit_id = '",
                                    a_unit, "' AND order_id = '", a_order, "'"));
  const std::string b_order = two_bags_.order_id();
  const std::string b_key = req->QueryString(absl::StrCat(
      "SELECT reservation_key FROM allocations WHERE order_id = '", b_order, "' LIMIT 1"));
  const std::string issued_unit = dispatched_.lines(0).units(0).unit_id();
  const std::string issued_us = unit_field(issued_unit, "issued_us");
  const std::string issued_donor = unit_field(issued_unit, "donor_id");
  // A lookback case of the issued unit's donor, opened an hour from now, whose window covers
  // every collection: it must list the unit and notify its hospital.
  const std::string open_case = absl::StrCat(
      "INSERT INTO lookback_cases (lookback_id, donor_id, reactive_din, markers, opened_us, "
      "opened_by, window_start_us, window_end_us, status, reason) VALUES ('LB-AUDIT', '",
      issued_donor, "', 'A999925999998', '4', ", now_us + 3'600'000'000, ", 'test', 0, ",
      now_us + 3'600'000'000, ", 1, 'test')");
  const std::string list_issued = absl::StrCat(
      "INSERT INTO lookback_units (lookback_id, position, kind, unit_id, unit) VALUES "
      "('LB-AUDIT', 0, 2, '",
      issued_unit, "', '')");
  const std::string transfused_unit = inv->QueryString(
      absl::StrCat("SELECT unit_id FROM units WHERE status = ", v1::UNIT_STATUS_TRANSFUSED));
  const std::string transfused_order = unit_field(transfused_unit, "order_id");
  const std::string plasma = inv->QueryString(
      absl::StrCat("SELECT unit_id FROM units WHERE status = ", v1::UNIT_STATUS_AVAILABLE,
                   " AND component = ", v1::COMPONENT_PLASMA, " ORDER BY unit_id LIMIT 1"));
  const std::string plasma_parent = unit_field(plasma, "parent_unit_id");
  const std::string plasma_din = unit_field(plasma, "din");
  const std::string picked = inv->QueryString(
      absl::StrCat("SELECT unit_id FROM units WHERE status = ", v1::UNIT_STATUS_RESERVED,
                   " AND transfer_id IS NOT NULL"));
  const std::string picked_transfer = unit_field(picked, "transfer_id");
  const std::string travelling = inv->QueryString(
      absl::StrCat("SELECT unit_id FROM units WHERE status = ", v1::UNIT_STATUS_IN_TRANSIT));
  const std::string travelling_transfer = unit_field(travelling, "transfer_id");
  const std::string a_order_updated = req->QueryString(
      absl::StrCat("SELECT updated_at FROM orders WHERE order_id = '", a_order, "'"));
  const std::string a_last_event = req->QueryString(
      absl::StrCat("SELECT MAX(event_id) FROM order_events WHERE order_id = '", a_order, "'"));
  const std::string a_first_event = req->QueryString(
      absl::StrCat("SELECT MIN(event_id) FROM order_events WHERE order_id = '", a_order, "'"));
  // The event that released the whole blood for use: neither its first nor its last.
  const std::string parent_middle_event = inv->QueryString(
      absl::StrCat("SELECT MIN(event_id) FROM unit_events WHERE unit_id = '", plasma_parent,
                   "' AND kind = ", v1::UNIT_EVENT_KIND_RELEASED_FOR_USE));
  const std::string donor_of_din = inv->QueryString(
      absl::StrCat("SELECT donor_id FROM donations WHERE din = '", plasma_din, "'"));
  const std::string plasma_outcome = inv->QueryString(
      absl::StrCat("SELECT testing_outcome FROM donations WHERE din = '", plasma_din, "'"));
  const std::string feed_max = inv->QueryString("SELECT MAX(sequence) FROM change_feed");
  const std::string feed_moved = absl::StrCat(std::stoll(feed_max.empty() ? "0" : feed_max) + 1000);
  const std::string stale_created_us =
      absl::StrCat(now_us - absl::ToInt64Microseconds(absl::Hours(13)));
  // A donation turned REACTIVE while its plasma is still on the shelf.
  const std::string make_reactive =
      absl::StrCat("UPDATE donations SET testing_outcome = ", v1::TESTING_OUTCOME_REACTIVE,
                   " WHERE din = '", plasma_din, "'");
  const std::string undo_reactive = absl::StrCat(
      "UPDATE donations SET testing_outcome = ", plasma_outcome, " WHERE din = '", plasma_din, "'");
  for (const std::string& id :
       {a_key, b_key, issued_us, transfused_unit, transfused_order, plasma, plasma_parent, picked,
        travelling, parent_middle_event, donor_of_din, plasma_outcome, feed_max, issued_donor}) {
    ASSERT_FALSE(id.empty());
  }

  auto unit_set = [&](const std::string& unit, const std::string& assignment) {
    return std::pair{
        inv, absl::StrCat("UPDATE units SET ", assignment, " WHERE unit_id = '", unit, "'")};
  };
  auto quoted = [](const std::string& id) { return absl::StrCat("'", id, "'"); };
  const std::string available = absl::StrCat("status = ", v1::UNIT_STATUS_AVAILABLE);
  const std::vector<Corruption> corruptions = {
      {"unit_held_once",
       "a bag allocated to a second live order",
       "is allocated to 2 live orders",
       {{req, absl::StrCat("INSERT INTO allocations (order_id, unit_id, line_no, reservation_key, "
                           "din, component, abo, rhd, station_id, expires_at, quantity, "
                           "is_exception, created_at) SELECT '",
                           b_order, "', unit_id, line_no, '", b_key,
                           "', din, component, abo, rhd, station_id, expires_at, quantity, "
                           "is_exception, created_at FROM allocations WHERE unit_id = '",
                           a_unit, "'")}},
       {{req, absl::StrCat("DELETE FROM allocations WHERE order_id = '", b_order,
                           "' AND unit_id = '", a_unit, "'")}}},
      {"reserved_unit_has_live_reservation",
       "a unit held by a released reservation",
       "which is RELEASED",
       {{inv, absl::StrCat("UPDATE reservations SET status = ", v1::RESERVATION_STATUS_RELEASED,
                           " WHERE reservation_key = '", a_key, "'")}},
       {{inv, absl::StrCat("UPDATE reservations SET status = ", v1::RESERVATION_STATUS_CONFIRMED,
                           " WHERE reservation_key = '", a_key, "'")}}},
      {"reserved_unit_has_live_reservation",
       "a unit held by a reservation that does not exist",
       "nobody/1/1, which does not exist",
       {unit_set(a_unit, "reservation_key = 'nobody/1/1'")},
       {unit_set(a_unit, absl::StrCat("reservation_key = ", quoted(a_key)))}},
      {"allocation_held_in_inventory",
       "inventory moved an allocated bag to another reservation",
       absl::StrCat("inventory has it RESERVED under reservation ", b_key),
       {unit_set(a_unit, absl::StrCat("reservation_key = ", quoted(b_key)))},
       {unit_set(a_unit, absl::StrCat("reservation_key = ", quoted(a_key)))}},
      {"allocation_held_in_inventory",
       "a dispatched order's bag issued to another order",
       "ISSUED for order O-ELSEWHERE",
       {unit_set(issued_unit, "order_id = 'O-ELSEWHERE'")},
       {unit_set(issued_unit, absl::StrCat("order_id = ", quoted(dispatched_.order_id())))}},
      {"allocation_matches_unit",
       "an allocation quantity that is not the bag's",
       "quantity 3; inventory has",
       {{req, absl::StrCat("UPDATE allocations SET quantity = 3 WHERE unit_id = '", a_unit, "'")}},
       {{req, absl::StrCat("UPDATE allocations SET quantity = 2 WHERE unit_id = '", a_unit, "'")}}},
      {"allocation_matches_unit",
       "an allocation of a bag inventory never had",
       "A999925999999-RC0, which inventory does not have",
       {{req, absl::StrCat("UPDATE allocations SET unit_id = 'A999925999999-RC0' WHERE unit_id = '",
                           a_unit, "'")}},
       {{req, absl::StrCat("UPDATE allocations SET unit_id = '", a_unit,
                           "' WHERE unit_id = 'A999925999999-RC0'")}}},
      {"line_allocation_consistent",
       "a line holding a bag more than it needs",
       "at least one bag too many",
       {{req,
         absl::StrCat("UPDATE order_lines SET quantity = 1 WHERE order_id = '", b_order, "'")}},
       {{req,
         absl::StrCat("UPDATE order_lines SET quantity = 4 WHERE order_id = '", b_order, "'")}}},
      {"line_allocation_consistent",
       "an allocation under another order's reservation",
       "which is not a reservation of that line",
       {{req, absl::StrCat("UPDATE allocations SET reservation_key = '", b_key,
                           "' WHERE unit_id = '", a_unit, "' AND order_id = '", a_order, "'")}},
       {{req, absl::StrCat("UPDATE allocations SET reservation_key = '", a_key,
                           "' WHERE unit_id = '", a_unit, "' AND order_id = '", a_order, "'")}}},
      {"order_status_matches_lines",
       "an ALLOCATED order short of its quantity",
       "is ALLOCATED with line 1: 2 of 6",
       {{req,
         absl::StrCat("UPDATE order_lines SET quantity = 6 WHERE order_id = '", a_order, "'")}},
       {{req,
         absl::StrCat("UPDATE order_lines SET quantity = 2 WHERE order_id = '", a_order, "'")}}},
      {"order_status_matches_lines",
       "a PARTIALLY_ALLOCATED order with every line filled",
       "is PARTIALLY_ALLOCATED with every line filled",
       {{req, absl::StrCat("UPDATE orders SET status = ", v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
                           " WHERE order_id = '", a_order, "'")}},
       {{req, absl::StrCat("UPDATE orders SET status = ", v1::ORDER_STATUS_ALLOCATED,
                           " WHERE order_id = '", a_order, "'")}}},
      {"inventory_hold_recorded_on_order",
       "the order dropped a bag inventory still holds for it",
       "which withdrew it",
       {{req, absl::StrCat("UPDATE allocations SET withdrawn = 1 WHERE unit_id = '", a_unit,
                           "' AND order_id = '", a_order, "'")}},
       {{req, absl::StrCat("UPDATE allocations SET withdrawn = 0 WHERE unit_id = '", a_unit,
                           "' AND order_id = '", a_order, "'")}}},
      {"inventory_hold_recorded_on_order",
       "an issued bag its order does not list",
       absl::StrCat("ISSUED for order ", dispatched_.order_id(), ", which does not list it"),
       {{req, absl::StrCat("UPDATE allocations SET unit_id = 'A999925999999-RC0' WHERE unit_id = '",
                           issued_unit, "'")}},
       {{req, absl::StrCat("UPDATE allocations SET unit_id = '", issued_unit,
                           "' WHERE unit_id = 'A999925999999-RC0'")}}},
      {"inventory_hold_recorded_on_order",
       "a confirmed hold for an order cancelled since",
       "which is CANCELLED",
       {{req, absl::StrCat("UPDATE orders SET status = ", v1::ORDER_STATUS_CANCELLED,
                           " WHERE order_id = '", a_order, "'")}},
       {{req, absl::StrCat("UPDATE orders SET status = ", v1::ORDER_STATUS_ALLOCATED,
                           " WHERE order_id = '", a_order, "'")}}},
      {"inventory_reservation_has_intent",
       "a reservation no order asked for",
       "O-GHOST/1/1 (HELD, order O-GHOST) has no request-side record",
       {{inv, absl::StrCat("INSERT INTO reservations (reservation_key, status, component, "
                           "requested_quantity, priority, order_id, hold_expires_us, created_us, "
                           "updated_us) VALUES ('O-GHOST/1/1', ",
                           v1::RESERVATION_STATUS_HELD, ", ", v1::COMPONENT_RED_CELLS, ", 2, ",
                           v1::PRIORITY_URGENT, ", 'O-GHOST', ", now_us, ", ", now_us, ", ", now_us,
                           ")")}},
       {{inv, "DELETE FROM reservations WHERE reservation_key = 'O-GHOST/1/1'"}}},
      {"inventory_reservation_has_intent",
       "a reservation made for another order than asked",
       "its request-side record for order",
       {{inv, absl::StrCat("UPDATE reservations SET order_id = 'O-OTHER' WHERE reservation_key = '",
                           a_key, "'")}},
       {{inv, absl::StrCat("UPDATE reservations SET order_id = ", quoted(a_order),
                           " WHERE reservation_key = '", a_key, "'")}}},
      {"unit_status_has_event",
       "a status change without its event",
       "is DISCARDED but its latest event",
       {unit_set(plasma, absl::StrCat("status = ", v1::UNIT_STATUS_DISCARDED))},
       {unit_set(plasma, available)}},
      {"unit_status_has_event",
       "a unit without any event",
       "and has no event",
       {{inv, absl::StrCat("UPDATE unit_events SET unit_id = 'A999925999999-XX0' WHERE unit_id = '",
                           plasma, "'")}},
       {{inv, absl::StrCat("UPDATE unit_events SET unit_id = '", plasma,
                           "' WHERE unit_id = 'A999925999999-XX0'")}}},
      {"unit_event_chain",
       "a unit event that does not start where the last one ended",
       "starts from RESERVED but the previous event left it QUARANTINED",
       {{inv, absl::StrCat("UPDATE unit_events SET from_status = ", v1::UNIT_STATUS_RESERVED,
                           " WHERE event_id = ", parent_middle_event)}},
       {{inv, absl::StrCat("UPDATE unit_events SET from_status = ", v1::UNIT_STATUS_QUARANTINED,
                           " WHERE event_id = ", parent_middle_event)}}},
      {"unit_event_chain",
       "an event of a unit that does not exist",
       "names unit A999925999999-XX0, which does not exist",
       {{inv, absl::StrCat("UPDATE unit_events SET unit_id = 'A999925999999-XX0' WHERE event_id = ",
                           parent_middle_event)}},
       {{inv, absl::StrCat("UPDATE unit_events SET unit_id = '", plasma_parent,
                           "' WHERE event_id = ", parent_middle_event)}}},
      {"order_status_has_event",
       "an order status its latest event does not lead to",
       "is ALLOCATED but its latest event",
       {{req,
         absl::StrCat("UPDATE order_events SET to_status = ", v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
                      " WHERE event_id = ", a_last_event)}},
       {{req, absl::StrCat("UPDATE order_events SET to_status = ", v1::ORDER_STATUS_ALLOCATED,
                           " WHERE event_id = ", a_last_event)}}},
      {"order_event_chain",
       "an order's first event not starting from nothing",
       "but is its first event",
       {{req, absl::StrCat("UPDATE order_events SET from_status = ", v1::ORDER_STATUS_IN_REVIEW,
                           " WHERE event_id = ", a_first_event)}},
       {{req, absl::StrCat("UPDATE order_events SET from_status = 0 WHERE event_id = ",
                           a_first_event)}}},
      {"no_orphaned_hold",
       "a hold that expired ten minutes ago and still holds its bag",
       absl::StrCat("still holds ", a_unit),
       {{inv, absl::StrCat("UPDATE reservations SET status = ", v1::RESERVATION_STATUS_HELD,
                           ", hold_expires_us = ", long_ago_us, " WHERE reservation_key = '", a_key,
                           "'")}},
       {{inv, absl::StrCat("UPDATE reservations SET status = ", v1::RESERVATION_STATUS_CONFIRMED,
                           ", hold_expires_us = NULL WHERE reservation_key = '", a_key, "'")}}},
      {"no_half_done_order",
       "an order left with an unconfirmed reservation",
       absl::StrCat(a_key, " RESERVED"),
       {{req, absl::StrCat("UPDATE reservations SET state = ",
                           static_cast<int>(request::ReservationState::kReserved),
                           " WHERE reservation_key = '", a_key, "'")},
        {req, absl::StrCat("UPDATE orders SET updated_at = ", long_ago_us, " WHERE order_id = '",
                           a_order, "'")}},
       {{req, absl::StrCat("UPDATE reservations SET state = ",
                           static_cast<int>(request::ReservationState::kConfirmed),
                           " WHERE reservation_key = '", a_key, "'")},
        {req, absl::StrCat("UPDATE orders SET updated_at = ", a_order_updated,
                           " WHERE order_id = '", a_order, "'")}}},
      {"no_half_done_order",
       "an order stuck in RECEIVED",
       "still RECEIVED",
       {{req, absl::StrCat("UPDATE orders SET status = ", v1::ORDER_STATUS_RECEIVED,
                           ", updated_at = ", long_ago_us, " WHERE order_id = '", a_order, "'")}},
       {{req,
         absl::StrCat("UPDATE orders SET status = ", v1::ORDER_STATUS_ALLOCATED,
                      ", updated_at = ", a_order_updated, " WHERE order_id = '", a_order, "'")}}},
      {"no_half_done_order",
       "a dispatch started and never finished",
       "a dispatch started and not finished",
       {{req, absl::StrCat("UPDATE orders SET dispatch_intent = 1, updated_at = ", long_ago_us,
                           " WHERE order_id = '", a_order, "'")}},
       {{req, absl::StrCat("UPDATE orders SET dispatch_intent = 0, updated_at = ", a_order_updated,
                           " WHERE order_id = '", a_order, "'")}}},
      {"unit_counts_conserved",
       "a component whose parent vanished",
       "A999925999999-WB9, which does not exist",
       {unit_set(plasma, "parent_unit_id = 'A999925999999-WB9'")},
       {unit_set(plasma, absl::StrCat("parent_unit_id = ", quoted(plasma_parent)))}},
      {"unit_counts_conserved",
       "a component of a parent never processed",
       absl::StrCat("was made from ", plasma_parent),
       {unit_set(plasma_parent, available)},
       {unit_set(plasma_parent, absl::StrCat("status = ", v1::UNIT_STATUS_PROCESSED))}},
      {"unit_counts_conserved",
       "a status no state machine has",
       "has unknown status 42",
       {unit_set(plasma, "status = 42")},
       {unit_set(plasma, available)}},
      {"unit_counts_conserved",
       "a DIN that is no donation",
       "which is no donation",
       {{inv, absl::StrCat("UPDATE donations SET din = 'A999925999999' WHERE din = '", plasma_din,
                           "'")}},
       {{inv, absl::StrCat("UPDATE donations SET din = '", plasma_din,
                           "' WHERE din = 'A999925999999'")}}},
      {"unit_counts_conserved",
       "a DIN collected twice",
       "has 2 collected units",
       {unit_set(plasma, "parent_unit_id = NULL")},
       {unit_set(plasma, absl::StrCat("parent_unit_id = ", quoted(plasma_parent)))}},
      {"unit_counts_conserved",
       "a PROCESSED unit nothing was made from",
       "is PROCESSED but no unit was made from it",
       {unit_set(plasma, absl::StrCat("status = ", v1::UNIT_STATUS_PROCESSED))},
       {unit_set(plasma, available)}},
      {"unit_state_consistent",
       "an AVAILABLE unit holding a reservation key",
       "AVAILABLE and has a reservation key",
       {unit_set(plasma, absl::StrCat("reservation_key = ", quoted(a_key)))},
       {unit_set(plasma, "reservation_key = NULL")}},
      {"unit_state_consistent",
       "a RESERVED unit held by nothing",
       "is held by no reservation and no transfer",
       {unit_set(picked, "transfer_id = NULL")},
       {unit_set(picked, absl::StrCat("transfer_id = ", quoted(picked_transfer)))}},
      {"unit_state_consistent",
       "an IN_TRANSIT unit on no transfer",
       "is on no transfer",
       {unit_set(travelling, "transfer_id = NULL")},
       {unit_set(travelling, absl::StrCat("transfer_id = ", quoted(travelling_transfer)))}},
      {"unit_state_consistent",
       "an ISSUED unit with no hospital",
       "names no hospital",
       {unit_set(issued_unit, "hospital_id = NULL")},
       {unit_set(issued_unit, "hospital_id = 'H1'")}},
      {"unit_state_consistent",
       "an ISSUED unit with no issue time",
       "has no issue time",
       {unit_set(issued_unit, "issued_us = NULL")},
       {unit_set(issued_unit, absl::StrCat("issued_us = ", issued_us))}},
      {"unit_state_consistent",
       "a TRANSFUSED unit with no order",
       "TRANSFUSED and names no order",
       {unit_set(transfused_unit, "order_id = NULL")},
       {unit_set(transfused_unit, absl::StrCat("order_id = ", quoted(transfused_order)))}},
      {"unit_state_consistent",
       "a hold on a released unit",
       absl::StrCat("has hold ", v1::UNIT_HOLD_TESTING),
       {unit_set(plasma, absl::StrCat("hold = ", v1::UNIT_HOLD_TESTING))},
       {unit_set(plasma, "hold = 0")}},
      {"unit_state_consistent",
       "a reservation key on a unit never issued nor held",
       "keeps a reservation key though never issued",
       {unit_set(plasma_parent, absl::StrCat("reservation_key = ", quoted(a_key)))},
       {unit_set(plasma_parent, "reservation_key = NULL")}},
      {"unit_state_consistent",
       "a transfer on a unit that cannot travel",
       "keeps a transfer",
       {unit_set(plasma_parent, absl::StrCat("transfer_id = ", quoted(picked_transfer)))},
       {unit_set(plasma_parent, "transfer_id = NULL")}},
      {"unit_state_consistent",
       "a bag of no quantity",
       "has quantity 0",
       {unit_set(plasma, "quantity = 0")},
       {unit_set(plasma, "quantity = 200")}},
      {"unit_transfer_consistent",
       "a picked unit on a transfer already received",
       "which is RECEIVED",
       {{inv, absl::StrCat("UPDATE transfers SET status = ", v1::TRANSFER_STATUS_RECEIVED,
                           " WHERE transfer_id = '", picked_transfer, "'")}},
       {{inv, absl::StrCat("UPDATE transfers SET status = ", v1::TRANSFER_STATUS_CREATED,
                           " WHERE transfer_id = '", picked_transfer, "'")}}},
      {"unit_transfer_consistent",
       "a travelling unit its transfer does not list",
       absl::StrCat(travelling, " is on transfer ", travelling_transfer,
                    ", which does not list it"),
       {{inv, absl::StrCat("UPDATE transfer_units SET unit_id = 'A999925999999-PL0' WHERE "
                           "transfer_id = '",
                           travelling_transfer, "'")}},
       {{inv, absl::StrCat("UPDATE transfer_units SET unit_id = '", travelling,
                           "' WHERE transfer_id = '", travelling_transfer, "'")}}},
      {"unit_transfer_consistent",
       "a unit on a transfer that does not exist",
       "T-NOWHERE, which does not exist",
       {unit_set(travelling, "transfer_id = 'T-NOWHERE'")},
       {unit_set(travelling, absl::StrCat("transfer_id = ", quoted(travelling_transfer)))}},
      {"donation_recorded_at_both_ends",
       "a unit registered for another donor",
       "is donor D-SOMEONE-ELSE's in inventory",
       {{inv, absl::StrCat("UPDATE donations SET donor_id = 'D-SOMEONE-ELSE' WHERE din = '",
                           plasma_din, "'")}},
       {{inv, absl::StrCat("UPDATE donations SET donor_id = ", quoted(donor_of_din),
                           " WHERE din = '", plasma_din, "'")}}},
      {"donation_has_unit_or_void",
       "a donation whose bag never reached inventory",
       "has neither a unit in inventory nor a void",
       {{don, absl::StrCat("UPDATE donations SET din = 'A999925999999', recorded_at = "
                           "UTC_TIMESTAMP(6) - INTERVAL 1 HOUR WHERE din = '",
                           plasma_din, "'")}},
       {{don, absl::StrCat("UPDATE donations SET din = '", plasma_din,
                           "' WHERE din = 'A999925999999'")}}},
      {"donation_has_unit_or_void",
       "a voided donation whose unit is in inventory",
       absl::StrCat("donation ", plasma_din, " of donor ", donor_of_din,
                    " is voided (refused) but inventory has its unit"),
       {{don, absl::StrCat("UPDATE donations SET voided = TRUE, void_reason = 'refused' "
                           "WHERE din = '",
                           plasma_din, "'")}},
       {{don, absl::StrCat("UPDATE donations SET voided = FALSE, void_reason = '' WHERE din = '",
                           plasma_din, "'")}}},
      {"change_feed_gap_free",
       "a change feed row missing from the sequence",
       "missing",
       {{inv, absl::StrCat("UPDATE change_feed SET sequence = ", feed_moved,
                           " WHERE sequence = ", feed_max)}},
       {{inv, absl::StrCat("UPDATE change_feed SET sequence = ", feed_max,
                           " WHERE sequence = ", feed_moved)}}},
      {"reactive_donor_held",
       "a reactive donor's plasma still on the shelf",
       "tested reactive on " + plasma_din,
       {{inv, make_reactive}},
       {{inv, undo_reactive}}},
      {"transfer_not_left_created",
       "a transfer created 13 hours ago and never sent",
       "has been CREATED for",
       {{inv, absl::StrCat("INSERT INTO transfers (transfer_id, from_station_id, to_station_id, "
                           "status, spec, created_by, created_us, expected_arrival_us) VALUES "
                           "('TR-STALE', 'S1', 'S2', ",
                           v1::TRANSFER_STATUS_CREATED, ", '', 'test', ", stale_created_us, ", ",
                           stale_created_us, ")")}},
       {{inv, "DELETE FROM transfers WHERE transfer_id = 'TR-STALE'"}}},
      {"reactive_donor_deferred",
       "a reactive donation whose donor was never deferred",
       "is not deferred for the reactive DIN " + plasma_din,
       {{inv, make_reactive}},
       {{inv, undo_reactive}}},
      {"lookback_lists_issued_units",
       "a lookback case that forgot a unit already at a hospital",
       absl::StrCat("does not list issued unit ", issued_unit),
       {{inv, open_case}},
       {{inv, "DELETE FROM lookback_cases WHERE lookback_id = 'LB-AUDIT'"}}},
      {"lookback_lists_issued_units",
       "a lookback case listing an issued unit with no recall notice",
       absl::StrCat("has no recall notice for issued unit ", issued_unit),
       {{inv, open_case}, {inv, list_issued}},
       {{inv, "DELETE FROM lookback_units WHERE lookback_id = 'LB-AUDIT'"},
        {inv, "DELETE FROM lookback_cases WHERE lookback_id = 'LB-AUDIT'"}}},
  };

  std::set<std::string> shown;
  for (const Corruption& c : corruptions) {
    SCOPED_TRACE(absl::StrCat(c.rule, ": ", c.what));
    for (const auto& [schema, sql] : c.corrupt) schema->Exec(sql);
    const InvariantReport broken = Check();
    EXPECT_TRUE(Reports(broken, c.rule, c.finding))
        << "expected \"" << c.finding << "\" from " << c.rule << "\n"
        << broken.Summary();
    std::printf("%-58s fires %s\n", c.what.c_str(),
                absl::StrJoin(FiredRules(broken), ", ").c_str());
    shown.insert(c.rule);
    for (const auto& [schema, sql] : c.restore) schema->Exec(sql);
    const InvariantReport restored = Check();
    ASSERT_TRUE(restored.ok()) << "not restored exactly:\n" << restored.Summary();
  }
  // Every rule has been shown able to fail.
  for (const std::string& rule : Check().rules) EXPECT_EQ(shown.count(rule), 1u) << rule;
}

TEST_F(InvariantsTest, WhatIsMerelyInFlightIsNoViolation) {
  const std::string a_order = allocated_.order_id();
  const std::string a_key = request_.QueryString(
      absl::StrCat("SELECT reservation_key FROM allocations WHERE order_id = '", a_order, "'"));
  // A hold that lapsed a second ago: the sweeper has until orphan_grace to release it.
  inventory_.Exec(
      absl::StrCat("UPDATE reservations SET status = ", v1::RESERVATION_STATUS_HELD,
                   ", hold_expires_us = ", absl::ToUnixMicros(absl::Now() - absl::Seconds(1)),
                   " WHERE reservation_key = '", a_key, "'"));
  // An order between its Reserve and its confirmation, changed just now.
  request_.Exec(absl::StrCat(
      "UPDATE reservations SET state = ", static_cast<int>(request::ReservationState::kReserved),
      " WHERE reservation_key = '", a_key, "'"));
  request_.Exec(absl::StrCat("UPDATE orders SET updated_at = ", absl::ToUnixMicros(absl::Now()),
                             " WHERE order_id = '", a_order, "'"));
  InvariantReport report = Check();
  EXPECT_TRUE(report.ok()) << report.Summary();

  // The same, seen with no grace at all, is reported.
  InvariantTarget strict = Target();
  strict.orphan_grace = absl::ZeroDuration();
  absl::StatusOr<InvariantReport> strict_report = CheckInvariants(strict);
  ASSERT_TRUE(strict_report.ok()) << strict_report.status();
  EXPECT_THAT(FiredRules(*strict_report), Contains("no_orphaned_hold"));
  EXPECT_THAT(FiredRules(*strict_report), Contains("no_half_done_order"));
}

TEST_F(InvariantsTest, ViolationsAreCappedPerRule) {
  // Events of units that do not exist: one finding each.
  std::vector<std::string> rows;
  for (int i = 0; i < kMaxViolationsPerRule + 5; ++i) {
    rows.push_back(absl::StrCat("('GHOST-", i, "', 'A999925999999', ", v1::COMPONENT_RED_CELLS,
                                ", ", v1::UNIT_EVENT_KIND_COLLECTED, ", 0, ",
                                v1::UNIT_STATUS_QUARANTINED, ", 0, 'test')"));
  }
  inventory_.Exec(
      absl::StrCat("INSERT INTO unit_events (unit_id, din, component, kind, "
                   "from_status, to_status, occurred_us, actor) VALUES ",
                   absl::StrJoin(rows, ", ")));
  const InvariantReport report = Check();
  std::vector<std::string> listed;
  for (const std::string& v : report.violations) {
    if (v.rfind("unit_event_chain: ", 0) == 0) listed.push_back(v);
  }
  ASSERT_EQ(listed.size(), static_cast<size_t>(kMaxViolationsPerRule + 1)) << report.Summary();
  EXPECT_EQ(listed.back(), "unit_event_chain: ... and 5 more");
  EXPECT_THAT(report.Summary(), HasSubstr("invariants: VIOLATED"));
}

TEST(InvariantsErrorsTest, AMissingSchemaIsFailedPrecondition) {
  const db::DbOptions admin = testing::AdminDbOptions();
  InvariantTarget target;
  target.host = admin.host;
  target.port = admin.port;
  target.user = admin.user;
  target.password = admin.password;
  target.inventory_schema = "no_such_inventory_schema";
  absl::StatusOr<InvariantReport> report = CheckInvariants(target);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition) << report.status();
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("no_such_inventory_schema"));
}

TEST(InvariantsErrorsTest, AnUnreachableServerIsUnavailable) {
  InvariantTarget target;
  target.port = 1;  // nothing listens there
  target.user = "nobody";
  absl::StatusOr<InvariantReport> report = CheckInvariants(target);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kUnavailable) << report.status();
}

}  // namespace
}  // namespace bloodgrid::bench
