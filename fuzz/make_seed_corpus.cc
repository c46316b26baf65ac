// Writes the seed corpora of the fuzz targets:
//   <dir>/din_fuzzer/                 DINs with right and wrong check characters, shapes just
//                                     outside the rules, ABO/RhD codes, blood type names, page
//                                     tokens (8-byte filter hash + token) and raw page cursors;
//   <dir>/request_validation_fuzzer/  a selector byte (fuzz/request_kinds.h) + a serialized
//                                     request, valid and one field away from valid.
// The requests are written here as text protos against the fuzzers' fixed clock
// (2025-06-01T08:00:00Z). Regenerate after changing a seed:
//
//   build-fuzz/fuzz/bloodgrid_fuzz_seed_corpus fuzz/corpus
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/donor.pb.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/request.pb.h"
#include "common/din.h"
#include "common/page_token.h"
#include "fuzz/request_kinds.h"
#include "google/protobuf/text_format.h"

namespace bloodgrid::fuzz {
namespace {

namespace fs = std::filesystem;

bool Write(const fs::path& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

std::string Token(uint64_t filter_hash, const v1::PageCursor& cursor) {
  std::string bytes(sizeof(filter_hash), '\0');
  std::memcpy(bytes.data(), &filter_hash, sizeof(filter_hash));
  return absl::StrCat(bytes, EncodePageToken(cursor));
}

bool WriteDinSeeds(const fs::path& dir) {
  const Din din = *ParseDin("A999921123456");  // check character '3'
  const char wrong = din.CheckCharacter() == '4' ? '5' : '4';
  v1::PageCursor cursor;
  cursor.set_after_key(1748764800000000);
  cursor.set_after_id("A999921123456-RC1");
  cursor.set_filter_hash(FilterHash({"station=BJ-CENTRAL", "component=RED_CELLS"}));
  const struct {
    const char* name;
    std::string text;
  } kSeeds[] = {
      {"din", din.ToString()},
      {"din_with_check", din.WithCheckCharacter()},
      {"din_wrong_check", din.ToString() + wrong},
      {"din_printed", din.Printed() + " " + din.CheckCharacter()},
      {"din_lower_case", "g123417654321a"},
      {"din_check_star", "A999921000019*"},
      {"din_check_zero", "A999921000189 0"},
      {"din_numeric_fin", "1234525000001"},
      {"din_letter_o", "O999921123456"},
      {"din_leading_zero", "0999921123456"},
      {"din_letter_in_sequence", "A99992112345B"},
      {"din_short", "A99992112345"},
      {"din_long", "A99992112345634"},
      {"din_tab_newline", "\tA9999\n21\r123456\v3 "},
      {"abo_code", "51"},
      {"abo_code_data", "=%5100"},
      {"abo_code_special", "=%06AB"},
      {"abo_code_unknown", "99"},
      {"blood_type", "AB+"},
      {"blood_type_lower", "  o- "},
      {"blood_type_unknown", "Unknown"},
      {"page_token", Token(cursor.filter_hash(), cursor)},
      {"page_token_other_filter", Token(cursor.filter_hash() ^ 1, cursor)},
      {"page_token_empty", std::string(8, '\x07')},
      {"page_cursor", cursor.SerializeAsString()},
  };
  for (const auto& seed : kSeeds) {
    if (!Write(dir / seed.name, seed.text)) return false;
  }
  return true;
}

struct RequestSeed {
  const char* name;
  RequestKind kind;
  const char* text;  // text proto of the kind's message
};

constexpr RequestSeed kRequestSeeds[] = {
    {"place_order_routine", RequestKind::kPlaceOrder, R"pb(
       request_id: "r-1"
       hospital_id: "H001"
       patient {
         patient_ref: "MRN-1"
         blood_type { abo: ABO_GROUP_A rhd: RH_D_NEGATIVE }
         sex: SEX_FEMALE
         age_years: 34
         hemoglobin_g_l: 65
       }
       lines { component: COMPONENT_RED_CELLS quantity: 2 }
       priority: PRIORITY_ROUTINE
       indication: "symptomatic anaemia"
       needed_by { seconds: 1748808000 }
       approvals { physician: "Dr Li" }
       ward: "ICU")pb"},
    {"place_order_emergency_untyped", RequestKind::kPlaceOrder, R"pb(
       request_id: "r-2"
       hospital_id: "H001"
       patient { patient_ref: "TRAUMA-7" }
       priority: PRIORITY_EMERGENCY
       massive_transfusion: true)pb"},
    {"place_order_emergency_negative_female", RequestKind::kPlaceOrder, R"pb(
       request_id: "r-3"
       hospital_id: "H002"
       patient {
         patient_ref: "MRN-9"
         blood_type { abo: ABO_GROUP_O }
         sex: SEX_FEMALE
         age_years: 28
         platelet_count_e9_l: 12
         bleeding: true
         inr: 2.1
       }
       lines { component: COMPONENT_PLATELETS quantity: 1 }
       lines { component: COMPONENT_PLASMA quantity: 600 }
       priority: PRIORITY_EMERGENCY)pb"},
    {"place_order_duplicate_component", RequestKind::kPlaceOrder, R"pb(
       request_id: "r-4"
       hospital_id: "H001"
       patient {
         patient_ref: "MRN-1"
         blood_type { abo: ABO_GROUP_B rhd: RH_D_POSITIVE }
         sex: SEX_MALE
       }
       lines { component: COMPONENT_CRYO quantity: 10 }
       lines { component: COMPONENT_CRYO quantity: 2 }
       priority: PRIORITY_URGENT
       needed_by { seconds: 1748770000 })pb"},
    {"place_order_whole_blood_untyped", RequestKind::kPlaceOrder, R"pb(
       request_id: "r-5"
       hospital_id: "H001"
       patient { patient_ref: "X" }
       lines { component: COMPONENT_WHOLE_BLOOD quantity: 2 }
       priority: PRIORITY_EMERGENCY)pb"},
    {"upsert_hospital", RequestKind::kUpsertHospital, R"pb(
       request_id: "h-1"
       hospital {
         hospital_id: "H001"
         name: "Peking Union"
         serving_station_id: "BJ-CENTRAL"
         fallback_station_ids: "BJ-EAST"
         location { latitude: 39.9 longitude: 116.4 }
       })pb"},
    {"upsert_hospital_fallback_twice", RequestKind::kUpsertHospital, R"pb(
       hospital {
         hospital_id: "H001"
         name: "Peking Union"
         serving_station_id: "BJ-CENTRAL"
         fallback_station_ids: "BJ-EAST"
         fallback_station_ids: "BJ-EAST"
       })pb"},
    {"report_transfusion_returned", RequestKind::kReportTransfusion, R"pb(
       request_id: "t-1"
       order_id: "O-1"
       din: "A999921123456"
       outcome: TRANSFUSION_OUTCOME_RETURNED
       cold_chain_ok: true
       component: COMPONENT_RED_CELLS)pb"},
    {"report_transfusion_reaction", RequestKind::kReportTransfusion, R"pb(
       outcome: TRANSFUSION_OUTCOME_TRANSFUSED
       adverse_reaction {
         type: ADVERSE_REACTION_TYPE_ALLERGIC
         severity: ADVERSE_REACTION_SEVERITY_MILD
         occurred_at { seconds: 1748760000 nanos: 1000000000 }
       })pb"},
    {"register_collection", RequestKind::kRegisterCollection, R"pb(
       request_id: "c-1"
       din: "A999921123456"
       donor_id: "D-0001"
       donation_type: DONATION_TYPE_WHOLE_BLOOD
       blood_type { abo: ABO_GROUP_O rhd: RH_D_POSITIVE }
       volume_ml: 400
       collected_at { seconds: 1748685600 }
       station_id: "BJ-CENTRAL"
       anticoagulant: ANTICOAGULANT_CPDA_1
       product_code: "E0336V00")pb"},
    {"register_collection_apheresis", RequestKind::kRegisterCollection, R"pb(
       request_id: "c-2"
       din: "A9999 21 000019 *"
       donor_id: "D-0002"
       donation_type: DONATION_TYPE_APHERESIS_PLATELETS
       volume_ml: 250
       collected_at { seconds: 1748685600 }
       station_id: "BJ-EAST"
       quantity: 2)pb"},
    {"register_collection_future", RequestKind::kRegisterCollection, R"pb(
       din: "A999921123456"
       donor_id: "D-0001"
       donation_type: DONATION_TYPE_APHERESIS_PLASMA
       volume_ml: 600
       collected_at { seconds: 1748800000 }
       station_id: "S1")pb"},
    {"record_test_results", RequestKind::kRecordTestResults, R"pb(
       request_id: "tr-1"
       din: "A999921123456"
       results {
         test: SCREENING_TEST_ABO_RHD
         blood_type { abo: ABO_GROUP_AB rhd: RH_D_NEGATIVE }
       }
       results { test: SCREENING_TEST_HBSAG }
       results {
         test: SCREENING_TEST_ANTI_HIV
         reactive: true
         tested_at { seconds: 1748700000 }
         correction_reason: "repeat test"
       })pb"},
    {"record_test_results_twice", RequestKind::kRecordTestResults, R"pb(
       din: "A999921123456"
       results { test: SCREENING_TEST_ALT }
       results { test: SCREENING_TEST_ALT })pb"},
    {"process_donation", RequestKind::kProcessDonation, R"pb(
       request_id: "p-1"
       din: "A999921123456"
       components { component: COMPONENT_RED_CELLS preparation: PREPARATION_WASHED }
       components {
         component: COMPONENT_PLASMA
         volume_ml: 150
         preparation: PREPARATION_FROZEN_PLASMA
       }
       components { component: COMPONENT_CRYO quantity: 1 }
       processed_at { seconds: 1748750000 })pb"},
    {"process_donation_plasma_without_volume", RequestKind::kProcessDonation, R"pb(
       din: "A999921123456"
       components { component: COMPONENT_PLASMA })pb"},
    {"reserve", RequestKind::kReserve, R"pb(
       reservation_key: "O-1/1/1"
       station_ids: "BJ-CENTRAL"
       station_ids: "BJ-EAST"
       component: COMPONENT_RED_CELLS
       quantity: 2
       candidates {
         blood_type { abo: ABO_GROUP_A rhd: RH_D_NEGATIVE }
         tier: 1
       }
       candidates {
         blood_type { abo: ABO_GROUP_O rhd: RH_D_NEGATIVE }
         tier: 2
       }
       priority: PRIORITY_URGENT
       expiry_floor { seconds: 1748764800 }
       hold_seconds: 900
       order_id: "O-1"
       hospital_id: "H001")pb"},
    {"reserve_tiers_decrease", RequestKind::kReserve, R"pb(
       reservation_key: "k"
       station_ids: "S1"
       component: COMPONENT_PLATELETS
       quantity: 1
       candidates {
         blood_type { abo: ABO_GROUP_A rhd: RH_D_POSITIVE }
         tier: 2
       }
       candidates {
         blood_type { abo: ABO_GROUP_B rhd: RH_D_POSITIVE }
         tier: 1
       }
       priority: PRIORITY_EMERGENCY
       expiry_floor {})pb"},
    {"release", RequestKind::kRelease, R"pb(
       request_id: "rl-1"
       reservation_key: "O-1/1/1"
       unit_ids: "A999921123456-RC1"
       reason: "order cancelled")pb"},
    {"issue", RequestKind::kIssue, R"pb(
       request_id: "i-1"
       reservation_key: "O-1/1/1"
       unit_ids: "A999921123456-RC1"
       unit_ids: "A999921123457-RC1"
       hospital_id: "H001"
       order_id: "O-1")pb"},
    {"record_outcome_returned", RequestKind::kRecordOutcome, R"pb(
       request_id: "ro-1"
       unit_id: "A999921123456-RC1"
       outcome: TRANSFUSION_OUTCOME_RETURNED
       cold_chain_ok: false
       return_station_id: "BJ-EAST"
       order_id: "O-1"
       occurred_at { seconds: 1748760000 }
       note: "not needed")pb"},
    {"create_transfer", RequestKind::kCreateTransfer, R"pb(
       request_id: "tf-1"
       from_station_id: "BJ-CENTRAL"
       to_station_id: "BJ-EAST"
       items { unit_id: "A999921123456-RC1" }
       items {
         lot {
           component: COMPONENT_PLASMA
           blood_type { abo: ABO_GROUP_AB rhd: RH_D_POSITIVE }
           quantity: 800
         }
       }
       reason: "rebalance")pb"},
    {"create_transfer_bound_lot", RequestKind::kCreateTransfer, R"pb(
       from_station_id: "A"
       to_station_id: "B"
       reservation_key: "O-1/1/2"
       items { lot { component: COMPONENT_RED_CELLS quantity: 1 } })pb"},
    {"receive_transfer", RequestKind::kReceiveTransfer, R"pb(
       request_id: "rt-1"
       transfer_id: "T-17"
       rejected_unit_ids: "A999921123456-RC1"
       received_at { seconds: 1748760000 }
       note: "one bag warm")pb"},
    {"discard_unit_din", RequestKind::kDiscardUnit, R"pb(
       request_id: "d-1"
       din: "a9999211234563"
       reason: DISCARD_REASON_OTHER
       note: "label torn")pb"},
    {"discard_unit_id", RequestKind::kDiscardUnit, R"pb(
       unit_id: "A999921123456-PL1"
       reason: DISCARD_REASON_DAMAGED)pb"},
    {"quarantine_by_donor", RequestKind::kQuarantineByDonor, R"pb(
       request_id: "q-1"
       donor_id: "D-0001"
       reactive_din: "A999921123456"
       since { seconds: 1700000000 }
       reason: "HBsAg seroconversion")pb"},
    {"set_par_level", RequestKind::kSetParLevel, R"pb(
       request_id: "pl-1"
       station_id: "BJ-CENTRAL"
       component: COMPONENT_RED_CELLS
       blood_type { abo: ABO_GROUP_O rhd: RH_D_NEGATIVE }
       minimum: 20
       target: 40)pb"},
    {"upsert_station", RequestKind::kUpsertStation, R"pb(
       request_id: "s-1"
       station {
         station_id: "BJ-CENTRAL"
         name: "Beijing Red Cross Blood Center"
         kind: STATION_KIND_CENTRAL
         location { latitude: 39.95 longitude: 116.34 }
         address: "37 Beisanhuan Zhonglu"
       })pb"},
    {"upsert_station_bad_latitude", RequestKind::kUpsertStation, R"pb(
       station {
         station_id: "S1"
         name: "x"
         kind: STATION_KIND_BRANCH
         location { latitude: 91 longitude: 0 }
       })pb"},
    {"register_donor", RequestKind::kRegisterDonor, R"pb(
       request_id: "rd-1"
       donor {
         national_id: " 11010519491231002x "
         name: "  Wang Fang "
         sex: SEX_FEMALE
         birth_date: "1949-12-31"
         blood_type { abo: ABO_GROUP_A rhd: RH_D_POSITIVE }
         contact {
           phone: "+86 138-0000-0000"
           email: " wang@example.org "
           address: "Dongcheng, Beijing"
         }
         home_station_id: "BJ-CENTRAL"
         panels: DONOR_PANEL_VOLUNTEER
         panels: DONOR_PANEL_REGULAR
         donor_id: "ignored"
         version: 7
       })pb"},
    {"register_donor_passport", RequestKind::kRegisterDonor, R"pb(
       donor {
         national_id: "E12345678"
         name: "Anna Müller"
         sex: SEX_FEMALE
         birth_date: "1990-02-28"
       })pb"},
    {"register_donor_bad_id_check", RequestKind::kRegisterDonor, R"pb(
       donor {
         national_id: "110105194912310021"
         name: "Li Lei"
         sex: SEX_MALE
         birth_date: "1949-12-31"
       })pb"},
    {"register_donor_leap_day", RequestKind::kRegisterDonor, R"pb(
       donor { national_id: "P1" name: "Zhang" sex: SEX_MALE birth_date: "2023-02-29" })pb"},
    {"update_donor_contact", RequestKind::kUpdateDonor, R"pb(
       request_id: "u-1"
       donor {
         contact { phone: "139 0000 0000" email: "new@example.org" }
         name: " Wang  Fang "
       }
       update_mask { paths: "contact" paths: "name" })pb"},
    {"update_donor_blood_type", RequestKind::kUpdateDonor, R"pb(
       donor { blood_type { abo: ABO_GROUP_B rhd: RH_D_POSITIVE } }
       update_mask { paths: "blood_type" })pb"},
};

template <typename Message>
bool Serialize(const char* text, std::string* out) {
  Message message;
  if (!google::protobuf::TextFormat::ParseFromString(text, &message)) return false;
  return message.SerializeToString(out);
}

bool SerializeSeed(RequestKind kind, const char* text, std::string* out) {
  switch (kind) {
    case RequestKind::kPlaceOrder:
      return Serialize<v1::PlaceOrderRequest>(text, out);
    case RequestKind::kUpsertHospital:
      return Serialize<v1::UpsertHospitalRequest>(text, out);
    case RequestKind::kReportTransfusion:
      return Serialize<v1::ReportTransfusionRequest>(text, out);
    case RequestKind::kRegisterCollection:
      return Serialize<v1::RegisterCollectionRequest>(text, out);
    case RequestKind::kRecordTestResults:
      return Serialize<v1::RecordTestResultsRequest>(text, out);
    case RequestKind::kProcessDonation:
      return Serialize<v1::ProcessDonationRequest>(text, out);
    case RequestKind::kReserve:
      return Serialize<v1::ReserveRequest>(text, out);
    case RequestKind::kRelease:
      return Serialize<v1::ReleaseRequest>(text, out);
    case RequestKind::kIssue:
      return Serialize<v1::IssueRequest>(text, out);
    case RequestKind::kRecordOutcome:
      return Serialize<v1::RecordOutcomeRequest>(text, out);
    case RequestKind::kCreateTransfer:
      return Serialize<v1::CreateTransferRequest>(text, out);
    case RequestKind::kReceiveTransfer:
      return Serialize<v1::ReceiveTransferRequest>(text, out);
    case RequestKind::kDiscardUnit:
      return Serialize<v1::DiscardUnitRequest>(text, out);
    case RequestKind::kQuarantineByDonor:
      return Serialize<v1::QuarantineByDonorRequest>(text, out);
    case RequestKind::kSetParLevel:
      return Serialize<v1::SetParLevelRequest>(text, out);
    case RequestKind::kUpsertStation:
      return Serialize<v1::UpsertStationRequest>(text, out);
    case RequestKind::kRegisterDonor:
      return Serialize<v1::RegisterDonorRequest>(text, out);
    case RequestKind::kUpdateDonor:
      return Serialize<v1::UpdateDonorRequest>(text, out);
  }
  return false;
}

bool WriteRequestSeeds(const fs::path& dir) {
  for (const RequestSeed& seed : kRequestSeeds) {
    std::string message;
    if (!SerializeSeed(seed.kind, seed.text, &message)) {
      std::fprintf(stderr, "seed %s: not a valid text proto\n", seed.name);
      return false;
    }
    const std::string bytes = absl::StrCat(std::string(1, static_cast<char>(seed.kind)), message);
    if (!Write(dir / seed.name, bytes)) return false;
  }
  return true;
}

}  // namespace
}  // namespace bloodgrid::fuzz

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR   (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const fs::path din_dir = root / "din_fuzzer";
  const fs::path request_dir = root / "request_validation_fuzzer";
  std::error_code error;
  fs::create_directories(din_dir, error);
  fs::create_directories(request_dir, error);
  if (error) {
    std::fprintf(stderr, "cannot create %s: %s\n", root.c_str(), error.message().c_str());
    return 1;
  }
  if (!bloodgrid::fuzz::WriteDinSeeds(din_dir) ||
      !bloodgrid::fuzz::WriteRequestSeeds(request_dir)) {
    return 1;
  }
  return 0;
}
