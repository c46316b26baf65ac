#include "request_service/request_rules.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/hash.h"
#include "common/proto_time.h"
#include "common/status.h"

namespace bloodgrid::request {
namespace {

using v1::OrderStatus;

constexpr int kMaxPatientRef = 64;
constexpr int kMaxIndication = 1000;
constexpr int kMaxApprover = 100;
constexpr int kMaxWard = 100;
constexpr int kMaxAge = 150;

// Plausibility limits of laboratory values: anything beyond is a typing or unit error.
constexpr double kMaxHemoglobinGL = 300;
constexpr int kMaxPlateletCount = 5000;
constexpr double kMaxRatio = 20;
constexpr double kMaxFibrinogenGL = 20;

std::string Num(double value) { return absl::StrFormat("%g", value); }

absl::Status CheckLength(absl::string_view field, absl::string_view value, int max) {
  if (CharacterCount(value) > max) {
    return InvalidField(field, absl::StrCat("longer than ", max, " characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckRange(absl::string_view field, double value, double min, double max,
                        bool min_exclusive) {
  if (!std::isfinite(value) || value > max || value < min || (min_exclusive && value == min)) {
    return InvalidField(field, absl::StrCat("must be ", min_exclusive ? "> " : ">= ", Num(min),
                                            " and <= ", Num(max), ", got ", Num(value)));
  }
  return absl::OkStatus();
}

absl::Status ValidatePatient(const v1::Patient& patient, v1::Priority priority) {
  const bool emergency = priority == v1::PRIORITY_EMERGENCY;
  if (patient.patient_ref().empty()) return InvalidField("patient.patient_ref", "is required");
  BG_RETURN_IF_ERROR(CheckLength("patient.patient_ref", patient.patient_ref(), kMaxPatientRef));
  const v1::BloodType& type = patient.blood_type();
  if (!v1::AboGroup_IsValid(type.abo())) {
    return InvalidField("patient.blood_type.abo", "unknown ABO group");
  }
  if (!v1::RhD_IsValid(type.rhd())) return InvalidField("patient.blood_type.rhd", "unknown RhD");
  if (!emergency) {
    if (type.abo() == v1::ABO_GROUP_UNSPECIFIED) {
      return InvalidField("patient.blood_type.abo", "is required for ROUTINE and URGENT orders");
    }
    if (type.rhd() == v1::RH_D_UNSPECIFIED) {
      return InvalidField("patient.blood_type.rhd", "is required for ROUTINE and URGENT orders");
    }
  } else if (type.abo() == v1::ABO_GROUP_UNSPECIFIED && type.rhd() != v1::RH_D_UNSPECIFIED) {
    return InvalidField("patient.blood_type.abo",
                        "is required when rhd is given (leave both unspecified for an untyped "
                        "patient)");
  }
  if (!v1::Sex_IsValid(patient.sex())) return InvalidField("patient.sex", "unknown sex");
  if (!emergency && patient.sex() == v1::SEX_UNSPECIFIED) {
    return InvalidField("patient.sex", "is required for ROUTINE and URGENT orders");
  }
  if (patient.has_age_years() && (patient.age_years() < 0 || patient.age_years() > kMaxAge)) {
    return InvalidField("patient.age_years", absl::StrCat("must be 0..", kMaxAge));
  }
  if (patient.has_hemoglobin_g_l()) {
    BG_RETURN_IF_ERROR(
        CheckRange("patient.hemoglobin_g_l", patient.hemoglobin_g_l(), 0, kMaxHemoglobinGL, false));
  }
  if (patient.has_platelet_count_e9_l() &&
      (patient.platelet_count_e9_l() < 0 || patient.platelet_count_e9_l() > kMaxPlateletCount)) {
    return InvalidField("patient.platelet_count_e9_l",
                        absl::StrCat("must be 0..", kMaxPlateletCount));
  }
  if (patient.has_inr()) {
    BG_RETURN_IF_ERROR(CheckRange("patient.inr", patient.inr(), 0, kMaxRatio, true));
  }
  if (patient.has_fibrinogen_g_l()) {
    BG_RETURN_IF_ERROR(
        CheckRange("patient.fibrinogen_g_l", patient.fibrinogen_g_l(), 0, kMaxFibrinogenGL, false));
  }
  if (patient.has_pt_ratio()) {
    BG_RETURN_IF_ERROR(CheckRange("patient.pt_ratio", patient.pt_ratio(), 0, kMaxRatio, true));
  }
  if (patient.has_aptt_ratio()) {
    BG_RETURN_IF_ERROR(CheckRange("patient.aptt_ratio", patient.aptt_ratio(), 0, kMaxRatio, true));
  }
  return absl::OkStatus();
}

absl::string_view MeasureOf(v1::Component component) {
  absl::StatusOr<ComponentInfo> info = LookupComponent(component);
  return info.ok() ? OrderingMeasureSymbol(info->measure) : "";
}

absl::string_view ComponentName(v1::Component component) {
  absl::StatusOr<ComponentInfo> info = LookupComponent(component);
  return info.ok() ? info->name : "unknown component";
}

v1::IndicationFinding Finding(v1::IndicationFindingCode code, int line_no, std::string message) {
  v1::IndicationFinding finding;
  finding.set_code(code);
  finding.set_line_no(line_no);
  finding.set_message(std::move(message));
  return finding;
}

absl::string_view ApproverName(v1::PolicyProfile::Approver approver) {
  switch (approver) {
    case v1::PolicyProfile::APPROVER_PHYSICIAN:
      return "physician";
    case v1::PolicyProfile::APPROVER_DEPARTMENT_HEAD:
      return "department head";
    case v1::PolicyProfile::APPROVER_MEDICAL_AFFAIRS:
      return "medical affairs";
    default:
      return "unspecified";
  }
}

// Keeps only the RhD-mismatched candidates (the second phase of a last-resort plan).
std::vector<DonorCandidate> OnlyRhdMismatched(std::vector<DonorCandidate> candidates) {
  candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                  [](const DonorCandidate& c) { return !c.rhd_mismatch; }),
                   candidates.end());
  return candidates;
}

struct Transition {
  OrderStatus from;
  OrderStatus to;
};

constexpr std::array<Transition, 16> kTransitions = {{
    {v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_IN_REVIEW},
    {v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_ALLOCATED},
    {v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_PARTIALLY_ALLOCATED},
    {v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_CANCELLED},
    {v1::ORDER_STATUS_IN_REVIEW, v1::ORDER_STATUS_RECEIVED},
    {v1::ORDER_STATUS_IN_REVIEW, v1::ORDER_STATUS_REJECTED},
    {v1::ORDER_STATUS_IN_REVIEW, v1::ORDER_STATUS_CANCELLED},
    {v1::ORDER_STATUS_ALLOCATED, v1::ORDER_STATUS_PARTIALLY_ALLOCATED},
    {v1::ORDER_STATUS_ALLOCATED, v1::ORDER_STATUS_DISPATCHED},
    {v1::ORDER_STATUS_ALLOCATED, v1::ORDER_STATUS_CANCELLED},
    {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, v1::ORDER_STATUS_ALLOCATED},
    {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, v1::ORDER_STATUS_DISPATCHED},
    {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, v1::ORDER_STATUS_CANCELLED},
    {v1::ORDER_STATUS_DISPATCHED, v1::ORDER_STATUS_DELIVERED},
    {v1::ORDER_STATUS_DISPATCHED, v1::ORDER_STATUS_COMPLETED},
    {v1::ORDER_STATUS_DELIVERED, v1::ORDER_STATUS_COMPLETED},
}};

}  // namespace

int LineLimits::MaxFor(v1::Component component) const {
  switch (component) {
    case v1::COMPONENT_WHOLE_BLOOD:
      return whole_blood_units;
    case v1::COMPONENT_RED_CELLS:
      return red_cells_units;
    case v1::COMPONENT_PLASMA:
      return plasma_ml;
    case v1::COMPONENT_PLATELETS:
      return platelet_doses;
    case v1::COMPONENT_CRYO:
      return cryo_units;
    default:
      return 0;
  }
}

int CharacterCount(absl::string_view text) {
  int count = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++count;  // count lead bytes, not continuation bytes
  }
  return count;
}

bool IsValidRecordId(absl::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

absl::Status ValidatePlaceOrder(const v1::PlaceOrderRequest& request, const LineLimits& limits,
                                absl::Time now) {
  const v1::Priority priority = request.priority();
  if (!v1::Priority_IsValid(priority) || priority == v1::PRIORITY_UNSPECIFIED) {
    return InvalidField("priority", "must be ROUTINE, URGENT or EMERGENCY");
  }
  const bool emergency = priority == v1::PRIORITY_EMERGENCY;
  if (request.hospital_id().empty()) return InvalidField("hospital_id", "is required");
  if (!IsValidRecordId(request.hospital_id())) {
    return InvalidField("hospital_id", "must be 1-32 characters of [A-Za-z0-9_-]");
  }
  BG_RETURN_IF_ERROR(ValidatePatient(request.patient(), priority));
  if (request.massive_transfusion() && !emergency) {
    return InvalidField("massive_transfusion", "only for EMERGENCY orders");
  }

  if (request.lines_size() > kMaxOrderLines) {
    return InvalidField("lines", absl::StrCat("at most ", kMaxOrderLines, " lines"));
  }
  if (request.lines().empty() && !request.massive_transfusion()) {
    return InvalidField("lines", "at least one line is required");
  }
  const bool untyped = request.patient().blood_type().abo() == v1::ABO_GROUP_UNSPECIFIED;
  absl::flat_hash_set<int> components;
  for (int i = 0; i < request.lines_size(); ++i) {
    const v1::OrderLineRequest& line = request.lines(i);
    const std::string prefix = absl::StrCat("lines[", i, "]");
    if (!v1::Component_IsValid(line.component()) || line.component() == v1::COMPONENT_UNSPECIFIED) {
      return InvalidField(absl::StrCat(prefix, ".component"), "is required");
    }
    if (!components.insert(line.component()).second) {
      return InvalidField(
          absl::StrCat(prefix, ".component"),
          absl::StrCat(ComponentName(line.component()), " appears on more than one line"));
    }
    if (untyped && line.component() == v1::COMPONENT_WHOLE_BLOOD) {
      return InvalidField(absl::StrCat(prefix, ".component"),
                          "whole blood needs a typed patient (no emergency release exists)");
    }
    if (line.quantity() <= 0) {
      return InvalidField(absl::StrCat(prefix, ".quantity"), "must be > 0");
    }
    const int max = limits.MaxFor(line.component());
    if (line.quantity() > max) {
      return InvalidField(
          absl::StrCat(prefix, ".quantity"),
          absl::StrCat("at most ", max, " ", MeasureOf(line.component()), " of ",
                       ComponentName(line.component()), " per line, got ", line.quantity()));
    }
  }

  if (priority == v1::PRIORITY_ROUTINE && request.indication().empty()) {
    return InvalidField("indication", "is required for ROUTINE orders");
  }
  BG_RETURN_IF_ERROR(CheckLength("indication", request.indication(), kMaxIndication));

  if (request.has_needed_by()) {
    BG_ASSIGN_OR_RETURN(absl::Time needed_by, ParseTimestamp("needed_by", request.needed_by()));
    if (needed_by < now - kNeededByTolerance) {
      return InvalidField("needed_by", "is in the past");
    }
    if (needed_by > now + kNeededByHorizon) {
      return InvalidField("needed_by", "is more than 30 days ahead");
    }
  } else if (!emergency) {
    return InvalidField("needed_by", "is required for ROUTINE and URGENT orders");
  }

  BG_RETURN_IF_ERROR(
      CheckLength("approvals.physician", request.approvals().physician(), kMaxApprover));
  BG_RETURN_IF_ERROR(CheckLength("approvals.department_head", request.approvals().department_head(),
                                 kMaxApprover));
  BG_RETURN_IF_ERROR(CheckLength("approvals.medical_affairs", request.approvals().medical_affairs(),
                                 kMaxApprover));
  BG_RETURN_IF_ERROR(CheckLength("ward", request.ward(), kMaxWard));
  return absl::OkStatus();
}

absl::Status ValidateHospital(const v1::Hospital& hospital) {
  if (hospital.hospital_id().empty()) return InvalidField("hospital.hospital_id", "is required");
  if (!IsValidRecordId(hospital.hospital_id())) {
    return InvalidField("hospital.hospital_id", "must be 1-32 characters of [A-Za-z0-9_-]");
  }
  if (hospital.name().empty()) return InvalidField("hospital.name", "is required");
  BG_RETURN_IF_ERROR(CheckLength("hospital.name", hospital.name(), 200));
  if (hospital.serving_station_id().empty()) {
    return InvalidField("hospital.serving_station_id", "is required");
  }
  if (!IsValidRecordId(hospital.serving_station_id())) {
    return InvalidField("hospital.serving_station_id", "must be 1-32 characters of [A-Za-z0-9_-]");
  }
  if (hospital.fallback_station_ids_size() > 20) {
    return InvalidField("hospital.fallback_station_ids", "at most 20 stations");
  }
  absl::flat_hash_set<std::string> seen = {hospital.serving_station_id()};
  for (int i = 0; i < hospital.fallback_station_ids_size(); ++i) {
    const std::string& id = hospital.fallback_station_ids(i);
    const std::string field = absl::StrCat("hospital.fallback_station_ids[", i, "]");
    if (!IsValidRecordId(id)) {
      return InvalidField(field, "must be 1-32 characters of [A-Za-z0-9_-]");
    }
    if (id == hospital.serving_station_id()) {
      return InvalidField(field, "is the serving station");
    }
    if (!seen.insert(id).second) return InvalidField(field, "appears twice");
  }
  if (hospital.has_location()) {
    BG_RETURN_IF_ERROR(
        CheckRange("hospital.location.latitude", hospital.location().latitude(), -90, 90, false));
    BG_RETURN_IF_ERROR(CheckRange("hospital.location.longitude", hospital.location().longitude(),
                                  -180, 180, false));
  }
  BG_RETURN_IF_ERROR(CheckLength("hospital.address", hospital.address(), 300));
  return absl::OkStatus();
}

absl::Status ValidateReportTransfusion(const v1::ReportTransfusionRequest& request) {
  switch (request.outcome()) {
    case v1::TRANSFUSION_OUTCOME_TRANSFUSED:
    case v1::TRANSFUSION_OUTCOME_WASTED:
      break;
    case v1::TRANSFUSION_OUTCOME_RETURNED:
      if (!request.has_cold_chain_ok()) {
        return InvalidField("cold_chain_ok", "is required for RETURNED");
      }
      break;
    case v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED:
      return InvalidField("outcome", "PRESUMED_TRANSFUSED is set by the service, not reported");
    default:
      return InvalidField("outcome", "must be TRANSFUSED, RETURNED or WASTED");
  }
  if (!v1::Component_IsValid(request.component())) {
    return InvalidField("component", "unknown component");
  }
  if (request.has_adverse_reaction()) {
    const v1::AdverseReaction& reaction = request.adverse_reaction();
    if (!v1::AdverseReactionType_IsValid(reaction.type()) ||
        reaction.type() == v1::ADVERSE_REACTION_TYPE_UNSPECIFIED) {
      return InvalidField("adverse_reaction.type", "is required");
    }
    if (!v1::AdverseReactionSeverity_IsValid(reaction.severity())) {
      return InvalidField("adverse_reaction.severity", "unknown severity");
    }
    if (reaction.has_occurred_at()) {
      BG_RETURN_IF_ERROR(
          ParseTimestamp("adverse_reaction.occurred_at", reaction.occurred_at()).status());
    }
    BG_RETURN_IF_ERROR(CheckLength("adverse_reaction.description", reaction.description(), 2000));
  }
  if (request.has_occurred_at()) {
    BG_RETURN_IF_ERROR(ParseTimestamp("occurred_at", request.occurred_at()).status());
  }
  BG_RETURN_IF_ERROR(CheckLength("note", request.note(), 1000));
  return absl::OkStatus();
}

std::vector<v1::OrderLineRequest> MassiveTransfusionPack(const v1::PolicyProfile& policy) {
  std::vector<v1::OrderLineRequest> lines;
  auto add = [&](v1::Component component, int quantity) {
    if (quantity <= 0) return;
    v1::OrderLineRequest line;
    line.set_component(component);
    line.set_quantity(quantity);
    lines.push_back(std::move(line));
  };
  const auto& pack = policy.massive_transfusion();
  add(v1::COMPONENT_RED_CELLS, pack.red_cell_units());
  add(v1::COMPONENT_PLASMA, pack.plasma_units() * policy.units().plasma_ml_per_unit());
  add(v1::COMPONENT_PLATELETS, pack.platelet_doses());
  return lines;
}

std::vector<v1::OrderLineRequest> EffectiveLines(const v1::PlaceOrderRequest& request,
                                                 const v1::PolicyProfile& policy) {
  if (request.massive_transfusion() && request.lines().empty()) {
    return MassiveTransfusionPack(policy);
  }
  return {request.lines().begin(), request.lines().end()};
}

Recipient RecipientOf(const v1::Patient& patient, v1::Priority priority) {
  Recipient recipient;
  recipient.blood_type.abo = patient.blood_type().abo();
  recipient.blood_type.rhd = patient.blood_type().rhd();
  if (priority == v1::PRIORITY_EMERGENCY && recipient.blood_type.abo != v1::ABO_GROUP_UNSPECIFIED &&
      recipient.blood_type.rhd == v1::RH_D_UNSPECIFIED) {
    recipient.blood_type.rhd = v1::RH_D_NEGATIVE;  // request.proto: treated as RhD-negative
  }
  recipient.sex = patient.sex();
  if (patient.has_age_years()) recipient.age_years = patient.age_years();
  recipient.has_anti_d = patient.has_anti_d();
  return recipient;
}

RhdPositiveUse RhdPositiveUseFor(const Recipient& recipient, v1::Priority priority,
                                 const v1::PolicyProfile& policy) {
  if (recipient.blood_type.IsKnown() && recipient.blood_type.rhd == v1::RH_D_POSITIVE) {
    return RhdPositiveUse::kStandard;
  }
  // DOMAIN.md section 3: only in a life-threatening emergency, never with anti-D.
  if (priority != v1::PRIORITY_EMERGENCY || recipient.has_anti_d) return RhdPositiveUse::kNever;
  if (recipient.sex == v1::SEX_MALE) return RhdPositiveUse::kWhenShort;
  if (recipient.sex == v1::SEX_FEMALE && recipient.age_years.has_value() &&
      *recipient.age_years > policy.emergency_rhd().female_rhd_positive_above_age_years()) {
    return RhdPositiveUse::kWhenShort;
  }
  // Females up to the policy age, and anyone whose sex or age is not known: "not for females
  // <= 50 unless nothing else exists".
  return RhdPositiveUse::kLastResort;
}

absl::StatusOr<AllocationPlan> PlanAllocation(v1::Component component, const Recipient& recipient,
                                              v1::Priority priority,
                                              const v1::PolicyProfile& policy) {
  BG_ASSIGN_OR_RETURN(ComponentInfo info, LookupComponent(component));
  const RhdPositiveUse use = RhdPositiveUseFor(recipient, priority, policy);
  AllocationPlan plan;
  std::vector<DonorCandidate> standard;
  std::vector<DonorCandidate> with_exceptions;
  if (recipient.blood_type.IsUnknown()) {
    if (priority != v1::PRIORITY_EMERGENCY) {
      return InvalidField("patient.blood_type", "is required for ROUTINE and URGENT orders");
    }
    plan.emergency_unknown_type = true;
    standard = EmergencyUnknownTypeCandidates(component, /*allow_rhd_positive=*/false);
    if (standard.empty()) {
      return InvalidField("component", absl::StrCat(info.name,
                                                    " has no emergency release for an untyped "
                                                    "patient"));
    }
    with_exceptions = EmergencyUnknownTypeCandidates(component, /*allow_rhd_positive=*/true);
  } else if (recipient.blood_type.IsKnown()) {
    standard = CompatibleDonors(component, recipient.blood_type, false);
    with_exceptions = CompatibleDonors(component, recipient.blood_type, true);
  } else {
    return InvalidField("patient.blood_type", "is half specified");
  }
  const bool exceptions_exist = with_exceptions.size() > standard.size();
  if (!info.rhd_matters || !exceptions_exist || use == RhdPositiveUse::kStandard ||
      use == RhdPositiveUse::kNever) {
    plan.phases.push_back({std::move(standard), false});
  } else if (use == RhdPositiveUse::kWhenShort) {
    plan.phases.push_back({std::move(with_exceptions), true});
  } else {
    plan.phases.push_back({std::move(standard), false});
    plan.phases.push_back({OnlyRhdMismatched(std::move(with_exceptions)), true});
  }
  return plan;
}

UnitDeviation AssessUnit(v1::Component component, const Recipient& recipient, BloodType unit) {
  UnitDeviation deviation;
  absl::StatusOr<ComponentInfo> info = LookupComponent(component);
  if (!info.ok()) return deviation;
  const bool unit_rhd_positive = unit.rhd == v1::RH_D_POSITIVE;
  if (recipient.blood_type.IsUnknown()) {
    deviation.emergency_unknown_type = true;
    deviation.rhd_positive_for_negative = info->rhd_matters && unit_rhd_positive;
    return deviation;
  }
  deviation.rhd_positive_for_negative =
      info->rhd_matters && recipient.blood_type.rhd == v1::RH_D_NEGATIVE && unit_rhd_positive;
  deviation.abo_non_identical = unit.abo != recipient.blood_type.abo;
  return deviation;
}

bool TransfersToServingStation(v1::Priority priority, bool fallback_transfers) {
  return fallback_transfers && priority != v1::PRIORITY_EMERGENCY;
}

int64_t ApprovalVolumeMl(v1::Component component, int64_t quantity,
                         const v1::PolicyProfile& policy) {
  switch (component) {
    case v1::COMPONENT_RED_CELLS:
    case v1::COMPONENT_WHOLE_BLOOD:
      return quantity * policy.units().whole_blood_ml_per_red_cell_unit();
    case v1::COMPONENT_PLASMA:
      return quantity;
    default:
      return 0;
  }
}

IndicationOutcome CheckIndication(const v1::Patient& patient,
                                  absl::Span<const v1::OrderLineRequest> lines,
                                  v1::Priority priority, absl::string_view indication,
                                  const v1::OrderApprovals& approvals,
                                  int64_t prior_daily_volume_ml, const v1::PolicyProfile& policy) {
  const v1::PolicyProfile::TransfusionIndications& rules = policy.indications();
  const bool stated = !indication.empty();
  IndicationOutcome outcome;
  int64_t order_volume = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    const v1::OrderLineRequest& line = lines[i];
    order_volume += ApprovalVolumeMl(line.component(), line.quantity(), policy);
    switch (line.component()) {
      case v1::COMPONENT_RED_CELLS:
      case v1::COMPONENT_WHOLE_BLOOD: {
        const auto& t = rules.red_cells_hemoglobin_g_l();
        if (!patient.has_hemoglobin_g_l()) {
          outcome.findings.push_back(Finding(v1::INDICATION_FINDING_CODE_HEMOGLOBIN_MISSING,
                                             line_no, "red cells without a haemoglobin value"));
        } else if (patient.hemoglobin_g_l() > t.not_indicated_above()) {
          outcome.findings.push_back(
              Finding(v1::INDICATION_FINDING_CODE_HEMOGLOBIN_ABOVE_THRESHOLD, line_no,
                      absl::StrCat("Hb ", Num(patient.hemoglobin_g_l()), " g/L > ",
                                   Num(t.not_indicated_above()), " g/L")));
        } else if (patient.hemoglobin_g_l() >= t.indicated_below() && !stated) {
          outcome.findings.push_back(
              Finding(v1::INDICATION_FINDING_CODE_HEMOGLOBIN_NEEDS_REASON, line_no,
                      absl::StrCat("Hb ", Num(patient.hemoglobin_g_l()), " g/L between ",
                                   Num(t.indicated_below()), " and ", Num(t.not_indicated_above()),
                                   " g/L needs a stated indication")));
        }
        break;
      }
      case v1::COMPONENT_PLATELETS: {
        const auto& t = rules.platelets_count_e9_l();
        if (!patient.has_platelet_count_e9_l()) {
          outcome.findings.push_back(Finding(v1::INDICATION_FINDING_CODE_PLATELET_COUNT_MISSING,
                                             line_no, "platelets without a platelet count"));
        } else if (patient.platelet_count_e9_l() > t.not_indicated_above()) {
          outcome.findings.push_back(
              Finding(v1::INDICATION_FINDING_CODE_PLATELET_COUNT_ABOVE_THRESHOLD, line_no,
                      absl::StrCat("platelets ", patient.platelet_count_e9_l(), " x10^9/L > ",
                                   Num(t.not_indicated_above()), " x10^9/L")));
        } else if (patient.platelet_count_e9_l() >= t.indicated_below() && !stated) {
          outcome.findings.push_back(
              Finding(v1::INDICATION_FINDING_CODE_PLATELET_COUNT_NEEDS_REASON, line_no,
                      absl::StrCat("platelets ", patient.platelet_count_e9_l(), " x10^9/L between ",
                                   Num(t.indicated_below()), " and ", Num(t.not_indicated_above()),
                                   " x10^9/L needs a stated indication")));
        }
        break;
      }
      case v1::COMPONENT_PLASMA: {
        if (!patient.has_inr() && !patient.has_pt_ratio() && !patient.has_aptt_ratio()) {
          outcome.findings.push_back(Finding(v1::INDICATION_FINDING_CODE_COAGULATION_MISSING,
                                             line_no, "plasma without INR, PT or APTT"));
          break;
        }
        const double ratio = rules.plasma_pt_aptt_ratio_above();
        const bool abnormal = (patient.has_inr() && patient.inr() > rules.plasma_inr_above()) ||
                              (patient.has_pt_ratio() && patient.pt_ratio() > ratio) ||
                              (patient.has_aptt_ratio() && patient.aptt_ratio() > ratio);
        if (!patient.bleeding()) {
          outcome.findings.push_back(Finding(v1::INDICATION_FINDING_CODE_COAGULATION_NOT_MET,
                                             line_no, "plasma for a patient not bleeding"));
        } else if (!abnormal) {
          std::vector<std::string> values;
          if (patient.has_inr()) {
            values.push_back(
                absl::StrCat("INR ", Num(patient.inr()), " <= ", Num(rules.plasma_inr_above())));
          }
          if (patient.has_pt_ratio()) {
            values.push_back(
                absl::StrCat("PT ", Num(patient.pt_ratio()), "x <= ", Num(ratio), "x normal"));
          }
          if (patient.has_aptt_ratio()) {
            values.push_back(
                absl::StrCat("APTT ", Num(patient.aptt_ratio()), "x <= ", Num(ratio), "x normal"));
          }
          outcome.findings.push_back(Finding(v1::INDICATION_FINDING_CODE_COAGULATION_NOT_MET,
                                             line_no, absl::StrJoin(values, ", ")));
        }
        break;
      }
      case v1::COMPONENT_CRYO: {
        if (!patient.has_fibrinogen_g_l()) {
          outcome.findings.push_back(Finding(v1::INDICATION_FINDING_CODE_FIBRINOGEN_MISSING,
                                             line_no,
                                             "cryoprecipitate without a fibrinogen value"));
        } else if (patient.fibrinogen_g_l() >= rules.cryo_fibrinogen_below_g_l()) {
          outcome.findings.push_back(
              Finding(v1::INDICATION_FINDING_CODE_FIBRINOGEN_NOT_MET, line_no,
                      absl::StrCat("fibrinogen ", Num(patient.fibrinogen_g_l()),
                                   " g/L >= ", Num(rules.cryo_fibrinogen_below_g_l()), " g/L")));
        }
        break;
      }
      default:
        break;
    }
  }

  outcome.daily_volume_ml = prior_daily_volume_ml + order_volume;
  int tier_from = 0;
  for (const auto& tier : rules.approval_tiers()) {
    if (tier.from_daily_ml() <= outcome.daily_volume_ml) {
      outcome.required_approver = tier.approver();
      tier_from = tier.from_daily_ml();
    }
  }
  std::vector<absl::string_view> missing;
  const int level = static_cast<int>(outcome.required_approver);
  if (level >= v1::PolicyProfile::APPROVER_PHYSICIAN && approvals.physician().empty()) {
    missing.push_back("physician");
  }
  if (level >= v1::PolicyProfile::APPROVER_DEPARTMENT_HEAD && approvals.department_head().empty()) {
    missing.push_back("department head");
  }
  if (level >= v1::PolicyProfile::APPROVER_MEDICAL_AFFAIRS && approvals.medical_affairs().empty()) {
    missing.push_back("medical affairs");
  }
  if (!missing.empty()) {
    outcome.findings.push_back(
        Finding(v1::INDICATION_FINDING_CODE_APPROVAL_MISSING, 0,
                absl::StrCat("daily volume ", outcome.daily_volume_ml, " mL (tier from ", tier_from,
                             " mL) needs ", ApproverName(outcome.required_approver),
                             " sign-off; missing: ", absl::StrJoin(missing, ", "))));
  }

  std::vector<absl::string_view> messages;
  for (const auto& finding : outcome.findings) messages.push_back(finding.message());
  outcome.summary = absl::StrJoin(messages, "; ");
  outcome.hold_for_review = priority == v1::PRIORITY_ROUTINE && !outcome.findings.empty();
  return outcome;
}

bool IsTransitionAllowed(OrderStatus from, OrderStatus to) {
  return std::any_of(kTransitions.begin(), kTransitions.end(),
                     [&](const Transition& t) { return t.from == from && t.to == to; });
}

absl::Status CheckTransition(OrderStatus from, OrderStatus to) {
  if (IsTransitionAllowed(from, to)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("order is ", StatusName(from), ": cannot become ", StatusName(to)));
}

bool IsFinalStatus(OrderStatus status) {
  return status == v1::ORDER_STATUS_REJECTED || status == v1::ORDER_STATUS_COMPLETED ||
         status == v1::ORDER_STATUS_CANCELLED;
}

bool IsClosedUnissued(OrderStatus status) {
  return status == v1::ORDER_STATUS_REJECTED || status == v1::ORDER_STATUS_CANCELLED;
}

bool AwaitsOutcomes(OrderStatus status) {
  return status == v1::ORDER_STATUS_DISPATCHED || status == v1::ORDER_STATUS_DELIVERED;
}

bool IsUnallocated(OrderStatus status) { return status == v1::ORDER_STATUS_RECEIVED; }

bool IsBackordered(OrderStatus status) { return status == v1::ORDER_STATUS_PARTIALLY_ALLOCATED; }

bool IsUnsettledReservation(ReservationState state) {
  return state == ReservationState::kPending || state == ReservationState::kReserved ||
         state == ReservationState::kAbandoned;
}

std::vector<OrderStatus> OrderStatusesWhere(bool (*rule)(OrderStatus)) {
  std::vector<OrderStatus> statuses;
  for (int i = v1::OrderStatus_MIN; i <= v1::OrderStatus_MAX; ++i) {
    if (v1::OrderStatus_IsValid(i) && rule(static_cast<OrderStatus>(i))) {
      statuses.push_back(static_cast<OrderStatus>(i));
    }
  }
  return statuses;
}

std::vector<ReservationState> ReservationStatesWhere(bool (*rule)(ReservationState)) {
  std::vector<ReservationState> states;
  for (ReservationState s :
       {ReservationState::kPending, ReservationState::kReserved, ReservationState::kConfirmed,
        ReservationState::kEmpty, ReservationState::kReleased, ReservationState::kAbandoned,
        ReservationState::kIssued}) {
    if (rule(s)) states.push_back(s);
  }
  return states;
}

bool IsCancellable(OrderStatus status) {
  return IsTransitionAllowed(status, v1::ORDER_STATUS_CANCELLED);
}

bool IsAllocatable(OrderStatus status) {
  return status == v1::ORDER_STATUS_RECEIVED || status == v1::ORDER_STATUS_ALLOCATED ||
         status == v1::ORDER_STATUS_PARTIALLY_ALLOCATED;
}

std::string StatusName(OrderStatus status) {
  std::string name = v1::OrderStatus_Name(status);
  constexpr absl::string_view kPrefix = "ORDER_STATUS_";
  if (absl::StartsWith(name, kPrefix)) name.erase(0, kPrefix.size());
  return name.empty() ? absl::StrCat("status ", static_cast<int>(status)) : name;
}

v1::OrderStatus SettledStatus(absl::Span<const v1::OrderLine> lines) {
  for (const v1::OrderLine& line : lines) {
    if (line.allocated_quantity() < line.quantity()) return v1::ORDER_STATUS_PARTIALLY_ALLOCATED;
  }
  return v1::ORDER_STATUS_ALLOCATED;
}

std::string ReservationKey(absl::string_view order_id, int line_no, int attempt) {
  return absl::StrCat(order_id, "/", line_no, "/", attempt);
}

std::string DerivedRequestId(std::initializer_list<absl::string_view> parts) {
  std::string id = absl::StrReplaceAll(absl::StrJoin(parts, ":"), {{"/", ":"}});
  if (id.size() > 128) {
    id = absl::StrCat(id.substr(0, 100), ":", Fnv1a64Hex(id));
  }
  return id;
}

}  // namespace bloodgrid::request
