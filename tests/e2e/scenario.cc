#include "tests/e2e/scenario.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <atomic>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/national_id.h"

namespace bloodgrid::e2e {

using google::protobuf::util::TimeUtil;

std::unique_ptr<grpc::ClientContext> AdminContext() { return Region::Context(kAdminToken); }
std::unique_ptr<grpc::ClientContext> HospitalContext(int hospital) {
  return Region::Context(hospital == 1 ? kHospital1Token : kHospital2Token);
}
std::unique_ptr<grpc::ClientContext> DispatcherContext() { return Region::Context(kDispatchToken); }

google::protobuf::Timestamp Ago(absl::Duration d) {
  return TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(absl::Now() - d));
}

v1::BloodType Type(v1::AboGroup abo, v1::RhD rhd) {
  v1::BloodType t;
  t.set_abo(abo);
  t.set_rhd(rhd);
  return t;
}

std::string NationalId(const std::string& birth_yyyymmdd, int sequence) {
  return WithChineseIdCheckCharacter(
      absl::StrFormat("110105%s%03d", birth_yyyymmdd, sequence % 1000));
}

std::string NextDin() {
  static std::atomic<int> sequence{static_cast<int>(absl::ToUnixSeconds(absl::Now()) % 400000)};
  return absl::StrFormat("A999926%06d", ++sequence);
}

std::string NextRequestId() {
  static std::atomic<int> n{0};
  return absl::StrCat("e2e-", absl::ToUnixMicros(absl::Now()), "-", ++n);
}

void SetUpTopology(Region& region) {
  for (const auto& [id, kind] :
       {std::pair{"S1", v1::STATION_KIND_CENTRAL}, std::pair{"S2", v1::STATION_KIND_BRANCH}}) {
    v1::UpsertStationRequest request;
    request.set_request_id(NextRequestId());
    request.mutable_station()->set_station_id(id);
    request.mutable_station()->set_name(absl::StrCat("Station ", id));
    request.mutable_station()->set_kind(kind);
    request.mutable_station()->set_active(true);
    v1::Station station;
    grpc::Status status = region.admin().UpsertStation(AdminContext().get(), request, &station);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  for (const auto& [id, serving, fallback] :
       {std::tuple{"H1", "S1", "S2"}, std::tuple{"H2", "S2", "S1"}}) {
    v1::UpsertHospitalRequest request;
    request.set_request_id(NextRequestId());
    request.mutable_hospital()->set_hospital_id(id);
    request.mutable_hospital()->set_name(absl::StrCat("Hospital ", id));
    request.mutable_hospital()->set_serving_station_id(serving);
    request.mutable_hospital()->add_fallback_station_ids(fallback);
    request.mutable_hospital()->set_active(true);
    v1::Hospital hospital;
    grpc::Status status = region.admin().UpsertHospital(AdminContext().get(), request, &hospital);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
}

std::string RegisterDonor(Region& region, const v1::BloodType& type) {
  static std::atomic<int> n{static_cast<int>(absl::ToUnixSeconds(absl::Now()) % 500)};
  v1::RegisterDonorRequest request;
  request.set_request_id(NextRequestId());
  v1::Donor& donor = *request.mutable_donor();
  donor.set_national_id(NationalId("19900307", ++n));
  donor.set_name("Test Donor");
  donor.set_sex(v1::SEX_MALE);
  donor.set_birth_date("1990-03-07");
  *donor.mutable_blood_type() = type;
  donor.mutable_contact()->set_phone("13800138000");
  donor.set_home_station_id("S1");
  v1::Donor created;
  grpc::Status status = region.admin().RegisterDonor(AdminContext().get(), request, &created);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return created.donor_id();
}

v1::RecordDonationRequest DonationRequest(const std::string& donor_id, absl::Duration ago) {
  v1::RecordDonationRequest request;
  request.set_request_id(NextRequestId());
  request.set_donor_id(donor_id);
  request.set_din(NextDin());
  request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  request.set_volume_ml(400);
  request.set_station_id("S1");
  *request.mutable_collected_at() = Ago(ago);
  v1::DonorScreening& screening = *request.mutable_screening();
  screening.set_weight_kg(72);
  screening.set_hemoglobin_g_l(145);
  screening.set_systolic_mmhg(118);
  screening.set_diastolic_mmhg(76);
  screening.set_pulse_bpm(72);
  return request;
}

std::string Donate(Region& region, const std::string& donor_id, absl::Duration ago) {
  v1::RecordDonationRequest request = DonationRequest(donor_id, ago);
  v1::AdminRecordDonationResponse response;
  grpc::Status status = region.admin().RecordDonation(AdminContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.unit().status(), v1::UNIT_STATUS_QUARANTINED);
  return request.din();
}

v1::RecordTestResultsRequest TestResults(const std::string& din, const v1::BloodType& type,
                                         bool reactive_hiv) {
  v1::RecordTestResultsRequest request;
  request.set_request_id(NextRequestId());
  request.set_din(din);
  for (v1::ScreeningTest test :
       {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
        v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_SYPHILIS}) {
    v1::TestResultInput& result = *request.add_results();
    result.set_test(test);
    result.set_reactive(reactive_hiv && test == v1::SCREENING_TEST_ANTI_HIV);
  }
  v1::TestResultInput& typing = *request.add_results();
  typing.set_test(v1::SCREENING_TEST_ABO_RHD);
  *typing.mutable_blood_type() = type;
  return request;
}

v1::AdminRecordTestResultsResponse Test(Region& region, const std::string& din,
                                        const v1::BloodType& type, bool reactive_hiv) {
  const v1::RecordTestResultsRequest request = TestResults(din, type, reactive_hiv);
  v1::AdminRecordTestResultsResponse response;
  grpc::Status status = region.admin().RecordTestResults(AdminContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

v1::ProcessDonationResponse Process(Region& region, const std::string& din) {
  v1::ProcessDonationRequest request;
  request.set_request_id(NextRequestId());
  request.set_din(din);
  request.add_components()->set_component(v1::COMPONENT_RED_CELLS);
  v1::ComponentSpec& plasma = *request.add_components();
  plasma.set_component(v1::COMPONENT_PLASMA);
  plasma.set_volume_ml(200);
  v1::ProcessDonationResponse response;
  grpc::Status status = region.admin().ProcessDonation(AdminContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

std::string StockUp(Region& region, const v1::BloodType& type) {
  const std::string din = Donate(region, RegisterDonor(region, type), absl::Hours(2));
  Test(region, din, type);
  Process(region, din);
  return din;
}

v1::PlaceOrderRequest RedCellOrder(const v1::BloodType& type, int units, v1::Priority priority) {
  v1::PlaceOrderRequest request;
  request.set_request_id(NextRequestId());
  v1::Patient& patient = *request.mutable_patient();
  patient.set_patient_ref(absl::StrCat("MRN-", NextRequestId()));
  *patient.mutable_blood_type() = type;
  patient.set_sex(v1::SEX_MALE);
  patient.set_age_years(64);
  patient.set_hemoglobin_g_l(62);
  v1::OrderLineRequest& line = *request.add_lines();
  line.set_component(v1::COMPONENT_RED_CELLS);
  line.set_quantity(units);
  request.set_priority(priority);
  request.set_indication("symptomatic anaemia");
  request.mutable_approvals()->set_physician("Dr. Chen");  // DOMAIN.md section 7: < 800 mL
  *request.mutable_needed_by() =
      TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(absl::Now() + absl::Hours(4)));
  return request;
}

void MakeOPosShortageAtS2(Region& region) {
  const v1::BloodType o_pos = Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE);
  for (int i = 0; i < 3; ++i) StockUp(region, o_pos);
  v1::SetParLevelRequest par;
  par.set_request_id(NextRequestId());
  par.set_station_id("S2");
  par.set_component(v1::COMPONENT_RED_CELLS);
  *par.mutable_blood_type() = o_pos;
  par.set_minimum(4);
  par.set_target(8);
  v1::ParLevel set;
  grpc::Status status = region.admin().SetParLevel(AdminContext().get(), par, &set);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

std::vector<v1::Transfer> Transfers(Region& region) {
  v1::ListTransfersRequest request;
  v1::ListTransfersResponse response;
  grpc::Status status =
      region.dispatch().ListTransfers(DispatcherContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.transfers().begin(), response.transfers().end()};
}

bench::InvariantTarget AuditTarget(const Region& region, absl::Duration orphan_grace) {
  const db::DbOptions& admin = region.admin_db();
  bench::InvariantTarget target;
  target.host = admin.host;
  target.port = admin.port;
  target.user = admin.user;
  target.password = admin.password;
  target.donor_schema = region.schema("donor");
  target.inventory_schema = region.schema("inventory");
  target.request_schema = region.schema("request");
  target.orphan_grace = orphan_grace;
  return target;
}

}  // namespace bloodgrid::e2e
