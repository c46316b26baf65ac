#include "common/blood.h"

#include <ostream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace bloodgrid {
namespace {

constexpr AboGroup kO = v1::ABO_GROUP_O;
constexpr AboGroup kA = v1::ABO_GROUP_A;
constexpr AboGroup kB = v1::ABO_GROUP_B;
constexpr AboGroup kAB = v1::ABO_GROUP_AB;
constexpr RhD kPos = v1::RH_D_POSITIVE;
constexpr RhD kNeg = v1::RH_D_NEGATIVE;

constexpr std::array<BloodType, 8> kAllBloodTypes = {{
    {kO, kNeg},
    {kO, kPos},
    {kA, kNeg},
    {kA, kPos},
    {kB, kNeg},
    {kB, kPos},
    {kAB, kNeg},
    {kAB, kPos},
}};

constexpr std::array<ComponentInfo, 5> kComponents = {{
    {v1::COMPONENT_WHOLE_BLOOD, "whole blood", OrderingMeasure::kUnits, true},
    {v1::COMPONENT_RED_CELLS, "red cells", OrderingMeasure::kUnits, true},
    {v1::COMPONENT_PLASMA, "plasma", OrderingMeasure::kMilliliters, false},
    {v1::COMPONENT_PLATELETS, "platelets", OrderingMeasure::kDoses, true},
    {v1::COMPONENT_CRYO, "cryoprecipitate", OrderingMeasure::kUnits, false},
}};

absl::string_view AboName(AboGroup abo) {
  switch (abo) {
    case v1::ABO_GROUP_O:
      return "O";
    case v1::ABO_GROUP_A:
      return "A";
    case v1::ABO_GROUP_B:
      return "B";
    case v1::ABO_GROUP_AB:
      return "AB";
    default:
      return "";
  }
}

// Donor ABO groups that are equally preferred; a recipient's preference is a list of these.
using AboStep = std::vector<AboGroup>;
using AboPreference = std::vector<AboStep>;

// DOMAIN.md section 3 (Lifeblood; 临床输血技术规范 2000). Indexed by recipient group.
const AboPreference& RedCellPreference(AboGroup recipient) {
  static const auto* const kTable = new std::array<AboPreference, 4>{{
      {{kO}},
      {{kA}, {kO}},
      {{kB}, {kO}},
      {{kAB}, {kA}, {kB}, {kO}},
  }};
  return (*kTable)[recipient - kO];
}

// Whole blood carries the donor's plasma as well as red cells: ABO-identical only (AABB
// Standards 5.15.1).
const AboPreference& WholeBloodPreference(AboGroup recipient) {
  static const auto* const kTable = new std::array<AboPreference, 4>{{
      {{kO}},
      {{kA}},
      {{kB}},
      {{kAB}},
  }};
  return (*kTable)[recipient - kO];
}

const AboPreference& PlasmaPreference(AboGroup recipient) {
  static const auto* const kTable = new std::array<AboPreference, 4>{{
      {{kO}, {kA}, {kB}, {kAB}},
      {{kA}, {kAB}},
      {{kB}, {kAB}},
      {{kAB}},
  }};
  return (*kTable)[recipient - kO];
}

// Cross-group steps (B|O for an A recipient etc.) call for low-titre donors.
const AboPreference& PlateletPreference(AboGroup recipient) {
  static const auto* const kTable = new std::array<AboPreference, 4>{{
      {{kO}, {kA}, {kB}},
      {{kA}, {kB, kO}, {kAB}},
      {{kB}, {kA, kO}, {kAB}},
      {{kAB}, {kA, kB}, {kO}},
  }};
  return (*kTable)[recipient - kO];
}

const AboPreference* PreferenceFor(Component component, AboGroup recipient) {
  switch (component) {
    case v1::COMPONENT_WHOLE_BLOOD:
      return &WholeBloodPreference(recipient);
    case v1::COMPONENT_RED_CELLS:
      return &RedCellPreference(recipient);
    case v1::COMPONENT_PLASMA:
    case v1::COMPONENT_CRYO:
      return &PlasmaPreference(recipient);
    case v1::COMPONENT_PLATELETS:
      return &PlateletPreference(recipient);
    default:
      return nullptr;
  }
}

RhD Opposite(RhD rhd) { return rhd == kPos ? kNeg : kPos; }

class CandidateList {
 public:
  explicit CandidateList(AboGroup recipient_abo, bool unknown_recipient)
      : recipient_abo_(recipient_abo), unknown_recipient_(unknown_recipient) {}

  // Starts the next preference step.
  void NextTier() { ++tier_; }
  void Add(AboGroup abo, RhD rhd, bool rhd_mismatch) {
    candidates_.push_back(DonorCandidate{
        .donor = {abo, rhd},
        .tier = tier_,
        .abo_identical = !unknown_recipient_ && abo == recipient_abo_,
        .rhd_mismatch = rhd_mismatch,
    });
  }
  std::vector<DonorCandidate> Take() && { return std::move(candidates_); }

 private:
  AboGroup recipient_abo_;
  bool unknown_recipient_;
  int tier_ = 0;
  std::vector<DonorCandidate> candidates_;
};

}  // namespace

bool BloodType::IsKnown() const {
  return abo != v1::ABO_GROUP_UNSPECIFIED && v1::AboGroup_IsValid(abo) &&
         rhd != v1::RH_D_UNSPECIFIED && v1::RhD_IsValid(rhd);
}

std::string BloodType::ToString() const {
  if (IsKnown()) return absl::StrCat(AboName(abo), rhd == kPos ? "+" : "-");
  if (IsUnknown()) return "unknown";
  return absl::StrCat("invalid(abo=", static_cast<int>(abo), ", rhd=", static_cast<int>(rhd), ")");
}

v1::BloodType BloodType::ToProto() const {
  v1::BloodType proto;
  proto.set_abo(abo);
  proto.set_rhd(rhd);
  return proto;
}

absl::StatusOr<BloodType> BloodType::FromProto(const v1::BloodType& proto) {
  BloodType type{proto.abo(), proto.rhd()};
  if (type.IsKnown() || type.IsUnknown()) return type;
  return InvalidField("blood_type",
                      absl::StrCat("abo and rhd must both be set, or both unspecified for an "
                                   "unknown type; got ",
                                   type.ToString()));
}

std::ostream& operator<<(std::ostream& os, const BloodType& type) { return os << type.ToString(); }

absl::StatusOr<BloodType> ParseBloodType(absl::string_view text) {
  const std::string normalized = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  if (normalized == "UNKNOWN") return BloodType::Unknown();
  for (const BloodType& type : kAllBloodTypes) {
    if (normalized == type.ToString()) return type;
  }
  return InvalidField("blood_type",
                      absl::StrCat("'", absl::CHexEscape(text.substr(0, 32)),
                                   "' is not a blood type (O-, O+, A-, A+, B-, B+, AB-, AB+ or "
                                   "unknown)"));
}

const std::array<BloodType, 8>& AllBloodTypes() { return kAllBloodTypes; }

absl::string_view OrderingMeasureSymbol(OrderingMeasure measure) {
  switch (measure) {
    case OrderingMeasure::kUnits:
      return "U";
    case OrderingMeasure::kMilliliters:
      return "mL";
    case OrderingMeasure::kDoses:
      return "dose";
  }
  return "";
}

absl::Span<const ComponentInfo> ComponentCatalogue() { return kComponents; }

absl::StatusOr<ComponentInfo> LookupComponent(Component component) {
  for (const ComponentInfo& info : kComponents) {
    if (info.component == component) return info;
  }
  return InvalidField("component", absl::StrCat("unknown component ", static_cast<int>(component)));
}

std::ostream& operator<<(std::ostream& os, const DonorCandidate& candidate) {
  os << candidate.donor << " tier " << candidate.tier;
  if (candidate.abo_identical) os << " abo-identical";
  if (candidate.rhd_mismatch) os << " rhd-mismatch";
  return os;
}

std::vector<DonorCandidate> CompatibleDonors(Component component, BloodType recipient,
                                             bool include_rhd_exceptions) {
  if (!recipient.IsKnown()) return {};
  const absl::StatusOr<ComponentInfo> info = LookupComponent(component);
  if (!info.ok()) return {};
  const AboPreference& steps = *PreferenceFor(component, recipient.abo);
  CandidateList list(recipient.abo, /*unknown_recipient=*/false);

  if (!info->rhd_matters) {
    for (const AboStep& step : steps) {
      list.NextTier();
      for (AboGroup abo : step) {
        list.Add(abo, recipient.rhd, false);
        list.Add(abo, Opposite(recipient.rhd), false);
      }
    }
  } else if (recipient.rhd == kPos) {
    for (const AboStep& step : steps) {
      list.NextTier();
      for (AboGroup abo : step) list.Add(abo, kPos, false);
      list.NextTier();
      for (AboGroup abo : step) list.Add(abo, kNeg, false);
    }
  } else {
    for (const AboStep& step : steps) {
      list.NextTier();
      for (AboGroup abo : step) list.Add(abo, kNeg, false);
    }
    if (include_rhd_exceptions) {
      for (const AboStep& step : steps) {
        list.NextTier();
        for (AboGroup abo : step) list.Add(abo, kPos, true);
      }
    }
  }
  return std::move(list).Take();
}

bool IsCompatible(Component component, BloodType recipient, BloodType donor,
                  bool allow_rhd_exception) {
  if (!donor.IsKnown()) return false;
  for (const DonorCandidate& candidate :
       CompatibleDonors(component, recipient, allow_rhd_exception)) {
    if (candidate.donor == donor) return true;
  }
  return false;
}

std::vector<DonorCandidate> EmergencyUnknownTypeCandidates(Component component,
                                                           bool allow_rhd_positive) {
  CandidateList list(v1::ABO_GROUP_UNSPECIFIED, /*unknown_recipient=*/true);
  switch (component) {
    case v1::COMPONENT_RED_CELLS:
      list.NextTier();
      list.Add(kO, kNeg, false);
      if (allow_rhd_positive) {
        list.NextTier();
        list.Add(kO, kPos, true);
      }
      break;
    case v1::COMPONENT_PLASMA:
    case v1::COMPONENT_CRYO:
      list.NextTier();
      list.Add(kAB, kNeg, false);
      list.Add(kAB, kPos, false);
      break;
    case v1::COMPONENT_PLATELETS: {
      const AboPreference steps = {{kA}, {kO, kB}};
      for (const AboStep& step : steps) {
        list.NextTier();
        for (AboGroup abo : step) list.Add(abo, kNeg, false);
      }
      if (allow_rhd_positive) {
        for (const AboStep& step : steps) {
          list.NextTier();
          for (AboGroup abo : step) list.Add(abo, kPos, true);
        }
      }
      break;
    }
    default:
      break;
  }
  return std::move(list).Take();
}

}  // namespace bloodgrid
