// The bad-input corpus: several hundred requests through the gateway, each one a request that
// would succeed but for one thing (a field, the caller's role, the token), against a region
// seeded with stations, hospitals, donors, released and quarantined stock, orders in several
// states and a transfer in transit. Every case asserts its status code, and an INVALID_ARGUMENT
// case that the message starts with the field's path (common.proto). The row count of every
// table is compared before and after each family, so a refused request that wrote anything is
// caught and the family named. ValidRequestsSucceed then sends the unchanged requests the cases
// were made from, proving that each rejection was caused by what the case changed.
//
// Expected codes (hospital_api.proto, admin_api.proto, dispatch_api.proto, common.proto):
//  - INVALID_ARGUMENT, naming the field: malformed input (formats, enum values outside the
//    enum, ranges, lengths, required fields, timestamps where forbidden) and ids in a request
//    body that name nothing (an unknown station);
//  - UNAUTHENTICATED: no authorization metadata, not a Bearer token, an unknown token;
//  - PERMISSION_DENIED: a role the API does not admit; another hospital's order or hospital_id;
//  - NOT_FOUND or FAILED_PRECONDITION where the API documents it: order ids have no format, so
//    SQL text given as an order id is an unknown order (NOT_FOUND); an admin ordering for an
//    unregistered hospital is FAILED_PRECONDITION;
//  - RESOURCE_EXHAUSTED: a message over the gateway's --max_request_bytes (1 MiB), refused by
//    the transport before any handler runs (so before authentication). A 1 MB (10^6 bytes)
//    string keeps a request under that limit, so the owning service's length check answers;
//  - INVALID_ARGUMENT "request: ..." for a string field that is not UTF-8: proto3 parsing
//    refuses the request before any handler runs, so the message cannot name the field
//    (common/server_bootstrap.h; gRPC's own answer would be INTERNAL).
// A refusal may quote the input (an unknown code, a malformed date): fields without a length
// limit of their own get a 1 MB value too, and the answer must still be the status
// (common/grpc_status.h bounds messages).
// Free-text fields (indication, notes, names, invoice numbers) accept SQL text as data: such
// requests are not refusals and are not in the corpus; ValidRequestsSucceed reads one back.
// Lower-case DINs and DINs with spaces are accepted (common/din.h), also checked there.
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "gateway/auth.h"
#include "tests/e2e/region.h"
#include "tests/e2e/scenario.h"

namespace bloodgrid::e2e {
namespace {

using google::protobuf::Timestamp;
using grpc::StatusCode;

// Families; they run in the order of their first case.
constexpr char kToken[] = "token";
constexpr char kRole[] = "role";
constexpr char kOwnership[] = "ownership";
constexpr char kRequestId[] = "request_id";
constexpr char kDin[] = "din";
constexpr char kEnum[] = "unknown_enum";
constexpr char kQuantity[] = "quantity";
constexpr char kMissing[] = "missing_field";
constexpr char kConsistency[] = "consistency";
constexpr char kTime[] = "time";
constexpr char kReference[] = "reference";
constexpr char kPageToken[] = "page_token";
constexpr char kInjection[] = "sql_injection";
constexpr char kOversized[] = "oversized_field";
constexpr char kOverLimit[] = "message_over_limit";
constexpr char kUtf8[] = "invalid_utf8";

// 10^6 bytes: under the gateway's 1 MiB request limit with the rest of any request here.
constexpr size_t kOneMegabyte = 1000000;
// Over the limit whatever else the request holds.
constexpr size_t kOverRequestLimit = (1 << 20) + 1024;

constexpr const char* kSqlInjections[] = {
    "'; DROP TABLE units; --",
    "\" OR 1=1 --",
    "1' OR '1'='1",
};
// Not UTF-8: a lone continuation byte, a truncated sequence, an encoded surrogate.
constexpr const char* kNotUtf8[] = {"x\x80y", "caf\xC3", "\xED\xA0\x80x"};

// ISO/IEC 7064 MOD 37-2 keyboard check character of a 13-character DIN (DOMAIN.md section 1),
// computed here independently of common/din.h.
char CheckCharacter(absl::string_view din) {
  constexpr absl::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*";
  int s = 0;
  for (char c : din) s = ((s + static_cast<int>(kAlphabet.find(c))) * 2) % 37;
  return kAlphabet[(38 - s) % 37];
}

// The first character of `pool` that is not `right`.
char OtherThan(absl::string_view pool, char right) {
  for (char c : pool) {
    if (c != right) return c;
  }
  return '?';
}

Timestamp In(absl::Duration d) {
  Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(absl::Now() + d));
  return ts;
}

// The authorization metadata a case sends.
struct Credential {
  std::string label;
  std::optional<std::string> authorization;  // nullopt: no metadata at all
};

Credential Bearer(absl::string_view label, absl::string_view token) {
  return {std::string(label), absl::StrCat("Bearer ", token)};
}
Credential Admin() { return Bearer("admin", kAdminToken); }
Credential Dispatcher() { return Bearer("dispatcher", kDispatchToken); }
Credential H1() { return Bearer("hospital H1", kHospital1Token); }
Credential H2() { return Bearer("hospital H2", kHospital2Token); }

// Credentials that authenticate no one; `full` adds the rarer shapes.
std::vector<Credential> BadCredentials(bool full) {
  std::vector<Credential> bad = {
      {"no authorization metadata", std::nullopt},
      {"Basic scheme", absl::StrCat("Basic ", kAdminToken)},
      Bearer("unknown token", "no-such-token"),
      Bearer("the token's sha256 digest instead of the token", gateway::Sha256Hex(kAdminToken)),
  };
  if (!full) return bad;
  const std::vector<Credential> more = {
      {"empty authorization value", ""},
      {"Bearer without a token", "Bearer"},
      {"Bearer followed by spaces only", "Bearer    "},
      {"token without a scheme", kAdminToken},
      {"Token scheme", absl::StrCat("Token ", kAdminToken)},
      Bearer("token with one character more", absl::StrCat(kAdminToken, "x")),
      Bearer("token in upper case", "E2E-ADMIN-TOKEN"),
      Bearer("two tokens", absl::StrCat(kAdminToken, " ", kDispatchToken)),
      Bearer("SQL text as the token", "' OR '1'='1"),
      Bearer("600-character token", std::string(600, 'a')),
  };
  bad.insert(bad.end(), more.begin(), more.end());
  return bad;
}

std::unique_ptr<grpc::ClientContext> ContextFor(const Credential& credential,
                                                absl::Duration timeout = absl::Seconds(20)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (credential.authorization.has_value()) {
    context->AddMetadata("authorization", *credential.authorization);
  }
  return context;
}

// One corpus entry.
struct Case {
  std::string family;
  std::string name;
  StatusCode expected;
  // INVALID_ARGUMENT: the field path the message must start with ("" = not checked).
  std::string field;
  std::function<grpc::Status()> send;
};

// What the seeded region holds: the records the valid requests refer to.
struct Seeds {
  std::string donor_id;           // A+, one 400 mL donation (reimbursement credit)
  std::string released_din;       // that donation: processed, red cells and plasma released
  std::string fresh_donor_id;     // registered, never donated: eligible today
  std::string deferral_donor_id;  // with a temporary deferral
  std::string deferral_id;
  std::string whole_blood_din;  // released whole blood at S1, not processed
  std::string quarantined_din;  // collected, not tested
  v1::BloodType quarantined_type;
  std::string allocated_order_id;   // H1, ALLOCATED
  std::string dispatched_order_id;  // H1, DISPATCHED
  std::string dispatched_din;       // the unit on it
  std::string h2_order_id;          // H2, IN_REVIEW
  std::string transfer_id;          // S1 -> S2, IN_TRANSIT
};

v1::BloodType APos() { return Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE); }

// ---- The valid requests the cases are made from (ValidRequestsSucceed sends them as they are).

v1::PlaceOrderRequest ValidPlaceOrder() { return RedCellOrder(APos(), 2, v1::PRIORITY_ROUTINE); }

v1::PlaceOrderRequest ValidAdminPlaceOrder() {
  v1::PlaceOrderRequest request = ValidPlaceOrder();
  request.set_hospital_id("H1");
  return request;
}

v1::GetOrderRequest ValidGetOrder(const Seeds& s) {
  v1::GetOrderRequest request;
  request.set_order_id(s.allocated_order_id);
  return request;
}

v1::CancelOrderRequest ValidCancelOrder(const Seeds& s) {
  v1::CancelOrderRequest request;
  request.set_request_id(NextRequestId());
  request.set_order_id(s.allocated_order_id);
  request.set_reason("patient stabilised");
  return request;
}

v1::ConfirmDeliveryRequest ValidConfirmDelivery(const Seeds& s) {
  v1::ConfirmDeliveryRequest request;
  request.set_request_id(NextRequestId());
  request.set_order_id(s.dispatched_order_id);
  request.set_received_by("Ward 5 nurse");
  return request;
}

v1::ReportTransfusionRequest ValidReportTransfusion(const Seeds& s) {
  v1::ReportTransfusionRequest request;
  request.set_request_id(NextRequestId());
  request.set_order_id(s.dispatched_order_id);
  request.set_din(s.dispatched_din);
  request.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  return request;
}

v1::RegisterDonorRequest ValidRegisterDonor() {
  static int sequence = 0;
  v1::RegisterDonorRequest request;
  request.set_request_id(NextRequestId());
  v1::Donor& donor = *request.mutable_donor();
  donor.set_national_id(NationalId("19850512", ++sequence));
  donor.set_name("Corpus Donor");
  donor.set_sex(v1::SEX_FEMALE);
  donor.set_birth_date("1985-05-12");
  donor.mutable_contact()->set_phone("13900139000");
  donor.mutable_contact()->set_email("donor@example.org");
  donor.set_home_station_id("S1");
  return request;
}

v1::GetDonorRequest ValidGetDonor(const Seeds& s) {
  v1::GetDonorRequest request;
  request.set_donor_id(s.donor_id);
  return request;
}

v1::SearchDonorsRequest ValidSearchDonors() {
  v1::SearchDonorsRequest request;
  request.set_name_prefix("Test");
  return request;
}

v1::CheckEligibilityRequest ValidCheckEligibility(const Seeds& s) {
  v1::CheckEligibilityRequest request;
  request.set_donor_id(s.fresh_donor_id);
  request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  return request;
}

v1::DeferDonorRequest ValidDeferDonor(const Seeds& s) {
  v1::DeferDonorRequest request;
  request.set_request_id(NextRequestId());
  request.set_donor_id(s.deferral_donor_id);
  request.set_kind(v1::DEFERRAL_KIND_TEMPORARY);
  request.set_reason_code("TATTOO");
  request.set_deferred_by("nurse-1");
  return request;
}

v1::VoidDeferralRequest ValidVoidDeferral(const Seeds& s) {
  v1::VoidDeferralRequest request;
  request.set_request_id(NextRequestId());
  request.set_deferral_id(s.deferral_id);
  request.set_voided_by("doctor-1");
  request.set_reason("entered for the wrong donor");
  return request;
}

v1::RecordDonationRequest ValidRecordDonation(const Seeds& s) {
  return DonationRequest(s.fresh_donor_id, absl::Hours(1));
}

v1::ListDonationsRequest ValidListDonations(const Seeds& s) {
  v1::ListDonationsRequest request;
  request.set_donor_id(s.donor_id);
  return request;
}

v1::FindAppealCandidatesRequest ValidFindAppealCandidates() {
  v1::FindAppealCandidatesRequest request;
  *request.mutable_blood_type() = APos();
  request.set_station_id("S1");
  request.set_limit(10);
  return request;
}

v1::CreateAppealRequest ValidCreateAppeal(const Seeds& s) {
  v1::CreateAppealRequest request;
  request.set_request_id(NextRequestId());
  request.set_station_id("S1");
  *request.mutable_blood_type() = APos();
  request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  request.set_donations_needed(2);
  request.set_reason("A+ stock below par");
  request.add_donor_ids(s.fresh_donor_id);
  request.set_created_by("duty officer");
  return request;
}

v1::GetReimbursementBalanceRequest ValidReimbursementBalance(const Seeds& s) {
  v1::GetReimbursementBalanceRequest request;
  request.set_donor_id(s.donor_id);
  return request;
}

v1::ClaimReimbursementRequest ValidClaimReimbursement(const Seeds& s) {
  v1::ClaimReimbursementRequest request;
  request.set_request_id(NextRequestId());
  request.set_donor_id(s.donor_id);
  request.set_claimant_relation(v1::CLAIMANT_RELATION_SELF);
  request.set_volume_ml(400);
  request.set_invoice_no(absl::StrCat("INV-", NextRequestId()));
  request.set_blood_fee(80000);
  return request;
}

v1::RecordTestResultsRequest ValidRecordTestResults(const Seeds& s) {
  v1::RecordTestResultsRequest request;
  request.set_request_id(NextRequestId());
  request.set_din(s.quarantined_din);
  for (v1::ScreeningTest test :
       {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
        v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_SYPHILIS}) {
    request.add_results()->set_test(test);
  }
  v1::TestResultInput& typing = *request.add_results();  // results[5]
  typing.set_test(v1::SCREENING_TEST_ABO_RHD);
  *typing.mutable_blood_type() = s.quarantined_type;
  return request;
}

v1::ProcessDonationRequest ValidProcessDonation(const Seeds& s) {
  v1::ProcessDonationRequest request;
  request.set_request_id(NextRequestId());
  request.set_din(s.whole_blood_din);
  request.add_components()->set_component(v1::COMPONENT_RED_CELLS);
  v1::ComponentSpec& plasma = *request.add_components();  // components[1]
  plasma.set_component(v1::COMPONENT_PLASMA);
  plasma.set_volume_ml(200);
  return request;
}

v1::GetUnitTraceRequest ValidGetUnitTrace(const Seeds& s) {
  v1::GetUnitTraceRequest request;
  request.set_din(s.released_din);
  return request;
}

v1::DiscardUnitRequest ValidDiscardUnit(const Seeds& s) {
  v1::DiscardUnitRequest request;
  request.set_request_id(NextRequestId());
  request.set_din(s.whole_blood_din);
  request.set_reason(v1::DISCARD_REASON_DAMAGED);
  request.set_note("bag leaking at the seal");
  return request;
}

v1::GetStockSummaryRequest ValidGetStockSummary() {
  v1::GetStockSummaryRequest request;
  request.set_station_id("S1");
  return request;
}

v1::SetParLevelRequest ValidSetParLevel() {
  v1::SetParLevelRequest request;
  request.set_request_id(NextRequestId());
  request.set_station_id("S1");
  request.set_component(v1::COMPONENT_RED_CELLS);
  *request.mutable_blood_type() = APos();
  request.set_minimum(2);
  request.set_target(4);
  return request;
}

v1::UpsertStationRequest ValidUpsertStation() {
  v1::UpsertStationRequest request;
  request.set_request_id(NextRequestId());
  v1::Station& station = *request.mutable_station();
  station.set_station_id("S3");
  station.set_name("Station S3");
  station.set_kind(v1::STATION_KIND_BRANCH);
  station.mutable_location()->set_latitude(31.2);
  station.mutable_location()->set_longitude(121.5);
  station.set_address("1 Riverside Road");
  station.set_active(true);
  return request;
}

v1::UpsertHospitalRequest ValidUpsertHospital() {
  v1::UpsertHospitalRequest request;
  request.set_request_id(NextRequestId());
  v1::Hospital& hospital = *request.mutable_hospital();
  hospital.set_hospital_id("H3");
  hospital.set_name("Hospital H3");
  hospital.set_serving_station_id("S1");
  hospital.add_fallback_station_ids("S2");
  hospital.set_address("3 Hill Street");
  hospital.set_active(true);
  return request;
}

v1::ReviewOrderRequest ValidReviewOrder(const Seeds& s) {
  v1::ReviewOrderRequest request;
  request.set_request_id(NextRequestId());
  request.set_order_id(s.h2_order_id);
  request.set_approve(false);
  request.set_reviewer("transfusion committee");
  request.set_note("not indicated at this haemoglobin");
  return request;
}

v1::DispatchOrderRequest ValidDispatchOrder(const Seeds& s) {
  v1::DispatchOrderRequest request;
  request.set_request_id(NextRequestId());
  request.set_order_id(s.allocated_order_id);
  return request;
}

v1::PlanRebalanceRequest ValidPlanRebalance() {
  v1::PlanRebalanceRequest request;
  request.set_horizon_hours(48);
  return request;
}

v1::CreateTransferRequest ValidCreateTransfer() {
  v1::CreateTransferRequest request;
  request.set_request_id(NextRequestId());
  request.set_from_station_id("S1");
  request.set_to_station_id("S2");
  v1::TransferLot& lot = *request.add_items()->mutable_lot();
  lot.set_component(v1::COMPONENT_PLASMA);
  *lot.mutable_blood_type() = APos();
  lot.set_quantity(200);
  request.set_reason("plasma for S2");
  return request;
}

v1::ReceiveTransferRequest ValidReceiveTransfer(const Seeds& s) {
  v1::ReceiveTransferRequest request;
  request.set_request_id(NextRequestId());
  request.set_transfer_id(s.transfer_id);
  request.set_note("cold box intact");
  return request;
}

// ---- Building cases for one RPC.

// Cases of one unary RPC. Each case starts from a fresh valid request (made when the case is
// sent, so request ids are fresh and large strings are short-lived) and changes one thing.
template <typename Stub, typename Request, typename Response>
class RpcCases {
 public:
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);
  using Mutation = std::function<void(Request&)>;
  using Text = std::function<std::string*(Request&)>;

  RpcCases(std::vector<Case>& cases, std::string rpc, Stub& stub, Method method, Credential caller,
           std::function<Request()> valid)
      : cases_(cases),
        rpc_(std::move(rpc)),
        stub_(&stub),
        method_(method),
        caller_(std::move(caller)),
        valid_(std::move(valid)) {}

  // The valid request changed by `mutate`: INVALID_ARGUMENT naming `field`.
  RpcCases& Invalid(absl::string_view family, absl::string_view what, Mutation mutate,
                    absl::string_view field) {
    return Add(family, what, caller_, std::move(mutate), StatusCode::INVALID_ARGUMENT, field);
  }
  // The valid request changed by `mutate`: the documented `code`.
  RpcCases& Refused(absl::string_view family, absl::string_view what, Mutation mutate,
                    StatusCode code) {
    return Add(family, what, caller_, std::move(mutate), code, "");
  }
  // The valid request (changed by `mutate`, if given) from another caller.
  RpcCases& From(absl::string_view family, const Credential& caller, StatusCode code,
                 Mutation mutate = nullptr, absl::string_view what = "") {
    return Add(family, what.empty() ? absl::StrCat("as ", caller.label) : std::string(what), caller,
               std::move(mutate), code, "");
  }

  // request_id (common.proto: 1-128 of [A-Za-z0-9._:-]).
  RpcCases& RequestIds() {
    const auto set = [](std::string id) { return [id](Request& r) { r.set_request_id(id); }; };
    Invalid(kRequestId, "request_id missing", set(""), "request_id");
    Invalid(kRequestId, "request_id of 129 characters", set(std::string(129, 'r')), "request_id");
    Invalid(kRequestId, "request_id SQL text", set(kSqlInjections[0]), "request_id");
    return *this;
  }

  // `max_chars` + 1 characters and 1 MB: INVALID_ARGUMENT naming the field.
  RpcCases& Oversized(absl::string_view field, size_t max_chars, Text text) {
    Invalid(
        kOversized, absl::StrCat(field, " of ", max_chars + 1, " characters"),
        [text, n = max_chars + 1](Request& r) { *text(r) = std::string(n, 'x'); }, field);
    Invalid(
        kOversized, absl::StrCat(field, " of 1 MB"),
        [text](Request& r) { *text(r) = std::string(kOneMegabyte, 'x'); }, field);
    return *this;
  }

  // The field makes the whole message larger than the gateway accepts.
  RpcCases& OverLimit(absl::string_view field, Text text) {
    return Refused(
        kOverLimit, absl::StrCat(field, " of ", kOverRequestLimit, " bytes"),
        [text](Request& r) { *text(r) = std::string(kOverRequestLimit, 'x'); },
        StatusCode::RESOURCE_EXHAUSTED);
  }

  // SQL text in a field with a format: INVALID_ARGUMENT naming it (or the documented code).
  RpcCases& Injected(absl::string_view field, Text text,
                     StatusCode code = StatusCode::INVALID_ARGUMENT) {
    for (const char* sql : kSqlInjections) {
      Add(
          kInjection, absl::StrCat(field, " = ", sql), caller_,
          [text, sql](Request& r) { *text(r) = sql; }, code,
          code == StatusCode::INVALID_ARGUMENT ? field : "");
    }
    return *this;
  }

  // A field with no length limit of its own that a refusal may quote: 1 MB.
  RpcCases& Huge(absl::string_view field, Text text) {
    return Invalid(
        kOversized, absl::StrCat(field, " of 1 MB"),
        [text](Request& r) { *text(r) = std::string(kOneMegabyte, '9'); }, field);
  }

  // Bytes that are not UTF-8 in a proto3 string field: the request does not parse, so the
  // message names the request, not the field.
  RpcCases& NotUtf8(absl::string_view field, Text text) {
    const char* bytes = kNotUtf8[not_utf8_++ % std::size(kNotUtf8)];
    return Add(
        kUtf8, absl::StrCat(field, " not UTF-8"), caller_,
        [text, bytes](Request& r) { *text(r) = bytes; }, StatusCode::INVALID_ARGUMENT, "request");
  }

  // Malformed DINs (ISBT 128 ST-001 2.4.1, DOMAIN.md section 1) in place of the valid one.
  // `all`: every variant, else the ones that cover each kind of check.
  RpcCases& BadDins(Text din, bool all) {
    using Variant = std::function<std::string(std::string)>;
    const auto at = [](int position, char c) {
      return [position, c](std::string d) {
        d[position] = c;
        return d;
      };
    };
    const std::vector<std::tuple<const char*, Variant, bool>> variants = {
        {"12 characters", [](std::string d) { return d.substr(0, 12); }, true},
        {"15 characters", [](std::string d) { return d + CheckCharacter(d) + "7"; }, false},
        {"empty", [](std::string) { return std::string(); }, false},
        {"check character a wrong digit",
         [](std::string d) { return d + OtherThan("0123456789", CheckCharacter(d)); }, true},
        {"check character a wrong letter",
         [](std::string d) { return d + OtherThan("ABCDEFGHIJ", CheckCharacter(d)); }, false},
        {"check character '*' where it is not",
         [](std::string d) { return d + OtherThan("*0", CheckCharacter(d)); }, false},
        {"check character outside the alphabet", [](std::string d) { return d + "#"; }, false},
        {"facility code starting with the letter O", at(0, 'O'), true},
        {"facility code starting with 0", at(0, '0'), false},
        {"letter O in the facility code", at(1, 'O'), false},
        {"letter in the facility code's digits", at(3, 'K'), false},
        {"letter in the year", at(5, 'Y'), false},
        {"letter in the sequence number", at(12, 'Z'), true},
        {"punctuation in the sequence number", at(8, '-'), false},
        {"SQL text", [](std::string) { return std::string(kSqlInjections[0]); }, false},
        {"13 characters of SQL text", [](std::string) { return std::string("A9999'OR'1'=1"); },
         true},
    };
    for (const auto& [what, variant, essential] : variants) {
      if (!all && !essential) continue;
      Invalid(
          kDin, absl::StrCat("din: ", what),
          [din, variant = variant](Request& r) { *din(r) = variant(*din(r)); }, "din");
    }
    return *this;
  }

 private:
  RpcCases& Add(absl::string_view family, absl::string_view what, Credential caller,
                Mutation mutate, StatusCode code, absl::string_view field) {
    Case c;
    c.family = std::string(family);
    c.name = absl::StrCat(rpc_, ": ", what);
    c.expected = code;
    c.field = std::string(field);
    c.send = [stub = stub_, method = method_, valid = valid_, mutate = std::move(mutate),
              caller = std::move(caller)]() {
      Request request = valid();
      if (mutate) mutate(request);
      std::unique_ptr<grpc::ClientContext> context = ContextFor(caller);
      Response response;
      return (stub->*method)(context.get(), request, &response);
    };
    cases_.push_back(std::move(c));
    return *this;
  }

  std::vector<Case>& cases_;
  std::string rpc_;
  Stub* stub_;
  Method method_;
  Credential caller_;
  std::function<Request()> valid_;
  size_t not_utf8_ = 0;
};

template <typename Stub, typename Request, typename Response>
RpcCases<Stub, Request, Response> Rpc(std::vector<Case>& cases, std::string rpc, Stub& stub,
                                      grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                                      Credential caller,
                                      std::type_identity_t<std::function<Request()>> valid) {
  return RpcCases<Stub, Request, Response>(cases, std::move(rpc), stub, method, std::move(caller),
                                           std::move(valid));
}

// Every credential in BadCredentials(full): UNAUTHENTICATED.
template <typename R>
void BadTokens(R& rpc, bool full) {
  for (const Credential& credential : BadCredentials(full)) {
    rpc.From(kToken, credential, StatusCode::UNAUTHENTICATED);
  }
}

template <typename Enum>
Enum Unknown(int value = 999) {
  return static_cast<Enum>(value);
}

// ---- The corpus.

void HospitalApiCases(std::vector<Case>& cases, Region& region, const Seeds& s) {
  v1::HospitalApi::Stub& api = region.hospital();
  const int32_t kMaxInt = std::numeric_limits<int32_t>::max();
  const int32_t kMinInt = std::numeric_limits<int32_t>::min();
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  const double kInf = std::numeric_limits<double>::infinity();

  auto place = Rpc(cases, "HospitalApi.PlaceOrder", api, &v1::HospitalApi::Stub::PlaceOrder, H1(),
                   ValidPlaceOrder);
  BadTokens(place, /*full=*/true);
  place.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .From(
          kOwnership, H1(), StatusCode::PERMISSION_DENIED, [](auto& r) { r.set_hospital_id("H2"); },
          "hospital H1 ordering as H2")
      .RequestIds()
      .Invalid(
          kEnum, "component 999",
          [](auto& r) { r.mutable_lines(0)->set_component(Unknown<v1::Component>()); },
          "lines[0].component")
      .Invalid(
          kEnum, "component -1",
          [](auto& r) { r.mutable_lines(0)->set_component(Unknown<v1::Component>(-1)); },
          "lines[0].component")
      .Invalid(
          kEnum, "priority 999", [](auto& r) { r.set_priority(Unknown<v1::Priority>()); },
          "priority")
      .Invalid(
          kEnum, "ABO group 999",
          [](auto& r) {
            r.mutable_patient()->mutable_blood_type()->set_abo(Unknown<v1::AboGroup>());
          },
          "patient.blood_type.abo")
      .Invalid(
          kEnum, "RhD 999",
          [](auto& r) { r.mutable_patient()->mutable_blood_type()->set_rhd(Unknown<v1::RhD>()); },
          "patient.blood_type.rhd")
      .Invalid(
          kEnum, "sex 999", [](auto& r) { r.mutable_patient()->set_sex(Unknown<v1::Sex>()); },
          "patient.sex")
      .Invalid(
          kQuantity, "quantity 0", [](auto& r) { r.mutable_lines(0)->set_quantity(0); },
          "lines[0].quantity")
      .Invalid(
          kQuantity, "quantity -1", [](auto& r) { r.mutable_lines(0)->set_quantity(-1); },
          "lines[0].quantity")
      .Invalid(
          kQuantity, "quantity INT32_MIN",
          [=](auto& r) { r.mutable_lines(0)->set_quantity(kMinInt); }, "lines[0].quantity")
      .Invalid(
          kQuantity, "51 U of red cells (max 50)",
          [](auto& r) { r.mutable_lines(0)->set_quantity(51); }, "lines[0].quantity")
      .Invalid(
          kQuantity, "quantity INT32_MAX",
          [=](auto& r) { r.mutable_lines(0)->set_quantity(kMaxInt); }, "lines[0].quantity")
      .Invalid(
          kQuantity, "5001 mL of plasma (max 5000)",
          [](auto& r) {
            r.mutable_lines(0)->set_component(v1::COMPONENT_PLASMA);
            r.mutable_lines(0)->set_quantity(5001);
          },
          "lines[0].quantity")
      .Invalid(
          kQuantity, "11 platelet doses (max 10)",
          [](auto& r) {
            r.mutable_lines(0)->set_component(v1::COMPONENT_PLATELETS);
            r.mutable_lines(0)->set_quantity(11);
          },
          "lines[0].quantity")
      .Invalid(
          kQuantity, "age -1", [](auto& r) { r.mutable_patient()->set_age_years(-1); },
          "patient.age_years")
      .Invalid(
          kQuantity, "age 151", [](auto& r) { r.mutable_patient()->set_age_years(151); },
          "patient.age_years")
      .Invalid(
          kQuantity, "haemoglobin -1", [](auto& r) { r.mutable_patient()->set_hemoglobin_g_l(-1); },
          "patient.hemoglobin_g_l")
      .Invalid(
          kQuantity, "haemoglobin 1e9",
          [](auto& r) { r.mutable_patient()->set_hemoglobin_g_l(1e9); }, "patient.hemoglobin_g_l")
      .Invalid(
          kQuantity, "haemoglobin NaN",
          [=](auto& r) { r.mutable_patient()->set_hemoglobin_g_l(kNaN); }, "patient.hemoglobin_g_l")
      .Invalid(
          kQuantity, "haemoglobin infinite",
          [=](auto& r) { r.mutable_patient()->set_hemoglobin_g_l(kInf); }, "patient.hemoglobin_g_l")
      .Invalid(
          kQuantity, "platelet count -5",
          [](auto& r) { r.mutable_patient()->set_platelet_count_e9_l(-5); },
          "patient.platelet_count_e9_l")
      .Invalid(
          kQuantity, "INR 0", [](auto& r) { r.mutable_patient()->set_inr(0); }, "patient.inr")
      .Invalid(
          kQuantity, "fibrinogen 21 g/L",
          [](auto& r) { r.mutable_patient()->set_fibrinogen_g_l(21); }, "patient.fibrinogen_g_l")
      .Invalid(
          kQuantity, "APTT ratio -infinity",
          [=](auto& r) { r.mutable_patient()->set_aptt_ratio(-kInf); }, "patient.aptt_ratio")
      .Invalid(
          kMissing, "no lines", [](auto& r) { r.clear_lines(); }, "lines")
      .Invalid(
          kMissing, "no patient", [](auto& r) { r.clear_patient(); }, "patient.patient_ref")
      .Invalid(
          kMissing, "no patient_ref", [](auto& r) { r.mutable_patient()->clear_patient_ref(); },
          "patient.patient_ref")
      .Invalid(
          kMissing, "no priority", [](auto& r) { r.clear_priority(); }, "priority")
      .Invalid(
          kMissing, "ROUTINE without needed_by", [](auto& r) { r.clear_needed_by(); }, "needed_by")
      .Invalid(
          kMissing, "ROUTINE without indication", [](auto& r) { r.clear_indication(); },
          "indication")
      .Invalid(
          kMissing, "ROUTINE without ABO group",
          [](auto& r) { r.mutable_patient()->mutable_blood_type()->clear_abo(); },
          "patient.blood_type.abo")
      .Invalid(
          kMissing, "ROUTINE without RhD",
          [](auto& r) { r.mutable_patient()->mutable_blood_type()->clear_rhd(); },
          "patient.blood_type.rhd")
      .Invalid(
          kMissing, "ROUTINE without sex", [](auto& r) { r.mutable_patient()->clear_sex(); },
          "patient.sex")
      .Invalid(
          kConsistency, "two red-cell lines", [](auto& r) { *r.add_lines() = r.lines(0); },
          "lines[1].component")
      .Invalid(
          kConsistency, "11 lines",
          [](auto& r) {
            for (int i = 0; i < 10; ++i) *r.add_lines() = r.lines(0);
          },
          "lines")
      .Invalid(
          kConsistency, "massive transfusion for a ROUTINE order",
          [](auto& r) { r.set_massive_transfusion(true); }, "massive_transfusion")
      .Invalid(
          kConsistency, "EMERGENCY whole blood for an untyped patient",
          [](auto& r) {
            r.set_priority(v1::PRIORITY_EMERGENCY);
            r.mutable_patient()->clear_blood_type();
            r.mutable_lines(0)->set_component(v1::COMPONENT_WHOLE_BLOOD);
          },
          "lines[0].component")
      .Invalid(
          kConsistency, "EMERGENCY with RhD but no ABO group",
          [](auto& r) {
            r.set_priority(v1::PRIORITY_EMERGENCY);
            r.mutable_patient()->mutable_blood_type()->clear_abo();
          },
          "patient.blood_type.abo")
      .Invalid(
          kTime, "needed_by an hour ago",
          [](auto& r) { *r.mutable_needed_by() = In(-absl::Hours(1)); }, "needed_by")
      .Invalid(
          kTime, "needed_by in 31 days",
          [](auto& r) { *r.mutable_needed_by() = In(absl::Hours(24 * 31)); }, "needed_by")
      .Invalid(
          kTime, "needed_by with negative nanos",
          [](auto& r) { r.mutable_needed_by()->set_nanos(-1); }, "needed_by")
      .Invalid(
          kTime, "needed_by after year 9999",
          [](auto& r) { r.mutable_needed_by()->set_seconds(253402300800); }, "needed_by")
      .Oversized("patient.patient_ref", 64,
                 [](auto& r) { return r.mutable_patient()->mutable_patient_ref(); })
      .Oversized("indication", 1000, [](auto& r) { return r.mutable_indication(); })
      .Oversized("ward", 100, [](auto& r) { return r.mutable_ward(); })
      .Oversized("approvals.physician", 100,
                 [](auto& r) { return r.mutable_approvals()->mutable_physician(); })
      .Oversized("approvals.department_head", 100,
                 [](auto& r) { return r.mutable_approvals()->mutable_department_head(); })
      .Oversized("approvals.medical_affairs", 100,
                 [](auto& r) { return r.mutable_approvals()->mutable_medical_affairs(); })
      .OverLimit("indication", [](auto& r) { return r.mutable_indication(); })
      .NotUtf8("patient.patient_ref",
               [](auto& r) { return r.mutable_patient()->mutable_patient_ref(); })
      .NotUtf8("indication", [](auto& r) { return r.mutable_indication(); })
      .NotUtf8("request_id", [](auto& r) { return r.mutable_request_id(); });

  auto admin_place = Rpc(cases, "HospitalApi.PlaceOrder (admin)", api,
                         &v1::HospitalApi::Stub::PlaceOrder, Admin(), ValidAdminPlaceOrder);
  admin_place
      .Invalid(
          kMissing, "admin without hospital_id", [](auto& r) { r.clear_hospital_id(); },
          "hospital_id")
      .Injected("hospital_id", [](auto& r) { return r.mutable_hospital_id(); })
      .Oversized("hospital_id", 32, [](auto& r) { return r.mutable_hospital_id(); })
      .Refused(
          kReference, "unregistered hospital H9", [](auto& r) { r.set_hospital_id("H9"); },
          StatusCode::FAILED_PRECONDITION);

  auto get = Rpc(cases, "HospitalApi.GetOrder", api, &v1::HospitalApi::Stub::GetOrder, H1(),
                 [&s] { return ValidGetOrder(s); });
  BadTokens(get, false);
  get.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .From(kOwnership, H2(), StatusCode::PERMISSION_DENIED)
      .From(
          kOwnership, H1(), StatusCode::PERMISSION_DENIED,
          [&s](auto& r) { r.set_order_id(s.h2_order_id); }, "hospital H1 reading H2's order")
      .From(
          kOwnership, H1(), StatusCode::PERMISSION_DENIED, [](auto& r) { r.set_hospital_id("H2"); },
          "hospital H1 naming hospital_id H2")
      .Invalid(
          kMissing, "no order_id", [](auto& r) { r.clear_order_id(); }, "order_id")
      .Oversized("order_id", 40, [](auto& r) { return r.mutable_order_id(); })
      .Injected(
          "order_id", [](auto& r) { return r.mutable_order_id(); }, StatusCode::NOT_FOUND)
      .NotUtf8("order_id", [](auto& r) { return r.mutable_order_id(); });

  auto list = Rpc(cases, "HospitalApi.ListOrders", api, &v1::HospitalApi::Stub::ListOrders, H1(),
                  [] { return v1::ListOrdersRequest(); });
  list.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .From(
          kOwnership, H1(), StatusCode::PERMISSION_DENIED, [](auto& r) { r.set_hospital_id("H2"); },
          "hospital H1 listing H2's orders")
      .Invalid(
          kEnum, "status 999", [](auto& r) { r.set_status(Unknown<v1::OrderStatus>()); }, "status")
      .Invalid(
          kEnum, "priority 999", [](auto& r) { r.set_priority(Unknown<v1::Priority>()); },
          "priority")
      .Invalid(
          kQuantity, "page_size -1", [](auto& r) { r.set_page_size(-1); }, "page_size")
      .Invalid(
          kPageToken, "page_token not base64", [](auto& r) { r.set_page_token("not a token"); },
          "page_token")
      .Invalid(
          kPageToken, "page_token base64 of garbage",
          [](auto& r) { r.set_page_token("AAAAAAAAAAAA"); }, "page_token")
      .Invalid(
          kPageToken, "page_token SQL text", [](auto& r) { r.set_page_token(kSqlInjections[2]); },
          "page_token")
      .Invalid(
          kPageToken, "page_token of 1 MB",
          [](auto& r) { r.set_page_token(std::string(kOneMegabyte, 'A')); }, "page_token")
      .Invalid(
          kTime, "created_after with nanos 10^9",
          [](auto& r) { r.mutable_created_after()->set_nanos(1000000000); }, "created_after")
      .Oversized("patient_ref", 64, [](auto& r) { return r.mutable_patient_ref(); });

  auto cancel = Rpc(cases, "HospitalApi.CancelOrder", api, &v1::HospitalApi::Stub::CancelOrder,
                    H1(), [&s] { return ValidCancelOrder(s); });
  cancel.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .From(kOwnership, H2(), StatusCode::PERMISSION_DENIED)
      .From(
          kOwnership, H1(), StatusCode::PERMISSION_DENIED,
          [&s](auto& r) { r.set_order_id(s.h2_order_id); }, "hospital H1 cancelling H2's order")
      .RequestIds()
      .Invalid(
          kMissing, "no order_id", [](auto& r) { r.clear_order_id(); }, "order_id")
      .Invalid(
          kMissing, "no reason", [](auto& r) { r.clear_reason(); }, "reason")
      .Oversized("reason", 1000, [](auto& r) { return r.mutable_reason(); })
      .Oversized("order_id", 40, [](auto& r) { return r.mutable_order_id(); })
      .Injected(
          "order_id", [](auto& r) { return r.mutable_order_id(); }, StatusCode::NOT_FOUND)
      .NotUtf8("reason", [](auto& r) { return r.mutable_reason(); });

  auto confirm =
      Rpc(cases, "HospitalApi.ConfirmDelivery", api, &v1::HospitalApi::Stub::ConfirmDelivery, H1(),
          [&s] { return ValidConfirmDelivery(s); });
  confirm.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .From(kOwnership, H2(), StatusCode::PERMISSION_DENIED)
      .From(
          kOwnership, H1(), StatusCode::PERMISSION_DENIED,
          [&s](auto& r) { r.set_order_id(s.h2_order_id); }, "hospital H1 confirming H2's order")
      .RequestIds()
      .Invalid(
          kMissing, "no order_id", [](auto& r) { r.clear_order_id(); }, "order_id")
      .Invalid(
          kTime, "received_at in an hour",
          [](auto& r) { *r.mutable_received_at() = In(absl::Hours(1)); }, "received_at")
      .Invalid(
          kTime, "received_at with nanos -5",
          [](auto& r) { r.mutable_received_at()->set_nanos(-5); }, "received_at")
      .Oversized("received_by", 100, [](auto& r) { return r.mutable_received_by(); })
      .Oversized("order_id", 40, [](auto& r) { return r.mutable_order_id(); })
      .NotUtf8("received_by", [](auto& r) { return r.mutable_received_by(); });

  auto report =
      Rpc(cases, "HospitalApi.ReportTransfusion", api, &v1::HospitalApi::Stub::ReportTransfusion,
          H1(), [&s] { return ValidReportTransfusion(s); });
  report.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .From(kOwnership, H2(), StatusCode::PERMISSION_DENIED)
      .From(
          kOwnership, H1(), StatusCode::PERMISSION_DENIED,
          [&s](auto& r) { r.set_order_id(s.h2_order_id); }, "hospital H1 reporting on H2's order")
      .RequestIds()
      .BadDins([](auto& r) { return r.mutable_din(); }, /*all=*/true)
      .Invalid(
          kReference, "a DIN not on the order", [&s](auto& r) { r.set_din(s.whole_blood_din); },
          "din")
      .Invalid(
          kEnum, "outcome 999", [](auto& r) { r.set_outcome(Unknown<v1::TransfusionOutcome>()); },
          "outcome")
      .Invalid(
          kEnum, "component 999", [](auto& r) { r.set_component(Unknown<v1::Component>()); },
          "component")
      .Invalid(
          kEnum, "adverse reaction type 999",
          [](auto& r) {
            r.mutable_adverse_reaction()->set_type(Unknown<v1::AdverseReactionType>());
          },
          "adverse_reaction.type")
      .Invalid(
          kEnum, "adverse reaction severity 999",
          [](auto& r) {
            r.mutable_adverse_reaction()->set_type(v1::ADVERSE_REACTION_TYPE_ALLERGIC);
            r.mutable_adverse_reaction()->set_severity(Unknown<v1::AdverseReactionSeverity>());
          },
          "adverse_reaction.severity")
      .Invalid(
          kMissing, "no outcome", [](auto& r) { r.clear_outcome(); }, "outcome")
      .Invalid(
          kMissing, "RETURNED without cold_chain_ok",
          [](auto& r) { r.set_outcome(v1::TRANSFUSION_OUTCOME_RETURNED); }, "cold_chain_ok")
      .Invalid(
          kMissing, "adverse reaction without a type",
          [](auto& r) { r.mutable_adverse_reaction()->set_description("rash"); },
          "adverse_reaction.type")
      .Invalid(
          kConsistency, "PRESUMED_TRANSFUSED reported by the hospital",
          [](auto& r) { r.set_outcome(v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED); }, "outcome")
      .Invalid(
          kTime, "occurred_at with negative nanos",
          [](auto& r) { r.mutable_occurred_at()->set_nanos(-1); }, "occurred_at")
      .Invalid(
          kTime, "adverse reaction before year 1",
          [](auto& r) {
            r.mutable_adverse_reaction()->set_type(v1::ADVERSE_REACTION_TYPE_ALLERGIC);
            r.mutable_adverse_reaction()->mutable_occurred_at()->set_seconds(-62135596801);
          },
          "adverse_reaction.occurred_at")
      .Oversized("note", 1000, [](auto& r) { return r.mutable_note(); })
      .Oversized("adverse_reaction.description", 2000,
                 [](auto& r) {
                   r.mutable_adverse_reaction()->set_type(v1::ADVERSE_REACTION_TYPE_ALLERGIC);
                   return r.mutable_adverse_reaction()->mutable_description();
                 })
      .NotUtf8("din", [](auto& r) { return r.mutable_din(); })
      .NotUtf8("note", [](auto& r) { return r.mutable_note(); });
  report.Oversized("order_id", 40, [](auto& r) { return r.mutable_order_id(); });

  auto availability =
      Rpc(cases, "HospitalApi.GetAvailability", api, &v1::HospitalApi::Stub::GetAvailability, H1(),
          [] { return v1::GetAvailabilityRequest(); });
  BadTokens(availability, false);
  availability.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kEnum, "component 999", [](auto& r) { r.set_component(Unknown<v1::Component>()); },
          "component")
      .Invalid(
          kEnum, "component -7", [](auto& r) { r.set_component(Unknown<v1::Component>(-7)); },
          "component");
}

void AdminDonorCases(std::vector<Case>& cases, Region& region, const Seeds& s) {
  v1::AdminApi::Stub& api = region.admin();
  using Stub = v1::AdminApi::Stub;

  auto reg =
      Rpc(cases, "AdminApi.RegisterDonor", api, &Stub::RegisterDonor, Admin(), ValidRegisterDonor);
  BadTokens(reg, false);
  reg.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no donor", [](auto& r) { r.clear_donor(); }, "donor")
      .Invalid(
          kMissing, "no national_id", [](auto& r) { r.mutable_donor()->clear_national_id(); },
          "donor.national_id")
      .Invalid(
          kMissing, "no name", [](auto& r) { r.mutable_donor()->clear_name(); }, "donor.name")
      .Invalid(
          kMissing, "name of spaces only", [](auto& r) { r.mutable_donor()->set_name("   "); },
          "donor.name")
      .Invalid(
          kMissing, "no sex", [](auto& r) { r.mutable_donor()->clear_sex(); }, "donor.sex")
      .Invalid(
          kMissing, "no birth_date", [](auto& r) { r.mutable_donor()->clear_birth_date(); },
          "donor.birth_date")
      .Invalid(
          kEnum, "sex 999", [](auto& r) { r.mutable_donor()->set_sex(Unknown<v1::Sex>()); },
          "donor.sex")
      .Invalid(
          kEnum, "panel 999",
          [](auto& r) { r.mutable_donor()->add_panels(Unknown<v1::DonorPanel>()); },
          "donor.panels[0]")
      .Invalid(
          kEnum, "panel UNSPECIFIED",
          [](auto& r) { r.mutable_donor()->add_panels(v1::DONOR_PANEL_UNSPECIFIED); },
          "donor.panels[0]")
      .Invalid(
          kEnum, "ABO group 999",
          [](auto& r) {
            r.mutable_donor()->mutable_blood_type()->set_abo(Unknown<v1::AboGroup>());
            r.mutable_donor()->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
          },
          "donor.blood_type")
      .Invalid(
          kConsistency, "blood type without RhD",
          [](auto& r) { r.mutable_donor()->mutable_blood_type()->set_abo(v1::ABO_GROUP_B); },
          "donor.blood_type")
      .Invalid(
          kConsistency, "a panel twice",
          [](auto& r) {
            r.mutable_donor()->add_panels(v1::DONOR_PANEL_EMERGENCY);
            r.mutable_donor()->add_panels(v1::DONOR_PANEL_EMERGENCY);
          },
          "donor.panels[1]")
      .Invalid(
          kConsistency, "national id with a wrong check digit",
          [](auto& r) {
            std::string& id = *r.mutable_donor()->mutable_national_id();
            id.back() = id.back() == '1' ? '2' : '1';
          },
          "donor.national_id")
      .Invalid(
          kConsistency, "national id born on 1985-02-30",
          [](auto& r) { r.mutable_donor()->set_national_id("110105198502300018"); },
          "donor.national_id")
      .Invalid(
          kConsistency, "phone of letters",
          [](auto& r) { r.mutable_donor()->mutable_contact()->set_phone("call me"); },
          "donor.contact.phone")
      .Invalid(
          kConsistency, "e-mail without a domain",
          [](auto& r) { r.mutable_donor()->mutable_contact()->set_email("donor@"); },
          "donor.contact.email")
      .Invalid(
          kTime, "born in 2999", [](auto& r) { r.mutable_donor()->set_birth_date("2999-01-01"); },
          "donor.birth_date")
      .Invalid(
          kTime, "born 2023-02-29",
          [](auto& r) { r.mutable_donor()->set_birth_date("2023-02-29"); }, "donor.birth_date")
      .Invalid(
          kTime, "born in month 13",
          [](auto& r) { r.mutable_donor()->set_birth_date("1990-13-01"); }, "donor.birth_date")
      .Invalid(
          kTime, "birth date without dashes",
          [](auto& r) { r.mutable_donor()->set_birth_date("19900307"); }, "donor.birth_date")
      .Invalid(
          kTime, "born in 1899", [](auto& r) { r.mutable_donor()->set_birth_date("1899-12-31"); },
          "donor.birth_date")
      .Invalid(
          kReference, "unknown home_station_id",
          [](auto& r) { r.mutable_donor()->set_home_station_id("S9"); }, "donor.home_station_id")
      .Injected("donor.national_id",
                [](auto& r) { return r.mutable_donor()->mutable_national_id(); })
      .Injected("donor.home_station_id",
                [](auto& r) { return r.mutable_donor()->mutable_home_station_id(); })
      .Injected("donor.contact.phone",
                [](auto& r) { return r.mutable_donor()->mutable_contact()->mutable_phone(); })
      .Injected("donor.birth_date", [](auto& r) { return r.mutable_donor()->mutable_birth_date(); })
      .Oversized("donor.national_id", 32,
                 [](auto& r) { return r.mutable_donor()->mutable_national_id(); })
      .Huge("donor.birth_date", [](auto& r) { return r.mutable_donor()->mutable_birth_date(); })
      .Huge("donor.contact.phone",
            [](auto& r) { return r.mutable_donor()->mutable_contact()->mutable_phone(); })
      .Oversized("donor.name", 100, [](auto& r) { return r.mutable_donor()->mutable_name(); })
      .Oversized("donor.contact.address", 300,
                 [](auto& r) { return r.mutable_donor()->mutable_contact()->mutable_address(); })
      .Oversized("donor.contact.email", 254,
                 [](auto& r) { return r.mutable_donor()->mutable_contact()->mutable_email(); })
      .Oversized("donor.home_station_id", 64,
                 [](auto& r) { return r.mutable_donor()->mutable_home_station_id(); })
      .OverLimit("donor.name", [](auto& r) { return r.mutable_donor()->mutable_name(); })
      .NotUtf8("donor.name", [](auto& r) { return r.mutable_donor()->mutable_name(); })
      .NotUtf8("donor.national_id",
               [](auto& r) { return r.mutable_donor()->mutable_national_id(); });

  auto get = Rpc(cases, "AdminApi.GetDonor", api, &Stub::GetDonor, Admin(),
                 [&s] { return ValidGetDonor(s); });
  BadTokens(get, false);
  get.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kMissing, "no donor_id", [](auto& r) { r.clear_donor_id(); }, "donor_id")
      .Injected("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); })
      .NotUtf8("donor_id", [](auto& r) { return r.mutable_donor_id(); });

  auto search =
      Rpc(cases, "AdminApi.SearchDonors", api, &Stub::SearchDonors, Admin(), ValidSearchDonors);
  search.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kEnum, "panel 999", [](auto& r) { r.set_panel(Unknown<v1::DonorPanel>()); }, "panel")
      .Invalid(
          kConsistency, "blood type without RhD",
          [](auto& r) { r.mutable_blood_type()->set_abo(v1::ABO_GROUP_O); }, "blood_type")
      .Invalid(
          kQuantity, "page_size -1", [](auto& r) { r.set_page_size(-1); }, "page_size")
      .Invalid(
          kPageToken, "page_token not base64", [](auto& r) { r.set_page_token("%%%"); },
          "page_token")
      .Injected("national_id", [](auto& r) { return r.mutable_national_id(); })
      .Injected("phone", [](auto& r) { return r.mutable_phone(); })
      .Injected("home_station_id", [](auto& r) { return r.mutable_home_station_id(); })
      .Oversized("name_prefix", 100, [](auto& r) { return r.mutable_name_prefix(); })
      .Oversized("national_id", 32, [](auto& r) { return r.mutable_national_id(); })
      .Huge("phone", [](auto& r) { return r.mutable_phone(); })
      .Oversized("home_station_id", 64, [](auto& r) { return r.mutable_home_station_id(); });

  auto eligibility = Rpc(cases, "AdminApi.CheckEligibility", api, &Stub::CheckEligibility, Admin(),
                         [&s] { return ValidCheckEligibility(s); });
  eligibility.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kMissing, "no donor_id", [](auto& r) { r.clear_donor_id(); }, "donor_id")
      .Invalid(
          kMissing, "no donation_type", [](auto& r) { r.clear_donation_type(); }, "donation_type")
      .Invalid(
          kEnum, "donation type 999",
          [](auto& r) { r.set_donation_type(Unknown<v1::DonationType>()); }, "donation_type")
      .Invalid(
          kQuantity, "volume 0 mL", [](auto& r) { r.set_volume_ml(0); }, "volume_ml")
      .Invalid(
          kQuantity, "volume -400 mL", [](auto& r) { r.set_volume_ml(-400); }, "volume_ml")
      .Invalid(
          kQuantity, "weight -1 kg", [](auto& r) { r.mutable_screening()->set_weight_kg(-1); },
          "screening.weight_kg")
      .Invalid(
          kQuantity, "haemoglobin 0", [](auto& r) { r.mutable_screening()->set_hemoglobin_g_l(0); },
          "screening.hemoglobin_g_l")
      .Invalid(
          kQuantity, "haematocrit 40 (a percentage, not a fraction)",
          [](auto& r) { r.mutable_screening()->set_hematocrit(40); }, "screening.hematocrit")
      .Invalid(
          kQuantity, "pulse -60", [](auto& r) { r.mutable_screening()->set_pulse_bpm(-60); },
          "screening.pulse_bpm")
      .Invalid(
          kTime, "on_date 2025-02-30", [](auto& r) { r.set_on_date("2025-02-30"); }, "on_date")
      .Invalid(
          kTime, "on_date 'tomorrow'", [](auto& r) { r.set_on_date("tomorrow"); }, "on_date")
      .Injected("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .Injected("on_date", [](auto& r) { return r.mutable_on_date(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); })
      .Huge("on_date", [](auto& r) { return r.mutable_on_date(); });

  auto defer = Rpc(cases, "AdminApi.DeferDonor", api, &Stub::DeferDonor, Admin(),
                   [&s] { return ValidDeferDonor(s); });
  defer.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no donor_id", [](auto& r) { r.clear_donor_id(); }, "donor_id")
      .Invalid(
          kMissing, "no reason_code", [](auto& r) { r.clear_reason_code(); }, "reason_code")
      .Invalid(
          kEnum, "kind 999", [](auto& r) { r.set_kind(Unknown<v1::DeferralKind>()); }, "kind")
      .Invalid(
          kConsistency, "permanent with ends_on",
          [](auto& r) {
            r.set_kind(v1::DEFERRAL_KIND_PERMANENT);
            r.set_ends_on("2099-01-01");
          },
          "ends_on")
      .Invalid(
          kTime, "ends_on before start_date",
          [](auto& r) {
            r.set_start_date("2025-06-01");
            r.set_ends_on("2025-05-01");
          },
          "ends_on")
      .Invalid(
          kTime, "start_date in month 13", [](auto& r) { r.set_start_date("2025-13-01"); },
          "start_date")
      .Invalid(
          kTime, "ends_on 'soon'", [](auto& r) { r.set_ends_on("soon"); }, "ends_on")
      .Injected("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .Injected("reason_code", [](auto& r) { return r.mutable_reason_code(); })
      .Huge("reason_code", [](auto& r) { return r.mutable_reason_code(); })
      .Huge("start_date", [](auto& r) { return r.mutable_start_date(); })
      .Huge("ends_on", [](auto& r) { return r.mutable_ends_on(); })
      .Oversized("note", 1000, [](auto& r) { return r.mutable_note(); })
      .Oversized("deferred_by", 100, [](auto& r) { return r.mutable_deferred_by(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); });

  auto void_deferral = Rpc(cases, "AdminApi.VoidDeferral", api, &Stub::VoidDeferral, Admin(),
                           [&s] { return ValidVoidDeferral(s); });
  void_deferral.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no deferral_id", [](auto& r) { r.clear_deferral_id(); }, "deferral_id")
      .Invalid(
          kMissing, "no voided_by", [](auto& r) { r.clear_voided_by(); }, "voided_by")
      .Invalid(
          kMissing, "no reason", [](auto& r) { r.clear_reason(); }, "reason")
      .Injected("deferral_id", [](auto& r) { return r.mutable_deferral_id(); })
      .Oversized("voided_by", 100, [](auto& r) { return r.mutable_voided_by(); })
      .Oversized("deferral_id", 64, [](auto& r) { return r.mutable_deferral_id(); })
      .Oversized("reason", 1000, [](auto& r) { return r.mutable_reason(); })
      .NotUtf8("reason", [](auto& r) { return r.mutable_reason(); });

  auto donation = Rpc(cases, "AdminApi.RecordDonation", api, &Stub::RecordDonation, Admin(),
                      [&s] { return ValidRecordDonation(s); });
  BadTokens(donation, /*full=*/true);
  donation.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .BadDins([](auto& r) { return r.mutable_din(); }, /*all=*/true)
      .Invalid(
          kMissing, "no donor_id", [](auto& r) { r.clear_donor_id(); }, "donor_id")
      .Invalid(
          kMissing, "no station_id", [](auto& r) { r.clear_station_id(); }, "station_id")
      .Invalid(
          kMissing, "no collected_at", [](auto& r) { r.clear_collected_at(); }, "collected_at")
      .Invalid(
          kMissing, "no donation_type", [](auto& r) { r.clear_donation_type(); }, "donation_type")
      .Invalid(
          kMissing, "no weight", [](auto& r) { r.mutable_screening()->clear_weight_kg(); },
          "screening.weight_kg")
      .Invalid(
          kMissing, "no screening", [](auto& r) { r.clear_screening(); }, "screening.")
      .Invalid(
          kEnum, "donation type 999",
          [](auto& r) { r.set_donation_type(Unknown<v1::DonationType>()); }, "donation_type")
      .Invalid(
          kEnum, "anticoagulant 999",
          [](auto& r) { r.set_anticoagulant(Unknown<v1::PolicyProfile::Anticoagulant>()); },
          "anticoagulant")
      .Invalid(
          kQuantity, "volume 0 mL", [](auto& r) { r.set_volume_ml(0); }, "volume_ml")
      .Invalid(
          kQuantity, "volume -400 mL", [](auto& r) { r.set_volume_ml(-400); }, "volume_ml")
      .Invalid(
          kQuantity, "volume 250 mL (not a whole-blood volume)",
          [](auto& r) { r.set_volume_ml(250); }, "volume_ml")
      .Invalid(
          kQuantity, "volume INT32_MAX",
          [](auto& r) { r.set_volume_ml(std::numeric_limits<int32_t>::max()); }, "volume_ml")
      .Invalid(
          kQuantity, "weight -72 kg", [](auto& r) { r.mutable_screening()->set_weight_kg(-72); },
          "screening.weight_kg")
      .Invalid(
          kQuantity, "systolic 0 mmHg",
          [](auto& r) { r.mutable_screening()->set_systolic_mmhg(0); }, "screening.systolic_mmhg")
      .Invalid(
          kTime, "collected in an hour",
          [](auto& r) { *r.mutable_collected_at() = In(absl::Hours(1)); }, "collected_at")
      .Invalid(
          kTime, "collected_at with nanos 10^9",
          [](auto& r) { r.mutable_collected_at()->set_nanos(1000000000); }, "collected_at")
      .Invalid(
          kTime, "collected in year 10000",
          [](auto& r) { r.mutable_collected_at()->set_seconds(253402300800); }, "collected_at")
      .Invalid(
          kReference, "unknown station S9", [](auto& r) { r.set_station_id("S9"); }, "station_id")
      .Refused(
          kReference, "unknown donor", [](auto& r) { r.set_donor_id("D-unknown"); },
          StatusCode::NOT_FOUND)
      .Injected("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Injected("product_code", [](auto& r) { return r.mutable_product_code(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); })
      .Oversized("station_id", 32, [](auto& r) { return r.mutable_station_id(); })
      .Oversized("product_code", 16, [](auto& r) { return r.mutable_product_code(); })
      .OverLimit("product_code", [](auto& r) { return r.mutable_product_code(); })
      .NotUtf8("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .NotUtf8("din", [](auto& r) { return r.mutable_din(); })
      .NotUtf8("station_id", [](auto& r) { return r.mutable_station_id(); });

  auto donations = Rpc(cases, "AdminApi.ListDonations", api, &Stub::ListDonations, Admin(),
                       [&s] { return ValidListDonations(s); });
  donations
      .Invalid(
          kQuantity, "page_size -1", [](auto& r) { r.set_page_size(-1); }, "page_size")
      .Invalid(
          kPageToken, "page_token not base64", [](auto& r) { r.set_page_token("?"); }, "page_token")
      .Injected("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); });

  auto candidates = Rpc(cases, "AdminApi.FindAppealCandidates", api, &Stub::FindAppealCandidates,
                        Admin(), ValidFindAppealCandidates);
  candidates.From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kMissing, "no blood type", [](auto& r) { r.clear_blood_type(); }, "blood_type")
      .Invalid(
          kMissing, "no station_id", [](auto& r) { r.clear_station_id(); }, "station_id")
      .Invalid(
          kConsistency, "blood type without RhD",
          [](auto& r) { r.mutable_blood_type()->clear_rhd(); }, "blood_type")
      .Invalid(
          kEnum, "donation type 999",
          [](auto& r) { r.set_donation_type(Unknown<v1::DonationType>()); }, "donation_type")
      .Invalid(
          kQuantity, "limit 0", [](auto& r) { r.set_limit(0); }, "limit")
      .Invalid(
          kQuantity, "limit -1", [](auto& r) { r.set_limit(-1); }, "limit")
      .Invalid(
          kQuantity, "limit 201", [](auto& r) { r.set_limit(201); }, "limit")
      .Invalid(
          kQuantity, "limit INT32_MAX",
          [](auto& r) { r.set_limit(std::numeric_limits<int32_t>::max()); }, "limit")
      .Invalid(
          kTime, "on_date 2025-04-31", [](auto& r) { r.set_on_date("2025-04-31"); }, "on_date")
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Oversized("station_id", 64, [](auto& r) { return r.mutable_station_id(); });

  auto appeal = Rpc(cases, "AdminApi.CreateAppeal", api, &Stub::CreateAppeal, Admin(),
                    [&s] { return ValidCreateAppeal(s); });
  appeal.RequestIds()
      .Invalid(
          kMissing, "no station_id", [](auto& r) { r.clear_station_id(); }, "station_id")
      .Invalid(
          kMissing, "no blood type", [](auto& r) { r.clear_blood_type(); }, "blood_type")
      .Invalid(
          kQuantity, "donations_needed -1", [](auto& r) { r.set_donations_needed(-1); },
          "donations_needed")
      .Invalid(
          kConsistency, "a donor twice", [](auto& r) { r.add_donor_ids(r.donor_ids(0)); },
          "donor_ids[1]")
      .Invalid(
          kTime, "closing an hour ago",
          [](auto& r) { *r.mutable_closes_at() = In(-absl::Hours(1)); }, "closes_at")
      .Injected("donor_ids[0]", [](auto& r) { return r.mutable_donor_ids(0); })
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Oversized("reason", 1000, [](auto& r) { return r.mutable_reason(); })
      .Oversized("created_by", 100, [](auto& r) { return r.mutable_created_by(); })
      .Oversized("station_id", 64, [](auto& r) { return r.mutable_station_id(); })
      .Oversized("donor_ids[0]", 64, [](auto& r) { return r.mutable_donor_ids(0); });

  auto balance = Rpc(cases, "AdminApi.GetReimbursementBalance", api, &Stub::GetReimbursementBalance,
                     Admin(), [&s] { return ValidReimbursementBalance(s); });
  balance.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kTime, "on_date 2025-02-29", [](auto& r) { r.set_on_date("2025-02-29"); }, "on_date")
      .Injected("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); })
      .Huge("on_date", [](auto& r) { return r.mutable_on_date(); });

  auto claim = Rpc(cases, "AdminApi.ClaimReimbursement", api, &Stub::ClaimReimbursement, Admin(),
                   [&s] { return ValidClaimReimbursement(s); });
  claim.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no donor_id", [](auto& r) { r.clear_donor_id(); }, "donor_id")
      .Invalid(
          kMissing, "no claimant_relation", [](auto& r) { r.clear_claimant_relation(); },
          "claimant_relation")
      .Invalid(
          kMissing, "no invoice_no", [](auto& r) { r.clear_invoice_no(); }, "invoice_no")
      .Invalid(
          kEnum, "claimant relation 999",
          [](auto& r) { r.set_claimant_relation(Unknown<v1::ClaimantRelation>()); },
          "claimant_relation")
      .Invalid(
          kQuantity, "volume 0 mL", [](auto& r) { r.set_volume_ml(0); }, "volume_ml")
      .Invalid(
          kQuantity, "volume -400 mL", [](auto& r) { r.set_volume_ml(-400); }, "volume_ml")
      .Invalid(
          kQuantity, "blood fee -1", [](auto& r) { r.set_blood_fee(-1); }, "blood_fee")
      .Invalid(
          kQuantity, "blood fee INT64_MIN",
          [](auto& r) { r.set_blood_fee(std::numeric_limits<int64_t>::min()); }, "blood_fee")
      .Invalid(
          kTime, "invoice dated 2999-01-01", [](auto& r) { r.set_invoice_date("2999-01-01"); },
          "invoice_date")
      .Invalid(
          kTime, "invoice dated 2025-02-30", [](auto& r) { r.set_invoice_date("2025-02-30"); },
          "invoice_date")
      .Injected("donor_id", [](auto& r) { return r.mutable_donor_id(); })
      .Oversized("invoice_no", 64, [](auto& r) { return r.mutable_invoice_no(); })
      .Huge("invoice_date", [](auto& r) { return r.mutable_invoice_date(); })
      .Oversized("recipient_name", 100, [](auto& r) { return r.mutable_recipient_name(); })
      .Oversized("hospital_name", 200, [](auto& r) { return r.mutable_hospital_name(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); })
      .NotUtf8("recipient_name", [](auto& r) { return r.mutable_recipient_name(); });
}

void AdminInventoryAndOrderCases(std::vector<Case>& cases, Region& region, const Seeds& s) {
  v1::AdminApi::Stub& api = region.admin();
  using Stub = v1::AdminApi::Stub;

  auto testing = Rpc(cases, "AdminApi.RecordTestResults", api, &Stub::RecordTestResults, Admin(),
                     [&s] { return ValidRecordTestResults(s); });
  testing.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .BadDins([](auto& r) { return r.mutable_din(); }, /*all=*/false)
      .Invalid(
          kMissing, "no results", [](auto& r) { r.clear_results(); }, "results")
      .Invalid(
          kMissing, "a result without its test",
          [](auto& r) { r.mutable_results(0)->clear_test(); }, "results[0].test")
      .Invalid(
          kMissing, "typing without a blood type",
          [](auto& r) { r.mutable_results(5)->clear_blood_type(); }, "results[5].blood_type")
      .Invalid(
          kEnum, "test 999",
          [](auto& r) { r.mutable_results(0)->set_test(Unknown<v1::ScreeningTest>()); },
          "results[0].test")
      .Invalid(
          kConsistency, "a test twice", [](auto& r) { *r.add_results() = r.results(0); },
          "results[6].test")
      .Invalid(
          kTime, "tested in an hour",
          [](auto& r) { *r.mutable_results(0)->mutable_tested_at() = In(absl::Hours(1)); },
          "results[0].tested_at")
      .Oversized("results[0].correction_reason", 1000,
                 [](auto& r) { return r.mutable_results(0)->mutable_correction_reason(); });

  auto process = Rpc(cases, "AdminApi.ProcessDonation", api, &Stub::ProcessDonation, Admin(),
                     [&s] { return ValidProcessDonation(s); });
  process.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .BadDins([](auto& r) { return r.mutable_din(); }, /*all=*/false)
      .Invalid(
          kMissing, "no components", [](auto& r) { r.clear_components(); }, "components")
      .Invalid(
          kMissing, "plasma without volume",
          [](auto& r) { r.mutable_components(1)->clear_volume_ml(); }, "components[1].volume_ml")
      .Invalid(
          kEnum, "component 999",
          [](auto& r) { r.mutable_components(0)->set_component(Unknown<v1::Component>()); },
          "components[0].component")
      .Invalid(
          kEnum, "preparation 999",
          [](auto& r) {
            r.mutable_components(0)->set_preparation(Unknown<v1::PolicyProfile::Preparation>());
          },
          "components[0].preparation")
      .Invalid(
          kConsistency, "whole blood as a component",
          [](auto& r) { r.mutable_components(0)->set_component(v1::COMPONENT_WHOLE_BLOOD); },
          "components[0].component")
      .Invalid(
          kConsistency, "washed plasma",
          [](auto& r) {
            r.mutable_components(1)->set_preparation(v1::PolicyProfile::PREPARATION_WASHED);
          },
          "components[1].preparation")
      .Invalid(
          kQuantity, "plasma of 0 mL", [](auto& r) { r.mutable_components(1)->set_volume_ml(0); },
          "components[1].volume_ml")
      .Invalid(
          kQuantity, "plasma of -200 mL",
          [](auto& r) { r.mutable_components(1)->set_volume_ml(-200); }, "components[1].volume_ml")
      .Invalid(
          kQuantity, "red cells quantity -1",
          [](auto& r) { r.mutable_components(0)->set_quantity(-1); }, "components[0].quantity")
      .Invalid(
          kTime, "processed in an hour",
          [](auto& r) { *r.mutable_processed_at() = In(absl::Hours(1)); }, "processed_at")
      .Oversized("components[0].product_code", 16,
                 [](auto& r) { return r.mutable_components(0)->mutable_product_code(); });

  auto units = Rpc(cases, "AdminApi.ListUnits", api, &Stub::ListUnits, Admin(),
                   [] { return v1::ListUnitsRequest(); });
  units.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kEnum, "component 999", [](auto& r) { r.set_component(Unknown<v1::Component>()); },
          "component")
      .Invalid(
          kEnum, "status 999", [](auto& r) { r.set_status(Unknown<v1::UnitStatus>()); }, "status")
      .Invalid(
          kConsistency, "blood type without ABO group",
          [](auto& r) { r.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE); }, "blood_type")
      .Invalid(
          kQuantity, "page_size -1", [](auto& r) { r.set_page_size(-1); }, "page_size")
      .Invalid(
          kPageToken, "page_token of SQL text",
          [](auto& r) { r.set_page_token(kSqlInjections[0]); }, "page_token")
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Oversized("donor_id", 64, [](auto& r) { return r.mutable_donor_id(); })
      .Oversized("station_id", 32, [](auto& r) { return r.mutable_station_id(); });
  // An empty DIN is "any DIN" here, so only malformed non-empty ones.
  units.BadDins(
      [&s](auto& r) {
        r.set_din(s.released_din);
        return r.mutable_din();
      },
      /*all=*/false);

  auto trace = Rpc(cases, "AdminApi.GetUnitTrace", api, &Stub::GetUnitTrace, Admin(),
                   [&s] { return ValidGetUnitTrace(s); });
  BadTokens(trace, false);
  trace.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .BadDins([](auto& r) { return r.mutable_din(); }, /*all=*/true)
      .Oversized("din", 15, [](auto& r) { return r.mutable_din(); })
      .NotUtf8("din", [](auto& r) { return r.mutable_din(); });

  auto discard = Rpc(cases, "AdminApi.DiscardUnit", api, &Stub::DiscardUnit, Admin(),
                     [&s] { return ValidDiscardUnit(s); });
  discard.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .BadDins([](auto& r) { return r.mutable_din(); }, /*all=*/false)
      .Invalid(
          kMissing, "neither unit_id nor din", [](auto& r) { r.clear_unit(); }, "unit_id")
      .Invalid(
          kMissing, "no reason", [](auto& r) { r.clear_reason(); }, "reason")
      .Invalid(
          kEnum, "reason 999", [](auto& r) { r.set_reason(Unknown<v1::DiscardReason>()); },
          "reason")
      .Invalid(
          kConsistency, "OTHER without a note",
          [](auto& r) {
            r.set_reason(v1::DISCARD_REASON_OTHER);
            r.clear_note();
          },
          "note")
      .Injected("unit_id", [](auto& r) { return r.mutable_unit_id(); })
      .Oversized("unit_id", 64, [](auto& r) { return r.mutable_unit_id(); })
      .Oversized("note", 1000, [](auto& r) { return r.mutable_note(); });

  auto summary = Rpc(cases, "AdminApi.GetStockSummary", api, &Stub::GetStockSummary, Admin(),
                     ValidGetStockSummary);
  summary.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kEnum, "component 999", [](auto& r) { r.set_component(Unknown<v1::Component>()); },
          "component")
      .Refused(
          kReference, "unknown station S9", [](auto& r) { r.set_station_id("S9"); },
          StatusCode::NOT_FOUND)
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Oversized("station_id", 32, [](auto& r) { return r.mutable_station_id(); });

  auto par = Rpc(cases, "AdminApi.SetParLevel", api, &Stub::SetParLevel, Admin(), ValidSetParLevel);
  par.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no station_id", [](auto& r) { r.clear_station_id(); }, "station_id")
      .Invalid(
          kMissing, "no component", [](auto& r) { r.clear_component(); }, "component")
      .Invalid(
          kMissing, "no blood type", [](auto& r) { r.clear_blood_type(); }, "blood_type")
      .Invalid(
          kEnum, "component 999", [](auto& r) { r.set_component(Unknown<v1::Component>()); },
          "component")
      .Invalid(
          kEnum, "ABO group 999",
          [](auto& r) { r.mutable_blood_type()->set_abo(Unknown<v1::AboGroup>()); }, "blood_type")
      .Invalid(
          kQuantity, "minimum -1", [](auto& r) { r.set_minimum(-1); }, "minimum")
      .Invalid(
          kQuantity, "minimum INT64_MIN",
          [](auto& r) { r.set_minimum(std::numeric_limits<int64_t>::min()); }, "minimum")
      .Invalid(
          kQuantity, "target below minimum", [](auto& r) { r.set_target(1); }, "target")
      .Refused(
          kReference, "unknown station S9", [](auto& r) { r.set_station_id("S9"); },
          StatusCode::NOT_FOUND)
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Oversized("station_id", 32, [](auto& r) { return r.mutable_station_id(); });

  auto station =
      Rpc(cases, "AdminApi.UpsertStation", api, &Stub::UpsertStation, Admin(), ValidUpsertStation);
  station.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no station", [](auto& r) { r.clear_station(); }, "station")
      .Invalid(
          kMissing, "no station_id", [](auto& r) { r.mutable_station()->clear_station_id(); },
          "station.station_id")
      .Invalid(
          kMissing, "no name", [](auto& r) { r.mutable_station()->clear_name(); }, "station.name")
      .Invalid(
          kMissing, "no kind", [](auto& r) { r.mutable_station()->clear_kind(); }, "station.kind")
      .Invalid(
          kEnum, "kind 999",
          [](auto& r) { r.mutable_station()->set_kind(Unknown<v1::StationKind>()); },
          "station.kind")
      .Invalid(
          kQuantity, "latitude 91",
          [](auto& r) { r.mutable_station()->mutable_location()->set_latitude(91); },
          "station.location.latitude")
      .Invalid(
          kQuantity, "longitude -181",
          [](auto& r) { r.mutable_station()->mutable_location()->set_longitude(-181); },
          "station.location.longitude")
      .Invalid(
          kQuantity, "latitude NaN",
          [](auto& r) {
            r.mutable_station()->mutable_location()->set_latitude(
                std::numeric_limits<double>::quiet_NaN());
          },
          "station.location.latitude")
      .Injected("station.station_id",
                [](auto& r) { return r.mutable_station()->mutable_station_id(); })
      .Oversized("station.station_id", 32,
                 [](auto& r) { return r.mutable_station()->mutable_station_id(); })
      .Oversized("station.name", 100, [](auto& r) { return r.mutable_station()->mutable_name(); })
      .Oversized("station.address", 300,
                 [](auto& r) { return r.mutable_station()->mutable_address(); })
      .NotUtf8("station.name", [](auto& r) { return r.mutable_station()->mutable_name(); })
      .NotUtf8("station.station_id",
               [](auto& r) { return r.mutable_station()->mutable_station_id(); });

  auto hospital = Rpc(cases, "AdminApi.UpsertHospital", api, &Stub::UpsertHospital, Admin(),
                      ValidUpsertHospital);
  hospital.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no hospital", [](auto& r) { r.clear_hospital(); }, "hospital")
      .Invalid(
          kMissing, "no hospital_id", [](auto& r) { r.mutable_hospital()->clear_hospital_id(); },
          "hospital.hospital_id")
      .Invalid(
          kMissing, "no name", [](auto& r) { r.mutable_hospital()->clear_name(); }, "hospital.name")
      .Invalid(
          kMissing, "no serving station",
          [](auto& r) { r.mutable_hospital()->clear_serving_station_id(); },
          "hospital.serving_station_id")
      .Invalid(
          kReference, "unknown serving station S9",
          [](auto& r) { r.mutable_hospital()->set_serving_station_id("S9"); },
          "hospital.serving_station_id")
      .Invalid(
          kReference, "unknown fallback station S9",
          [](auto& r) { r.mutable_hospital()->set_fallback_station_ids(0, "S9"); },
          "hospital.fallback_station_ids[0]")
      .Invalid(
          kConsistency, "serving station among the fallbacks",
          [](auto& r) { r.mutable_hospital()->add_fallback_station_ids("S1"); },
          "hospital.fallback_station_ids[1]")
      .Invalid(
          kConsistency, "a fallback twice",
          [](auto& r) { r.mutable_hospital()->add_fallback_station_ids("S2"); },
          "hospital.fallback_station_ids[1]")
      .Invalid(
          kConsistency, "21 fallback stations",
          [](auto& r) {
            for (int i = 0; i < 20; ++i)
              r.mutable_hospital()->add_fallback_station_ids(absl::StrCat("F", i));
          },
          "hospital.fallback_station_ids")
      .Invalid(
          kQuantity, "latitude -200",
          [](auto& r) { r.mutable_hospital()->mutable_location()->set_latitude(-200); },
          "hospital.location.latitude")
      .Injected("hospital.hospital_id",
                [](auto& r) { return r.mutable_hospital()->mutable_hospital_id(); })
      .Injected("hospital.serving_station_id",
                [](auto& r) { return r.mutable_hospital()->mutable_serving_station_id(); })
      .Oversized("hospital.hospital_id", 32,
                 [](auto& r) { return r.mutable_hospital()->mutable_hospital_id(); })
      .Oversized("hospital.name", 200, [](auto& r) { return r.mutable_hospital()->mutable_name(); })
      .Oversized("hospital.serving_station_id", 32,
                 [](auto& r) { return r.mutable_hospital()->mutable_serving_station_id(); })
      .Oversized("hospital.fallback_station_ids[0]", 32,
                 [](auto& r) { return r.mutable_hospital()->mutable_fallback_station_ids(0); })
      .Oversized("hospital.address", 300,
                 [](auto& r) { return r.mutable_hospital()->mutable_address(); })
      .NotUtf8("hospital.name", [](auto& r) { return r.mutable_hospital()->mutable_name(); });

  auto orders = Rpc(cases, "AdminApi.ListOrders", api, &Stub::ListOrders, Admin(),
                    [] { return v1::ListOrdersRequest(); });
  orders.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kPageToken, "page_token of another filter",
          [](auto& r) {
            v1::PageCursor cursor;
            cursor.set_after_key(1);
            cursor.set_filter_hash(42);
            r.set_page_token(absl::WebSafeBase64Escape(cursor.SerializeAsString()));
          },
          "page_token")
      .Injected("hospital_id", [](auto& r) { return r.mutable_hospital_id(); })
      .Oversized("hospital_id", 32, [](auto& r) { return r.mutable_hospital_id(); });

  auto review = Rpc(cases, "AdminApi.ReviewOrder", api, &Stub::ReviewOrder, Admin(),
                    [&s] { return ValidReviewOrder(s); });
  review
      .From(kRole, H2(), StatusCode::PERMISSION_DENIED, nullptr,
            "hospital H2 reviewing its own order")
      .From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .From(kRole, Dispatcher(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no order_id", [](auto& r) { r.clear_order_id(); }, "order_id")
      .Invalid(
          kMissing, "no reviewer", [](auto& r) { r.clear_reviewer(); }, "reviewer")
      .Invalid(
          kConsistency, "rejection without a note", [](auto& r) { r.clear_note(); }, "note")
      .Injected(
          "order_id", [](auto& r) { return r.mutable_order_id(); }, StatusCode::NOT_FOUND)
      .Oversized("reviewer", 100, [](auto& r) { return r.mutable_reviewer(); })
      .Oversized("order_id", 40, [](auto& r) { return r.mutable_order_id(); })
      .Oversized("note", 1000, [](auto& r) { return r.mutable_note(); });
}

void DispatchApiCases(std::vector<Case>& cases, Region& region, const Seeds& s) {
  v1::DispatchApi::Stub& api = region.dispatch();
  using Stub = v1::DispatchApi::Stub;

  auto dispatch = Rpc(cases, "DispatchApi.DispatchOrder", api, &Stub::DispatchOrder, Dispatcher(),
                      [&s] { return ValidDispatchOrder(s); });
  BadTokens(dispatch, false);
  dispatch
      .From(kRole, H1(), StatusCode::PERMISSION_DENIED, nullptr,
            "hospital H1 dispatching its own order")
      .From(kRole, H2(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no order_id", [](auto& r) { r.clear_order_id(); }, "order_id")
      .Injected(
          "order_id", [](auto& r) { return r.mutable_order_id(); }, StatusCode::NOT_FOUND)
      .Oversized("order_id", 40, [](auto& r) { return r.mutable_order_id(); });

  auto plan = Rpc(cases, "DispatchApi.PlanRebalance", api, &Stub::PlanRebalance, Dispatcher(),
                  ValidPlanRebalance);
  BadTokens(plan, false);
  plan.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kQuantity, "horizon 0 h", [](auto& r) { r.set_horizon_hours(0); }, "horizon_hours")
      .Invalid(
          kQuantity, "horizon -1 h", [](auto& r) { r.set_horizon_hours(-1); }, "horizon_hours")
      .Invalid(
          kQuantity, "horizon 337 h", [](auto& r) { r.set_horizon_hours(337); }, "horizon_hours")
      .Invalid(
          kQuantity, "horizon INT32_MIN",
          [](auto& r) { r.set_horizon_hours(std::numeric_limits<int32_t>::min()); },
          "horizon_hours")
      .Invalid(
          kReference, "unknown station S9", [](auto& r) { r.set_station_id("S9"); }, "station_id")
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Oversized("station_id", 32, [](auto& r) { return r.mutable_station_id(); });

  auto transfer = Rpc(cases, "DispatchApi.CreateTransfer", api, &Stub::CreateTransfer, Dispatcher(),
                      ValidCreateTransfer);
  BadTokens(transfer, /*full=*/true);
  transfer.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no from_station_id", [](auto& r) { r.clear_from_station_id(); },
          "from_station_id")
      .Invalid(
          kMissing, "no to_station_id", [](auto& r) { r.clear_to_station_id(); }, "to_station_id")
      .Invalid(
          kMissing, "no items", [](auto& r) { r.clear_items(); }, "items")
      .Invalid(
          kMissing, "an item with neither unit nor lot",
          [](auto& r) { r.mutable_items(0)->Clear(); }, "items[0]")
      .Invalid(
          kConsistency, "to the station it comes from", [](auto& r) { r.set_to_station_id("S1"); },
          "to_station_id")
      .Invalid(
          kConsistency, "a reservation_key from a client",
          [](auto& r) { r.set_reservation_key("O-1/1/1"); }, "reservation_key")
      .Invalid(
          kConsistency, "501 items",
          [](auto& r) {
            for (int i = 0; i < 500; ++i) *r.add_items() = r.items(0);
          },
          "items")
      .Invalid(
          kConsistency, "lot blood type without RhD",
          [](auto& r) { r.mutable_items(0)->mutable_lot()->mutable_blood_type()->clear_rhd(); },
          "items[0].lot.blood_type")
      .Invalid(
          kEnum, "lot component 999",
          [](auto& r) {
            r.mutable_items(0)->mutable_lot()->set_component(Unknown<v1::Component>());
          },
          "items[0].lot.component")
      .Invalid(
          kQuantity, "lot of 0 mL",
          [](auto& r) { r.mutable_items(0)->mutable_lot()->set_quantity(0); },
          "items[0].lot.quantity")
      .Invalid(
          kQuantity, "lot of -200 mL",
          [](auto& r) { r.mutable_items(0)->mutable_lot()->set_quantity(-200); },
          "items[0].lot.quantity")
      .Invalid(
          kReference, "unknown destination S9", [](auto& r) { r.set_to_station_id("S9"); },
          "to_station_id")
      .Injected("from_station_id", [](auto& r) { return r.mutable_from_station_id(); })
      .Injected("items[0].unit_id", [](auto& r) { return r.mutable_items(0)->mutable_unit_id(); })
      .Oversized("reason", 1000, [](auto& r) { return r.mutable_reason(); })
      .Oversized("from_station_id", 32, [](auto& r) { return r.mutable_from_station_id(); })
      .Oversized("to_station_id", 32, [](auto& r) { return r.mutable_to_station_id(); })
      .Oversized("items[0].unit_id", 64,
                 [](auto& r) { return r.mutable_items(0)->mutable_unit_id(); })
      .OverLimit("reason", [](auto& r) { return r.mutable_reason(); });

  auto receive = Rpc(cases, "DispatchApi.ReceiveTransfer", api, &Stub::ReceiveTransfer,
                     Dispatcher(), [&s] { return ValidReceiveTransfer(s); });
  receive.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .RequestIds()
      .Invalid(
          kMissing, "no transfer_id", [](auto& r) { r.clear_transfer_id(); }, "transfer_id")
      .Invalid(
          kConsistency, "a rejected unit twice",
          [](auto& r) {
            r.add_rejected_unit_ids("U-1");
            r.add_rejected_unit_ids("U-1");
          },
          "rejected_unit_ids[1]")
      .Invalid(
          kTime, "received in an hour",
          [](auto& r) { *r.mutable_received_at() = In(absl::Hours(1)); }, "received_at")
      .Injected("transfer_id", [](auto& r) { return r.mutable_transfer_id(); })
      .Oversized("transfer_id", 64, [](auto& r) { return r.mutable_transfer_id(); })
      .Oversized("rejected_unit_ids[0]", 64, [](auto& r) { return r.add_rejected_unit_ids(); })
      .Oversized("note", 1000, [](auto& r) { return r.mutable_note(); });

  auto transfers = Rpc(cases, "DispatchApi.ListTransfers", api, &Stub::ListTransfers, Dispatcher(),
                       [] { return v1::ListTransfersRequest(); });
  transfers.From(kRole, H1(), StatusCode::PERMISSION_DENIED)
      .Invalid(
          kEnum, "status 999", [](auto& r) { r.set_status(Unknown<v1::TransferStatus>()); },
          "status")
      .Invalid(
          kQuantity, "page_size -1", [](auto& r) { r.set_page_size(-1); }, "page_size")
      .Injected("station_id", [](auto& r) { return r.mutable_station_id(); })
      .Oversized("station_id", 32, [](auto& r) { return r.mutable_station_id(); });

  // WatchStock is a server stream: a refused call ends it at once with the status.
  Stub* stub = &api;
  const auto watch = [&cases, stub](absl::string_view family, absl::string_view what,
                                    const Credential& caller, std::optional<std::string> station,
                                    StatusCode code, absl::string_view field,
                                    std::string resume_token = "") {
    Case c{std::string(family), absl::StrCat("DispatchApi.WatchStock: ", what), code,
           std::string(field), nullptr};
    c.send = [stub, caller, station, resume_token] {
      v1::WatchStockRequest request;
      if (station.has_value()) request.set_station_id(*station);
      request.set_resume_token(resume_token);
      std::unique_ptr<grpc::ClientContext> context = ContextFor(caller, absl::Seconds(5));
      std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader =
          stub->WatchStock(context.get(), request);
      v1::StockEvent event;
      while (reader->Read(&event)) {
      }
      return reader->Finish();
    };
    cases.push_back(std::move(c));
  };
  for (const Credential& credential : BadCredentials(false)) {
    watch(kToken, absl::StrCat("as ", credential.label), credential, "S1",
          StatusCode::UNAUTHENTICATED, "");
  }
  watch(kRole, "as hospital H1", H1(), "S1", StatusCode::PERMISSION_DENIED, "");
  watch(kReference, "unknown station S9", Dispatcher(), "S9", StatusCode::NOT_FOUND, "");
  for (const char* sql : kSqlInjections) {
    watch(kInjection, absl::StrCat("station_id = ", sql), Dispatcher(), sql,
          StatusCode::INVALID_ARGUMENT, "station_id");
  }
  watch(kOversized, "station_id of 33 characters", Dispatcher(), std::string(33, 'x'),
        StatusCode::INVALID_ARGUMENT, "station_id");
  watch(kOversized, "station_id of 1 MB", Dispatcher(), std::string(kOneMegabyte, 'x'),
        StatusCode::INVALID_ARGUMENT, "station_id");
  // Resume tokens are opaque: one the service did not make, or one ahead of the change feed.
  for (const char* token : {"f1.x.1", "f2.1.1", "f1.1", "f1.01.1", "'; DROP TABLE units; --"}) {
    watch(kPageToken, absl::StrCat("resume_token ", token), Dispatcher(), "S1",
          StatusCode::INVALID_ARGUMENT, "resume_token", token);
  }
  watch(kPageToken, "resume_token ahead of the feed", Dispatcher(), "S1",
        StatusCode::INVALID_ARGUMENT, "resume_token", "f1.999999999.1");
}

std::vector<Case> BuildCorpus(Region& region, const Seeds& seeds) {
  std::vector<Case> cases;
  HospitalApiCases(cases, region, seeds);
  AdminDonorCases(cases, region, seeds);
  AdminInventoryAndOrderCases(cases, region, seeds);
  DispatchApiCases(cases, region, seeds);
  return cases;
}

std::string CodeName(StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// A message for a failure line: long echoes cut short.
std::string Shortened(const std::string& message) {
  constexpr size_t kMax = 160;
  if (message.size() <= kMax) return message;
  return absl::StrCat(message.substr(0, kMax), "... (", message.size(), " bytes)");
}

// "table: before -> after" for every table whose count differs.
std::string CountChanges(const std::map<std::string, int64_t>& before,
                         const std::map<std::string, int64_t>& after) {
  std::string changes;
  for (const auto& [table, count] : after) {
    auto it = before.find(table);
    const int64_t was = it == before.end() ? -1 : it->second;
    if (was != count) absl::StrAppend(&changes, "\n  ", table, ": ", was, " -> ", count);
  }
  for (const auto& [table, count] : before) {
    if (!after.contains(table)) absl::StrAppend(&changes, "\n  ", table, ": dropped");
  }
  return changes;
}

class BadInputCorpusE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    region_ = new Region("corpus");
    SetUpTopology(*region_);
    Seed(*region_, seeds_);
    seeded_ = !::testing::Test::HasFatalFailure();
  }
  static void TearDownTestSuite() {
    delete region_;
    region_ = nullptr;
  }

  // Fills `s` through the public API; ASSERTs each step.
  static void Seed(Region& region, Seeds& s) {
    const v1::BloodType a_pos = APos();
    s.donor_id = RegisterDonor(region, a_pos);
    s.released_din = Donate(region, s.donor_id, absl::Hours(3));
    e2e::Test(region, s.released_din, a_pos);
    Process(region, s.released_din);
    for (int i = 0; i < 3; ++i) StockUp(region, a_pos);  // 4 red-cell bags, 4 plasma bags at S1

    s.fresh_donor_id = RegisterDonor(region, a_pos);
    s.deferral_donor_id = RegisterDonor(region, a_pos);
    v1::DeferDonorRequest defer = ValidDeferDonor(s);
    v1::Deferral deferral;
    grpc::Status status = region.admin().DeferDonor(AdminContext().get(), defer, &deferral);
    ASSERT_TRUE(status.ok()) << status.error_message();
    s.deferral_id = deferral.deferral_id();

    const v1::BloodType o_pos = Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE);
    s.whole_blood_din = Donate(region, RegisterDonor(region, o_pos), absl::Hours(3));
    e2e::Test(region, s.whole_blood_din, o_pos);
    s.quarantined_type = Type(v1::ABO_GROUP_B, v1::RH_D_NEGATIVE);
    s.quarantined_din = Donate(region, RegisterDonor(region, s.quarantined_type), absl::Hours(1));

    v1::Order order;
    status = region.hospital().PlaceOrder(HospitalContext(1).get(), ValidPlaceOrder(), &order);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
    v1::DispatchOrderRequest dispatch;
    dispatch.set_request_id(NextRequestId());
    dispatch.set_order_id(order.order_id());
    status = region.dispatch().DispatchOrder(DispatcherContext().get(), dispatch, &order);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(order.status(), v1::ORDER_STATUS_DISPATCHED);
    s.dispatched_order_id = order.order_id();
    s.dispatched_din = order.lines(0).units(0).din();

    status = region.hospital().PlaceOrder(HospitalContext(1).get(), ValidPlaceOrder(), &order);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
    s.allocated_order_id = order.order_id();

    v1::PlaceOrderRequest unsigned_order = ValidPlaceOrder();
    unsigned_order.clear_approvals();  // a ROUTINE order without the physician's sign-off
    status = region.hospital().PlaceOrder(HospitalContext(2).get(), unsigned_order, &order);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(order.status(), v1::ORDER_STATUS_IN_REVIEW) << order.ShortDebugString();
    s.h2_order_id = order.order_id();

    v1::Transfer transfer;
    status = region.dispatch().CreateTransfer(DispatcherContext().get(), ValidCreateTransfer(),
                                              &transfer);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(transfer.status(), v1::TRANSFER_STATUS_IN_TRANSIT);
    s.transfer_id = transfer.transfer_id();
  }

  static inline Region* region_ = nullptr;
  static inline Seeds seeds_;
  static inline bool seeded_ = false;
};

TEST(DinCheckCharacterTest, MatchesTheStandardsTestVectors) {
  EXPECT_EQ(CheckCharacter("G123417654321"), 'A');
  EXPECT_EQ(CheckCharacter("G123498654321"), 'H');
  EXPECT_EQ(CheckCharacter("A999921123456"), '3');
  EXPECT_EQ(CheckCharacter("W000009123456"), 'G');
  EXPECT_EQ(CheckCharacter("G123489654321"), 'Y');
}

TEST_F(BadInputCorpusE2eTest, EveryBadRequestIsRefusedAndChangesNothing) {
  ASSERT_TRUE(seeded_) << "seeding the region failed";
  const std::vector<Case> corpus = BuildCorpus(*region_, seeds_);
  std::vector<std::string> families;
  std::map<std::string, std::vector<const Case*>> by_family;
  for (const Case& c : corpus) {
    if (!by_family.contains(c.family)) families.push_back(c.family);
    by_family[c.family].push_back(&c);
  }

  const absl::Time start = absl::Now();
  const std::map<std::string, int64_t> initial = region_->AllRowCounts();
  std::map<std::string, int64_t> counts = initial;
  for (const std::string& family : families) {
    std::vector<std::string> suspects;  // cases that were not refused as expected
    for (const Case* c : by_family[family]) {
      const grpc::Status status = c->send();
      const bool as_expected = status.error_code() == c->expected;
      EXPECT_TRUE(as_expected) << "[" << c->family << "] " << c->name << ": expected "
                               << CodeName(c->expected) << ", got " << CodeName(status.error_code())
                               << " \"" << Shortened(status.error_message()) << "\"";
      if (!as_expected) suspects.push_back(c->name);
      if (as_expected && c->expected == StatusCode::INVALID_ARGUMENT && !c->field.empty()) {
        EXPECT_TRUE(absl::StartsWith(status.error_message(), c->field))
            << "[" << c->family << "] " << c->name << ": the message should start with \""
            << c->field << "\": \"" << Shortened(status.error_message()) << "\"";
      }
    }
    const std::map<std::string, int64_t> after = region_->AllRowCounts();
    EXPECT_TRUE(after == counts) << "family " << family
                                 << " changed row counts:" << CountChanges(counts, after)
                                 << "\nits cases not refused as "
                                 << "expected: " << absl::StrJoin(suspects, "; ");
    counts = after;
  }
  EXPECT_TRUE(counts == initial) << CountChanges(initial, counts);

  std::map<std::string, int> per_code;
  for (const Case& c : corpus) ++per_code[CodeName(c.expected)];
  std::printf("bad-input corpus: %zu cases in %s\n", corpus.size(),
              absl::FormatDuration(absl::Now() - start).c_str());
  for (const std::string& family : families) {
    std::printf("  %-20s %4zu\n", family.c_str(), by_family[family].size());
  }
  for (const auto& [code, n] : per_code) std::printf("  expected %-20s %4d\n", code.c_str(), n);
  EXPECT_GE(corpus.size(), 200u);
}

// The requests the corpus changed, sent as they are: each succeeds, so every refusal in the
// corpus was caused by the one thing its case changed. Runs after the corpus, whose row counts
// these writes would disturb. Also what the corpus leaves out because it is accepted: SQL text
// in free-text fields (stored and read back verbatim), LIKE wildcards in a name prefix (matched
// literally), DINs in lower case, printed with spaces or with their check character, and the
// lower-case "bearer" scheme.
TEST_F(BadInputCorpusE2eTest, ValidRequestsSucceed) {
  ASSERT_TRUE(seeded_) << "seeding the region failed";
  const Seeds& s = seeds_;
  v1::HospitalApi::Stub& hospital = region_->hospital();
  v1::AdminApi::Stub& admin = region_->admin();
  v1::DispatchApi::Stub& dispatch = region_->dispatch();
  const auto ok = [](absl::string_view rpc, const grpc::Status& status) {
    EXPECT_TRUE(status.ok()) << rpc << ": " << CodeName(status.error_code()) << " \""
                             << Shortened(status.error_message()) << "\"";
    return status.ok();
  };

  // HospitalApi.
  v1::Order order;
  if (ok("PlaceOrder", hospital.PlaceOrder(ContextFor(H1()).get(), ValidPlaceOrder(), &order))) {
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << order.ShortDebugString();
  }
  const std::string placed_order_id = order.order_id();
  ok("PlaceOrder (admin)",
     hospital.PlaceOrder(ContextFor(Admin()).get(), ValidAdminPlaceOrder(), &order));
  ok("GetOrder", hospital.GetOrder(ContextFor(H1()).get(), ValidGetOrder(s), &order));
  v1::ListOrdersResponse orders;
  ok("ListOrders", hospital.ListOrders(ContextFor(H1()).get(), v1::ListOrdersRequest(), &orders));
  v1::CancelOrderRequest cancel = ValidCancelOrder(s);
  cancel.set_order_id(placed_order_id);  // the seeded ALLOCATED order is dispatched below
  if (ok("CancelOrder", hospital.CancelOrder(ContextFor(H1()).get(), cancel, &order))) {
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_CANCELLED);
  }
  ok("ConfirmDelivery",
     hospital.ConfirmDelivery(ContextFor(H1()).get(), ValidConfirmDelivery(s), &order));
  if (ok("ReportTransfusion",
         hospital.ReportTransfusion(ContextFor(H1()).get(), ValidReportTransfusion(s), &order))) {
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_COMPLETED);
  }
  v1::GetAvailabilityResponse availability;
  ok("GetAvailability (\"bearer\" in lower case)",
     hospital.GetAvailability(
         ContextFor({"bearer", absl::StrCat("bearer ", kHospital1Token)}).get(),
         v1::GetAvailabilityRequest(), &availability));

  // SQL text in free-text fields is data: stored and read back as given.
  v1::PlaceOrderRequest sql_text = ValidPlaceOrder();
  sql_text.set_indication(kSqlInjections[0]);
  sql_text.set_ward(kSqlInjections[1]);
  sql_text.mutable_patient()->set_patient_ref(kSqlInjections[2]);
  if (ok("PlaceOrder with SQL text in free-text fields",
         hospital.PlaceOrder(ContextFor(H1()).get(), sql_text, &order))) {
    v1::GetOrderRequest get;
    get.set_order_id(order.order_id());
    if (ok("GetOrder of it", hospital.GetOrder(ContextFor(H1()).get(), get, &order))) {
      EXPECT_EQ(order.indication(), kSqlInjections[0]);
      EXPECT_EQ(order.ward(), kSqlInjections[1]);
      EXPECT_EQ(order.patient().patient_ref(), kSqlInjections[2]);
    }
  }

  // AdminApi: donors.
  v1::Donor donor;
  ok("RegisterDonor", admin.RegisterDonor(ContextFor(Admin()).get(), ValidRegisterDonor(), &donor));
  ok("GetDonor", admin.GetDonor(ContextFor(Admin()).get(), ValidGetDonor(s), &donor));
  v1::SearchDonorsResponse found;
  if (ok("SearchDonors",
         admin.SearchDonors(ContextFor(Admin()).get(), ValidSearchDonors(), &found))) {
    EXPECT_FALSE(found.donors().empty());
  }
  v1::SearchDonorsRequest wildcard;
  wildcard.set_name_prefix("%");
  if (ok("SearchDonors by \"%\"",
         admin.SearchDonors(ContextFor(Admin()).get(), wildcard, &found))) {
    EXPECT_TRUE(found.donors().empty()) << "'%' is a literal character, not a wildcard";
  }
  v1::CheckEligibilityResponse eligibility;
  if (ok("CheckEligibility", admin.CheckEligibility(ContextFor(Admin()).get(),
                                                    ValidCheckEligibility(s), &eligibility))) {
    EXPECT_TRUE(eligibility.eligible()) << eligibility.ShortDebugString();
  }
  v1::AdminRecordDonationResponse donation;
  ok("RecordDonation",
     admin.RecordDonation(ContextFor(Admin()).get(), ValidRecordDonation(s), &donation));
  v1::ListDonationsResponse donations;
  ok("ListDonations",
     admin.ListDonations(ContextFor(Admin()).get(), ValidListDonations(s), &donations));
  v1::Deferral deferral;
  ok("DeferDonor", admin.DeferDonor(ContextFor(Admin()).get(), ValidDeferDonor(s), &deferral));
  ok("VoidDeferral",
     admin.VoidDeferral(ContextFor(Admin()).get(), ValidVoidDeferral(s), &deferral));
  v1::FindAppealCandidatesResponse candidates;
  ok("FindAppealCandidates", admin.FindAppealCandidates(ContextFor(Admin()).get(),
                                                        ValidFindAppealCandidates(), &candidates));
  v1::Appeal appeal;
  ok("CreateAppeal", admin.CreateAppeal(ContextFor(Admin()).get(), ValidCreateAppeal(s), &appeal));
  v1::ReimbursementBalance balance;
  ok("GetReimbursementBalance",
     admin.GetReimbursementBalance(ContextFor(Admin()).get(), ValidReimbursementBalance(s),
                                   &balance));
  v1::ClaimReimbursementRequest claim = ValidClaimReimbursement(s);
  claim.set_invoice_no(kSqlInjections[2]);  // free text, 1-64 characters
  v1::ClaimReimbursementResponse claimed;
  ok("ClaimReimbursement (SQL text as the invoice number)",
     admin.ClaimReimbursement(ContextFor(Admin()).get(), claim, &claimed));

  // AdminApi: testing, processing, stock, topology, review.
  v1::AdminRecordTestResultsResponse tested;
  if (ok("RecordTestResults",
         admin.RecordTestResults(ContextFor(Admin()).get(), ValidRecordTestResults(s), &tested))) {
    EXPECT_EQ(tested.testing().outcome(), v1::TESTING_OUTCOME_RELEASED);
  }
  v1::ProcessDonationResponse processed;
  ok("ProcessDonation",
     admin.ProcessDonation(ContextFor(Admin()).get(), ValidProcessDonation(s), &processed));
  v1::DiscardUnitRequest discard = ValidDiscardUnit(s);
  discard.set_din(s.quarantined_din);  // the seeded whole blood was processed just above
  v1::Unit discarded;
  ok("DiscardUnit", admin.DiscardUnit(ContextFor(Admin()).get(), discard, &discarded));
  v1::ListUnitsResponse units;
  ok("ListUnits", admin.ListUnits(ContextFor(Admin()).get(), v1::ListUnitsRequest(), &units));
  v1::GetUnitTraceResponse trace;
  ok("GetUnitTrace", admin.GetUnitTrace(ContextFor(Admin()).get(), ValidGetUnitTrace(s), &trace));
  for (const std::string& din :
       {absl::AsciiStrToLower(s.released_din),
        absl::StrCat(s.released_din, std::string(1, CheckCharacter(s.released_din))),
        absl::StrCat(s.released_din.substr(0, 5), " ", s.released_din.substr(5, 2), " ",
                     s.released_din.substr(7))}) {
    v1::GetUnitTraceRequest request;
    request.set_din(din);
    if (ok(absl::StrCat("GetUnitTrace of \"", din, "\""),
           admin.GetUnitTrace(ContextFor(Admin()).get(), request, &trace))) {
      EXPECT_FALSE(trace.units().empty());
    }
  }
  v1::GetStockSummaryResponse summary;
  ok("GetStockSummary",
     admin.GetStockSummary(ContextFor(Admin()).get(), ValidGetStockSummary(), &summary));
  v1::ParLevel par;
  ok("SetParLevel", admin.SetParLevel(ContextFor(Admin()).get(), ValidSetParLevel(), &par));
  v1::Station station;
  ok("UpsertStation",
     admin.UpsertStation(ContextFor(Admin()).get(), ValidUpsertStation(), &station));
  v1::Hospital registered;
  ok("UpsertHospital",
     admin.UpsertHospital(ContextFor(Admin()).get(), ValidUpsertHospital(), &registered));
  ok("ListOrders (admin)",
     admin.ListOrders(ContextFor(Admin()).get(), v1::ListOrdersRequest(), &orders));
  if (ok("ReviewOrder",
         admin.ReviewOrder(ContextFor(Admin()).get(), ValidReviewOrder(s), &order))) {
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_REJECTED);
  }

  // DispatchApi.
  if (ok("DispatchOrder",
         dispatch.DispatchOrder(ContextFor(Dispatcher()).get(), ValidDispatchOrder(s), &order))) {
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_DISPATCHED);
  }
  v1::PlanRebalanceResponse plan;
  ok("PlanRebalance",
     dispatch.PlanRebalance(ContextFor(Dispatcher()).get(), ValidPlanRebalance(), &plan));
  v1::Transfer transfer;
  ok("CreateTransfer",
     dispatch.CreateTransfer(ContextFor(Dispatcher()).get(), ValidCreateTransfer(), &transfer));
  if (ok("ReceiveTransfer", dispatch.ReceiveTransfer(ContextFor(Dispatcher()).get(),
                                                     ValidReceiveTransfer(s), &transfer))) {
    EXPECT_EQ(transfer.status(), v1::TRANSFER_STATUS_RECEIVED);
  }
  v1::ListTransfersResponse transfers;
  ok("ListTransfers", dispatch.ListTransfers(ContextFor(Dispatcher()).get(),
                                             v1::ListTransfersRequest(), &transfers));

  // After all of that, every table is still there.
  const std::map<std::string, int64_t> counts = region_->AllRowCounts();
  EXPECT_TRUE(counts.contains("inventory.units"));
  EXPECT_TRUE(counts.contains("request.orders"));
}

}  // namespace
}  // namespace bloodgrid::e2e
