// libFuzzer target for the request checks the services run before touching the database: the
// input is a selector byte and a serialized public request message (fuzz/request_kinds.h), parsed
// as gRPC would parse it and given to the pure validation function the service calls
// (request_rules.h, inventory_rules.h, donor_rules.h), with a fixed clock and the default policy
// profile.
//
// Properties, beyond "no crash, no sanitizer report":
//  - validation is deterministic: the same request gives the same status twice;
//  - a rejection is INVALID_ARGUMENT with a message "<field path>: <problem>" whose path names a
//    field of the request that exists ("lines[1].quantity": `lines` is a field of the request,
//    it is repeated and has an element 1, and that element has a field `quantity`);
//  - what validation accepts, the next step can use:
//    PlaceOrder - every line gets an allocation plan; no plan offers RhD-positive blood to an
//      RhD-negative or untyped patient outside EMERGENCY or with anti-D; every candidate is
//      ABO/RhD-compatible and AssessUnit marks exactly the candidates flagged as exceptions;
//    RegisterCollection - the DIN parses; the collection plan has a component, a positive
//      quantity and an expiry after collection (or names the anticoagulant the profile lacks);
//    RecordTestResults - the derived testing state is consistent with the results given;
//    ProcessDonation - a whole-blood parent splits into one child per spec, numbered per
//      component, volumes within the parent's, each expiring after collection;
//    RegisterDonor / UpdateDonor - normalisation is idempotent: normalising the result again,
//      or applying the same update twice, changes nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/donor.pb.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "bloodgrid/v1/request.pb.h"
#include "common/blood.h"
#include "common/din.h"
#include "common/policy.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "donor_service/donor_rules.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/request_kinds.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "inventory_service/inventory_rules.h"
#include "request_service/request_rules.h"

namespace bloodgrid::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

// The fixed "now" every time-dependent check sees; seeds use instants around it.
const absl::Time kNow = absl::FromUnixSeconds(1748764800);  // 2025-06-01T08:00:00Z
constexpr absl::CivilDay kToday(2025, 6, 1);

const v1::PolicyProfile* policy = nullptr;
// BLOODGRID_FUZZ_VERBOSE=1: print each request's verdict (to see what a seed or an artifact is).
bool verbose = false;

// UTC+8, as Asia/Shanghai (no daylight saving time) without needing tzdata.
absl::TimeZone Zone() { return absl::FixedTimeZone(8 * 60 * 60); }

// Walks `path` ("lines[1].quantity", "donor.contact.phone") through `root`: each segment must
// name a field of the message it is in, an index only a repeated field and an element it has,
// and a segment followed by another a message field. Returns what is wrong, or "".
std::string FieldPathProblem(const Message& root, absl::string_view path) {
  const Message* message = &root;
  const std::vector<absl::string_view> segments = absl::StrSplit(path, '.');
  for (size_t i = 0; i < segments.size(); ++i) {
    absl::string_view name = segments[i];
    std::optional<int> index;
    if (absl::EndsWith(name, "]")) {
      const size_t open = name.find('[');
      int value = 0;
      if (open == absl::string_view::npos ||
          !absl::SimpleAtoi(name.substr(open + 1, name.size() - open - 2), &value) || value < 0) {
        return absl::StrCat("'", name, "' is not field[index]");
      }
      index = value;
      name = name.substr(0, open);
    }
    const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(std::string(name));
    if (field == nullptr) {
      return absl::StrCat(message->GetDescriptor()->full_name(), " has no field '", name, "'");
    }
    const auto* reflection = message->GetReflection();
    if (index.has_value()) {
      if (!field->is_repeated()) return absl::StrCat("'", name, "' is not repeated");
      if (*index >= reflection->FieldSize(*message, field)) {
        return absl::StrCat("'", name, "' has no element ", *index);
      }
    }
    if (i + 1 == segments.size()) return "";
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::StrCat("'", name, "' is not a message");
    }
    if (field->is_repeated()) {
      if (!index.has_value()) return absl::StrCat("'", name, "' is repeated but has no index");
      message = &reflection->GetRepeatedMessage(*message, field, *index);
    } else {
      message = &reflection->GetMessage(*message, field);
    }
  }
  return "";
}

void CheckRejection(const Message& request, const absl::Status& status) {
  FUZZ_REQUIRE(status.code() == absl::StatusCode::kInvalidArgument,
               "expected INVALID_ARGUMENT, got ", status.ToString());
  const absl::string_view message = status.message();
  const size_t colon = message.find(": ");
  FUZZ_REQUIRE(colon != absl::string_view::npos && colon > 0 && colon + 2 < message.size(), "\"",
               message, "\" is not \"<field>: <problem>\"");
  const std::string problem = FieldPathProblem(request, message.substr(0, colon));
  FUZZ_REQUIRE(problem.empty(), "\"", message, "\" names no field of ",
               request.GetDescriptor()->full_name(), ": ", problem);
}

// Parses `bytes` as a Request, validates it twice, checks a rejection's shape, and hands an
// accepted request to `on_accepted`.
template <typename Request, typename Validate, typename OnAccepted>
void CheckRequest(absl::string_view bytes, Validate validate, OnAccepted on_accepted) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  const absl::Status status = validate(request);
  const absl::Status again = validate(request);
  if (verbose) {
    std::fprintf(stderr, "%s: %s\n", Request::descriptor()->name().c_str(),
                 status.ToString().c_str());
  }
  FUZZ_REQUIRE(status == again, "validation is not deterministic: ", status.ToString(), " then ",
               again.ToString());
  if (!status.ok()) {
    CheckRejection(request, status);
    return;
  }
  on_accepted(request);
}

template <typename Request, typename Validate>
void CheckRequest(absl::string_view bytes, Validate validate) {
  CheckRequest<Request>(bytes, validate, [](const Request&) {});
}

// ---------------------------------------------------------------------------------------------
// What an accepted request must allow.

void CheckAcceptedOrder(const v1::PlaceOrderRequest& request) {
  const v1::Priority priority = request.priority();
  const std::vector<v1::OrderLineRequest> lines = request::EffectiveLines(request, *policy);
  FUZZ_REQUIRE(!lines.empty(), "accepted order has no lines to allocate");
  const request::Recipient recipient = request::RecipientOf(request.patient(), priority);
  FUZZ_REQUIRE(recipient.blood_type.IsKnown() || recipient.blood_type.IsUnknown(),
               "accepted a half-typed patient: ", recipient.blood_type.ToString());
  // DOMAIN.md section 3: RhD-positive blood for an RhD-negative patient only in a
  // life-threatening emergency, never with anti-D.
  const bool rhd_exception_allowed =
      priority == v1::PRIORITY_EMERGENCY && !request.patient().has_anti_d();
  for (const v1::OrderLineRequest& line : lines) {
    const absl::StatusOr<request::AllocationPlan> plan =
        request::PlanAllocation(line.component(), recipient, priority, *policy);
    FUZZ_REQUIRE(plan.ok(), "accepted order line cannot be planned: ", plan.status().ToString());
    FUZZ_REQUIRE(!plan->phases.empty(), "plan without phases");
    FUZZ_REQUIRE(plan->emergency_unknown_type == recipient.blood_type.IsUnknown(),
                 "emergency release flag wrong for ", recipient.blood_type.ToString());
    for (const request::CandidatePhase& phase : plan->phases) {
      FUZZ_REQUIRE(!phase.candidates.empty(), "phase without candidates");
      bool any_mismatch = false;
      int previous_tier = 1;
      for (const DonorCandidate& candidate : phase.candidates) {
        FUZZ_REQUIRE(candidate.donor.IsKnown(), "candidate of unknown type");
        FUZZ_REQUIRE(candidate.tier >= previous_tier, "tiers decrease along the phase");
        previous_tier = candidate.tier;
        any_mismatch = any_mismatch || candidate.rhd_mismatch;
        const request::UnitDeviation deviation =
            request::AssessUnit(line.component(), recipient, candidate.donor);
        FUZZ_REQUIRE(deviation.rhd_positive_for_negative == candidate.rhd_mismatch,
                     "AssessUnit and the plan disagree on ", candidate.donor.ToString(), " for ",
                     recipient.blood_type.ToString());
        if (recipient.blood_type.IsKnown()) {
          FUZZ_REQUIRE(IsCompatible(line.component(), recipient.blood_type, candidate.donor,
                                    /*allow_rhd_exception=*/true),
                       candidate.donor.ToString(), " offered to ", recipient.blood_type.ToString());
          FUZZ_REQUIRE(deviation.abo_non_identical == !candidate.abo_identical, "ABO identity of ",
                       candidate.donor.ToString());
        }
      }
      FUZZ_REQUIRE(phase.rhd_positive_exception == any_mismatch,
                   "phase exception flag does not match its candidates");
      FUZZ_REQUIRE(!any_mismatch || rhd_exception_allowed,
                   "RhD-positive blood offered to an RhD-negative patient at priority ",
                   v1::Priority_Name(priority), " anti-D ", request.patient().has_anti_d());
    }
  }
  const request::IndicationOutcome outcome = request::CheckIndication(
      request.patient(), lines, priority, request.indication(), request.approvals(), 0, *policy);
  for (const v1::IndicationFinding& finding : outcome.findings) {
    FUZZ_REQUIRE(finding.line_no() >= 0 && finding.line_no() <= static_cast<int>(lines.size()),
                 "finding for line ", finding.line_no(), " of ", lines.size());
    FUZZ_REQUIRE(!finding.message().empty(), "finding without a message");
  }
  FUZZ_REQUIRE(outcome.daily_volume_ml >= 0, "daily volume ", outcome.daily_volume_ml);
  FUZZ_REQUIRE(
      outcome.hold_for_review == (priority == v1::PRIORITY_ROUTINE && !outcome.findings.empty()),
      "hold_for_review");
}

void CheckAcceptedCollection(const v1::RegisterCollectionRequest& request) {
  FUZZ_REQUIRE(ParseDin(request.din()).ok(), "accepted DIN does not parse");
  const absl::StatusOr<inventory::CollectionPlan> plan =
      inventory::PlanCollection(*policy, Zone(), request);
  if (!plan.ok()) {
    CheckRejection(request, plan.status());
    FUZZ_REQUIRE(absl::StartsWith(plan.status().message(), "anticoagulant: "),
                 "collection plan refused for another reason: ", plan.status().ToString());
    return;
  }
  FUZZ_REQUIRE(plan->component != v1::COMPONENT_UNSPECIFIED &&
                   plan->component == inventory::CollectedComponent(request.donation_type()),
               "collected component ", v1::Component_Name(plan->component));
  FUZZ_REQUIRE(plan->quantity > 0, "collection quantity ", plan->quantity);
  FUZZ_REQUIRE(plan->expires_at > FromTimestamp(request.collected_at()),
               "expires at or before collection");
}

void CheckAcceptedTestResults(const v1::RecordTestResultsRequest& request) {
  FUZZ_REQUIRE(ParseDin(request.din()).ok(), "accepted DIN does not parse");
  std::vector<inventory::CurrentResult> current;
  std::set<int> reactive;
  bool typed = false;
  for (const v1::TestResultInput& input : request.results()) {
    inventory::CurrentResult result;
    result.test = input.test();
    result.reactive = input.reactive();
    result.typed = BloodType{input.blood_type().abo(), input.blood_type().rhd()};
    current.push_back(result);
    if (input.test() == v1::SCREENING_TEST_ABO_RHD) {
      typed = true;
    } else if (input.reactive()) {
      reactive.insert(input.test());
    }
  }
  const inventory::TestingState state =
      inventory::DeriveTestingState(inventory::RequiredReleaseTests(*policy), current);
  FUZZ_REQUIRE(state.typed.has_value() == typed, "typing recorded ", typed, " but derived ",
               state.typed.has_value());
  FUZZ_REQUIRE(std::set<int>(state.reactive.begin(), state.reactive.end()) == reactive,
               "reactive tests differ from the results given");
  FUZZ_REQUIRE((state.outcome == v1::TESTING_OUTCOME_REACTIVE) == !reactive.empty(), "outcome ",
               v1::TestingOutcome_Name(state.outcome));
  if (state.outcome == v1::TESTING_OUTCOME_RELEASED) {
    FUZZ_REQUIRE(state.pending.empty() && typed, "released with tests pending or untyped");
  }
}

void CheckAcceptedProcessing(const v1::ProcessDonationRequest& request) {
  FUZZ_REQUIRE(ParseDin(request.din()).ok(), "accepted DIN does not parse");
  v1::Unit parent;
  parent.set_din(request.din());
  parent.set_component(v1::COMPONENT_WHOLE_BLOOD);
  parent.set_volume_ml(400);
  parent.set_anticoagulant(v1::PolicyProfile::ANTICOAGULANT_CPDA_1);
  const absl::Time collected = kNow - absl::Hours(30);
  ToTimestamp(collected, parent.mutable_collected_at());
  const absl::Time processed_at =
      request.has_processed_at() ? FromTimestamp(request.processed_at()) : kNow;
  // The store refuses processing before collection (it knows the parent).
  if (processed_at < collected) return;
  const std::vector<v1::ComponentSpec> specs(request.components().begin(),
                                             request.components().end());
  const absl::StatusOr<std::vector<inventory::ComponentPlan>> plans =
      inventory::PlanComponents(*policy, Zone(), parent, specs, processed_at);
  if (!plans.ok()) {
    FUZZ_REQUIRE(plans.status().code() == absl::StatusCode::kInvalidArgument ||
                     plans.status().code() == absl::StatusCode::kFailedPrecondition,
                 "component plan: ", plans.status().ToString());
    FUZZ_REQUIRE(absl::StartsWith(plans.status().message(), "components"),
                 "component plan: ", plans.status().ToString());
    return;
  }
  FUZZ_REQUIRE(plans->size() == specs.size(), plans->size(), " plans for ", specs.size(), " specs");
  std::map<int, int> divisions;
  int64_t volume = 0;
  for (size_t i = 0; i < plans->size(); ++i) {
    const inventory::ComponentPlan& plan = (*plans)[i];
    FUZZ_REQUIRE(plan.component == specs[i].component(), "plan ", i, " for another component");
    FUZZ_REQUIRE(plan.division == ++divisions[plan.component], "division ", plan.division);
    FUZZ_REQUIRE(plan.quantity > 0, "quantity ", plan.quantity);
    FUZZ_REQUIRE(plan.volume_ml >= 0, "volume ", plan.volume_ml);
    FUZZ_REQUIRE(plan.expires_at > collected, "child ", i, " expires before collection");
    volume += plan.volume_ml;
  }
  FUZZ_REQUIRE(volume <= parent.volume_ml(), "children hold ", volume, " mL of ",
               parent.volume_ml());
}

absl::Status RegisterDonorChecks(const v1::RegisterDonorRequest& request) {
  // donor_operations.cc, before the store.
  if (!request.has_donor()) return InvalidField("donor", "is required");
  v1::Donor donor = request.donor();
  return donor::NormalizeDonorInput(&donor, "donor", kToday);
}

void CheckAcceptedDonor(const v1::RegisterDonorRequest& request) {
  v1::Donor once = request.donor();
  FUZZ_REQUIRE(donor::NormalizeDonorInput(&once, "donor", kToday).ok(), "normalisation flaky");
  v1::Donor twice = once;
  const absl::Status again = donor::NormalizeDonorInput(&twice, "donor", kToday);
  FUZZ_REQUIRE(again.ok(), "normalised donor refused: ", again.ToString());
  FUZZ_REQUIRE(MessageDifferencer::Equals(once, twice),
               "normalisation is not idempotent: ", once.ShortDebugString(), " became ",
               twice.ShortDebugString());
}

// A registered donor as UpdateDonor finds it.
const v1::Donor& CurrentDonor() {
  static const v1::Donor* const donor = [] {
    auto* d = new v1::Donor();
    d->set_donor_id("D-0001");
    d->set_national_id("11010519491231002X");
    d->set_name("Wang Fang");
    d->set_sex(v1::SEX_FEMALE);
    d->set_birth_date("1949-12-31");
    d->mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
    d->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
    d->mutable_contact()->set_phone("+8613800000000");
    d->set_home_station_id("BJ-CENTRAL");
    d->set_version(3);
    return d;
  }();
  return *donor;
}

absl::Status UpdateDonorChecks(const v1::UpdateDonorRequest& request) {
  return donor::ApplyDonorUpdate(CurrentDonor(), request.donor(), request.update_mask(), kToday)
      .status();
}

void CheckAcceptedUpdate(const v1::UpdateDonorRequest& request) {
  const absl::StatusOr<v1::Donor> once =
      donor::ApplyDonorUpdate(CurrentDonor(), request.donor(), request.update_mask(), kToday);
  FUZZ_REQUIRE(once.ok(), "update flaky");
  const absl::StatusOr<v1::Donor> twice =
      donor::ApplyDonorUpdate(*once, request.donor(), request.update_mask(), kToday);
  FUZZ_REQUIRE(twice.ok(), "the same update refused the second time: ", twice.status().ToString());
  FUZZ_REQUIRE(MessageDifferencer::Equals(*once, *twice),
               "an update applied twice differs: ", once->ShortDebugString(), " became ",
               twice->ShortDebugString());
  FUZZ_REQUIRE(once->donor_id() == CurrentDonor().donor_id() &&
                   MessageDifferencer::Equals(once->blood_type(), CurrentDonor().blood_type()),
               "an update changed the donor's id or blood type");
}

void RunRequest(RequestKind kind, absl::string_view bytes) {
  namespace inv = ::bloodgrid::inventory;
  namespace req = ::bloodgrid::request;
  switch (kind) {
    case RequestKind::kPlaceOrder:
      CheckRequest<v1::PlaceOrderRequest>(
          bytes,
          [](const v1::PlaceOrderRequest& r) {
            return req::ValidatePlaceOrder(r, req::LineLimits{}, kNow);
          },
          CheckAcceptedOrder);
      break;
    case RequestKind::kUpsertHospital:
      CheckRequest<v1::UpsertHospitalRequest>(bytes, [](const v1::UpsertHospitalRequest& r) {
        // request_operations.cc UpsertHospital, before the station lookups.
        if (!r.has_hospital()) return InvalidField("hospital", "is required");
        return req::ValidateHospital(r.hospital());
      });
      break;
    case RequestKind::kReportTransfusion:
      CheckRequest<v1::ReportTransfusionRequest>(bytes, req::ValidateReportTransfusion);
      break;
    case RequestKind::kRegisterCollection:
      CheckRequest<v1::RegisterCollectionRequest>(
          bytes,
          [](const v1::RegisterCollectionRequest& r) {
            return inv::ValidateRegisterCollection(r, *policy, kNow);
          },
          CheckAcceptedCollection);
      break;
    case RequestKind::kRecordTestResults:
      CheckRequest<v1::RecordTestResultsRequest>(
          bytes,
          [](const v1::RecordTestResultsRequest& r) {
            return inv::ValidateRecordTestResults(r, kNow);
          },
          CheckAcceptedTestResults);
      break;
    case RequestKind::kProcessDonation:
      CheckRequest<v1::ProcessDonationRequest>(
          bytes,
          [](const v1::ProcessDonationRequest& r) { return inv::ValidateProcessDonation(r, kNow); },
          CheckAcceptedProcessing);
      break;
    case RequestKind::kReserve:
      CheckRequest<v1::ReserveRequest>(bytes, inv::ValidateReserve);
      break;
    case RequestKind::kRelease:
      CheckRequest<v1::ReleaseRequest>(bytes, inv::ValidateRelease);
      break;
    case RequestKind::kIssue:
      CheckRequest<v1::IssueRequest>(bytes, inv::ValidateIssue);
      break;
    case RequestKind::kRecordOutcome:
      CheckRequest<v1::RecordOutcomeRequest>(bytes, [](const v1::RecordOutcomeRequest& r) {
        return inv::ValidateRecordOutcome(r, kNow);
      });
      break;
    case RequestKind::kCreateTransfer:
      CheckRequest<v1::CreateTransferRequest>(bytes, inv::ValidateCreateTransfer);
      break;
    case RequestKind::kReceiveTransfer:
      CheckRequest<v1::ReceiveTransferRequest>(bytes, [](const v1::ReceiveTransferRequest& r) {
        return inv::ValidateReceiveTransfer(r, kNow);
      });
      break;
    case RequestKind::kDiscardUnit:
      CheckRequest<v1::DiscardUnitRequest>(bytes, inv::ValidateDiscardUnit);
      break;
    case RequestKind::kQuarantineByDonor:
      CheckRequest<v1::QuarantineByDonorRequest>(bytes, inv::ValidateQuarantineByDonor);
      break;
    case RequestKind::kSetParLevel:
      CheckRequest<v1::SetParLevelRequest>(bytes, inv::ValidateSetParLevel);
      break;
    case RequestKind::kUpsertStation:
      CheckRequest<v1::UpsertStationRequest>(bytes, [](const v1::UpsertStationRequest& r) {
        // inventory_operations.cc UpsertStation.
        if (!r.has_station()) return InvalidField("station", "is required");
        return inv::ValidateStation(r.station());
      });
      break;
    case RequestKind::kRegisterDonor:
      CheckRequest<v1::RegisterDonorRequest>(bytes, RegisterDonorChecks, CheckAcceptedDonor);
      break;
    case RequestKind::kUpdateDonor:
      CheckRequest<v1::UpdateDonorRequest>(bytes, UpdateDonorChecks, CheckAcceptedUpdate);
      break;
  }
}

}  // namespace
}  // namespace bloodgrid::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 in a proto3 string fails the parse, as it should; protobuf also logs each
  // one, which would drown the fuzzer's output.
  google::protobuf::SetLogHandler(nullptr);
  const std::string path =
      absl::StrCat(BLOODGRID_POLICY_DIR, "/", bloodgrid::kDefaultPolicyName, ".textproto");
  absl::StatusOr<bloodgrid::v1::PolicyProfile> loaded = bloodgrid::LoadPolicyFile(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "cannot load the policy profile: %s\n",
                 loaded.status().ToString().c_str());
    std::abort();
  }
  bloodgrid::fuzz::policy = new bloodgrid::v1::PolicyProfile(*std::move(loaded));
  const char* verbose = std::getenv("BLOODGRID_FUZZ_VERBOSE");
  bloodgrid::fuzz::verbose = verbose != nullptr && std::string(verbose) == "1";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  bloodgrid::fuzz::CurrentInput().assign(bytes.data(), bytes.size());
  const auto kind =
      static_cast<bloodgrid::fuzz::RequestKind>(data[0] % bloodgrid::fuzz::kRequestKindCount);
  bloodgrid::fuzz::RunRequest(kind, bytes.substr(1));
  return 0;
}
