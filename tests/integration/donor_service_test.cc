// DonorService end to end: the real DonorServer in-process on a free loopback port, a schema of
// its own on the real MariaDB (TestSchema), an injected clock, and a real gRPC client stub.
// Covers every RPC, malformed input (INVALID_ARGUMENT naming the field, nothing written),
// concurrent duplicate registrations, concurrent claims on one balance, and request_id retries.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/donor.grpc.pb.h"
#include "common/clock.h"
#include "common/din.h"
#include "donor_service/donor_rules.h"
#include "donor_service/donor_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::donor {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::TimeZone kUtc = absl::UTCTimeZone();

absl::Time At(int y, int m, int d, int hh = 9) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, 0, 0), kUtc);
}

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

// A valid PRC resident identity number born on `birth` ("YYYYMMDD") with sequence `seq`.
std::string ChineseId(const std::string& birth, int seq) {
  std::string first17 = absl::StrCat("110105", birth, absl::StrFormat("%03d", seq % 1000));
  return first17 + ChineseIdCheckCharacter(first17);
}

std::string MakeDin(int sequence) {
  absl::StatusOr<Din> din = Din::Create("A9999", 26, sequence);
  return din.ok() ? din->ToString() : "";
}

v1::BloodType Type(v1::AboGroup abo, v1::RhD rhd) {
  v1::BloodType t;
  t.set_abo(abo);
  t.set_rhd(rhd);
  return t;
}

v1::DonorScreening GoodScreening(bool apheresis = false) {
  v1::DonorScreening s;
  s.set_weight_kg(65);
  s.set_hemoglobin_g_l(140);
  s.set_systolic_mmhg(120);
  s.set_diastolic_mmhg(80);
  s.set_pulse_bpm(72);
  if (apheresis) {
    s.set_hematocrit(0.42);
    s.set_platelet_count_e9_l(250);
  }
  return s;
}

class DonorServiceTest : public ::testing::Test {
 protected:
  DonorServiceTest() : schema_("donor"), clock_(At(2026, 11, 22)) {}

  void SetUp() override { StartServer("cn-gb18467-2011"); }

  void StartServer(const std::string& policy) {
    DonorServer::Options options;
    options.server.name = "donor_service_test";
    options.server.listen_address = "127.0.0.1";
    options.server.port = 0;
    options.server.drain_timeout = absl::Seconds(1);
    options.server.health_probe_interval = absl::Milliseconds(100);
    options.db = schema_.options(16);
    options.policy_file = absl::StrCat(BLOODGRID_POLICY_DIR, "/", policy, ".textproto");
    options.clock = &clock_;
    options.wait_for_database = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<DonorServer>> server = DonorServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::DonorService::NewStub(channel_);
  }

  // Calls one RPC as "admin:tester" with a 20 s deadline.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::DonorService::Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.AddMetadata("x-bloodgrid-actor", "admin:tester");
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return (stub_.get()->*method)(&context, request, response);
  }

  std::string NextRequestId() { return absl::StrCat("req-", ++request_counter_); }

  v1::RegisterDonorRequest RegisterRequest(const std::string& national_id, const std::string& name,
                                           v1::Sex sex = v1::SEX_MALE,
                                           const std::string& birth_date = "1990-01-01") {
    v1::RegisterDonorRequest request;
    request.set_request_id(NextRequestId());
    v1::Donor* donor = request.mutable_donor();
    donor->set_national_id(national_id);
    donor->set_name(name);
    donor->set_sex(sex);
    donor->set_birth_date(birth_date);
    donor->mutable_contact()->set_phone("138 0013 8000");
    donor->set_home_station_id("ST-01");
    donor->add_panels(v1::DONOR_PANEL_REGULAR);
    return request;
  }

  v1::Donor Register(const v1::RegisterDonorRequest& request) {
    v1::Donor donor;
    grpc::Status status = Call(&v1::DonorService::Stub::RegisterDonor, request, &donor);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return donor;
  }

  v1::Donor RegisterSimple(const std::string& name, int seq, const std::string& birth = "19900101",
                           v1::Sex sex = v1::SEX_MALE) {
    const std::string birth_date =
        absl::StrCat(birth.substr(0, 4), "-", birth.substr(4, 2), "-", birth.substr(6, 2));
    return Register(RegisterRequest(ChineseId(birth, seq), name, sex, birth_date));
  }

  v1::RecordDonationRequest DonationRequest(const std::string& donor_id, const std::string& din,
                                            absl::Time collected_at, int volume_ml = 400) {
    v1::RecordDonationRequest request;
    request.set_request_id(NextRequestId());
    request.set_donor_id(donor_id);
    request.set_din(din);
    request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
    request.set_volume_ml(volume_ml);
    request.set_station_id("ST-01");
    *request.mutable_collected_at() = Ts(collected_at);
    *request.mutable_screening() = GoodScreening();
    return request;
  }

  v1::RecordDonationResponse Donate(const std::string& donor_id, const std::string& din,
                                    absl::Time collected_at, int volume_ml = 400) {
    v1::RecordDonationResponse response;
    grpc::Status status = Call(&v1::DonorService::Stub::RecordDonation,
                               DonationRequest(donor_id, din, collected_at, volume_ml), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::Donor Get(const std::string& donor_id) {
    v1::GetDonorRequest request;
    request.set_donor_id(donor_id);
    v1::Donor donor;
    grpc::Status status = Call(&v1::DonorService::Stub::GetDonor, request, &donor);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return donor;
  }

  // Row counts of every table the service writes.
  std::string RowCounts() {
    return schema_.QueryString(
        "SELECT CONCAT_WS(',',"
        " (SELECT COUNT(*) FROM donors), (SELECT COUNT(*) FROM donor_panels),"
        " (SELECT COUNT(*) FROM reimbursement_accounts), (SELECT COUNT(*) FROM blood_typings),"
        " (SELECT COUNT(*) FROM blood_type_conflicts), (SELECT COUNT(*) FROM deferrals),"
        " (SELECT COUNT(*) FROM donations), (SELECT COUNT(*) FROM appeals),"
        " (SELECT COUNT(*) FROM appeal_contacts), (SELECT COUNT(*) FROM reimbursement_ledger),"
        " (SELECT COUNT(*) FROM audit_log), (SELECT COUNT(*) FROM idempotency_keys),"
        " (SELECT COALESCE(SUM(version), 0) FROM donors),"
        " (SELECT COALESCE(SUM(voided), 0) FROM deferrals),"
        " (SELECT COALESCE(SUM(resolved), 0) FROM blood_type_conflicts),"
        " (SELECT COALESCE(SUM(self_claimed_ml + relatives_claimed_ml), 0)"
        "    FROM reimbursement_accounts))");
  }

  testing::TestSchema schema_;
  FakeClock clock_;
  std::unique_ptr<DonorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DonorService::Stub> stub_;
  std::atomic<int> request_counter_{0};
};

#define EXPECT_CODE(status, code) \
  EXPECT_EQ((status).error_code(), grpc::StatusCode::code) << (status).error_message()

// ---------------------------------------------------------------------------------------------
// Registry

TEST_F(DonorServiceTest, HealthIsServingUnderTheServiceName) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  grpc::health::v1::HealthCheckResponse response;
  while (absl::Now() < give_up) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(kDonorHealthServiceName);
    if (health->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(DonorServiceTest, RegisterGetAndUpdate) {
  v1::RegisterDonorRequest request =
      RegisterRequest(" 11010519491231002x ", " Wang Fang ", v1::SEX_FEMALE, "1990-05-17");
  request.mutable_donor()->set_donor_id("ignored");
  request.mutable_donor()->add_panels(v1::DONOR_PANEL_EMERGENCY);
  v1::Donor donor = Register(request);
  EXPECT_THAT(donor.donor_id(), StartsWith("D"));
  EXPECT_NE(donor.donor_id(), "ignored");
  EXPECT_EQ(donor.national_id(), "11010519491231002X");
  EXPECT_EQ(donor.name(), "Wang Fang");
  EXPECT_EQ(donor.contact().phone(), "13800138000");
  EXPECT_EQ(donor.version(), 1);
  EXPECT_EQ(donor.panels_size(), 2);
  EXPECT_EQ(donor.created_at().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_FALSE(donor.deferred());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM audit_log WHERE action = 'RegisterDonor' AND "
                             "actor = 'admin:tester'"),
            1);

  v1::Donor fetched = Get(donor.donor_id());
  EXPECT_EQ(fetched.SerializeAsString(), donor.SerializeAsString());

  // Update two fields under optimistic concurrency.
  clock_.Advance(absl::Hours(1));
  v1::UpdateDonorRequest update;
  update.set_request_id(NextRequestId());
  update.mutable_donor()->set_donor_id(donor.donor_id());
  update.mutable_donor()->set_name("Wang Fang-Li");
  update.mutable_donor()->mutable_contact()->set_email("wfl@example.cn");
  update.mutable_update_mask()->add_paths("name");
  update.mutable_update_mask()->add_paths("contact.email");
  update.set_expected_version(1);
  v1::Donor updated;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::UpdateDonor, update, &updated).ok());
  EXPECT_EQ(updated.name(), "Wang Fang-Li");
  EXPECT_EQ(updated.contact().email(), "wfl@example.cn");
  EXPECT_EQ(updated.contact().phone(), "13800138000");
  EXPECT_EQ(updated.version(), 2);
  EXPECT_GT(updated.updated_at().seconds(), updated.created_at().seconds());
  EXPECT_EQ(schema_.QueryString("SELECT detail FROM audit_log WHERE action = 'UpdateDonor'"),
            "fields=name,contact.email");

  // A stale version is ABORTED and changes nothing.
  update.set_request_id(NextRequestId());
  update.mutable_donor()->set_name("Someone Else");
  const std::string before = RowCounts();
  grpc::Status stale = Call(&v1::DonorService::Stub::UpdateDonor, update, &updated);
  EXPECT_CODE(stale, ABORTED);
  EXPECT_EQ(RowCounts(), before);
  EXPECT_EQ(Get(donor.donor_id()).name(), "Wang Fang-Li");

  // A national id that belongs to another donor.
  v1::Donor other = RegisterSimple("Li Lei", 7);
  v1::UpdateDonorRequest steal;
  steal.set_request_id(NextRequestId());
  steal.mutable_donor()->set_donor_id(donor.donor_id());
  steal.mutable_donor()->set_national_id(other.national_id());
  steal.mutable_update_mask()->add_paths("national_id");
  grpc::Status taken = Call(&v1::DonorService::Stub::UpdateDonor, steal, &updated);
  EXPECT_CODE(taken, ALREADY_EXISTS);
  EXPECT_THAT(taken.error_message(), HasSubstr("existing_donor_id=" + other.donor_id()));

  v1::GetDonorRequest unknown;
  unknown.set_donor_id("D0000000000000000");
  v1::Donor none;
  EXPECT_CODE(Call(&v1::DonorService::Stub::GetDonor, unknown, &none), NOT_FOUND);
  v1::UpdateDonorRequest missing = update;
  missing.set_request_id(NextRequestId());
  missing.mutable_donor()->set_donor_id("D0000000000000000");
  missing.clear_expected_version();
  EXPECT_CODE(Call(&v1::DonorService::Stub::UpdateDonor, missing, &none), NOT_FOUND);
}

TEST_F(DonorServiceTest, SecondRegistrationOfANormalisedNationalIdNamesTheFirst) {
  v1::Donor first = Register(RegisterRequest("11010519491231002x", "Wang Fang"));
  v1::Donor second;
  const std::string before = RowCounts();
  grpc::Status status = Call(&v1::DonorService::Stub::RegisterDonor,
                             RegisterRequest("  11010519491231002X", "Wang F."), &second);
  EXPECT_CODE(status, ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(),
            "national_id already registered: existing_donor_id=" + first.donor_id());
  EXPECT_EQ(RowCounts(), before);
}

TEST_F(DonorServiceTest, ConcurrentDuplicateRegistrationsHaveExactlyOneWinner) {
  constexpr int kClients = 16;
  const std::string national_id = ChineseId("19850315", 42);
  std::vector<grpc::Status> statuses(kClients);
  std::vector<std::string> ids(kClients);
  std::vector<std::thread> clients;
  std::atomic<bool> go{false};
  for (int i = 0; i < kClients; ++i) {
    v1::RegisterDonorRequest request = RegisterRequest(national_id, absl::StrCat("Client ", i));
    clients.emplace_back([&, i, request] {
      while (!go.load()) std::this_thread::yield();
      v1::Donor donor;
      statuses[i] = Call(&v1::DonorService::Stub::RegisterDonor, request, &donor);
      ids[i] = donor.donor_id();
    });
  }
  go = true;
  for (auto& t : clients) t.join();
  int winners = 0;
  std::string winner;
  for (int i = 0; i < kClients; ++i) {
    if (statuses[i].ok()) {
      ++winners;
      winner = ids[i];
    }
  }
  ASSERT_EQ(winners, 1);
  for (int i = 0; i < kClients; ++i) {
    if (statuses[i].ok()) continue;
    EXPECT_CODE(statuses[i], ALREADY_EXISTS);
    EXPECT_EQ(statuses[i].error_message(),
              "national_id already registered: existing_donor_id=" + winner);
  }
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM donors"), 1);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM reimbursement_accounts"), 1);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM audit_log"), 1);
}

TEST_F(DonorServiceTest, RetriesWithTheSameRequestIdReplayTheFirstResult) {
  v1::RegisterDonorRequest request = RegisterRequest(ChineseId("19900101", 1), "Zhao Min");
  v1::Donor first = Register(request);
  v1::Donor again = Register(request);
  EXPECT_EQ(again.donor_id(), first.donor_id());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM donors"), 1);

  // The same key for another request is refused.
  v1::RegisterDonorRequest other = RegisterRequest(ChineseId("19900101", 2), "Qian Li");
  other.set_request_id(request.request_id());
  v1::Donor none;
  grpc::Status reused = Call(&v1::DonorService::Stub::RegisterDonor, other, &none);
  EXPECT_CODE(reused, INVALID_ARGUMENT);
  EXPECT_THAT(reused.error_message(), StartsWith("request_id: "));

  // Keys are scoped by RPC: the same request_id may serve another RPC.
  v1::DeferDonorRequest defer;
  defer.set_request_id(request.request_id());
  defer.set_donor_id(first.donor_id());
  defer.set_reason_code("TOOTH_EXTRACTION");
  v1::Deferral d1, d2;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::DeferDonor, defer, &d1).ok());
  ASSERT_TRUE(Call(&v1::DonorService::Stub::DeferDonor, defer, &d2).ok());
  EXPECT_EQ(d1.deferral_id(), d2.deferral_id());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM deferrals"), 1);

  // A donation retried with its request_id, even after the clock moved on.
  v1::RecordDonationRequest donation =
      DonationRequest(first.donor_id(), MakeDin(1), clock_.Now() - absl::Hours(1));
  v1::VoidDeferralRequest void_request;
  void_request.set_request_id(NextRequestId());
  void_request.set_deferral_id(d1.deferral_id());
  void_request.set_voided_by("Dr. Sun");
  void_request.set_reason("recorded in error");
  v1::Deferral voided;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::VoidDeferral, void_request, &voided).ok());
  v1::RecordDonationResponse r1, r2;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::RecordDonation, donation, &r1).ok());
  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(Call(&v1::DonorService::Stub::RecordDonation, donation, &r2).ok());
  EXPECT_TRUE(r2.created());  // the replay is the first answer
  EXPECT_EQ(r1.SerializeAsString(), r2.SerializeAsString());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM donations"), 1);
  EXPECT_EQ(Get(first.donor_id()).donation_count(), 1);

  // A claim retried with its request_id is debited once.
  v1::ClaimReimbursementRequest claim;
  claim.set_request_id(NextRequestId());
  claim.set_donor_id(first.donor_id());
  claim.set_claimant_relation(v1::CLAIMANT_RELATION_SELF);
  claim.set_volume_ml(200);
  claim.set_invoice_no("INV-1");
  claim.set_blood_fee(20000);
  v1::ClaimReimbursementResponse c1, c2;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ClaimReimbursement, claim, &c1).ok());
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ClaimReimbursement, claim, &c2).ok());
  EXPECT_EQ(c1.entry().entry_id(), c2.entry().entry_id());
  EXPECT_EQ(schema_.QueryInt("SELECT self_claimed_ml FROM reimbursement_accounts"), 200);
}

TEST_F(DonorServiceTest, SearchFiltersAndPages) {
  const char* names[] = {"alice Chen", "Alan Wu", "Bob Li", "alex Zhou", "Carol Ma"};
  std::vector<v1::Donor> donors;
  for (int i = 0; i < 5; ++i) {
    v1::RegisterDonorRequest request = RegisterRequest(ChineseId("19880808", i), names[i]);
    if (i == 2) {
      *request.mutable_donor()->mutable_blood_type() = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
      request.mutable_donor()->add_panels(v1::DONOR_PANEL_RARE_TYPE);
      request.mutable_donor()->set_home_station_id("ST-02");
      request.mutable_donor()->mutable_contact()->set_phone("+86 139-0000-0002");
    }
    donors.push_back(Register(request));
  }
  auto search = [&](v1::SearchDonorsRequest request) {
    std::vector<std::string> found;
    v1::SearchDonorsResponse response;
    EXPECT_TRUE(Call(&v1::DonorService::Stub::SearchDonors, request, &response).ok());
    for (const auto& d : response.donors()) found.push_back(d.name());
    return found;
  };
  v1::SearchDonorsRequest by_prefix;
  by_prefix.set_name_prefix("AL");
  EXPECT_THAT(search(by_prefix), ::testing::ElementsAre("Alan Wu", "alex Zhou", "alice Chen"));
  v1::SearchDonorsRequest by_id;
  by_id.set_national_id(absl::AsciiStrToLower(donors[1].national_id()) + " ");
  EXPECT_THAT(search(by_id), ::testing::ElementsAre("Alan Wu"));
  v1::SearchDonorsRequest by_phone;
  by_phone.set_phone("+8613900000002");
  EXPECT_THAT(search(by_phone), ::testing::ElementsAre("Bob Li"));
  v1::SearchDonorsRequest by_type;
  *by_type.mutable_blood_type() = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
  EXPECT_THAT(search(by_type), ::testing::ElementsAre("Bob Li"));
  v1::SearchDonorsRequest by_panel;
  by_panel.set_panel(v1::DONOR_PANEL_RARE_TYPE);
  EXPECT_THAT(search(by_panel), ::testing::ElementsAre("Bob Li"));
  v1::SearchDonorsRequest by_station;
  by_station.set_home_station_id("ST-01");
  by_station.set_panel(v1::DONOR_PANEL_REGULAR);
  EXPECT_EQ(search(by_station).size(), 4u);
  v1::SearchDonorsRequest wildcard;
  wildcard.set_name_prefix("%");
  EXPECT_TRUE(search(wildcard).empty());

  // Pages of two, stable under an insert between pages.
  v1::SearchDonorsRequest paged;
  paged.set_page_size(2);
  std::vector<std::string> all;
  int pages = 0;
  while (true) {
    v1::SearchDonorsResponse response;
    ASSERT_TRUE(Call(&v1::DonorService::Stub::SearchDonors, paged, &response).ok());
    for (const auto& d : response.donors()) all.push_back(d.name());
    ++pages;
    if (pages == 1) Register(RegisterRequest(ChineseId("19880808", 9), "Aaron First"));
    if (response.next_page_token().empty()) break;
    paged.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(all,
              ::testing::ElementsAre("Alan Wu", "alex Zhou", "alice Chen", "Bob Li", "Carol Ma"));
  // A token used with another filter.
  paged.set_name_prefix("A");
  v1::SearchDonorsResponse response;
  grpc::Status wrong = Call(&v1::DonorService::Stub::SearchDonors, paged, &response);
  EXPECT_CODE(wrong, INVALID_ARGUMENT);
  EXPECT_THAT(wrong.error_message(), StartsWith("page_token: "));
}

// ---------------------------------------------------------------------------------------------
// Blood typing

TEST_F(DonorServiceTest, TypingAssignsConfirmsAndOpensConflictsWithoutOverwriting) {
  v1::Donor donor = RegisterSimple("Sun Hao", 1);
  auto typing = [&](const v1::BloodType& type, int din_seq, const std::string& request_id = "") {
    v1::RecordBloodTypingRequest request;
    request.set_request_id(request_id.empty() ? NextRequestId() : request_id);
    request.set_donor_id(donor.donor_id());
    *request.mutable_blood_type() = type;
    request.set_din(MakeDin(din_seq));
    *request.mutable_typed_at() = Ts(clock_.Now());
    v1::RecordBloodTypingResponse response;
    grpc::Status status = Call(&v1::DonorService::Stub::RecordBloodTyping, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  const v1::BloodType o_neg = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
  v1::RecordBloodTypingResponse first = typing(o_neg, 1);
  EXPECT_EQ(first.donor().blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_TRUE(first.donor().blood_type_confirmed());
  EXPECT_FALSE(first.has_conflict());

  v1::RecordBloodTypingResponse agree = typing(o_neg, 2);
  EXPECT_FALSE(agree.has_conflict());

  v1::RecordBloodTypingResponse disagree = typing(Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE), 3);
  ASSERT_TRUE(disagree.has_conflict());
  EXPECT_EQ(disagree.donor().blood_type().abo(), v1::ABO_GROUP_O);  // not overwritten
  EXPECT_TRUE(disagree.donor().has_open_blood_type_conflict());
  EXPECT_EQ(disagree.conflict().recorded_blood_type().rhd(), v1::RH_D_NEGATIVE);
  EXPECT_EQ(disagree.conflict().typed_blood_type().abo(), v1::ABO_GROUP_A);
  EXPECT_EQ(disagree.conflict().din(), MakeDin(3));

  // The same DIN typed again (even differently) returns the first outcome.
  v1::RecordBloodTypingResponse repeat = typing(o_neg, 3);
  ASSERT_TRUE(repeat.has_conflict());
  EXPECT_EQ(repeat.conflict().conflict_id(), disagree.conflict().conflict_id());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM blood_type_conflicts"), 1);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM blood_typings"), 3);

  v1::ListBloodTypeConflictsRequest list;
  list.set_open_only(true);
  v1::ListBloodTypeConflictsResponse open;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListBloodTypeConflicts, list, &open).ok());
  ASSERT_EQ(open.conflicts_size(), 1);

  v1::ResolveBloodTypeConflictRequest resolve;
  resolve.set_request_id(NextRequestId());
  resolve.set_conflict_id(disagree.conflict().conflict_id());
  *resolve.mutable_resolved_blood_type() = Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE);
  resolve.set_resolved_by("Dr. Qian");
  resolve.set_note("re-typed twice: A+; the first sample was mislabelled");
  v1::BloodTypeConflict resolved;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ResolveBloodTypeConflict, resolve, &resolved).ok());
  EXPECT_TRUE(resolved.resolved());
  EXPECT_EQ(resolved.resolved_by(), "Dr. Qian");
  EXPECT_EQ(resolved.resolved_blood_type().abo(), v1::ABO_GROUP_A);
  v1::Donor after = Get(donor.donor_id());
  EXPECT_EQ(after.blood_type().abo(), v1::ABO_GROUP_A);
  EXPECT_EQ(after.blood_type().rhd(), v1::RH_D_POSITIVE);
  EXPECT_FALSE(after.has_open_blood_type_conflict());

  resolve.set_request_id(NextRequestId());
  EXPECT_CODE(Call(&v1::DonorService::Stub::ResolveBloodTypeConflict, resolve, &resolved),
              FAILED_PRECONDITION);
  resolve.set_conflict_id("999999");
  EXPECT_CODE(Call(&v1::DonorService::Stub::ResolveBloodTypeConflict, resolve, &resolved),
              NOT_FOUND);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListBloodTypeConflicts, list, &open).ok());
  EXPECT_EQ(open.conflicts_size(), 0);
  v1::ListBloodTypeConflictsRequest all;
  all.set_donor_id(donor.donor_id());
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListBloodTypeConflicts, all, &open).ok());
  EXPECT_EQ(open.conflicts_size(), 1);

  // A type registered from elsewhere stays unconfirmed until a typing agrees.
  v1::RegisterDonorRequest imported = RegisterRequest(ChineseId("19900101", 5), "Imported");
  *imported.mutable_donor()->mutable_blood_type() = Type(v1::ABO_GROUP_B, v1::RH_D_POSITIVE);
  donor = Register(imported);
  EXPECT_FALSE(donor.blood_type_confirmed());
  EXPECT_TRUE(typing(Type(v1::ABO_GROUP_B, v1::RH_D_POSITIVE), 9).donor().blood_type_confirmed());
}

// ---------------------------------------------------------------------------------------------
// Eligibility, donations, deferrals

TEST_F(DonorServiceTest, EligibilityAndDonations) {
  v1::Donor donor = RegisterSimple("Zhou Jie", 1, "19900101", v1::SEX_FEMALE);
  v1::CheckEligibilityRequest check;
  check.set_donor_id(donor.donor_id());
  check.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  v1::CheckEligibilityResponse eligibility;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CheckEligibility, check, &eligibility).ok());
  EXPECT_TRUE(eligibility.eligible());
  EXPECT_EQ(eligibility.next_eligible_date(), "2026-11-22");
  EXPECT_EQ(eligibility.unchecked_size(), 5);
  EXPECT_EQ(eligibility.policy_profile(), "cn-gb18467-2011@1");

  // Low haemoglobin: not eligible, but waiting does not help, so the date does not move.
  *check.mutable_screening() = GoodScreening();
  check.mutable_screening()->set_hemoglobin_g_l(110);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CheckEligibility, check, &eligibility).ok());
  EXPECT_FALSE(eligibility.eligible());
  ASSERT_EQ(eligibility.reasons_size(), 1);
  EXPECT_EQ(eligibility.reasons(0).code(), v1::ELIGIBILITY_REASON_HEMOGLOBIN_LOW);
  EXPECT_EQ(eligibility.next_eligible_date(), "2026-11-22");
  EXPECT_EQ(eligibility.unchecked_size(), 0);

  // A donation with the check character on the label.
  absl::StatusOr<Din> din = Din::Create("A9999", 26, 100);
  ASSERT_TRUE(din.ok());
  v1::RecordDonationRequest request =
      DonationRequest(donor.donor_id(), din->WithCheckCharacter(), clock_.Now() - absl::Hours(2));
  request.set_product_code("E0001");
  request.set_anticoagulant(v1::PolicyProfile::ANTICOAGULANT_CPDA_1);
  v1::RecordDonationResponse recorded;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::RecordDonation, request, &recorded).ok());
  EXPECT_TRUE(recorded.created());
  EXPECT_TRUE(recorded.eligibility().eligible());
  EXPECT_EQ(recorded.donation().din(), din->ToString());
  EXPECT_EQ(recorded.donation().collection_date(), "2026-11-22");
  EXPECT_EQ(recorded.donation().screening().hemoglobin_g_l(), 140);
  EXPECT_EQ(recorded.donation().anticoagulant(), v1::PolicyProfile::ANTICOAGULANT_CPDA_1);
  EXPECT_EQ(schema_.QueryString("SELECT product_code FROM donations"), "E0001");
  v1::Donor after = Get(donor.donor_id());
  EXPECT_EQ(after.donation_count(), 1);
  EXPECT_EQ(after.last_donation_date(), "2026-11-22");

  // Now too soon: the interval rule names the day it clears.
  check.mutable_screening()->set_hemoglobin_g_l(140);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CheckEligibility, check, &eligibility).ok());
  EXPECT_FALSE(eligibility.eligible());
  EXPECT_EQ(eligibility.reasons(0).code(), v1::ELIGIBILITY_REASON_INTERVAL_NOT_ELAPSED);
  EXPECT_EQ(eligibility.next_eligible_date(), "2027-05-22");

  // Recording a second donation is refused with the reason codes, and writes nothing.
  const std::string before = RowCounts();
  v1::RecordDonationResponse refused;
  grpc::Status too_soon =
      Call(&v1::DonorService::Stub::RecordDonation,
           DonationRequest(donor.donor_id(), MakeDin(101), clock_.Now()), &refused);
  EXPECT_CODE(too_soon, FAILED_PRECONDITION);
  EXPECT_EQ(too_soon.error_message(),
            "donor " + donor.donor_id() + " not eligible: ELIGIBILITY_REASON_INTERVAL_NOT_ELAPSED");
  EXPECT_EQ(RowCounts(), before);

  // The same DIN for the same donor: the existing record. For another donor: ALREADY_EXISTS.
  v1::RecordDonationResponse again;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::RecordDonation,
                   DonationRequest(donor.donor_id(), din->ToString(), clock_.Now()), &again)
                  .ok());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.donation().donation_id(), recorded.donation().donation_id());
  v1::Donor other = RegisterSimple("Wu Lan", 2);
  grpc::Status taken =
      Call(&v1::DonorService::Stub::RecordDonation,
           DonationRequest(other.donor_id(), din->ToString(), clock_.Now()), &again);
  EXPECT_CODE(taken, ALREADY_EXISTS);
  EXPECT_THAT(taken.error_message(), StartsWith("din: "));

  // Six months later the next donation goes through; the list is newest first, paged.
  clock_.Set(At(2027, 5, 22));
  Donate(donor.donor_id(), MakeDin(102), clock_.Now());
  clock_.Set(At(2027, 11, 23));
  Donate(donor.donor_id(), MakeDin(103), clock_.Now(), 200);
  v1::ListDonationsRequest list;
  list.set_donor_id(donor.donor_id());
  list.set_page_size(2);
  v1::ListDonationsResponse page;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListDonations, list, &page).ok());
  ASSERT_EQ(page.donations_size(), 2);
  EXPECT_EQ(page.donations(0).din(), MakeDin(103));
  EXPECT_EQ(page.donations(1).din(), MakeDin(102));
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListDonations, list, &page).ok());
  ASSERT_EQ(page.donations_size(), 1);
  EXPECT_EQ(page.donations(0).din(), din->ToString());
  EXPECT_TRUE(page.next_page_token().empty());

  // Too young.
  v1::Donor young = RegisterSimple("Young", 3, "20100101");
  grpc::Status under_age =
      Call(&v1::DonorService::Stub::RecordDonation,
           DonationRequest(young.donor_id(), MakeDin(104), clock_.Now()), &refused);
  EXPECT_CODE(under_age, FAILED_PRECONDITION);
  EXPECT_THAT(under_age.error_message(), HasSubstr("ELIGIBILITY_REASON_AGE_BELOW_MIN"));

  v1::ListDonationsRequest unknown;
  unknown.set_donor_id("D0000000000000000");
  EXPECT_CODE(Call(&v1::DonorService::Stub::ListDonations, unknown, &page), NOT_FOUND);
}

TEST_F(DonorServiceTest, DeferralsFromTheCatalogue) {
  v1::Donor donor = RegisterSimple("Huang Bo", 1);
  v1::DeferDonorRequest defer;
  defer.set_request_id(NextRequestId());
  defer.set_donor_id(donor.donor_id());
  defer.set_reason_code("TOOTH_EXTRACTION");
  defer.set_note("wisdom tooth");
  v1::Deferral tooth;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::DeferDonor, defer, &tooth).ok());
  EXPECT_EQ(tooth.kind(), v1::DEFERRAL_KIND_TEMPORARY);
  EXPECT_EQ(tooth.start_date(), "2026-11-22");
  EXPECT_EQ(tooth.ends_on(), "2026-12-07");  // 15 days
  EXPECT_EQ(tooth.deferred_by(), "admin:tester");
  EXPECT_TRUE(tooth.active());
  EXPECT_TRUE(Get(donor.donor_id()).deferred());

  v1::CheckEligibilityRequest check;
  check.set_donor_id(donor.donor_id());
  check.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  v1::CheckEligibilityResponse eligibility;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CheckEligibility, check, &eligibility).ok());
  ASSERT_EQ(eligibility.reasons_size(), 1);
  EXPECT_EQ(eligibility.reasons(0).code(), v1::ELIGIBILITY_REASON_DEFERRED_TEMPORARY);
  EXPECT_EQ(eligibility.reasons(0).deferral_id(), tooth.deferral_id());
  EXPECT_EQ(eligibility.reasons(0).clears_on(), "2026-12-07");
  EXPECT_EQ(eligibility.next_eligible_date(), "2026-12-07");
  check.set_on_date("2026-12-07");  // the day it ends, the donor may give
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CheckEligibility, check, &eligibility).ok());
  EXPECT_TRUE(eligibility.eligible());

  // The end date can be overridden; a start in the past is fine.
  defer.set_request_id(NextRequestId());
  defer.set_reason_code("TATTOO");
  defer.set_start_date("2026-10-01");
  defer.set_ends_on("2027-04-01");
  v1::Deferral tattoo;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::DeferDonor, defer, &tattoo).ok());
  EXPECT_EQ(tattoo.ends_on(), "2027-04-01");

  // Permanent, from the catalogue's kind.
  v1::DeferDonorRequest permanent;
  permanent.set_request_id(NextRequestId());
  permanent.set_donor_id(donor.donor_id());
  permanent.set_reason_code("HCV_REACTIVE");
  permanent.set_deferred_by("Dr. Lin");
  v1::Deferral hcv;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::DeferDonor, permanent, &hcv).ok());
  EXPECT_EQ(hcv.kind(), v1::DEFERRAL_KIND_PERMANENT);
  EXPECT_EQ(hcv.ends_on(), "");
  EXPECT_EQ(hcv.deferred_by(), "Dr. Lin");
  EXPECT_TRUE(Get(donor.donor_id()).permanently_deferred());
  check.clear_on_date();
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CheckEligibility, check, &eligibility).ok());
  EXPECT_EQ(eligibility.next_eligible_date(), "");

  // Voiding keeps the record with who and why.
  clock_.Advance(absl::Hours(1));
  v1::VoidDeferralRequest void_request;
  void_request.set_request_id(NextRequestId());
  void_request.set_deferral_id(hcv.deferral_id());
  void_request.set_voided_by("Dr. Lin");
  void_request.set_reason("confirmatory test negative");
  v1::Deferral voided;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::VoidDeferral, void_request, &voided).ok());
  EXPECT_TRUE(voided.voided());
  EXPECT_FALSE(voided.active());
  EXPECT_EQ(voided.voided_by(), "Dr. Lin");
  EXPECT_EQ(voided.void_reason(), "confirmatory test negative");
  EXPECT_EQ(voided.voided_at().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_FALSE(Get(donor.donor_id()).permanently_deferred());
  void_request.set_request_id(NextRequestId());
  EXPECT_CODE(Call(&v1::DonorService::Stub::VoidDeferral, void_request, &voided),
              FAILED_PRECONDITION);
  void_request.set_deferral_id("424242");
  EXPECT_CODE(Call(&v1::DonorService::Stub::VoidDeferral, void_request, &voided), NOT_FOUND);

  // Lists: newest start first; active_only drops the voided one.
  v1::ListDeferralsRequest list;
  list.set_donor_id(donor.donor_id());
  v1::ListDeferralsResponse all;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListDeferrals, list, &all).ok());
  ASSERT_EQ(all.deferrals_size(), 3);
  EXPECT_EQ(all.deferrals(2).reason_code(), "TATTOO");
  list.set_active_only(true);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListDeferrals, list, &all).ok());
  EXPECT_EQ(all.deferrals_size(), 2);
  list.set_page_size(1);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListDeferrals, list, &all).ok());
  ASSERT_EQ(all.deferrals_size(), 1);
  list.set_page_token(all.next_page_token());
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListDeferrals, list, &all).ok());
  ASSERT_EQ(all.deferrals_size(), 1);
  EXPECT_EQ(all.deferrals(0).reason_code(), "TATTOO");
  EXPECT_TRUE(all.next_page_token().empty());

  v1::DeferDonorRequest unknown = defer;
  unknown.set_request_id(NextRequestId());
  unknown.set_donor_id("D0000000000000000");
  EXPECT_CODE(Call(&v1::DonorService::Stub::DeferDonor, unknown, &tattoo), NOT_FOUND);
}

TEST_F(DonorServiceTest, MarkDonorReactiveDefersPermanentlyOnce) {
  v1::Donor donor = RegisterSimple("Ma Yun", 1);
  Donate(donor.donor_id(), MakeDin(7), clock_.Now() - absl::Hours(3));
  v1::MarkDonorReactiveRequest request;
  request.set_request_id(NextRequestId());
  request.set_donor_id(donor.donor_id());
  request.set_din(MakeDin(7));
  request.set_test(v1::SCREENING_TEST_ANTI_HIV);
  *request.mutable_tested_at() = Ts(clock_.Now());
  v1::MarkDonorReactiveResponse first;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::MarkDonorReactive, request, &first).ok());
  EXPECT_TRUE(first.newly_deferred());
  EXPECT_TRUE(first.donation_found());
  EXPECT_EQ(first.deferral().kind(), v1::DEFERRAL_KIND_PERMANENT);
  EXPECT_EQ(first.deferral().reason_code(), "HIV_REACTIVE");
  EXPECT_EQ(first.deferral().reactive_test(), v1::SCREENING_TEST_ANTI_HIV);
  EXPECT_EQ(first.deferral().din(), MakeDin(7));

  request.set_request_id(NextRequestId());
  v1::MarkDonorReactiveResponse repeat;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::MarkDonorReactive, request, &repeat).ok());
  EXPECT_FALSE(repeat.newly_deferred());
  EXPECT_EQ(repeat.deferral().deferral_id(), first.deferral().deferral_id());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM deferrals"), 1);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM donations WHERE reactive"), 1);
  v1::Donor after = Get(donor.donor_id());
  EXPECT_TRUE(after.permanently_deferred());

  v1::CheckEligibilityRequest check;
  check.set_donor_id(donor.donor_id());
  check.set_donation_type(v1::DONATION_TYPE_APHERESIS_PLATELETS);
  check.set_on_date("2030-01-01");
  v1::CheckEligibilityResponse eligibility;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CheckEligibility, check, &eligibility).ok());
  ASSERT_EQ(eligibility.reasons_size(), 1);
  EXPECT_EQ(eligibility.reasons(0).code(), v1::ELIGIBILITY_REASON_DEFERRED_PERMANENT);
  EXPECT_EQ(eligibility.reasons(0).deferral_id(), first.deferral().deferral_id());
  EXPECT_EQ(eligibility.next_eligible_date(), "");

  // A DIN with no recorded donation still defers (lookback relies on inventory's records);
  // ALT is a temporary deferral in the CN catalogue.
  request.set_request_id(NextRequestId());
  request.set_din(MakeDin(8));
  request.set_test(v1::SCREENING_TEST_ALT);
  v1::MarkDonorReactiveResponse alt;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::MarkDonorReactive, request, &alt).ok());
  EXPECT_FALSE(alt.donation_found());
  EXPECT_EQ(alt.deferral().kind(), v1::DEFERRAL_KIND_TEMPORARY);
  EXPECT_EQ(alt.deferral().ends_on(), "2027-05-22");

  request.set_request_id(NextRequestId());
  request.set_donor_id("D0000000000000000");
  EXPECT_CODE(Call(&v1::DonorService::Stub::MarkDonorReactive, request, &alt), NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Appeals

TEST_F(DonorServiceTest, AppealCandidatesAreEligibleAndRanked) {
  const v1::BloodType o_neg = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
  auto make = [&](const std::string& name, int seq, const std::string& station,
                  std::vector<v1::DonorPanel> panels, const std::string& birth = "1990-01-01",
                  v1::BloodType type = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE)) {
    std::string compact = birth;
    compact.erase(std::remove(compact.begin(), compact.end(), '-'), compact.end());
    v1::RegisterDonorRequest request =
        RegisterRequest(ChineseId(compact, seq), name, v1::SEX_MALE, birth);
    request.mutable_donor()->clear_panels();
    for (auto p : panels) request.mutable_donor()->add_panels(p);
    request.mutable_donor()->set_home_station_id(station);
    *request.mutable_donor()->mutable_blood_type() = type;
    return Register(request);
  };
  v1::Donor emergency = make("Emergency", 1, "ST-09", {v1::DONOR_PANEL_EMERGENCY});
  v1::Donor rare_home = make("RareHome", 2, "ST-01", {v1::DONOR_PANEL_RARE_TYPE});
  v1::Donor home_old = make("HomeOld", 3, "ST-01", {v1::DONOR_PANEL_REGULAR});
  v1::Donor home_never = make("HomeNever", 4, "ST-01", {});
  v1::Donor away = make("Away", 5, "ST-02", {v1::DONOR_PANEL_REGULAR});
  v1::Donor deferred = make("Deferred", 6, "ST-01", {v1::DONOR_PANEL_EMERGENCY});
  v1::Donor recent = make("Recent", 7, "ST-01", {v1::DONOR_PANEL_EMERGENCY});
  v1::Donor other_type = make("OtherType", 8, "ST-01", {v1::DONOR_PANEL_EMERGENCY}, "1990-01-01",
                              Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE));
  v1::Donor too_old = make("TooOld", 9, "ST-01", {v1::DONOR_PANEL_EMERGENCY}, "1965-01-01");

  Donate(home_old.donor_id(), MakeDin(1), At(2026, 3, 1));
  Donate(away.donor_id(), MakeDin(2), At(2025, 11, 1));
  Donate(recent.donor_id(), MakeDin(3), At(2026, 10, 22));
  v1::DeferDonorRequest defer;
  defer.set_request_id(NextRequestId());
  defer.set_donor_id(deferred.donor_id());
  defer.set_reason_code("MALARIA_TRAVEL");
  v1::Deferral d;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::DeferDonor, defer, &d).ok());

  v1::FindAppealCandidatesRequest request;
  *request.mutable_blood_type() = o_neg;
  request.set_station_id("ST-01");
  request.set_limit(10);
  v1::FindAppealCandidatesResponse response;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::FindAppealCandidates, request, &response).ok());
  std::vector<std::string> names;
  for (const auto& c : response.candidates()) names.push_back(c.name());
  EXPECT_THAT(names,
              ::testing::ElementsAre("RareHome", "Emergency", "HomeNever", "HomeOld", "Away"));
  EXPECT_EQ(response.candidates(0).rank(), 1);
  EXPECT_EQ(response.candidates(0).phone(), "13800138000");
  EXPECT_EQ(response.candidates(1).days_since_last_donation(), -1);
  EXPECT_EQ(response.candidates(3).last_donation_date(), "2026-03-01");
  EXPECT_EQ(response.candidates(3).days_since_last_donation(), 266);

  request.set_limit(2);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::FindAppealCandidates, request, &response).ok());
  ASSERT_EQ(response.candidates_size(), 2);
  EXPECT_EQ(response.candidates(1).name(), "Emergency");

  // On a later day the deferral has ended and the recent donor's interval has passed.
  request.set_limit(10);
  request.set_on_date("2028-01-01");
  ASSERT_TRUE(Call(&v1::DonorService::Stub::FindAppealCandidates, request, &response).ok());
  names.clear();
  for (const auto& c : response.candidates()) names.push_back(c.name());
  EXPECT_THAT(names, ::testing::Contains("Deferred"));
  EXPECT_THAT(names, ::testing::Contains("Recent"));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("OtherType")));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("TooOld")));
  (void)other_type;
  (void)too_old;
  (void)emergency;
  (void)home_never;
}

TEST_F(DonorServiceTest, AppealsRecordResponsesAndCounts) {
  v1::Donor a = RegisterSimple("Appeal A", 1);
  v1::Donor b = RegisterSimple("Appeal B", 2);
  v1::Donor c = RegisterSimple("Appeal C", 3);
  v1::CreateAppealRequest create;
  create.set_request_id(NextRequestId());
  create.set_station_id("ST-01");
  *create.mutable_blood_type() = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
  create.set_donations_needed(4);
  create.set_reason("O- shortage, 2 trauma cases");
  create.add_donor_ids(a.donor_id());
  create.add_donor_ids(b.donor_id());
  v1::Appeal appeal;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CreateAppeal, create, &appeal).ok());
  EXPECT_TRUE(appeal.open());
  EXPECT_EQ(appeal.created_by(), "admin:tester");
  EXPECT_EQ(appeal.donation_type(), v1::DONATION_TYPE_WHOLE_BLOOD);
  EXPECT_EQ(appeal.closes_at().seconds(), absl::ToUnixSeconds(clock_.Now() + absl::Hours(72)));
  ASSERT_EQ(appeal.contacts_size(), 2);
  EXPECT_EQ(appeal.contacts(0).name(), "Appeal A");
  EXPECT_EQ(appeal.contacts(0).response(), v1::APPEAL_RESPONSE_PENDING);
  EXPECT_EQ(appeal.counts().total(), 2);
  EXPECT_EQ(appeal.counts().pending(), 2);

  auto respond = [&](const std::string& donor_id, v1::AppealResponse response,
                     const std::string& din = "") {
    v1::RecordAppealResponseRequest request;
    request.set_request_id(NextRequestId());
    request.set_appeal_id(appeal.appeal_id());
    request.set_donor_id(donor_id);
    request.set_response(response);
    request.set_din(din);
    v1::Appeal out;
    grpc::Status status = Call(&v1::DonorService::Stub::RecordAppealResponse, request, &out);
    return std::make_pair(status, out);
  };
  ASSERT_TRUE(respond(a.donor_id(), v1::APPEAL_RESPONSE_ACCEPTED).first.ok());
  ASSERT_TRUE(respond(a.donor_id(), v1::APPEAL_RESPONSE_DONATED, MakeDin(5)).first.ok());
  ASSERT_TRUE(respond(b.donor_id(), v1::APPEAL_RESPONSE_DECLINED).first.ok());
  auto [status, updated] = respond(c.donor_id(), v1::APPEAL_RESPONSE_CONTACTED);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(updated.contacts_size(), 3);
  EXPECT_EQ(updated.contacts(0).din(), MakeDin(5));
  EXPECT_EQ(updated.contacts(2).name(), "Appeal C");
  EXPECT_EQ(updated.counts().total(), 3);
  EXPECT_EQ(updated.counts().pending(), 0);
  EXPECT_EQ(updated.counts().donated(), 1);
  EXPECT_EQ(updated.counts().declined(), 1);
  EXPECT_EQ(updated.counts().contacted(), 1);

  v1::GetAppealRequest get;
  get.set_appeal_id(appeal.appeal_id());
  v1::Appeal fetched;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::GetAppeal, get, &fetched).ok());
  EXPECT_EQ(fetched.SerializeAsString(), updated.SerializeAsString());

  // A second appeal, then listing: newest first, without contacts, counts included.
  clock_.Advance(absl::Minutes(5));
  create.set_request_id(NextRequestId());
  create.set_station_id("ST-02");
  create.clear_donor_ids();
  *create.mutable_closes_at() = Ts(clock_.Now() + absl::Hours(1));
  v1::Appeal second;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CreateAppeal, create, &second).ok());
  v1::ListAppealsRequest list;
  v1::ListAppealsResponse listed;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListAppeals, list, &listed).ok());
  ASSERT_EQ(listed.appeals_size(), 2);
  EXPECT_EQ(listed.appeals(0).appeal_id(), second.appeal_id());
  EXPECT_EQ(listed.appeals(1).contacts_size(), 0);
  EXPECT_EQ(listed.appeals(1).counts().total(), 3);
  list.set_station_id("ST-01");
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListAppeals, list, &listed).ok());
  EXPECT_EQ(listed.appeals_size(), 1);

  // Two hours later the second appeal is closed: responses refused, open_only skips it.
  clock_.Advance(absl::Hours(2));
  list.clear_station_id();
  list.set_open_only(true);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListAppeals, list, &listed).ok());
  ASSERT_EQ(listed.appeals_size(), 1);
  EXPECT_EQ(listed.appeals(0).appeal_id(), appeal.appeal_id());
  appeal = second;
  EXPECT_CODE(respond(a.donor_id(), v1::APPEAL_RESPONSE_ACCEPTED).first, FAILED_PRECONDITION);
  appeal.set_appeal_id("777777");
  EXPECT_CODE(respond(a.donor_id(), v1::APPEAL_RESPONSE_ACCEPTED).first, NOT_FOUND);
  get.set_appeal_id("777777");
  EXPECT_CODE(Call(&v1::DonorService::Stub::GetAppeal, get, &fetched), NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Reimbursement

TEST_F(DonorServiceTest, ReimbursementBalanceClaimsAndLedger) {
  v1::Donor donor = RegisterSimple("Fee Donor", 1);
  Donate(donor.donor_id(), MakeDin(1), clock_.Now() - absl::Hours(1));  // 400 mL
  v1::GetReimbursementBalanceRequest balance_request;
  balance_request.set_donor_id(donor.donor_id());
  v1::ReimbursementBalance balance;
  ASSERT_TRUE(
      Call(&v1::DonorService::Stub::GetReimbursementBalance, balance_request, &balance).ok());
  EXPECT_EQ(balance.cumulative_donated_ml(), 400);
  EXPECT_EQ(balance.self_available_ml(), 1200);
  EXPECT_EQ(balance.relatives_available_ml(), 400);
  EXPECT_FALSE(balance.lifetime_free());
  ASSERT_EQ(balance.credits_size(), 1);
  EXPECT_EQ(balance.credits(0).tier_ends_on(), "2031-11-22");

  auto claim = [&](v1::ClaimantRelation relation, int volume, const std::string& invoice,
                   int64_t fee) {
    v1::ClaimReimbursementRequest request;
    request.set_request_id(NextRequestId());
    request.set_donor_id(donor.donor_id());
    request.set_claimant_relation(relation);
    request.set_volume_ml(volume);
    request.set_invoice_no(invoice);
    request.set_blood_fee(fee);
    request.set_recipient_name("Patient");
    request.set_hospital_name("City Hospital");
    v1::ClaimReimbursementResponse response;
    grpc::Status status = Call(&v1::DonorService::Stub::ClaimReimbursement, request, &response);
    return std::make_pair(status, response);
  };
  auto [s1, c1] = claim(v1::CLAIMANT_RELATION_SELF, 300, " inv-2026-001 ", 30000);
  ASSERT_TRUE(s1.ok()) << s1.error_message();
  EXPECT_EQ(c1.covered_volume_ml(), 300);
  EXPECT_EQ(c1.reimbursed_amount(), 30000);
  EXPECT_EQ(c1.entry().invoice_no(), "INV-2026-001");
  EXPECT_EQ(c1.entry().kind(), v1::LEDGER_ENTRY_KIND_DEBIT);
  EXPECT_EQ(c1.balance().self_available_ml(), 900);

  // The same invoice again (however written), by any request: ALREADY_EXISTS, nothing written.
  const std::string before = RowCounts();
  auto [dup, unused] = claim(v1::CLAIMANT_RELATION_SPOUSE, 100, "INV-2026-001", 100);
  EXPECT_CODE(dup, ALREADY_EXISTS);
  EXPECT_EQ(RowCounts(), before);

  // Relatives: only 400 of 600 mL covered, the fee share accordingly.
  auto [s2, c2] = claim(v1::CLAIMANT_RELATION_PARENT, 600, "INV-2026-002", 60000);
  ASSERT_TRUE(s2.ok()) << s2.error_message();
  EXPECT_EQ(c2.covered_volume_ml(), 400);
  EXPECT_EQ(c2.reimbursed_amount(), 40000);
  EXPECT_EQ(c2.balance().relatives_available_ml(), 0);
  auto [s3, c3] = claim(v1::CLAIMANT_RELATION_CHILD, 100, "INV-2026-003", 1000);
  EXPECT_CODE(s3, FAILED_PRECONDITION);

  v1::ListReimbursementLedgerRequest ledger_request;
  ledger_request.set_donor_id(donor.donor_id());
  v1::ListReimbursementLedgerResponse ledger;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListReimbursementLedger, ledger_request, &ledger).ok());
  ASSERT_EQ(ledger.entries_size(), 3);
  EXPECT_EQ(ledger.entries(0).invoice_no(), "INV-2026-002");
  EXPECT_EQ(ledger.entries(1).invoice_no(), "INV-2026-001");
  EXPECT_EQ(ledger.entries(2).kind(), v1::LEDGER_ENTRY_KIND_CREDIT);
  EXPECT_EQ(ledger.entries(2).din(), MakeDin(1));
  EXPECT_EQ(ledger.entries(2).volume_ml(), 400);
  ledger_request.set_page_size(2);
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListReimbursementLedger, ledger_request, &ledger).ok());
  ledger_request.set_page_token(ledger.next_page_token());
  ASSERT_TRUE(Call(&v1::DonorService::Stub::ListReimbursementLedger, ledger_request, &ledger).ok());
  ASSERT_EQ(ledger.entries_size(), 1);
  EXPECT_EQ(ledger.entries(0).kind(), v1::LEDGER_ENTRY_KIND_CREDIT);

  // Five years on the 3x tier has ended: 400 mL due, 300 used.
  clock_.Set(At(2031, 11, 22));
  ASSERT_TRUE(
      Call(&v1::DonorService::Stub::GetReimbursementBalance, balance_request, &balance).ok());
  EXPECT_EQ(balance.self_available_ml(), 100);
  EXPECT_EQ(balance.credits(0).multiplier(), 1);
  // Asked for a day before that, 3x still applies.
  balance_request.set_on_date("2031-11-21");
  ASSERT_TRUE(
      Call(&v1::DonorService::Stub::GetReimbursementBalance, balance_request, &balance).ok());
  EXPECT_EQ(balance.self_available_ml(), 900);

  balance_request.set_donor_id("D0000000000000000");
  EXPECT_CODE(Call(&v1::DonorService::Stub::GetReimbursementBalance, balance_request, &balance),
              NOT_FOUND);
}

TEST_F(DonorServiceTest, ConcurrentClaimsNeverOverdrawTheBalance) {
  v1::Donor donor = RegisterSimple("Busy Donor", 1);
  Donate(donor.donor_id(), MakeDin(1), clock_.Now() - absl::Hours(1), 200);  // relatives: 200 mL
  constexpr int kClients = 16;
  std::vector<v1::ClaimReimbursementRequest> requests(kClients);
  for (int i = 0; i < kClients; ++i) {
    requests[i].set_request_id(NextRequestId());
    requests[i].set_donor_id(donor.donor_id());
    requests[i].set_claimant_relation(i % 2 == 0 ? v1::CLAIMANT_RELATION_SPOUSE
                                                 : v1::CLAIMANT_RELATION_CHILD);
    requests[i].set_volume_ml(30);
    requests[i].set_invoice_no(absl::StrCat("RACE-", i));
    requests[i].set_blood_fee(3000);
  }
  std::vector<grpc::Status> statuses(kClients);
  std::vector<v1::ClaimReimbursementResponse> responses(kClients);
  std::atomic<bool> go{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      statuses[i] = Call(&v1::DonorService::Stub::ClaimReimbursement, requests[i], &responses[i]);
    });
  }
  go = true;
  for (auto& t : clients) t.join();
  int64_t covered = 0;
  int successes = 0;
  for (int i = 0; i < kClients; ++i) {
    if (statuses[i].ok()) {
      ++successes;
      covered += responses[i].covered_volume_ml();
      EXPECT_LE(responses[i].reimbursed_amount(), 3000);
    } else {
      EXPECT_CODE(statuses[i], FAILED_PRECONDITION);
    }
  }
  EXPECT_EQ(covered, 200);  // never more than the balance, and all of it used
  EXPECT_EQ(successes, 7);  // six of 30 mL and one of the last 20 mL
  EXPECT_EQ(schema_.QueryInt("SELECT relatives_claimed_ml FROM reimbursement_accounts"), 200);
  EXPECT_EQ(schema_.QueryInt("SELECT SUM(volume_ml) FROM reimbursement_ledger WHERE kind = 2"),
            200);
}

TEST_F(DonorServiceTest, ProfileWithoutReimbursementRefusesBalanceAndClaims) {
  v1::Donor donor = RegisterSimple("US Donor", 1);
  server_.reset();
  StartServer("us-fda");
  v1::GetReimbursementBalanceRequest request;
  request.set_donor_id(donor.donor_id());
  v1::ReimbursementBalance balance;
  EXPECT_CODE(Call(&v1::DonorService::Stub::GetReimbursementBalance, request, &balance),
              FAILED_PRECONDITION);
  v1::ClaimReimbursementRequest claim;
  claim.set_request_id(NextRequestId());
  claim.set_donor_id(donor.donor_id());
  claim.set_claimant_relation(v1::CLAIMANT_RELATION_SELF);
  claim.set_volume_ml(100);
  claim.set_invoice_no("US-1");
  v1::ClaimReimbursementResponse response;
  EXPECT_CODE(Call(&v1::DonorService::Stub::ClaimReimbursement, claim, &response),
              FAILED_PRECONDITION);
  // A donation under this profile writes no credit; 450 mL is not a CN volume but a US one.
  v1::RecordDonationResponse donation = Donate(donor.donor_id(), MakeDin(1), clock_.Now(), 500);
  EXPECT_TRUE(donation.created());
  EXPECT_EQ(donation.eligibility().policy_profile(), "us-fda@1");
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM reimbursement_ledger"), 0);
  // The us-fda catalogue has no deferral for a reactive ALT.
  v1::MarkDonorReactiveRequest reactive;
  reactive.set_request_id(NextRequestId());
  reactive.set_donor_id(donor.donor_id());
  reactive.set_din(MakeDin(1));
  reactive.set_test(v1::SCREENING_TEST_ALT);
  v1::MarkDonorReactiveResponse deferred;
  const std::string before = RowCounts();
  EXPECT_CODE(Call(&v1::DonorService::Stub::MarkDonorReactive, reactive, &deferred),
              FAILED_PRECONDITION);
  EXPECT_EQ(RowCounts(), before);
}

// ---------------------------------------------------------------------------------------------
// Malformed input: every RPC answers INVALID_ARGUMENT naming the field, and writes nothing.

TEST_F(DonorServiceTest, EveryRpcRejectsMalformedInputNamingTheFieldAndWritesNothing) {
  v1::Donor donor = RegisterSimple("Valid Donor", 1);
  Donate(donor.donor_id(), MakeDin(1), clock_.Now() - absl::Hours(1));
  v1::CreateAppealRequest appeal_request;
  appeal_request.set_request_id(NextRequestId());
  appeal_request.set_station_id("ST-01");
  *appeal_request.mutable_blood_type() = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
  appeal_request.add_donor_ids(donor.donor_id());
  v1::Appeal appeal;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::CreateAppeal, appeal_request, &appeal).ok());
  v1::DeferDonorRequest defer_request;
  defer_request.set_request_id(NextRequestId());
  defer_request.set_donor_id(donor.donor_id());
  defer_request.set_reason_code("TATTOO");
  v1::Deferral deferral;
  ASSERT_TRUE(Call(&v1::DonorService::Stub::DeferDonor, defer_request, &deferral).ok());

  struct Case {
    std::string name;
    std::string field;
    std::function<grpc::Status()> call;
  };
  std::vector<Case> cases;
  auto add = [&](std::string name, std::string field, std::function<grpc::Status()> call) {
    cases.push_back({std::move(name), std::move(field), std::move(call)});
  };

  // RegisterDonor
  auto register_with = [&](std::function<void(v1::RegisterDonorRequest&)> spoil) {
    return [&, spoil] {
      v1::RegisterDonorRequest r = RegisterRequest(ChineseId("19900101", 500), "New Donor");
      spoil(r);
      v1::Donor out;
      return Call(&v1::DonorService::Stub::RegisterDonor, r, &out);
    };
  };
  add("register no request_id", "request_id", register_with([](auto& r) { r.clear_request_id(); }));
  add("register bad request_id", "request_id",
      register_with([](auto& r) { r.set_request_id("bad id!"); }));
  add("register bad national_id", "donor.national_id",
      register_with([](auto& r) { r.mutable_donor()->set_national_id("110105199001015001"); }));
  add("register empty name", "donor.name",
      register_with([](auto& r) { r.mutable_donor()->set_name(""); }));
  add("register long name", "donor.name",
      register_with([](auto& r) { r.mutable_donor()->set_name(std::string(101, 'x')); }));
  add("register no sex", "donor.sex",
      register_with([](auto& r) { r.mutable_donor()->set_sex(v1::SEX_UNSPECIFIED); }));
  add("register future birth", "donor.birth_date",
      register_with([](auto& r) { r.mutable_donor()->set_birth_date("2026-11-23"); }));
  add("register impossible birth", "donor.birth_date",
      register_with([](auto& r) { r.mutable_donor()->set_birth_date("2023-02-29"); }));
  add("register phone", "donor.contact.phone",
      register_with([](auto& r) { r.mutable_donor()->mutable_contact()->set_phone("12-34"); }));
  add("register email", "donor.contact.email",
      register_with([](auto& r) { r.mutable_donor()->mutable_contact()->set_email("x@"); }));
  add("register duplicate panel", "donor.panels[1]",
      register_with([](auto& r) { r.mutable_donor()->add_panels(v1::DONOR_PANEL_REGULAR); }));
  add("register half blood type", "donor.blood_type", register_with([](auto& r) {
        r.mutable_donor()->mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
      }));
  // GetDonor
  add("get no id", "donor_id", [&] {
    v1::GetDonorRequest r;
    v1::Donor out;
    return Call(&v1::DonorService::Stub::GetDonor, r, &out);
  });
  // UpdateDonor
  auto update_with = [&](std::function<void(v1::UpdateDonorRequest&)> spoil) {
    return [&, spoil] {
      v1::UpdateDonorRequest r;
      r.set_request_id(NextRequestId());
      r.mutable_donor()->set_donor_id(donor.donor_id());
      r.mutable_donor()->set_name("Renamed");
      r.mutable_update_mask()->add_paths("name");
      spoil(r);
      v1::Donor out;
      return Call(&v1::DonorService::Stub::UpdateDonor, r, &out);
    };
  };
  add("update empty mask", "update_mask", update_with([](auto& r) { r.clear_update_mask(); }));
  add("update blood_type", "update_mask.paths[1]",
      update_with([](auto& r) { r.mutable_update_mask()->add_paths("blood_type"); }));
  add("update version", "update_mask.paths[1]",
      update_with([](auto& r) { r.mutable_update_mask()->add_paths("version"); }));
  add("update bad phone", "donor.contact.phone", update_with([](auto& r) {
        r.mutable_update_mask()->add_paths("contact.phone");
        r.mutable_donor()->mutable_contact()->set_phone("abc");
      }));
  add("update no donor id", "donor.donor_id",
      update_with([](auto& r) { r.mutable_donor()->clear_donor_id(); }));
  add("update no request id", "request_id", update_with([](auto& r) { r.clear_request_id(); }));
  // SearchDonors
  auto search_with = [&](std::function<void(v1::SearchDonorsRequest&)> spoil) {
    return [&, spoil] {
      v1::SearchDonorsRequest r;
      spoil(r);
      v1::SearchDonorsResponse out;
      return Call(&v1::DonorService::Stub::SearchDonors, r, &out);
    };
  };
  add("search page_size", "page_size", search_with([](auto& r) { r.set_page_size(-1); }));
  add("search page_token", "page_token", search_with([](auto& r) { r.set_page_token("garbage"); }));
  add("search blood_type", "blood_type",
      search_with([](auto& r) { r.mutable_blood_type()->set_abo(v1::ABO_GROUP_A); }));
  add("search phone", "phone", search_with([](auto& r) { r.set_phone("12"); }));
  add("search national_id", "national_id",
      search_with([](auto& r) { r.set_national_id("11010519491231002A"); }));
  // RecordBloodTyping
  auto typing_with = [&](std::function<void(v1::RecordBloodTypingRequest&)> spoil) {
    return [&, spoil] {
      v1::RecordBloodTypingRequest r;
      r.set_request_id(NextRequestId());
      r.set_donor_id(donor.donor_id());
      *r.mutable_blood_type() = Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE);
      r.set_din(MakeDin(1));
      spoil(r);
      v1::RecordBloodTypingResponse out;
      return Call(&v1::DonorService::Stub::RecordBloodTyping, r, &out);
    };
  };
  add("typing half type", "blood_type",
      typing_with([](auto& r) { r.mutable_blood_type()->clear_rhd(); }));
  add("typing bad din", "din", typing_with([](auto& r) { r.set_din("A99992612345"); }));
  add("typing wrong check char", "din", typing_with([](auto& r) {
        r.set_din(MakeDin(1) + (Din::Create("A9999", 26, 1)->CheckCharacter() == 'Z' ? "Y" : "Z"));
      }));
  add("typing bad typed_at", "typed_at",
      typing_with([](auto& r) { r.mutable_typed_at()->set_nanos(-1); }));
  // ListBloodTypeConflicts
  add("conflicts bad donor id", "donor_id", [&] {
    v1::ListBloodTypeConflictsRequest r;
    r.set_donor_id("not valid");
    v1::ListBloodTypeConflictsResponse out;
    return Call(&v1::DonorService::Stub::ListBloodTypeConflicts, r, &out);
  });
  // ResolveBloodTypeConflict
  auto resolve_with = [&](std::function<void(v1::ResolveBloodTypeConflictRequest&)> spoil) {
    return [&, spoil] {
      v1::ResolveBloodTypeConflictRequest r;
      r.set_request_id(NextRequestId());
      r.set_conflict_id("1");
      *r.mutable_resolved_blood_type() = Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE);
      r.set_resolved_by("Dr. Qian");
      spoil(r);
      v1::BloodTypeConflict out;
      return Call(&v1::DonorService::Stub::ResolveBloodTypeConflict, r, &out);
    };
  };
  add("resolve no resolved_by", "resolved_by",
      resolve_with([](auto& r) { r.clear_resolved_by(); }));
  add("resolve unknown type", "resolved_blood_type",
      resolve_with([](auto& r) { r.clear_resolved_blood_type(); }));
  add("resolve no conflict id", "conflict_id",
      resolve_with([](auto& r) { r.clear_conflict_id(); }));
  // CheckEligibility
  auto check_with = [&](std::function<void(v1::CheckEligibilityRequest&)> spoil) {
    return [&, spoil] {
      v1::CheckEligibilityRequest r;
      r.set_donor_id(donor.donor_id());
      r.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
      spoil(r);
      v1::CheckEligibilityResponse out;
      return Call(&v1::DonorService::Stub::CheckEligibility, r, &out);
    };
  };
  add("check no type", "donation_type",
      check_with([](auto& r) { r.set_donation_type(v1::DONATION_TYPE_UNSPECIFIED); }));
  add("check bad date", "on_date", check_with([](auto& r) { r.set_on_date("2026-02-30"); }));
  add("check weight", "screening.weight_kg",
      check_with([](auto& r) { r.mutable_screening()->set_weight_kg(0); }));
  add("check hematocrit", "screening.hematocrit",
      check_with([](auto& r) { r.mutable_screening()->set_hematocrit(42); }));
  add("check volume", "volume_ml", check_with([](auto& r) { r.set_volume_ml(-5); }));
  add("check before birth", "on_date", check_with([](auto& r) { r.set_on_date("1980-01-01"); }));
  // DeferDonor
  auto defer_with = [&](std::function<void(v1::DeferDonorRequest&)> spoil) {
    return [&, spoil] {
      v1::DeferDonorRequest r;
      r.set_request_id(NextRequestId());
      r.set_donor_id(donor.donor_id());
      r.set_reason_code("TOOTH_EXTRACTION");
      spoil(r);
      v1::Deferral out;
      return Call(&v1::DonorService::Stub::DeferDonor, r, &out);
    };
  };
  add("defer unknown code", "reason_code", defer_with([](auto& r) { r.set_reason_code("FLU"); }));
  add("defer permanent with end", "ends_on", defer_with([](auto& r) {
        r.set_kind(v1::DEFERRAL_KIND_PERMANENT);
        r.set_ends_on("2027-01-01");
      }));
  add("defer temporary hiv", "kind", defer_with([](auto& r) {
        r.set_reason_code("HIV_REACTIVE");
        r.set_kind(v1::DEFERRAL_KIND_TEMPORARY);
      }));
  add("defer end before start", "ends_on", defer_with([](auto& r) {
        r.set_start_date("2026-12-01");
        r.set_ends_on("2026-12-01");
      }));
  add("defer bad start", "start_date", defer_with([](auto& r) { r.set_start_date("tomorrow"); }));
  add("defer long note", "note", defer_with([](auto& r) { r.set_note(std::string(1001, 'n')); }));
  add("defer no donor", "donor_id", defer_with([](auto& r) { r.clear_donor_id(); }));
  // VoidDeferral
  auto void_with = [&](std::function<void(v1::VoidDeferralRequest&)> spoil) {
    return [&, spoil] {
      v1::VoidDeferralRequest r;
      r.set_request_id(NextRequestId());
      r.set_deferral_id(deferral.deferral_id());
      r.set_voided_by("Dr. Lin");
      r.set_reason("error");
      spoil(r);
      v1::Deferral out;
      return Call(&v1::DonorService::Stub::VoidDeferral, r, &out);
    };
  };
  add("void no voided_by", "voided_by", void_with([](auto& r) { r.clear_voided_by(); }));
  add("void no reason", "reason", void_with([](auto& r) { r.clear_reason(); }));
  add("void no id", "deferral_id", void_with([](auto& r) { r.clear_deferral_id(); }));
  // ListDeferrals
  add("deferrals page size", "page_size", [&] {
    v1::ListDeferralsRequest r;
    r.set_donor_id(donor.donor_id());
    r.set_page_size(-3);
    v1::ListDeferralsResponse out;
    return Call(&v1::DonorService::Stub::ListDeferrals, r, &out);
  });
  add("deferrals no donor", "donor_id", [&] {
    v1::ListDeferralsRequest r;
    v1::ListDeferralsResponse out;
    return Call(&v1::DonorService::Stub::ListDeferrals, r, &out);
  });
  // RecordDonation
  auto donation_with = [&](std::function<void(v1::RecordDonationRequest&)> spoil) {
    return [&, spoil] {
      v1::RecordDonationRequest r = DonationRequest(donor.donor_id(), MakeDin(900), clock_.Now());
      spoil(r);
      v1::RecordDonationResponse out;
      return Call(&v1::DonorService::Stub::RecordDonation, r, &out);
    };
  };
  add("donation bad din", "din", donation_with([](auto& r) { r.set_din("O999921123456"); }));
  add("donation wrong check char", "din", donation_with([](auto& r) {
        const Din din = *Din::Create("A9999", 26, 900);
        r.set_din(din.ToString() + (din.CheckCharacter() == '0' ? "1" : "0"));
      }));
  add("donation no type", "donation_type", donation_with([](auto& r) { r.clear_donation_type(); }));
  add("donation volume", "volume_ml", donation_with([](auto& r) { r.set_volume_ml(250); }));
  add("donation zero volume", "volume_ml", donation_with([](auto& r) { r.set_volume_ml(0); }));
  add("donation no station", "station_id", donation_with([](auto& r) { r.clear_station_id(); }));
  add("donation no time", "collected_at", donation_with([](auto& r) { r.clear_collected_at(); }));
  add("donation future", "collected_at", donation_with([&](auto& r) {
        *r.mutable_collected_at() = Ts(clock_.Now() + absl::Hours(1));
      }));
  add("donation missing hb", "screening.hemoglobin_g_l",
      donation_with([](auto& r) { r.mutable_screening()->clear_hemoglobin_g_l(); }));
  add("donation apheresis missing hct", "screening.hematocrit", donation_with([](auto& r) {
        r.set_donation_type(v1::DONATION_TYPE_APHERESIS_PLATELETS);
        r.set_volume_ml(250);
      }));
  add("donation product code", "product_code",
      donation_with([](auto& r) { r.set_product_code("E00'01"); }));
  add("donation no request id", "request_id", donation_with([](auto& r) { r.clear_request_id(); }));
  // ListDonations
  add("donations token", "page_token", [&] {
    v1::ListDonationsRequest r;
    r.set_donor_id(donor.donor_id());
    r.set_page_token("!!");
    v1::ListDonationsResponse out;
    return Call(&v1::DonorService::Stub::ListDonations, r, &out);
  });
  // MarkDonorReactive
  auto reactive_with = [&](std::function<void(v1::MarkDonorReactiveRequest&)> spoil) {
    return [&, spoil] {
      v1::MarkDonorReactiveRequest r;
      r.set_request_id(NextRequestId());
      r.set_donor_id(donor.donor_id());
      r.set_din(MakeDin(1));
      r.set_test(v1::SCREENING_TEST_HBSAG);
      spoil(r);
      v1::MarkDonorReactiveResponse out;
      return Call(&v1::DonorService::Stub::MarkDonorReactive, r, &out);
    };
  };
  add("reactive abo", "test",
      reactive_with([](auto& r) { r.set_test(v1::SCREENING_TEST_ABO_RHD); }));
  add("reactive no test", "test", reactive_with([](auto& r) { r.clear_test(); }));
  add("reactive din", "din", reactive_with([](auto& r) { r.set_din("short"); }));
  // FindAppealCandidates
  auto find_with = [&](std::function<void(v1::FindAppealCandidatesRequest&)> spoil) {
    return [&, spoil] {
      v1::FindAppealCandidatesRequest r;
      *r.mutable_blood_type() = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
      r.set_station_id("ST-01");
      r.set_limit(5);
      spoil(r);
      v1::FindAppealCandidatesResponse out;
      return Call(&v1::DonorService::Stub::FindAppealCandidates, r, &out);
    };
  };
  add("find limit 0", "limit", find_with([](auto& r) { r.set_limit(0); }));
  add("find limit 201", "limit", find_with([](auto& r) { r.set_limit(201); }));
  add("find no station", "station_id", find_with([](auto& r) { r.clear_station_id(); }));
  add("find no type", "blood_type", find_with([](auto& r) { r.clear_blood_type(); }));
  add("find bad date", "on_date", find_with([](auto& r) { r.set_on_date("2026-1-1"); }));
  // CreateAppeal
  auto appeal_with = [&](std::function<void(v1::CreateAppealRequest&)> spoil) {
    return [&, spoil] {
      v1::CreateAppealRequest r = appeal_request;
      r.set_request_id(NextRequestId());
      spoil(r);
      v1::Appeal out;
      return Call(&v1::DonorService::Stub::CreateAppeal, r, &out);
    };
  };
  add("appeal unknown donor", "donor_ids[1]",
      appeal_with([](auto& r) { r.add_donor_ids("D0000000000000000"); }));
  add("appeal duplicate donor", "donor_ids[1]",
      appeal_with([&](auto& r) { r.add_donor_ids(donor.donor_id()); }));
  add("appeal closes in past", "closes_at",
      appeal_with([&](auto& r) { *r.mutable_closes_at() = Ts(clock_.Now() - absl::Minutes(1)); }));
  add("appeal negative needed", "donations_needed",
      appeal_with([](auto& r) { r.set_donations_needed(-1); }));
  add("appeal no station", "station_id", appeal_with([](auto& r) { r.clear_station_id(); }));
  add("appeal long reason", "reason",
      appeal_with([](auto& r) { r.set_reason(std::string(1001, 'r')); }));
  // RecordAppealResponse
  auto response_with = [&](std::function<void(v1::RecordAppealResponseRequest&)> spoil) {
    return [&, spoil] {
      v1::RecordAppealResponseRequest r;
      r.set_request_id(NextRequestId());
      r.set_appeal_id(appeal.appeal_id());
      r.set_donor_id(donor.donor_id());
      r.set_response(v1::APPEAL_RESPONSE_ACCEPTED);
      spoil(r);
      v1::Appeal out;
      return Call(&v1::DonorService::Stub::RecordAppealResponse, r, &out);
    };
  };
  add("response pending", "response",
      response_with([](auto& r) { r.set_response(v1::APPEAL_RESPONSE_PENDING); }));
  add("response donated without din", "din",
      response_with([](auto& r) { r.set_response(v1::APPEAL_RESPONSE_DONATED); }));
  add("response din without donated", "din", response_with([](auto& r) { r.set_din(MakeDin(1)); }));
  add("response unknown donor", "donor_id",
      response_with([](auto& r) { r.set_donor_id("D0000000000000000"); }));
  // GetAppeal, ListAppeals
  add("get appeal no id", "appeal_id", [&] {
    v1::GetAppealRequest r;
    v1::Appeal out;
    return Call(&v1::DonorService::Stub::GetAppeal, r, &out);
  });
  add("list appeals bad station", "station_id", [&] {
    v1::ListAppealsRequest r;
    r.set_station_id("bad station");
    v1::ListAppealsResponse out;
    return Call(&v1::DonorService::Stub::ListAppeals, r, &out);
  });
  // GetReimbursementBalance
  add("balance bad date", "on_date", [&] {
    v1::GetReimbursementBalanceRequest r;
    r.set_donor_id(donor.donor_id());
    r.set_on_date("2026-11-31");
    v1::ReimbursementBalance out;
    return Call(&v1::DonorService::Stub::GetReimbursementBalance, r, &out);
  });
  // ClaimReimbursement
  auto claim_with = [&](std::function<void(v1::ClaimReimbursementRequest&)> spoil) {
    return [&, spoil] {
      v1::ClaimReimbursementRequest r;
      r.set_request_id(NextRequestId());
      r.set_donor_id(donor.donor_id());
      r.set_claimant_relation(v1::CLAIMANT_RELATION_SELF);
      r.set_volume_ml(100);
      r.set_invoice_no("INV-BAD");
      r.set_blood_fee(100);
      spoil(r);
      v1::ClaimReimbursementResponse out;
      return Call(&v1::DonorService::Stub::ClaimReimbursement, r, &out);
    };
  };
  add("claim zero volume", "volume_ml", claim_with([](auto& r) { r.set_volume_ml(0); }));
  add("claim negative fee", "blood_fee", claim_with([](auto& r) { r.set_blood_fee(-1); }));
  add("claim empty invoice", "invoice_no", claim_with([](auto& r) { r.set_invoice_no("  "); }));
  add("claim no relation", "claimant_relation",
      claim_with([](auto& r) { r.clear_claimant_relation(); }));
  add("claim future invoice", "invoice_date",
      claim_with([](auto& r) { r.set_invoice_date("2026-12-01"); }));
  add("claim long recipient", "recipient_name",
      claim_with([](auto& r) { r.set_recipient_name(std::string(101, 'p')); }));
  // ListReimbursementLedger
  add("ledger page size", "page_size", [&] {
    v1::ListReimbursementLedgerRequest r;
    r.set_donor_id(donor.donor_id());
    r.set_page_size(-1);
    v1::ListReimbursementLedgerResponse out;
    return Call(&v1::DonorService::Stub::ListReimbursementLedger, r, &out);
  });

  const std::string before = RowCounts();
  for (const Case& c : cases) {
    grpc::Status status = c.call();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.field + ": ")) << c.name;
    EXPECT_EQ(RowCounts(), before) << c.name << " wrote something";
  }
  EXPECT_GE(cases.size(), 70u);
}

}  // namespace
}  // namespace bloodgrid::donor
