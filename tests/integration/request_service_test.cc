// RequestService end to end against the real InventoryService and MariaDB: both servers run
// in-process on loopback ports picked at run time, each on a throwaway schema of its own; stock
// is seeded through InventoryService's gRPC API only.
//
// Covered: the full lifecycle; two hospitals racing for the last O RhD-negative units (each unit
// once); a back-order filled when a transfer arrives and when another order is cancelled; an
// idempotent retry after a crash between committing the order and reserving, and after a crash
// between reserving and recording (retry, and a restarted server's reconciler); cancel after
// dispatch refused; review; the emergency RhD rules; massive transfusion rounds; presumed
// transfusion; every bad input rejected with nothing written; units at a fallback station
// brought to the serving station on a reservation-bound transfer before dispatch (not for
// EMERGENCY, nor with fallback transfers off), cancelled with the order before it leaves and
// released on arrival after, and made exactly once across a crash before it was recorded.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "bloodgrid/v1/request.grpc.pb.h"
#include "common/clock.h"
#include "common/din.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "inventory_service/inventory_server.h"
#include "request_service/request_server.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::request {
namespace {

using ::bloodgrid::testing::TestSchema;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPolicy[] = BLOODGRID_POLICY_DIR "/cn-gb18467-2011.textproto";

v1::BloodType Bt(absl::string_view text) { return ParseBloodType(text)->ToProto(); }

// Polls `done` until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(25));
  }
  return done();
}

// Row counts of every table of a schema.
std::map<std::string, int64_t> RowCounts(TestSchema& schema) {
  std::map<std::string, int64_t> counts;
  const std::string tables = schema.QueryString(absl::StrCat(
      "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables "
      "WHERE table_schema = '",
      schema.name(), "'"));
  for (absl::string_view table : absl::StrSplit(tables, ',', absl::SkipEmpty())) {
    counts[std::string(table)] =
        schema.QueryInt(absl::StrCat("SELECT COUNT(*) FROM `", table, "`"));
  }
  return counts;
}

struct LineSpec {
  v1::Component component;
  int quantity;
};

class RequestServiceTest : public ::testing::Test {
 protected:
  RequestServiceTest()
      : inventory_schema_("rq_inv"), request_schema_("rq_req"), clock_(absl::Now()) {}

  void SetUp() override {
    StartInventory();
    StartRequest(/*run_jobs=*/true);
    AddStation("CENTRAL", v1::STATION_KIND_CENTRAL);
    AddStation("BR-NORTH", v1::STATION_KIND_BRANCH);
    AddStation("BR-SOUTH", v1::STATION_KIND_BRANCH);
    AddHospital("H1", "CENTRAL", {"BR-NORTH"});
    AddHospital("H2", "CENTRAL", {"BR-SOUTH"});
  }

  void TearDown() override {
    if (request_ != nullptr) request_->Shutdown();
    request_.reset();
    if (inventory_ != nullptr) inventory_->Shutdown();
    inventory_.reset();
  }

  void StartInventory(int port = 0) {
    inventory::InventoryServer::Options options;
    options.server.name = "inventory_test";
    options.server.listen_address = "127.0.0.1";
    options.server.port = port;
    options.server.drain_timeout = absl::Milliseconds(200);
    options.db = inventory_schema_.options(8);
    options.policy_file = kPolicy;
    options.wait_for_database = absl::Seconds(10);
    options.reservation_sweep_interval = absl::ZeroDuration();
    options.expiry_sweep_interval = absl::ZeroDuration();
    auto server = inventory::InventoryServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    inventory_ = *std::move(server);
    inventory_stub_ = v1::InventoryService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", inventory_->port()), grpc::InsecureChannelCredentials()));
  }

  void StartRequest(bool run_jobs) {
    request_ = NewRequest(run_jobs);
    ASSERT_NE(request_, nullptr);
    stub_ = v1::RequestService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", request_->port()), grpc::InsecureChannelCredentials()));
  }

  // A request server (replica) on the test's schema; null when it did not start.
  std::unique_ptr<RequestServer> NewRequest(bool run_jobs) {
    RequestServerOptions options;
    options.server.name = "request_test";
    options.server.listen_address = "127.0.0.1";
    options.server.port = 0;
    options.server.drain_timeout = absl::Milliseconds(200);
    options.db = request_schema_.options(8);
    options.policy_file = kPolicy;
    options.inventory_target = absl::StrCat("127.0.0.1:", inventory_->port());
    options.clock = &clock_;
    options.run_jobs = run_jobs;
    options.wait_for_database = absl::Seconds(10);
    options.operations.hold_seconds = hold_seconds_;
    options.operations.reconcile_grace = absl::ZeroDuration();
    options.operations.fallback_transfers = fallback_transfers_;
    options.jobs.reconcile_interval = reconcile_interval_;
    options.jobs.backorder_interval = backorder_interval_;
    options.jobs.presume_interval = absl::Hours(1);
    options.jobs.watch_backoff_min = absl::Milliseconds(100);
    options.jobs.stock_events_interval = absl::Milliseconds(200);
    auto server = RequestServer::BuildAndStart(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // Simulates a crash: the request server goes away without finishing anything.
  void RestartRequest(bool run_jobs) {
    request_->Shutdown();
    request_.reset();
    StartRequest(run_jobs);
  }

  template <typename Call>
  grpc::Status Inv(Call&& call, const std::string& actor = "admin:test") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    ctx.AddMetadata("x-bloodgrid-actor", actor);
    return call(&ctx);
  }

  grpc::Status Req(const std::function<grpc::Status(grpc::ClientContext*)>& call,
                   const std::string& actor = "hospital:H1") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    ctx.AddMetadata("x-bloodgrid-actor", actor);
    return call(&ctx);
  }

  void AddStation(const std::string& id, v1::StationKind kind) {
    v1::UpsertStationRequest request;
    request.set_request_id(absl::StrCat("station-", id));
    request.mutable_station()->set_station_id(id);
    request.mutable_station()->set_name(id);
    request.mutable_station()->set_kind(kind);
    request.mutable_station()->set_active(true);
    v1::Station station;
    grpc::Status status = Inv([&](grpc::ClientContext* c) {
      return inventory_stub_->UpsertStation(c, request, &station);
    });
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  v1::Hospital AddHospital(const std::string& id, const std::string& serving,
                           const std::vector<std::string>& fallbacks) {
    v1::UpsertHospitalRequest request;
    request.set_request_id(absl::StrCat("hospital-", id, "-", serving));
    v1::Hospital* h = request.mutable_hospital();
    h->set_hospital_id(id);
    h->set_name(absl::StrCat("Hospital ", id));
    h->set_serving_station_id(serving);
    for (const std::string& f : fallbacks) h->add_fallback_station_ids(f);
    h->set_active(true);
    v1::Hospital hospital;
    grpc::Status status =
        Req([&](grpc::ClientContext* c) { return stub_->UpsertHospital(c, request, &hospital); },
            "admin:test");
    EXPECT_TRUE(status.ok()) << status.error_message();
    return hospital;
  }

  // Puts one AVAILABLE unit of `component` and `type` on the shelf of `station` and returns its
  // DIN: red cells and cryo are made from a 400 mL whole-blood donation (2 U), platelets come from
  // an apheresis donation (1 dose), plasma from an apheresis donation (`plasma_ml` mL).
  std::string AddUnit(const std::string& station, v1::Component component, absl::string_view type,
                      int plasma_ml = 200,
                      v1::PolicyProfile::Anticoagulant anticoagulant =
                          v1::PolicyProfile::ANTICOAGULANT_UNSPECIFIED) {
    const std::string din = Din::Create("A9999", 25, ++din_sequence_)->ToString();
    v1::RegisterCollectionRequest collect;
    collect.set_request_id(absl::StrCat("collect-", din));
    collect.set_din(din);
    collect.set_donor_id(absl::StrCat("donor-", din_sequence_));
    collect.mutable_blood_type()->CopyFrom(Bt(type));
    collect.set_station_id(station);
    collect.set_anticoagulant(anticoagulant);
    ToTimestamp(absl::Now() - absl::Hours(1), collect.mutable_collected_at());
    switch (component) {
      case v1::COMPONENT_PLATELETS:
        collect.set_donation_type(v1::DONATION_TYPE_APHERESIS_PLATELETS);
        collect.set_volume_ml(250);
        break;
      case v1::COMPONENT_PLASMA:
        collect.set_donation_type(v1::DONATION_TYPE_APHERESIS_PLASMA);
        collect.set_volume_ml(plasma_ml);
        break;
      default:
        collect.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
        collect.set_volume_ml(400);
        break;
    }
    v1::RegisterCollectionResponse collected;
    grpc::Status status = Inv([&](grpc::ClientContext* c) {
      return inventory_stub_->RegisterCollection(c, collect, &collected);
    });
    EXPECT_TRUE(status.ok()) << status.error_message();

    v1::RecordTestResultsRequest tests;
    tests.set_request_id(absl::StrCat("tests-", din));
    tests.set_din(din);
    for (v1::ScreeningTest test :
         {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
          v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_SYPHILIS}) {
      tests.add_results()->set_test(test);
    }
    v1::TestResultInput* typing = tests.add_results();
    typing->set_test(v1::SCREENING_TEST_ABO_RHD);
    *typing->mutable_blood_type() = Bt(type);
    v1::RecordTestResultsResponse tested;
    status = Inv([&](grpc::ClientContext* c) {
      return inventory_stub_->RecordTestResults(c, tests, &tested);
    });
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(tested.outcome(), v1::TESTING_OUTCOME_RELEASED);

    if (component == v1::COMPONENT_RED_CELLS || component == v1::COMPONENT_CRYO ||
        component == v1::COMPONENT_WHOLE_BLOOD) {
      if (component != v1::COMPONENT_WHOLE_BLOOD) {
        v1::ProcessDonationRequest process;
        process.set_request_id(absl::StrCat("process-", din));
        process.set_din(din);
        process.add_components()->set_component(component);
        v1::ProcessDonationResponse processed;
        status = Inv([&](grpc::ClientContext* c) {
          return inventory_stub_->ProcessDonation(c, process, &processed);
        });
        EXPECT_TRUE(status.ok()) << status.error_message();
      }
    }
    return din;
  }

  v1::PlaceOrderRequest Order(const std::string& hospital, const std::string& request_id,
                              absl::string_view type, std::vector<LineSpec> lines,
                              v1::Priority priority = v1::PRIORITY_URGENT,
                              v1::Sex sex = v1::SEX_MALE, int age = 40) {
    v1::PlaceOrderRequest r;
    r.set_request_id(request_id);
    r.set_hospital_id(hospital);
    v1::Patient* p = r.mutable_patient();
    p->set_patient_ref(absl::StrCat("MRN-", request_id));
    if (type != "unknown") *p->mutable_blood_type() = Bt(type);
    p->set_sex(sex);
    p->set_age_years(age);
    p->set_hemoglobin_g_l(62);
    p->set_platelet_count_e9_l(20);
    p->set_inr(2.4);
    p->set_bleeding(true);
    p->set_fibrinogen_g_l(0.5);
    for (const LineSpec& l : lines) {
      v1::OrderLineRequest* line = r.add_lines();
      line->set_component(l.component);
      line->set_quantity(l.quantity);
    }
    r.set_priority(priority);
    r.set_indication("acute GI bleeding");
    if (priority != v1::PRIORITY_EMERGENCY) {
      ToTimestamp(absl::Now() + absl::Hours(4), r.mutable_needed_by());
    }
    r.mutable_approvals()->set_physician("dr-li");
    r.mutable_approvals()->set_department_head("dr-wang");
    r.mutable_approvals()->set_medical_affairs("ma-zhou");
    return r;
  }

  grpc::Status Place(const v1::PlaceOrderRequest& request, v1::Order* order) {
    return Req([&](grpc::ClientContext* c) { return stub_->PlaceOrder(c, request, order); },
               absl::StrCat("hospital:", request.hospital_id()));
  }

  v1::Order MustPlace(const v1::PlaceOrderRequest& request) {
    v1::Order order;
    grpc::Status status = Place(request, &order);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return order;
  }

  v1::Order Get(const std::string& order_id) {
    v1::GetOrderRequest request;
    request.set_order_id(order_id);
    v1::Order order;
    grpc::Status status = Req(
        [&](grpc::ClientContext* c) { return stub_->GetOrder(c, request, &order); }, "admin:test");
    EXPECT_TRUE(status.ok()) << status.error_message();
    return order;
  }

  grpc::Status Dispatch(const std::string& order_id, v1::Order* order, bool allow_partial = false,
                        const std::string& request_id = "") {
    v1::DispatchOrderRequest request;
    request.set_request_id(request_id.empty() ? absl::StrCat("dispatch-", order_id) : request_id);
    request.set_order_id(order_id);
    request.set_allow_partial(allow_partial);
    return Req([&](grpc::ClientContext* c) { return stub_->DispatchOrder(c, request, order); },
               "dispatcher:d1");
  }

  grpc::Status Cancel(const std::string& order_id, v1::Order* order,
                      const std::string& request_id = "") {
    v1::CancelOrderRequest request;
    request.set_request_id(request_id.empty() ? absl::StrCat("cancel-", order_id) : request_id);
    request.set_order_id(order_id);
    request.set_reason("patient stabilised");
    return Req([&](grpc::ClientContext* c) { return stub_->CancelOrder(c, request, order); });
  }

  v1::Unit GetUnit(const std::string& unit_id) {
    v1::GetUnitRequest request;
    request.set_unit_id(unit_id);
    v1::Unit unit;
    grpc::Status status =
        Inv([&](grpc::ClientContext* c) { return inventory_stub_->GetUnit(c, request, &unit); });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return unit;
  }

  v1::Transfer GetTransfer(const std::string& transfer_id) {
    v1::GetTransferRequest request;
    request.set_transfer_id(transfer_id);
    v1::Transfer transfer;
    grpc::Status status = Inv([&](grpc::ClientContext* c) {
      return inventory_stub_->GetTransfer(c, request, &transfer);
    });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return transfer;
  }

  // A station sends the transfer on its way (DispatchTransfer).
  void SendTransfer(const std::string& transfer_id) {
    v1::DispatchTransferRequest request;
    request.set_request_id(absl::StrCat("send-", transfer_id));
    request.set_transfer_id(transfer_id);
    v1::Transfer transfer;
    grpc::Status status = Inv([&](grpc::ClientContext* c) {
      return inventory_stub_->DispatchTransfer(c, request, &transfer);
    });
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(transfer.status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  }

  // The destination books the transfer in (ReceiveTransfer).
  void ReceiveTransfer(const std::string& transfer_id) {
    v1::ReceiveTransferRequest request;
    request.set_request_id(absl::StrCat("receive-", transfer_id));
    request.set_transfer_id(transfer_id);
    v1::Transfer transfer;
    grpc::Status status = Inv([&](grpc::ClientContext* c) {
      return inventory_stub_->ReceiveTransfer(c, request, &transfer);
    });
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(transfer.status(), v1::TRANSFER_STATUS_RECEIVED);
  }

  v1::Reservation GetReservation(const std::string& key) {
    v1::GetReservationRequest request;
    request.set_reservation_key(key);
    v1::Reservation reservation;
    grpc::Status status = Inv([&](grpc::ClientContext* c) {
      return inventory_stub_->GetReservation(c, request, &reservation);
    });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reservation;
  }

  int64_t InventoryCount(const std::string& sql) { return inventory_schema_.QueryInt(sql); }

  static std::vector<v1::OrderUnit> Units(const v1::Order& order) {
    std::vector<v1::OrderUnit> units;
    for (const v1::OrderLine& line : order.lines()) {
      for (const v1::OrderUnit& u : line.units()) units.push_back(u);
    }
    return units;
  }

  int64_t Count(const std::string& sql) { return request_schema_.QueryInt(sql); }

  // The stock consumer's saved cursor (0: none).
  int64_t Cursor() {
    return Count(
        "SELECT COALESCE(MAX(after_sequence), 0) FROM feed_cursors WHERE feed = "
        "'inventory.stock'");
  }

  // Waits until the stock consumer has applied every stock change on inventory's feed.
  bool StockConsumerCaughtUp() {
    return Eventually([&] {
      return Cursor() == InventoryCount(
                             "SELECT COALESCE(MAX(sequence), 0) FROM change_feed "
                             "WHERE kind = 'stock'");
    });
  }

  TestSchema inventory_schema_;
  TestSchema request_schema_;
  FakeClock clock_;
  std::unique_ptr<inventory::InventoryServer> inventory_;
  std::unique_ptr<RequestServer> request_;
  std::unique_ptr<v1::InventoryService::Stub> inventory_stub_;
  std::unique_ptr<v1::RequestService::Stub> stub_;
  int din_sequence_ = 0;
  int hold_seconds_ = 900;
  absl::Duration reconcile_interval_ = absl::Seconds(2);
  absl::Duration backorder_interval_ = absl::Seconds(30);
  bool fallback_transfers_ = true;
};

TEST_F(RequestServiceTest, FullLifecycle) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  AddUnit("CENTRAL", v1::COMPONENT_PLASMA, "A+", 200);

  v1::Order order = MustPlace(Order("H1", "life-1", "A+",
                                    {{v1::COMPONENT_RED_CELLS, 4}, {v1::COMPONENT_PLASMA, 200}},
                                    v1::PRIORITY_ROUTINE));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  EXPECT_EQ(order.hospital_id(), "H1");
  ASSERT_EQ(order.lines_size(), 2);
  EXPECT_EQ(order.lines(0).allocated_quantity(), 4);
  EXPECT_EQ(order.lines(0).units_size(), 2);
  EXPECT_EQ(order.lines(1).allocated_quantity(), 200);
  EXPECT_EQ(order.lines(0).backordered_quantity(), 0);
  for (const v1::OrderUnit& u : Units(order)) {
    EXPECT_EQ(u.station_id(), "CENTRAL");
    EXPECT_FALSE(u.exception());
    const v1::Unit unit = GetUnit(u.unit_id());
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_RESERVED);
    EXPECT_THAT(unit.reservation_key(), StartsWith(order.order_id() + "/"));
  }
  // The intent, the allocation and the confirmation are all recorded.
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM reservations WHERE order_id = '",
                               order.order_id(), "' AND state = 3")),
            2);

  // Another hospital may not see it.
  v1::GetOrderRequest foreign;
  foreign.set_order_id(order.order_id());
  foreign.set_hospital_id("H2");
  v1::Order ignored;
  EXPECT_EQ(Req([&](grpc::ClientContext* c) {
              return stub_->GetOrder(c, foreign, &ignored);
            }).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  v1::Order dispatched;
  ASSERT_TRUE(Dispatch(order.order_id(), &dispatched).ok());
  EXPECT_EQ(dispatched.status(), v1::ORDER_STATUS_DISPATCHED);
  EXPECT_TRUE(dispatched.has_dispatched_at());
  for (const v1::OrderUnit& u : Units(dispatched)) {
    const v1::Unit unit = GetUnit(u.unit_id());
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_ISSUED);
    EXPECT_EQ(unit.order_id(), order.order_id());
    EXPECT_EQ(unit.hospital_id(), "H1");
  }
  // Dispatching again returns it unchanged.
  v1::Order again;
  ASSERT_TRUE(Dispatch(order.order_id(), &again, false, "dispatch-again").ok());
  EXPECT_EQ(again.status(), v1::ORDER_STATUS_DISPATCHED);

  v1::ConfirmDeliveryRequest confirm;
  confirm.set_request_id("confirm-1");
  confirm.set_order_id(order.order_id());
  confirm.set_hospital_id("H1");
  confirm.set_received_by("nurse-wu");
  v1::Order delivered;
  ASSERT_TRUE(Req([&](grpc::ClientContext* c) {
                return stub_->ConfirmDelivery(c, confirm, &delivered);
              }).ok());
  EXPECT_EQ(delivered.status(), v1::ORDER_STATUS_DELIVERED);

  const std::vector<v1::OrderUnit> units = Units(delivered);
  ASSERT_EQ(units.size(), 3u);
  v1::Order reported;
  for (size_t i = 0; i < units.size(); ++i) {
    v1::ReportTransfusionRequest report;
    report.set_request_id(absl::StrCat("report-", i));
    report.set_order_id(order.order_id());
    report.set_din(units[i].din());
    report.set_component(units[i].component());
    report.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
    if (i == 0) {
      report.mutable_adverse_reaction()->set_type(v1::ADVERSE_REACTION_TYPE_FEBRILE_NON_HEMOLYTIC);
      report.mutable_adverse_reaction()->set_severity(v1::ADVERSE_REACTION_SEVERITY_MILD);
    }
    grpc::Status status =
        Req([&](grpc::ClientContext* c) { return stub_->ReportTransfusion(c, report, &reported); });
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(reported.status(),
              i + 1 < units.size() ? v1::ORDER_STATUS_DELIVERED : v1::ORDER_STATUS_COMPLETED);
    EXPECT_EQ(GetUnit(units[i].unit_id()).status(), v1::UNIT_STATUS_TRANSFUSED);
  }
  EXPECT_TRUE(reported.has_completed_at());
  // A different outcome for a unit already reported is refused.
  v1::ReportTransfusionRequest wasted;
  wasted.set_request_id("report-wasted");
  wasted.set_order_id(order.order_id());
  wasted.set_din(units[0].din());
  wasted.set_component(units[0].component());
  wasted.set_outcome(v1::TRANSFUSION_OUTCOME_WASTED);
  EXPECT_EQ(Req([&](grpc::ClientContext* c) {
              return stub_->ReportTransfusion(c, wasted, &reported);
            }).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  // Lookback: which hospital received the unit.
  v1::FindOrdersByDinsRequest lookback;
  lookback.add_dins(units[0].din());
  v1::FindOrdersByDinsResponse found;
  ASSERT_TRUE(
      Req([&](grpc::ClientContext* c) { return stub_->FindOrdersByDins(c, lookback, &found); },
          "admin:test")
          .ok());
  ASSERT_EQ(found.deliveries_size(), 1);
  EXPECT_EQ(found.deliveries(0).order_id(), order.order_id());
  EXPECT_EQ(found.deliveries(0).hospital_id(), "H1");
  EXPECT_EQ(found.deliveries(0).outcome(), v1::TRANSFUSION_OUTCOME_TRANSFUSED);

  // Every status change has its event row.
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(DISTINCT to_status) FROM order_events WHERE "
                               "order_id = '",
                               order.order_id(), "' AND to_status <> from_status")),
            5);  // RECEIVED, ALLOCATED, DISPATCHED, DELIVERED, COMPLETED

  // ListOrders pages through the hospital's orders, newest first.
  MustPlace(Order("H1", "life-2", "A+", {{v1::COMPONENT_RED_CELLS, 2}}));
  MustPlace(Order("H1", "life-3", "A+", {{v1::COMPONENT_RED_CELLS, 2}}));
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    v1::ListOrdersRequest list;
    list.set_hospital_id("H1");
    list.set_page_size(2);
    list.set_page_token(token);
    v1::ListOrdersResponse page;
    ASSERT_TRUE(
        Req([&](grpc::ClientContext* c) { return stub_->ListOrders(c, list, &page); }).ok());
    for (const v1::Order& o : page.orders()) EXPECT_TRUE(seen.insert(o.order_id()).second);
    token = page.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 5);
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(pages, 2);
}

TEST_F(RequestServiceTest, TwoHospitalsRaceForTheLastONegativeUnits) {
  constexpr int kUnits = 5;
  std::set<std::string> stock;
  for (int i = 0; i < kUnits; ++i) stock.insert(AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O-"));

  // Eight orders (four per hospital) of one bag each, all at once, for five bags.
  constexpr int kOrders = 8;
  std::vector<v1::Order> orders(kOrders);
  std::vector<grpc::Status> statuses(kOrders);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOrders; ++i) {
    threads.emplace_back([&, i] {
      const std::string hospital = i % 2 == 0 ? "H1" : "H2";
      statuses[i] =
          Place(Order(hospital, absl::StrCat("race-", i), "O-", {{v1::COMPONENT_RED_CELLS, 2}},
                      v1::PRIORITY_EMERGENCY, v1::SEX_FEMALE, 30),
                &orders[i]);
    });
  }
  for (auto& t : threads) t.join();

  std::map<std::string, std::string> holder;  // unit -> order
  int allocated = 0;
  for (int i = 0; i < kOrders; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    for (const v1::OrderUnit& u : Units(orders[i])) {
      EXPECT_TRUE(holder.emplace(u.unit_id(), orders[i].order_id()).second)
          << "unit " << u.din() << " went to two orders";
      EXPECT_EQ(u.blood_type().rhd(), v1::RH_D_NEGATIVE);
    }
    if (orders[i].status() == v1::ORDER_STATUS_ALLOCATED) ++allocated;
  }
  EXPECT_EQ(allocated, kUnits);
  EXPECT_EQ(holder.size(), static_cast<size_t>(kUnits));
  // Inventory agrees: each unit is held by the reservation of the order that shows it.
  for (const auto& [unit_id, order_id] : holder) {
    const v1::Unit unit = GetUnit(unit_id);
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_RESERVED);
    EXPECT_THAT(unit.reservation_key(), StartsWith(order_id + "/"));
  }
  // The losers are back-ordered (a young female: no RhD-positive while none exists either).
  for (const v1::Order& o : orders) {
    if (o.status() != v1::ORDER_STATUS_ALLOCATED) {
      EXPECT_EQ(o.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
      EXPECT_EQ(o.lines(0).backordered_quantity(), 2);
    }
  }
}

TEST_F(RequestServiceTest, BackOrderIsFilledWhenATransferArrives) {
  // H3 is served by BR-NORTH alone; the stock is at CENTRAL.
  AddHospital("H3", "BR-NORTH", {});
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "B+");
  v1::Order order = MustPlace(Order("H3", "bo-1", "B+", {{v1::COMPONENT_RED_CELLS, 2}}));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_EQ(order.lines(0).backordered_quantity(), 2);

  v1::CreateTransferRequest create;
  create.set_request_id("transfer-1");
  create.set_from_station_id("CENTRAL");
  create.set_to_station_id("BR-NORTH");
  v1::TransferLot* lot = create.add_items()->mutable_lot();
  lot->set_component(v1::COMPONENT_RED_CELLS);
  *lot->mutable_blood_type() = Bt("B+");
  lot->set_quantity(2);
  v1::Transfer transfer;
  ASSERT_TRUE(Inv([&](grpc::ClientContext* c) {
                return inventory_stub_->CreateTransfer(c, create, &transfer);
              }).ok());
  v1::DispatchTransferRequest send;
  send.set_request_id("transfer-1-send");
  send.set_transfer_id(transfer.transfer_id());
  ASSERT_TRUE(Inv([&](grpc::ClientContext* c) {
                return inventory_stub_->DispatchTransfer(c, send, &transfer);
              }).ok());
  // Still short while the units are on the road.
  EXPECT_EQ(Get(order.order_id()).status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  v1::ReceiveTransferRequest receive;
  receive.set_request_id("transfer-1-receive");
  receive.set_transfer_id(transfer.transfer_id());
  ASSERT_TRUE(Inv([&](grpc::ClientContext* c) {
                return inventory_stub_->ReceiveTransfer(c, receive, &transfer);
              }).ok());

  // The stock stream tells the request service; the back-order is filled without any call.
  ASSERT_TRUE(Eventually([&] {
    return Get(order.order_id()).status() == v1::ORDER_STATUS_ALLOCATED;
  })) << Get(order.order_id()).DebugString();
  const v1::Order filled = Get(order.order_id());
  ASSERT_EQ(filled.lines(0).units_size(), 1);
  EXPECT_EQ(filled.lines(0).units(0).station_id(), "BR-NORTH");
  EXPECT_EQ(filled.lines(0).backordered_quantity(), 0);
}

// ---- The stock consumer's durable cursor ----------------------------------------------------

class StockConsumerTest : public RequestServiceTest {
 protected:
  void SetUp() override {
    RequestServiceTest::SetUp();
    // Only the stock consumer can fill a back-order here: the sweep's first pass is an hour
    // away and the reconciler does not run.
    backorder_interval_ = absl::Hours(1);
    reconcile_interval_ = absl::ZeroDuration();
    RestartRequest(/*run_jobs=*/true);
  }

  // A back-order of 2 red cells of `type` at H1, with none in stock.
  v1::Order BackOrder(const std::string& request_id, absl::string_view type) {
    v1::Order order = MustPlace(Order("H1", request_id, type, {{v1::COMPONENT_RED_CELLS, 2}}));
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
    return order;
  }

  bool Allocated(const std::string& order_id) {
    return Eventually([&] { return Get(order_id).status() == v1::ORDER_STATUS_ALLOCATED; });
  }

  // Some committed change on the feed, and the consumer's cursor past it.
  void MoveTheCursor() {
    const int64_t before = Cursor();
    AddUnit("BR-SOUTH", v1::COMPONENT_PLASMA, "AB+");
    ASSERT_TRUE(Eventually([&] { return Cursor() > before; })) << Cursor();
  }
};

TEST_F(StockConsumerTest, StockCommittedWhileTheConsumerWasDownFillsTheBackOrderAfterRestart) {
  const v1::Order order = BackOrder("down-1", "A-");
  MoveTheCursor();
  const int64_t saved = Cursor();
  request_->Shutdown();
  request_.reset();

  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A-");  // nobody is watching
  EXPECT_EQ(Cursor(), saved);

  StartRequest(/*run_jobs=*/true);
  ASSERT_TRUE(Allocated(order.order_id())) << Get(order.order_id()).DebugString();
  RequestJobs& jobs = *request_->jobs();
  EXPECT_GE(jobs.stock_resumes(), 1);
  EXPECT_TRUE(Eventually([&] { return jobs.stock_event_fills() >= 1; }));
  EXPECT_EQ(jobs.stock_sweeps(), 0) << "filled by a sweep, not by the missed events";
  EXPECT_EQ(jobs.backorder_passes(), 0);
  EXPECT_TRUE(Eventually([&] { return Cursor() > saved; }));
  EXPECT_EQ(Units(Get(order.order_id())).size(), 1u);
}

TEST_F(StockConsumerTest, ACursorAheadOfTheFeedIsDroppedForAFullSweep) {
  const v1::Order order = BackOrder("ahead-1", "A-");
  request_->Shutdown();
  request_.reset();
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A-");
  // As if inventory's database had been restored from a backup older than the cursor.
  request_schema_.Exec(
      "REPLACE INTO feed_cursors (feed, after_sequence, updated_us) "
      "VALUES ('inventory.stock', 999999999, 0)");

  StartRequest(/*run_jobs=*/true);
  ASSERT_TRUE(Allocated(order.order_id())) << Get(order.order_id()).DebugString();
  EXPECT_TRUE(Eventually([&] { return request_->jobs()->stock_sweeps() == 1; }));
  EXPECT_EQ(request_->jobs()->backorder_passes(), 0);
  // The dropped cursor starts again from the feed's real positions.
  MoveTheCursor();
  EXPECT_LT(Cursor(), 999999999);
}

TEST_F(StockConsumerTest, ACursorPastTheFeedsRetentionIsDroppedForAFullSweep) {
  const v1::Order order = BackOrder("gone-1", "B-");
  MoveTheCursor();
  const int64_t saved = Cursor();
  request_->Shutdown();
  request_.reset();
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "B-");
  // The retention sweep removed everything the cursor would resume from.
  inventory_schema_.Exec("DELETE FROM change_feed");

  StartRequest(/*run_jobs=*/true);
  ASSERT_TRUE(Allocated(order.order_id())) << Get(order.order_id()).DebugString();
  EXPECT_TRUE(Eventually([&] { return request_->jobs()->stock_sweeps() == 1; }));
  EXPECT_EQ(request_->jobs()->backorder_passes(), 0);
  MoveTheCursor();
  EXPECT_GT(Cursor(), saved);
}

TEST_F(StockConsumerTest, OneReplicaConsumesAndTheOtherTakesOverWhenItStops) {
  std::unique_ptr<RequestServer> second = NewRequest(/*run_jobs=*/true);
  ASSERT_NE(second, nullptr);
  auto consumers = [&] {
    return static_cast<int>(request_->jobs()->stock_consuming()) +
           static_cast<int>(second->jobs()->stock_consuming());
  };
  ASSERT_TRUE(Eventually([&] { return consumers() == 1; }));
  const v1::Order order = BackOrder("replica-1", "O-");
  MoveTheCursor();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(consumers(), 1);
    absl::SleepFor(absl::Milliseconds(50));
  }
  // Stop whichever consumes; the other takes the lease and resumes from the saved cursor.
  std::unique_ptr<RequestServer>& first = request_->jobs()->stock_consuming() ? request_ : second;
  std::unique_ptr<RequestServer>& other = &first == &request_ ? second : request_;
  first->Shutdown();
  first.reset();
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O-");
  ASSERT_TRUE(Eventually([&] { return other->jobs()->stock_consuming(); }, absl::Seconds(30)));
  ASSERT_TRUE(Eventually(
      [&] {
        v1::GetOrderRequest request;
        request.set_order_id(order.order_id());
        v1::Order now;
        grpc::ClientContext ctx;
        ctx.AddMetadata("x-bloodgrid-actor", "admin:test");
        auto stub = v1::RequestService::NewStub(grpc::CreateChannel(
            absl::StrCat("127.0.0.1:", other->port()), grpc::InsecureChannelCredentials()));
        return stub->GetOrder(&ctx, request, &now).ok() &&
               now.status() == v1::ORDER_STATUS_ALLOCATED;
      },
      absl::Seconds(30)));
  EXPECT_GE(other->jobs()->stock_resumes(), 1);
  EXPECT_EQ(other->jobs()->stock_sweeps(), 0);
  EXPECT_EQ(other->jobs()->backorder_passes(), 0);
  if (request_ == nullptr) request_ = std::move(second);
}

TEST_F(RequestServiceTest, BackOrdersAreFilledByPriorityThenAgeWhenAnotherOrderIsCancelled) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "AB+");
  const v1::Order holder = MustPlace(Order("H1", "hold-1", "AB+", {{v1::COMPONENT_RED_CELLS, 2}}));
  ASSERT_EQ(holder.status(), v1::ORDER_STATUS_ALLOCATED);
  // Two back-orders: an older URGENT one and a newer EMERGENCY one.
  const v1::Order urgent =
      MustPlace(Order("H2", "wait-urgent", "AB+", {{v1::COMPONENT_RED_CELLS, 2}}));
  clock_.Advance(absl::Minutes(1));
  const v1::Order emergency = MustPlace(
      Order("H2", "wait-emergency", "AB+", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_EMERGENCY));
  ASSERT_EQ(urgent.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  ASSERT_EQ(emergency.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);

  v1::Order cancelled;
  ASSERT_TRUE(Cancel(holder.order_id(), &cancelled).ok());
  EXPECT_EQ(cancelled.status(), v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(cancelled.status_reason(), "patient stabilised");
  // Cancelling again answers the same.
  v1::Order again;
  ASSERT_TRUE(Cancel(holder.order_id(), &again, "cancel-again").ok());
  EXPECT_EQ(again.status(), v1::ORDER_STATUS_CANCELLED);

  // The released bag goes to the EMERGENCY back-order first.
  ASSERT_TRUE(
      Eventually([&] { return Get(emergency.order_id()).status() == v1::ORDER_STATUS_ALLOCATED; }));
  EXPECT_EQ(Get(urgent.order_id()).status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_TRUE(Eventually(
      [&] { return Count("SELECT COUNT(*) FROM reservations WHERE state IN (1, 2, 6)") == 0; }));
}

TEST_F(RequestServiceTest, RetryAfterACrashBetweenTheIntentAndReserveCompletesTheSameOrder) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+");
  request_->operations().SetFaultHook([](absl::string_view point) {
    return point == "place_order.after_intent" ? absl::UnavailableError("crashed")
                                               : absl::OkStatus();
  });
  const v1::PlaceOrderRequest request =
      Order("H1", "crash-1", "O+", {{v1::COMPONENT_RED_CELLS, 2}});
  v1::Order order;
  EXPECT_EQ(Place(request, &order).error_code(), grpc::StatusCode::UNAVAILABLE);
  // The intent is committed, nothing is reserved yet.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM orders WHERE status = 1"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations WHERE state = 1"), 1);
  EXPECT_EQ(inventory_schema_.QueryInt("SELECT COUNT(*) FROM reservations"), 0);

  request_->operations().SetFaultHook(nullptr);
  ASSERT_TRUE(Place(request, &order).ok());
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM orders"), 1);
  v1::Order again;
  ASSERT_TRUE(Place(request, &again).ok());
  EXPECT_EQ(again.order_id(), order.order_id());
  EXPECT_EQ(Units(again).size(), 1u);
}

TEST_F(RequestServiceTest, RetryAfterACrashBetweenReserveAndRecordGetsTheSameUnits) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+");
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+");
  request_->operations().SetFaultHook([](absl::string_view point) {
    return point == "allocate.after_reserve" ? absl::UnavailableError("crashed") : absl::OkStatus();
  });
  const v1::PlaceOrderRequest request =
      Order("H1", "crash-2", "O+", {{v1::COMPONENT_RED_CELLS, 2}});
  v1::Order order;
  EXPECT_EQ(Place(request, &order).error_code(), grpc::StatusCode::UNAVAILABLE);
  // Inventory holds a bag for the order, the order does not know it yet.
  EXPECT_EQ(inventory_schema_.QueryInt("SELECT COUNT(*) FROM reservations"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM allocations"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM orders WHERE status = 1"), 1);

  // The process dies; a new one starts and its retry completes the same order with the bag
  // inventory already holds for it (Reserve is idempotent on the order's key).
  RestartRequest(/*run_jobs=*/false);
  ASSERT_TRUE(Place(request, &order).ok());
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  ASSERT_EQ(Units(order).size(), 1u);
  EXPECT_EQ(inventory_schema_.QueryInt("SELECT COUNT(*) FROM reservations"), 1);
  const v1::Unit unit = GetUnit(Units(order)[0].unit_id());
  EXPECT_EQ(unit.reservation_key(), order.order_id() + "/1/1");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM orders"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM allocations"), 1);
}

TEST_F(RequestServiceTest, RestartedServerReconcilesAHalfDoneOrderByItself) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+");
  request_->operations().SetFaultHook([](absl::string_view point) {
    return point == "allocate.after_reserve" ? absl::UnavailableError("crashed") : absl::OkStatus();
  });
  v1::Order order;
  EXPECT_EQ(
      Place(Order("H1", "crash-3", "O+", {{v1::COMPONENT_RED_CELLS, 2}}), &order).error_code(),
      grpc::StatusCode::UNAVAILABLE);
  const std::string order_id = request_schema_.QueryString("SELECT order_id FROM orders");
  RestartRequest(/*run_jobs=*/true);  // the start-up reconciler finds the RECEIVED order
  ASSERT_TRUE(Eventually([&] { return Get(order_id).status() == v1::ORDER_STATUS_ALLOCATED; }));
  EXPECT_EQ(Units(Get(order_id)).size(), 1u);
  EXPECT_EQ(inventory_schema_.QueryInt("SELECT COUNT(*) FROM reservations"), 1);
}

TEST_F(RequestServiceTest, CancelReleasesBeforeDispatchAndIsRefusedAfter) {
  const std::string din = AddUnit("CENTRAL", v1::COMPONENT_PLATELETS, "A+");
  v1::Order first = MustPlace(Order("H1", "cx-1", "A+", {{v1::COMPONENT_PLATELETS, 1}}));
  ASSERT_EQ(first.status(), v1::ORDER_STATUS_ALLOCATED);
  const std::string unit_id = Units(first)[0].unit_id();
  v1::Order cancelled;
  ASSERT_TRUE(Cancel(first.order_id(), &cancelled).ok());
  EXPECT_EQ(cancelled.status(), v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(GetUnit(unit_id).status(), v1::UNIT_STATUS_AVAILABLE);

  v1::Order second = MustPlace(Order("H1", "cx-2", "A+", {{v1::COMPONENT_PLATELETS, 1}}));
  ASSERT_EQ(second.status(), v1::ORDER_STATUS_ALLOCATED);
  v1::Order dispatched;
  ASSERT_TRUE(Dispatch(second.order_id(), &dispatched).ok());
  v1::Order refused;
  grpc::Status status = Cancel(second.order_id(), &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("DISPATCHED"));
  EXPECT_EQ(Get(second.order_id()).status(), v1::ORDER_STATUS_DISPATCHED);
  EXPECT_EQ(GetUnit(unit_id).status(), v1::UNIT_STATUS_ISSUED);
}

TEST_F(RequestServiceTest, RoutineOrderFailingItsIndicationWaitsForReview) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "B-");
  v1::PlaceOrderRequest request =
      Order("H1", "rev-1", "B-", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_ROUTINE);
  request.mutable_patient()->set_hemoglobin_g_l(115);
  v1::Order order = MustPlace(request);
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_IN_REVIEW);
  EXPECT_THAT(order.review_reason(), HasSubstr("Hb 115 g/L > 100 g/L"));
  ASSERT_EQ(order.indication_findings_size(), 1);
  EXPECT_EQ(order.indication_findings(0).code(),
            v1::INDICATION_FINDING_CODE_HEMOGLOBIN_ABOVE_THRESHOLD);
  EXPECT_EQ(inventory_schema_.QueryInt("SELECT COUNT(*) FROM reservations"), 0);

  v1::ReviewOrderRequest review;
  review.set_request_id("review-1");
  review.set_order_id(order.order_id());
  review.set_approve(true);
  review.set_reviewer("dr-chen");
  review.set_note("pre-operative, expected blood loss");
  v1::Order approved;
  ASSERT_TRUE(Req([&](grpc::ClientContext* c) { return stub_->ReviewOrder(c, review, &approved); },
                  "admin:chen")
                  .ok());
  EXPECT_EQ(approved.status(), v1::ORDER_STATUS_ALLOCATED);
  ASSERT_EQ(approved.reviews_size(), 1);
  EXPECT_FALSE(approved.reviews(0).retrospective());

  // An URGENT order with the same values is allocated at once, only flagged; a retrospective
  // review records the judgement without changing the status.
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "B-");
  request = Order("H1", "rev-2", "B-", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_URGENT);
  request.mutable_patient()->set_hemoglobin_g_l(115);
  v1::Order urgent = MustPlace(request);
  EXPECT_EQ(urgent.status(), v1::ORDER_STATUS_ALLOCATED);
  ASSERT_GE(urgent.exceptions_size(), 1);
  EXPECT_EQ(urgent.exceptions(0).kind(), v1::ORDER_EXCEPTION_KIND_INDICATION_NOT_MET);
  review.set_request_id("review-2");
  review.set_order_id(urgent.order_id());
  review.set_approve(false);
  review.set_note("not justified");
  v1::Order judged;
  ASSERT_TRUE(Req([&](grpc::ClientContext* c) { return stub_->ReviewOrder(c, review, &judged); },
                  "admin:chen")
                  .ok());
  EXPECT_EQ(judged.status(), v1::ORDER_STATUS_ALLOCATED);
  ASSERT_EQ(judged.reviews_size(), 1);
  EXPECT_TRUE(judged.reviews(0).retrospective());

  // A rejected order ends REJECTED.
  request = Order("H1", "rev-3", "B-", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_ROUTINE);
  request.mutable_patient()->set_hemoglobin_g_l(130);
  v1::Order held = MustPlace(request);
  review.set_request_id("review-3");
  review.set_order_id(held.order_id());
  review.set_note("no indication");
  v1::Order rejected;
  ASSERT_TRUE(Req([&](grpc::ClientContext* c) { return stub_->ReviewOrder(c, review, &rejected); },
                  "admin:chen")
                  .ok());
  EXPECT_EQ(rejected.status(), v1::ORDER_STATUS_REJECTED);
  EXPECT_EQ(rejected.status_reason(), "no indication");
}

TEST_F(RequestServiceTest, EmergencyRhdRulesFollowSexAndAge) {
  // O+ on the serving station's shelf, O- only at the fallback station.
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+");
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+");
  AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "O-");

  // A young woman of unknown type: O- from the fallback (RhD-positive only if nothing else).
  v1::Order woman = MustPlace(Order("H1", "em-1", "unknown", {{v1::COMPONENT_RED_CELLS, 2}},
                                    v1::PRIORITY_EMERGENCY, v1::SEX_FEMALE, 28));
  ASSERT_EQ(woman.status(), v1::ORDER_STATUS_ALLOCATED) << woman.DebugString();
  EXPECT_EQ(Units(woman)[0].blood_type().rhd(), v1::RH_D_NEGATIVE);
  EXPECT_EQ(Units(woman)[0].station_id(), "BR-NORTH");
  EXPECT_TRUE(Units(woman)[0].exception());
  bool unknown_type_recorded = false;
  for (const auto& e : woman.exceptions()) {
    if (e.kind() == v1::ORDER_EXCEPTION_KIND_EMERGENCY_UNKNOWN_BLOOD_TYPE)
      unknown_type_recorded = true;
  }
  EXPECT_TRUE(unknown_type_recorded);

  // A man of unknown type: O- is gone, O+ is on the shelf: given, recorded as an exception.
  v1::Order man = MustPlace(Order("H1", "em-2", "unknown", {{v1::COMPONENT_RED_CELLS, 2}},
                                  v1::PRIORITY_EMERGENCY, v1::SEX_MALE, 45));
  ASSERT_EQ(man.status(), v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(Units(man)[0].blood_type().rhd(), v1::RH_D_POSITIVE);
  bool rhd_recorded = false;
  for (const auto& e : man.exceptions()) {
    if (e.kind() == v1::ORDER_EXCEPTION_KIND_RHD_POSITIVE_FOR_RHD_NEGATIVE) {
      rhd_recorded = true;
      EXPECT_EQ(e.din(), Units(man)[0].din());
      EXPECT_EQ(e.recorded_by(), "dr-li");
    }
  }
  EXPECT_TRUE(rhd_recorded);

  // An O- patient with anti-D never gets RhD-positive: back-ordered although O+ is there.
  v1::PlaceOrderRequest anti_d = Order("H1", "em-3", "O-", {{v1::COMPONENT_RED_CELLS, 2}},
                                       v1::PRIORITY_EMERGENCY, v1::SEX_MALE, 60);
  anti_d.mutable_patient()->set_has_anti_d(true);
  v1::Order refused = MustPlace(anti_d);
  EXPECT_EQ(refused.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_EQ(refused.lines(0).allocated_quantity(), 0);

  // A young O- woman without anti-D: nothing RhD-negative exists any more, so the last O+.
  v1::Order last = MustPlace(Order("H2", "em-4", "O-", {{v1::COMPONENT_RED_CELLS, 2}},
                                   v1::PRIORITY_EMERGENCY, v1::SEX_FEMALE, 30));
  EXPECT_EQ(last.status(), v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(Units(last)[0].blood_type().rhd(), v1::RH_D_POSITIVE);
}

TEST_F(RequestServiceTest, MassiveTransfusionIsServedInRoundsUntilCancelled) {
  for (int i = 0; i < 6; ++i) AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  for (int i = 0; i < 6; ++i) AddUnit("CENTRAL", v1::COMPONENT_PLASMA, "A+", 200);
  AddUnit("CENTRAL", v1::COMPONENT_PLATELETS, "A+");
  AddUnit("CENTRAL", v1::COMPONENT_PLATELETS, "A+");

  v1::PlaceOrderRequest request = Order("H1", "mtp-1", "A+", {}, v1::PRIORITY_EMERGENCY);
  request.set_massive_transfusion(true);
  v1::Order round1 = MustPlace(request);
  ASSERT_EQ(round1.status(), v1::ORDER_STATUS_ALLOCATED) << round1.DebugString();
  ASSERT_EQ(round1.lines_size(), 3);  // the policy's pack: 6 U red cells, 600 mL plasma, 1 dose
  EXPECT_EQ(round1.lines(0).quantity(), 6);
  EXPECT_EQ(round1.lines(1).quantity(), 600);
  EXPECT_EQ(round1.lines(2).quantity(), 1);
  EXPECT_EQ(round1.round(), 1);
  EXPECT_EQ(round1.massive_transfusion_id(), round1.order_id());

  v1::Order dispatched;
  ASSERT_TRUE(Dispatch(round1.order_id(), &dispatched).ok());
  // The next round was placed with the dispatch.
  const std::string round2_id = request_schema_.QueryString(
      absl::StrCat("SELECT order_id FROM orders WHERE massive_transfusion_id = '",
                   round1.order_id(), "' AND mt_round = 2"));
  ASSERT_FALSE(round2_id.empty());
  const v1::Order round2 = Get(round2_id);
  EXPECT_EQ(round2.status(), v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(round2.round(), 2);
  EXPECT_EQ(round2.lines(0).allocated_quantity(), 6);
  EXPECT_EQ(round2.lines(2).allocated_quantity(), 1);

  // The hospital stops the protocol by cancelling the pending round: no third round.
  v1::Order stopped;
  ASSERT_TRUE(Cancel(round2_id, &stopped).ok());
  EXPECT_EQ(stopped.status(), v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM orders WHERE massive_transfusion_id = '",
                               round1.order_id(), "'")),
            2);
}

TEST_F(RequestServiceTest, UnreportedUnitsArePresumedTransfused) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("CENTRAL", v1::COMPONENT_CRYO, "AB-");
  v1::PlaceOrderRequest request = Order("H1", "presume-1", "AB-", {{v1::COMPONENT_CRYO, 2}});
  v1::Order order = MustPlace(request);
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  v1::Order dispatched;
  ASSERT_TRUE(Dispatch(order.order_id(), &dispatched).ok());
  EXPECT_EQ(*request_->operations().PresumeTransfusions(absl::Now() + absl::Seconds(10)), 0);
  clock_.Advance(absl::Hours(73));
  EXPECT_EQ(*request_->operations().PresumeTransfusions(absl::Now() + absl::Seconds(10)), 1);
  const v1::Order completed = Get(order.order_id());
  EXPECT_EQ(completed.status(), v1::ORDER_STATUS_COMPLETED);
  EXPECT_EQ(Units(completed)[0].outcome(), v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED);
  EXPECT_EQ(GetUnit(Units(completed)[0].unit_id()).status(), v1::UNIT_STATUS_TRANSFUSED);
  // Reporting TRANSFUSED afterwards agrees with the presumption.
  v1::ReportTransfusionRequest report;
  report.set_request_id("late-report");
  report.set_order_id(order.order_id());
  report.set_din(Units(completed)[0].din());
  report.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  v1::Order reported;
  EXPECT_TRUE(Req([&](grpc::ClientContext* c) {
                return stub_->ReportTransfusion(c, report, &reported);
              }).ok());
}

TEST_F(RequestServiceTest, EveryBadInputIsRejectedAndChangesNothing) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  const v1::Order order = MustPlace(Order("H1", "good-1", "A+", {{v1::COMPONENT_RED_CELLS, 2}}));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  // The stock consumer saves its cursor in the background; let it settle before counting.
  ASSERT_TRUE(StockConsumerCaughtUp());
  const auto request_before = RowCounts(request_schema_);
  const auto inventory_before = RowCounts(inventory_schema_);

  struct Case {
    std::string name;
    std::string field;  // the message starts with it
    std::function<grpc::Status(grpc::ClientContext*)> call;
  };
  auto place = [&](std::function<void(v1::PlaceOrderRequest&)> breakit) {
    return [this, breakit](grpc::ClientContext* c) {
      v1::PlaceOrderRequest r = Order("H1", "bad-place", "A+", {{v1::COMPONENT_RED_CELLS, 2}});
      breakit(r);
      v1::Order out;
      return stub_->PlaceOrder(c, r, &out);
    };
  };
  std::vector<Case> cases = {
      {"empty request_id", "request_id", place([](auto& r) { r.clear_request_id(); })},
      {"bad request_id", "request_id", place([](auto& r) { r.set_request_id("a b"); })},
      {"reused request_id", "request_id", place([](auto& r) { r.set_request_id("good-1"); })},
      {"no hospital", "hospital_id", place([](auto& r) { r.clear_hospital_id(); })},
      {"unknown component", "lines[0].component",
       place([](auto& r) { r.mutable_lines(0)->set_component(static_cast<v1::Component>(99)); })},
      {"zero quantity", "lines[0].quantity",
       place([](auto& r) { r.mutable_lines(0)->set_quantity(0); })},
      {"absurd quantity", "lines[0].quantity",
       place([](auto& r) { r.mutable_lines(0)->set_quantity(5000); })},
      {"no blood type", "patient.blood_type.abo",
       place([](auto& r) { r.mutable_patient()->clear_blood_type(); })},
      {"needed_by in the past", "needed_by",
       place([](auto& r) { ToTimestamp(absl::Now() - absl::Hours(1), r.mutable_needed_by()); })},
      {"oversized indication", "indication",
       place([](auto& r) { r.set_indication(std::string(1001, 'x')); })},
      {"oversized ward", "ward", place([](auto& r) { r.set_ward(std::string(101, 'x')); })},
      {"cancel without reason", "reason",
       [&](grpc::ClientContext* c) {
         v1::CancelOrderRequest r;
         r.set_request_id("bad-cancel");
         r.set_order_id(order.order_id());
         v1::Order out;
         return stub_->CancelOrder(c, r, &out);
       }},
      {"review without reviewer", "reviewer",
       [&](grpc::ClientContext* c) {
         v1::ReviewOrderRequest r;
         r.set_request_id("bad-review");
         r.set_order_id(order.order_id());
         v1::Order out;
         return stub_->ReviewOrder(c, r, &out);
       }},
      {"dispatch without request_id", "request_id",
       [&](grpc::ClientContext* c) {
         v1::DispatchOrderRequest r;
         r.set_order_id(order.order_id());
         v1::Order out;
         return stub_->DispatchOrder(c, r, &out);
       }},
      {"report with a bad DIN", "din",
       [&](grpc::ClientContext* c) {
         v1::ReportTransfusionRequest r;
         r.set_request_id("bad-report");
         r.set_order_id(order.order_id());
         r.set_din("not-a-din");
         r.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
         v1::Order out;
         return stub_->ReportTransfusion(c, r, &out);
       }},
      {"hospital with an unknown station", "hospital.fallback_station_ids[0]",
       [&](grpc::ClientContext* c) {
         v1::UpsertHospitalRequest r;
         r.set_request_id("bad-hospital");
         r.mutable_hospital()->set_hospital_id("H9");
         r.mutable_hospital()->set_name("Nine");
         r.mutable_hospital()->set_serving_station_id("CENTRAL");
         r.mutable_hospital()->add_fallback_station_ids("NOWHERE");
         v1::Hospital out;
         return stub_->UpsertHospital(c, r, &out);
       }},
      {"lookup without DINs", "dins",
       [&](grpc::ClientContext* c) {
         v1::FindOrdersByDinsRequest r;
         v1::FindOrdersByDinsResponse out;
         return stub_->FindOrdersByDins(c, r, &out);
       }},
      {"lookup with a bad DIN", "dins[1]",
       [&](grpc::ClientContext* c) {
         v1::FindOrdersByDinsRequest r;
         r.add_dins(Units(order)[0].din());
         r.add_dins("A99992112345");
         v1::FindOrdersByDinsResponse out;
         return stub_->FindOrdersByDins(c, r, &out);
       }},
      {"foreign page token", "page_token",
       [&](grpc::ClientContext* c) {
         v1::ListOrdersRequest r;
         r.set_page_token("garbage");
         v1::ListOrdersResponse out;
         return stub_->ListOrders(c, r, &out);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status status = Req(c.call, "admin:test");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.field + ": "));
  }
  // A hospital that does not exist is a precondition, not a malformed request.
  v1::Order out;
  EXPECT_EQ(Place(Order("H404", "ghost", "A+", {{v1::COMPONENT_RED_CELLS, 2}}), &out).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(RowCounts(request_schema_), request_before);
  EXPECT_EQ(RowCounts(inventory_schema_), inventory_before);
}

TEST_F(RequestServiceTest, HospitalRegistry) {
  AddHospital("H3", "BR-NORTH", {"CENTRAL", "BR-SOUTH"});
  v1::GetHospitalRequest get;
  get.set_hospital_id("H3");
  v1::Hospital h3;
  ASSERT_TRUE(Req([&](grpc::ClientContext* c) { return stub_->GetHospital(c, get, &h3); }).ok());
  EXPECT_EQ(h3.serving_station_id(), "BR-NORTH");
  ASSERT_EQ(h3.fallback_station_ids_size(), 2);
  EXPECT_EQ(h3.fallback_station_ids(0), "CENTRAL");
  EXPECT_TRUE(h3.has_created_at());
  get.set_hospital_id("H404");
  EXPECT_EQ(
      Req([&](grpc::ClientContext* c) { return stub_->GetHospital(c, get, &h3); }).error_code(),
      grpc::StatusCode::NOT_FOUND);

  // Replacing it: fallbacks replaced, created_at kept; the same request_id replays.
  v1::UpsertHospitalRequest upsert;
  upsert.set_request_id("h3-v2");
  upsert.mutable_hospital()->set_hospital_id("H3");
  upsert.mutable_hospital()->set_name("Third Hospital");
  upsert.mutable_hospital()->set_serving_station_id("BR-NORTH");
  upsert.mutable_hospital()->set_active(false);
  v1::Hospital replaced;
  ASSERT_TRUE(
      Req([&](grpc::ClientContext* c) { return stub_->UpsertHospital(c, upsert, &replaced); },
          "admin:test")
          .ok());
  EXPECT_EQ(replaced.fallback_station_ids_size(), 0);
  EXPECT_EQ(replaced.created_at().seconds(), h3.created_at().seconds());
  v1::Hospital replayed;
  ASSERT_TRUE(
      Req([&](grpc::ClientContext* c) { return stub_->UpsertHospital(c, upsert, &replayed); },
          "admin:test")
          .ok());
  EXPECT_EQ(replayed.SerializeAsString(), replaced.SerializeAsString());
  // An inactive hospital may not order.
  v1::Order order;
  EXPECT_EQ(
      Place(Order("H3", "inactive-1", "A+", {{v1::COMPONENT_RED_CELLS, 2}}), &order).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);

  // Listing pages through H1, H2, H3 by id.
  std::vector<std::string> ids;
  std::string token;
  do {
    v1::ListHospitalsRequest list;
    list.set_page_size(2);
    list.set_page_token(token);
    v1::ListHospitalsResponse page;
    ASSERT_TRUE(
        Req([&](grpc::ClientContext* c) { return stub_->ListHospitals(c, list, &page); }).ok());
    for (const auto& h : page.hospitals()) ids.push_back(h.hospital_id());
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(ids, (std::vector<std::string>{"H1", "H2", "H3"}));
}

TEST_F(RequestServiceTest, ConcurrentRetriesOfOnePlaceOrderMakeOneOrder) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  const v1::PlaceOrderRequest request = Order("H1", "dup-1", "A+", {{v1::COMPONENT_RED_CELLS, 2}});
  std::vector<v1::Order> answers(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] { EXPECT_TRUE(Place(request, &answers[i]).ok()); });
  }
  for (auto& t : threads) t.join();
  for (const v1::Order& a : answers) {
    EXPECT_EQ(a.order_id(), answers[0].order_id());
    EXPECT_EQ(a.status(), v1::ORDER_STATUS_ALLOCATED);
  }
  EXPECT_EQ(Count("SELECT COUNT(*) FROM orders"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM allocations"), 1);
  EXPECT_EQ(inventory_schema_.QueryInt("SELECT COUNT(*) FROM reservations"), 1);
}

TEST_F(RequestServiceTest, PartialDispatchNeedsAllowPartialAndClosesTheBackOrder) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "B+");
  v1::Order order = MustPlace(Order("H1", "part-1", "B+", {{v1::COMPONENT_RED_CELLS, 4}}));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  EXPECT_EQ(order.lines(0).allocated_quantity(), 2);
  EXPECT_EQ(order.lines(0).backordered_quantity(), 2);
  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("allow_partial"));
  ASSERT_TRUE(Dispatch(order.order_id(), &dispatched, true, "part-1-dispatch-partial").ok());
  EXPECT_EQ(dispatched.status(), v1::ORDER_STATUS_DISPATCHED);
  EXPECT_EQ(dispatched.lines(0).backordered_quantity(), 0);
  bool short_recorded = false;
  for (const auto& e : dispatched.exceptions()) {
    if (e.kind() == v1::ORDER_EXCEPTION_KIND_SHORT_DISPATCHED) short_recorded = true;
  }
  EXPECT_TRUE(short_recorded);
  // Reporting before dispatch is refused; a DIN not on the order is named.
  v1::Order other = MustPlace(Order("H1", "part-2", "B+", {{v1::COMPONENT_RED_CELLS, 2}}));
  v1::ReportTransfusionRequest report;
  report.set_request_id("early-report");
  report.set_order_id(other.order_id());
  report.set_din(Units(dispatched)[0].din());
  report.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  v1::Order out;
  EXPECT_EQ(Req([&](grpc::ClientContext* c) {
              return stub_->ReportTransfusion(c, report, &out);
            }).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  report.set_order_id(order.order_id());
  report.set_din(Din::Create("A9999", 25, 999)->ToString());
  status = Req([&](grpc::ClientContext* c) { return stub_->ReportTransfusion(c, report, &out); });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("din: "));
}

TEST_F(RequestServiceTest, UnitWithdrawnByALookbackIsReplaced) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "AB-");
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "AB-");
  v1::Order order = MustPlace(Order("H1", "lb-1", "AB-", {{v1::COMPONENT_RED_CELLS, 2}}));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  const v1::OrderUnit first = Units(order)[0];
  const v1::Unit unit = GetUnit(first.unit_id());

  // The unit's donor tests reactive later: the lookback takes the unit out of its reservation.
  v1::QuarantineByDonorRequest lookback;
  lookback.set_request_id("lookback-1");
  lookback.set_donor_id(unit.donor_id());
  lookback.set_reactive_din(Din::Create("A9999", 25, 500)->ToString());
  ToTimestamp(absl::Now() - absl::Hours(48), lookback.mutable_since());
  lookback.set_reason("anti-HCV reactive");
  v1::QuarantineByDonorResponse quarantined;
  ASSERT_TRUE(Inv([&](grpc::ClientContext* c) {
                return inventory_stub_->QuarantineByDonor(c, lookback, &quarantined);
              }).ok());
  ASSERT_EQ(quarantined.affected_reservation_keys_size(), 1);

  // The request service hears of it on the stock stream and replaces the unit.
  ASSERT_TRUE(Eventually([&] {
    const v1::Order now = Get(order.order_id());
    return now.status() == v1::ORDER_STATUS_ALLOCATED && Units(now).size() == 1 &&
           Units(now)[0].unit_id() != first.unit_id();
  })) << Get(order.order_id()).DebugString();
  const v1::Order replaced = Get(order.order_id());
  bool withdrawn_recorded = false;
  for (const auto& e : replaced.exceptions()) {
    if (e.kind() == v1::ORDER_EXCEPTION_KIND_UNIT_WITHDRAWN && e.din() == first.din()) {
      withdrawn_recorded = true;
    }
  }
  EXPECT_TRUE(withdrawn_recorded);
}

TEST_F(RequestServiceTest, MoreBadInputsAndWrongStates) {
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  const v1::Order order = MustPlace(Order("H1", "st-1", "A+", {{v1::COMPONENT_RED_CELLS, 2}}));
  ASSERT_TRUE(StockConsumerCaughtUp());
  const auto before = RowCounts(request_schema_);
  v1::Order out;
  // Delivery confirmation before dispatch; review of an unflagged order; unknown order.
  v1::ConfirmDeliveryRequest confirm;
  confirm.set_request_id("early-confirm");
  confirm.set_order_id(order.order_id());
  EXPECT_EQ(Req([&](grpc::ClientContext* c) {
              return stub_->ConfirmDelivery(c, confirm, &out);
            }).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  confirm.set_received_by(std::string(101, 'x'));
  EXPECT_EQ(Req([&](grpc::ClientContext* c) {
              return stub_->ConfirmDelivery(c, confirm, &out);
            }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ReviewOrderRequest review;
  review.set_request_id("pointless-review");
  review.set_order_id(order.order_id());
  review.set_approve(true);
  review.set_reviewer("dr-chen");
  EXPECT_EQ(
      Req([&](grpc::ClientContext* c) { return stub_->ReviewOrder(c, review, &out); }).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  review.set_approve(false);
  grpc::Status status =
      Req([&](grpc::ClientContext* c) { return stub_->ReviewOrder(c, review, &out); });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("note: "));
  v1::GetOrderRequest get;
  get.set_order_id("ORD-nope");
  EXPECT_EQ(Req([&](grpc::ClientContext* c) { return stub_->GetOrder(c, get, &out); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::CancelOrderRequest cancel;
  cancel.set_request_id("foreign-cancel");
  cancel.set_order_id(order.order_id());
  cancel.set_reason("mistake");
  cancel.set_hospital_id("H2");
  EXPECT_EQ(
      Req([&](grpc::ClientContext* c) { return stub_->CancelOrder(c, cancel, &out); }).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  v1::ListOrdersRequest list;
  list.set_page_size(-1);
  v1::ListOrdersResponse page;
  status = Req([&](grpc::ClientContext* c) { return stub_->ListOrders(c, list, &page); });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("page_size: "));
  v1::PlaceOrderRequest routine_mtp = Order("H1", "mtp-routine", "A+", {}, v1::PRIORITY_ROUTINE);
  routine_mtp.set_massive_transfusion(true);
  status = Place(routine_mtp, &out);
  EXPECT_THAT(status.error_message(), StartsWith("massive_transfusion: "));
  EXPECT_EQ(RowCounts(request_schema_), before);
}

TEST_F(RequestServiceTest, AUnitThatExpiredSinceAllocationIsReplacedAtDispatch) {
  RestartRequest(/*run_jobs=*/false);
  // CPD red cells keep 21 days, MAP (the default) 35: the CPD bag is allocated first.
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+", 200, v1::PolicyProfile::ANTICOAGULANT_CPD);
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "O+");
  v1::PlaceOrderRequest request = Order("H1", "exp-1", "O+", {{v1::COMPONENT_RED_CELLS, 2}});
  request.clear_needed_by();
  request.set_priority(v1::PRIORITY_EMERGENCY);
  const v1::Order order = MustPlace(request);
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  const v1::OrderUnit first = Units(order)[0];
  // Three weeks pass at the request service (the order waited at the hospital's request).
  clock_.Advance(absl::Hours(24 * 22));
  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(dispatched.status(), v1::ORDER_STATUS_DISPATCHED);
  ASSERT_EQ(Units(dispatched).size(), 1u);
  EXPECT_NE(Units(dispatched)[0].unit_id(), first.unit_id());
  EXPECT_EQ(GetUnit(Units(dispatched)[0].unit_id()).status(), v1::UNIT_STATUS_ISSUED);
  EXPECT_EQ(GetUnit(first.unit_id()).status(), v1::UNIT_STATUS_AVAILABLE);
  bool withdrawn = false;
  for (const auto& e : dispatched.exceptions()) {
    if (e.kind() == v1::ORDER_EXCEPTION_KIND_UNIT_WITHDRAWN && e.din() == first.din()) {
      withdrawn = true;
    }
  }
  EXPECT_TRUE(withdrawn);
}

TEST_F(RequestServiceTest, AHoldThatLapsedDuringACrashIsReservedAgain) {
  hold_seconds_ = 1;
  RestartRequest(/*run_jobs=*/false);
  AddUnit("CENTRAL", v1::COMPONENT_PLATELETS, "B+");
  request_->operations().SetFaultHook([](absl::string_view point) {
    return point == "allocate.after_reserve" ? absl::UnavailableError("crashed") : absl::OkStatus();
  });
  const v1::PlaceOrderRequest request =
      Order("H1", "lapse-1", "B+", {{v1::COMPONENT_PLATELETS, 1}});
  v1::Order order;
  EXPECT_EQ(Place(request, &order).error_code(), grpc::StatusCode::UNAVAILABLE);
  // Nobody confirms the reservation; inventory's sweeper releases it after its hold.
  absl::SleepFor(absl::Milliseconds(1100));
  auto available = [&] {
    v1::ListUnitsRequest list;
    list.set_status(v1::UNIT_STATUS_AVAILABLE);
    v1::ListUnitsResponse units;
    EXPECT_TRUE(Inv([&](grpc::ClientContext* c) {
                  return inventory_stub_->ListUnits(c, list, &units);
                }).ok());
    return units.units_size();
  };
  EXPECT_EQ(available(), 0);
  ASSERT_TRUE(Eventually(
      [&] { return inventory_->inventory().SweepReservations().ok() && available() == 1; }));
  request_->operations().SetFaultHook(nullptr);
  ASSERT_TRUE(Place(request, &order).ok());
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  EXPECT_EQ(GetUnit(Units(order)[0].unit_id()).reservation_key(), order.order_id() + "/1/2");
}

TEST_F(RequestServiceTest, InventoryOutageIsUnavailableAndTheRetryCompletes) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A-");
  const int inventory_port = inventory_->port();
  inventory_->Shutdown();
  inventory_.reset();
  const v1::PlaceOrderRequest request =
      Order("H1", "outage-1", "A-", {{v1::COMPONENT_RED_CELLS, 2}});
  v1::Order order;
  grpc::Status status = Place(request, &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(Count("SELECT COUNT(*) FROM orders WHERE status = 1"), 1);

  // Inventory comes back on the same address; the retry completes the same order.
  StartInventory(inventory_port);
  ASSERT_TRUE(Eventually([&] { return Place(request, &order).ok(); }));
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM orders"), 1);
}

// ---------------------------------------------------------------------------------------------
// Units held at a fallback station (H1: served by CENTRAL, falling back on BR-NORTH).

TEST_F(RequestServiceTest, RoutineUnitsAtAFallbackStationTravelToTheServingStationFirst) {
  RestartRequest(/*run_jobs=*/false);
  const std::string din = AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "A+");
  const v1::Order order =
      MustPlace(Order("H1", "tr-1", "A+", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_ROUTINE));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  ASSERT_EQ(Units(order).size(), 1u);
  const v1::OrderUnit allocated = Units(order)[0];
  EXPECT_EQ(allocated.din(), din);
  EXPECT_EQ(allocated.station_id(), "BR-NORTH");
  ASSERT_FALSE(allocated.transfer_id().empty());

  // Inventory holds the transfer, not yet dispatched, with exactly this unit, bound to the
  // order's reservation (which the order has confirmed).
  const v1::Transfer transfer = GetTransfer(allocated.transfer_id());
  EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_CREATED);
  EXPECT_EQ(transfer.from_station_id(), "BR-NORTH");
  EXPECT_EQ(transfer.to_station_id(), "CENTRAL");
  EXPECT_EQ(transfer.reservation_key(), order.order_id() + "/1/1");
  EXPECT_THAT(transfer.reason(), HasSubstr(order.order_id()));
  ASSERT_EQ(transfer.units_size(), 1);
  EXPECT_EQ(transfer.units(0).unit_id(), allocated.unit_id());
  const v1::Unit held = GetUnit(allocated.unit_id());
  EXPECT_EQ(held.status(), v1::UNIT_STATUS_RESERVED);
  EXPECT_EQ(held.reservation_key(), order.order_id() + "/1/1");
  EXPECT_EQ(held.transfer_id(), transfer.transfer_id());
  EXPECT_EQ(GetReservation(order.order_id() + "/1/1").status(), v1::RESERVATION_STATUS_CONFIRMED);
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM reservations WHERE order_id = '",
                               order.order_id(), "' AND state = 3")),
            1);
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM order_events WHERE order_id = '",
                               order.order_id(), "' AND kind = 'TRANSFER_PLANNED'")),
            1);

  // Not before the transfer is received: neither waiting for it to leave, nor on the road.
  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(din));
  EXPECT_THAT(status.error_message(), HasSubstr(transfer.transfer_id()));
  SendTransfer(transfer.transfer_id());
  status = Dispatch(order.order_id(), &dispatched);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(din));
  EXPECT_THAT(status.error_message(), HasSubstr("in transit"));
  EXPECT_EQ(GetUnit(allocated.unit_id()).status(), v1::UNIT_STATUS_IN_TRANSIT);
  EXPECT_EQ(Get(order.order_id()).status(), v1::ORDER_STATUS_ALLOCATED);

  // Received at CENTRAL (still reserved for the order): the order leaves from there.
  ReceiveTransfer(transfer.transfer_id());
  const v1::Unit arrived = GetUnit(allocated.unit_id());
  EXPECT_EQ(arrived.status(), v1::UNIT_STATUS_RESERVED);
  EXPECT_EQ(arrived.station_id(), "CENTRAL");
  status = Dispatch(order.order_id(), &dispatched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(dispatched.status(), v1::ORDER_STATUS_DISPATCHED);
  const v1::Unit issued = GetUnit(allocated.unit_id());
  EXPECT_EQ(issued.status(), v1::UNIT_STATUS_ISSUED);
  EXPECT_EQ(issued.station_id(), "CENTRAL");
  EXPECT_EQ(issued.order_id(), order.order_id());
  ASSERT_EQ(Units(dispatched).size(), 1u);
  EXPECT_EQ(Units(dispatched)[0].station_id(), "CENTRAL");
  EXPECT_EQ(Units(dispatched)[0].transfer_id(), transfer.transfer_id());
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"), 1);
}

TEST_F(RequestServiceTest, OnlyTheUnitsHeldAtTheFallbackStationTravel) {
  RestartRequest(/*run_jobs=*/false);
  const std::string central_din = AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "B+");
  const std::string north_din = AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "B+");
  const v1::Order order = MustPlace(Order("H1", "tr-mixed", "B+", {{v1::COMPONENT_RED_CELLS, 4}}));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  ASSERT_EQ(Units(order).size(), 2u);
  std::string transfer_id;
  std::string north_unit;
  for (const v1::OrderUnit& u : Units(order)) {
    if (u.din() == central_din) {
      EXPECT_EQ(u.station_id(), "CENTRAL");
      EXPECT_TRUE(u.transfer_id().empty());
      EXPECT_TRUE(GetUnit(u.unit_id()).transfer_id().empty());
    } else {
      EXPECT_EQ(u.din(), north_din);
      EXPECT_EQ(u.station_id(), "BR-NORTH");
      transfer_id = u.transfer_id();
      north_unit = u.unit_id();
    }
  }
  ASSERT_FALSE(transfer_id.empty());
  const v1::Transfer transfer = GetTransfer(transfer_id);
  ASSERT_EQ(transfer.units_size(), 1);
  EXPECT_EQ(transfer.units(0).unit_id(), north_unit);
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"), 1);

  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(north_din));
  SendTransfer(transfer_id);
  ReceiveTransfer(transfer_id);
  status = Dispatch(order.order_id(), &dispatched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  for (const v1::OrderUnit& u : Units(dispatched)) {
    const v1::Unit unit = GetUnit(u.unit_id());
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_ISSUED);
    EXPECT_EQ(unit.station_id(), "CENTRAL");
    EXPECT_EQ(u.station_id(), "CENTRAL");
  }
}

TEST_F(RequestServiceTest, EmergencyUnitsShipStraightFromTheFallbackStation) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "O+");
  const v1::Order order = MustPlace(
      Order("H1", "tr-emergency", "O+", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_EMERGENCY));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  ASSERT_EQ(Units(order).size(), 1u);
  EXPECT_EQ(Units(order)[0].station_id(), "BR-NORTH");
  EXPECT_TRUE(Units(order)[0].transfer_id().empty());
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"), 0);

  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(dispatched.status(), v1::ORDER_STATUS_DISPATCHED);
  const v1::Unit issued = GetUnit(Units(order)[0].unit_id());
  EXPECT_EQ(issued.status(), v1::UNIT_STATUS_ISSUED);
  EXPECT_EQ(issued.station_id(), "BR-NORTH");
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"), 0);
}

TEST_F(RequestServiceTest, WithoutFallbackTransfersEveryOrderShipsFromTheHoldingStation) {
  fallback_transfers_ = false;
  RestartRequest(/*run_jobs=*/false);
  AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "AB+");
  const v1::Order order = MustPlace(
      Order("H1", "tr-direct", "AB+", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_ROUTINE));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  ASSERT_EQ(Units(order).size(), 1u);
  EXPECT_TRUE(Units(order)[0].transfer_id().empty());
  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::Unit issued = GetUnit(Units(order)[0].unit_id());
  EXPECT_EQ(issued.status(), v1::UNIT_STATUS_ISSUED);
  EXPECT_EQ(issued.station_id(), "BR-NORTH");
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"), 0);
}

TEST_F(RequestServiceTest, DispatchPlansATransferTheAllocationDidNotMake) {
  // Allocated while the region shipped directly; transfers are then switched on.
  fallback_transfers_ = false;
  RestartRequest(/*run_jobs=*/false);
  const std::string din = AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "A-");
  const v1::Order order = MustPlace(Order("H1", "tr-late", "A-", {{v1::COMPONENT_RED_CELLS, 2}}));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  EXPECT_TRUE(Units(order)[0].transfer_id().empty());
  fallback_transfers_ = true;
  RestartRequest(/*run_jobs=*/false);

  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(din));
  const std::string transfer_id = Units(Get(order.order_id()))[0].transfer_id();
  ASSERT_FALSE(transfer_id.empty());
  EXPECT_THAT(status.error_message(), HasSubstr(transfer_id));
  // Asking again plans nothing more.
  status = Dispatch(order.order_id(), &dispatched);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"), 1);
  const v1::Transfer transfer = GetTransfer(transfer_id);
  EXPECT_EQ(transfer.from_station_id(), "BR-NORTH");
  EXPECT_EQ(transfer.to_station_id(), "CENTRAL");
  ASSERT_EQ(transfer.units_size(), 1);
  EXPECT_EQ(transfer.units(0).din(), din);

  SendTransfer(transfer_id);
  ReceiveTransfer(transfer_id);
  status = Dispatch(order.order_id(), &dispatched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(GetUnit(Units(dispatched)[0].unit_id()).station_id(), "CENTRAL");
}

TEST_F(RequestServiceTest, CancellingBeforeTheTransferLeavesPutsTheUnitsBackAtTheFallback) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "O-");
  const v1::Order order = MustPlace(
      Order("H1", "tr-cancel", "O-", {{v1::COMPONENT_RED_CELLS, 2}}, v1::PRIORITY_ROUTINE));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  const v1::OrderUnit allocated = Units(order)[0];
  ASSERT_FALSE(allocated.transfer_id().empty());

  v1::Order cancelled;
  grpc::Status status = Cancel(order.order_id(), &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cancelled.status(), v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(GetTransfer(allocated.transfer_id()).status(), v1::TRANSFER_STATUS_CANCELLED);
  const v1::Unit unit = GetUnit(allocated.unit_id());
  EXPECT_EQ(unit.status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(unit.station_id(), "BR-NORTH");
  EXPECT_TRUE(unit.reservation_key().empty());
  EXPECT_TRUE(unit.transfer_id().empty());
  // Nothing held on either side.
  EXPECT_EQ(GetReservation(order.order_id() + "/1/1").status(), v1::RESERVATION_STATUS_RELEASED);
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM reservations WHERE order_id = '",
                               order.order_id(), "' AND state <> 5")),
            0);
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM units WHERE status = 3 OR reservation_key IS "
                           "NOT NULL OR transfer_id IS NOT NULL"),
            0)
      << "no unit is RESERVED, held by a reservation or on a transfer";
}

TEST_F(RequestServiceTest, CancellingWhileTheTransferIsOnTheRoadReleasesTheUnitsOnArrival) {
  // The background jobs run: their periodic reconcile releases what arrives.
  const std::string central_din = AddUnit("CENTRAL", v1::COMPONENT_RED_CELLS, "A+");
  AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "A+");
  const v1::Order order =
      MustPlace(Order("H1", "tr-road", "A+", {{v1::COMPONENT_RED_CELLS, 4}}, v1::PRIORITY_ROUTINE));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  std::string transfer_id;
  std::string central_unit;
  std::string north_unit;
  for (const v1::OrderUnit& u : Units(order)) {
    if (u.din() == central_din) {
      central_unit = u.unit_id();
    } else {
      north_unit = u.unit_id();
      transfer_id = u.transfer_id();
    }
  }
  ASSERT_FALSE(transfer_id.empty());
  SendTransfer(transfer_id);

  v1::Order cancelled;
  grpc::Status status = Cancel(order.order_id(), &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cancelled.status(), v1::ORDER_STATUS_CANCELLED);
  // What is on the shelf goes back at once; the bag on the road stays the reservation's.
  EXPECT_EQ(GetUnit(central_unit).status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(GetUnit(north_unit).status(), v1::UNIT_STATUS_IN_TRANSIT);
  const std::string key = order.order_id() + "/1/1";
  EXPECT_EQ(GetUnit(north_unit).reservation_key(), key);
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM reservations WHERE reservation_key = '", key,
                               "' AND state = 6")),
            1)
      << "still to be released";

  // Reconcile passes before the arrival change nothing.
  clock_.Advance(absl::Minutes(1));
  const int64_t passes = request_->jobs()->reconcile_passes();
  ASSERT_TRUE(Eventually([&] { return request_->jobs()->reconcile_passes() >= passes + 2; }));
  EXPECT_EQ(GetUnit(north_unit).status(), v1::UNIT_STATUS_IN_TRANSIT);
  EXPECT_EQ(GetTransfer(transfer_id).status(), v1::TRANSFER_STATUS_IN_TRANSIT);

  // It arrives at CENTRAL, reserved for the cancelled order; the next pass releases it there.
  ReceiveTransfer(transfer_id);
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return GetUnit(north_unit).status() == v1::UNIT_STATUS_AVAILABLE; }))
      << GetUnit(north_unit).DebugString();
  const v1::Unit unit = GetUnit(north_unit);
  EXPECT_EQ(unit.station_id(), "CENTRAL");
  EXPECT_TRUE(unit.reservation_key().empty());
  EXPECT_EQ(GetReservation(key).status(), v1::RESERVATION_STATUS_RELEASED);
  ASSERT_TRUE(Eventually(
      [&] { return Count("SELECT COUNT(*) FROM reservations WHERE state IN (1, 2, 6)") == 0; }));
  EXPECT_EQ(Get(order.order_id()).status(), v1::ORDER_STATUS_CANCELLED);
}

TEST_F(RequestServiceTest, ABagThatExpiredWaitingForItsTransferIsTakenOffAndReplaced) {
  RestartRequest(/*run_jobs=*/false);
  // CPD red cells keep 21 days, MAP (the default) 35: the CPD bag is allocated first.
  const std::string cpd_din =
      AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "O+", 200, v1::PolicyProfile::ANTICOAGULANT_CPD);
  AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "O+");
  AddUnit("BR-NORTH", v1::COMPONENT_RED_CELLS, "O+");
  const v1::Order order = MustPlace(
      Order("H1", "tr-expired", "O+", {{v1::COMPONENT_RED_CELLS, 4}}, v1::PRIORITY_ROUTINE));
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.DebugString();
  ASSERT_EQ(Units(order).size(), 2u);
  const std::string first_transfer = Units(order)[0].transfer_id();
  ASSERT_FALSE(first_transfer.empty());
  EXPECT_EQ(Units(order)[1].transfer_id(), first_transfer) << "one transfer per station";
  std::string cpd_unit;
  std::string kept_unit;
  for (const v1::OrderUnit& u : Units(order))
    (u.din() == cpd_din ? cpd_unit : kept_unit) = u.unit_id();
  ASSERT_FALSE(cpd_unit.empty());

  // Three weeks pass at the request service before anyone dispatches.
  clock_.Advance(absl::Hours(24 * 22));
  v1::Order dispatched;
  grpc::Status status = Dispatch(order.order_id(), &dispatched);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // The transfer carrying the expired bag is cancelled and the bag released at BR-NORTH.
  EXPECT_EQ(GetTransfer(first_transfer).status(), v1::TRANSFER_STATUS_CANCELLED);
  const v1::Unit expired = GetUnit(cpd_unit);
  EXPECT_EQ(expired.status(), v1::UNIT_STATUS_AVAILABLE);
  EXPECT_EQ(expired.station_id(), "BR-NORTH");
  EXPECT_TRUE(expired.transfer_id().empty());
  // The other bag travels on a new transfer; the replacement on one of its own.
  const v1::Order replaced = Get(order.order_id());
  EXPECT_EQ(replaced.status(), v1::ORDER_STATUS_ALLOCATED);
  ASSERT_EQ(Units(replaced).size(), 2u);
  std::set<std::string> transfers;
  for (const v1::OrderUnit& u : Units(replaced)) {
    EXPECT_NE(u.unit_id(), cpd_unit);
    ASSERT_FALSE(u.transfer_id().empty()) << u.DebugString();
    EXPECT_NE(u.transfer_id(), first_transfer);
    EXPECT_EQ(GetUnit(u.unit_id()).transfer_id(), u.transfer_id());
    EXPECT_EQ(GetTransfer(u.transfer_id()).status(), v1::TRANSFER_STATUS_CREATED);
    if (u.unit_id() == kept_unit) {
      EXPECT_THAT(status.error_message(), HasSubstr(u.din()));
    }
    transfers.insert(u.transfer_id());
  }
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"),
            1 + static_cast<int64_t>(transfers.size()));
  bool withdrawn = false;
  for (const auto& e : replaced.exceptions()) {
    if (e.kind() == v1::ORDER_EXCEPTION_KIND_UNIT_WITHDRAWN && e.din() == cpd_din) withdrawn = true;
  }
  EXPECT_TRUE(withdrawn);

  for (const std::string& t : transfers) {
    SendTransfer(t);
    ReceiveTransfer(t);
  }
  status = Dispatch(order.order_id(), &dispatched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  for (const v1::OrderUnit& u : Units(dispatched)) {
    const v1::Unit unit = GetUnit(u.unit_id());
    EXPECT_EQ(unit.status(), v1::UNIT_STATUS_ISSUED);
    EXPECT_EQ(unit.station_id(), "CENTRAL");
  }
}

TEST_F(RequestServiceTest, ACrashBetweenCreatingATransferAndRecordingItMakesExactlyOne) {
  RestartRequest(/*run_jobs=*/false);
  AddUnit("BR-NORTH", v1::COMPONENT_PLATELETS, "B+");
  AddUnit("BR-NORTH", v1::COMPONENT_PLATELETS, "B+");
  request_->operations().SetFaultHook([](absl::string_view point) {
    return point == "transfer.after_create" ? absl::UnavailableError("crashed") : absl::OkStatus();
  });
  const v1::PlaceOrderRequest retried =
      Order("H1", "tr-crash-1", "B+", {{v1::COMPONENT_PLATELETS, 1}}, v1::PRIORITY_ROUTINE);
  const v1::PlaceOrderRequest reconciled =
      Order("H1", "tr-crash-2", "B+", {{v1::COMPONENT_PLATELETS, 1}}, v1::PRIORITY_ROUTINE);
  v1::Order order;
  EXPECT_EQ(Place(retried, &order).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Place(reconciled, &order).error_code(), grpc::StatusCode::UNAVAILABLE);
  // Inventory made a transfer for each order; neither order knows it, and neither reservation
  // is marked confirmed on the order.
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers WHERE status = 1"), 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM allocations WHERE transfer_id <> ''"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations WHERE state = 2"), 2);

  // The client's retry finds the first order's transfer instead of making another.
  request_->operations().SetFaultHook(nullptr);
  ASSERT_TRUE(Place(retried, &order).ok());
  EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED);
  ASSERT_EQ(Units(order).size(), 1u);
  const std::string first_transfer = Units(order)[0].transfer_id();
  ASSERT_FALSE(first_transfer.empty());
  EXPECT_EQ(GetTransfer(first_transfer).reservation_key(), order.order_id() + "/1/1");
  EXPECT_EQ(GetUnit(Units(order)[0].unit_id()).transfer_id(), first_transfer);

  // The process dies; the restarted server's start-up reconciler records the second one's.
  RestartRequest(/*run_jobs=*/true);
  ASSERT_TRUE(Eventually(
      [&] { return Count("SELECT COUNT(*) FROM allocations WHERE transfer_id <> ''") == 2; }));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations WHERE state <> 3"), 0);
  EXPECT_EQ(InventoryCount("SELECT COUNT(*) FROM transfers"), 2);
  for (absl::string_view request_id : {"tr-crash-1", "tr-crash-2"}) {
    const std::string order_id = request_schema_.QueryString(
        absl::StrCat("SELECT order_id FROM orders WHERE request_id = '", request_id, "'"));
    const v1::OrderUnit unit = Units(Get(order_id))[0];
    const v1::Transfer transfer = GetTransfer(unit.transfer_id());
    EXPECT_EQ(transfer.reservation_key(), order_id + "/1/1");
    ASSERT_EQ(transfer.units_size(), 1);
    EXPECT_EQ(transfer.units(0).unit_id(), unit.unit_id());
    EXPECT_EQ(InventoryCount(absl::StrCat(
                  "SELECT COUNT(*) FROM transfers WHERE reservation_key = '", order_id, "/1/1'")),
              1);
  }
}

}  // namespace
}  // namespace bloodgrid::request
