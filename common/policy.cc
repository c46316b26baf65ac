#include "common/policy.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace bloodgrid {
namespace {

using v1::PolicyProfile;
using Period = PolicyProfile::Period;

constexpr absl::string_view kPolicyFileSuffix = ".textproto";

class CollectingErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  // The tokenizer counts lines and columns from 0; people count from 1.
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat(line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int /*line*/, google::protobuf::io::ColumnNumber /*column*/,
                  const std::string& /*message*/) override {}

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

std::string Path(absl::string_view parent, absl::string_view child) {
  return parent.empty() ? std::string(child) : absl::StrCat(parent, ".", child);
}

std::string At(absl::string_view field, int index) { return absl::StrCat(field, "[", index, "]"); }

absl::Status CheckPositive(absl::string_view field, double value) {
  // Written as !(value > 0) so that NaN fails too.
  if (!(value > 0)) return InvalidField(field, "must be > 0");
  return absl::OkStatus();
}

absl::Status CheckPeriod(absl::string_view field, const Period& period,
                         bool hours_or_days_only = false) {
  int32_t length = 0;
  absl::string_view unit;
  switch (period.length_case()) {
    case Period::kHours:
      length = period.hours();
      unit = "hours";
      break;
    case Period::kDays:
      length = period.days();
      unit = "days";
      break;
    case Period::kWeeks:
      length = period.weeks();
      unit = "weeks";
      break;
    case Period::kMonths:
      length = period.months();
      unit = "months";
      break;
    case Period::kYears:
      length = period.years();
      unit = "years";
      break;
    case Period::LENGTH_NOT_SET:
      return InvalidField(field, "must be set");
  }
  if (hours_or_days_only && unit != "hours" && unit != "days") {
    return InvalidField(Path(field, unit), "must be given in hours or days");
  }
  if (length <= 0) return InvalidField(Path(field, unit), "must be > 0");
  return absl::OkStatus();
}

absl::Status CheckIntRange(absl::string_view field, const PolicyProfile::IntRange& range,
                           bool require_max) {
  if (!range.has_min()) return InvalidField(Path(field, "min"), "must be set");
  if (range.min() <= 0) return InvalidField(Path(field, "min"), "must be > 0");
  if (!range.has_max()) {
    if (require_max) return InvalidField(Path(field, "max"), "must be set");
    return absl::OkStatus();
  }
  if (range.max() < range.min()) {
    return InvalidField(Path(field, "max"), absl::StrCat("must be >= min (", range.min(), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckBySex(absl::string_view field, bool present, const PolicyProfile::BySex& limit) {
  if (!present) return InvalidField(field, "must be set");
  BG_RETURN_IF_ERROR(CheckPositive(Path(field, "male"), limit.male()));
  return CheckPositive(Path(field, "female"), limit.female());
}

absl::Status CheckDonationType(absl::string_view field, int value) {
  if (!v1::DonationType_IsValid(value) || value == v1::DONATION_TYPE_UNSPECIFIED) {
    return InvalidField(field, "must be a specified DonationType");
  }
  return absl::OkStatus();
}

absl::Status ValidateHeader(const PolicyProfile& policy) {
  const std::string& name = policy.name();
  bool well_formed = !name.empty() && name.front() != '-' && name.back() != '-';
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') well_formed = false;
  }
  if (!well_formed) {
    return InvalidField("name", "must be non-empty lower-case letters, digits and '-'");
  }
  if (policy.version() < 1) return InvalidField("version", "must be >= 1");
  if (policy.description().empty()) return InvalidField("description", "must be set");
  if (policy.sources().empty()) return InvalidField("sources", "must not be empty");
  return absl::OkStatus();
}

absl::Status ValidateEligibility(const PolicyProfile& policy) {
  constexpr absl::string_view kField = "eligibility";
  if (!policy.has_eligibility()) return InvalidField(kField, "must be set");
  const PolicyProfile::DonorEligibility& e = policy.eligibility();
  if (e.age_min_years() <= 0) return InvalidField(Path(kField, "age_min_years"), "must be > 0");
  if (e.has_age_max_first_time_years() && e.age_max_first_time_years() < e.age_min_years()) {
    return InvalidField(Path(kField, "age_max_first_time_years"),
                        absl::StrCat("must be >= age_min_years (", e.age_min_years(), ")"));
  }
  if (e.has_age_max_repeat_years() != e.has_age_max_first_time_years()) {
    return InvalidField(Path(kField, "age_max_repeat_years"),
                        "must be set exactly when age_max_first_time_years is set");
  }
  if (e.has_age_max_repeat_years()) {
    if (e.age_max_repeat_years() < e.age_max_first_time_years()) {
      return InvalidField(
          Path(kField, "age_max_repeat_years"),
          absl::StrCat("must be >= age_max_first_time_years (", e.age_max_first_time_years(), ")"));
    }
  }
  BG_RETURN_IF_ERROR(
      CheckBySex(Path(kField, "weight_min_kg"), e.has_weight_min_kg(), e.weight_min_kg()));
  BG_RETURN_IF_ERROR(CheckBySex(Path(kField, "hemoglobin_min_g_l"), e.has_hemoglobin_min_g_l(),
                                e.hemoglobin_min_g_l()));
  BG_RETURN_IF_ERROR(
      CheckIntRange(Path(kField, "systolic_mmhg"), e.systolic_mmhg(), /*require_max=*/true));
  BG_RETURN_IF_ERROR(
      CheckIntRange(Path(kField, "diastolic_mmhg"), e.diastolic_mmhg(), /*require_max=*/true));
  BG_RETURN_IF_ERROR(CheckIntRange(Path(kField, "pulse_bpm"), e.pulse_bpm(), /*require_max=*/true));
  if (e.has_pulse_pressure_min_mmhg() && e.pulse_pressure_min_mmhg() <= 0) {
    return InvalidField(Path(kField, "pulse_pressure_min_mmhg"), "must be > 0 when set");
  }
  const std::string volumes = Path(kField, "whole_blood_volumes_ml");
  if (e.whole_blood_volumes_ml().empty()) return InvalidField(volumes, "must not be empty");
  for (int i = 0; i < e.whole_blood_volumes_ml_size(); ++i) {
    if (e.whole_blood_volumes_ml(i) <= 0) return InvalidField(At(volumes, i), "must be > 0");
    if (i > 0 && e.whole_blood_volumes_ml(i) <= e.whole_blood_volumes_ml(i - 1)) {
      return InvalidField(At(volumes, i), "must be strictly ascending");
    }
  }
  const double hct = e.apheresis_platelets_hematocrit_min();
  if (!(hct > 0 && hct < 1)) {
    return InvalidField(Path(kField, "apheresis_platelets_hematocrit_min"),
                        "must be a fraction in (0, 1)");
  }
  return CheckIntRange(Path(kField, "apheresis_platelets_platelet_count_e9_l"),
                       e.apheresis_platelets_platelet_count_e9_l(), /*require_max=*/false);
}

absl::Status ValidateIntervals(const PolicyProfile& policy) {
  constexpr absl::string_view kField = "intervals";
  if (!policy.has_intervals()) return InvalidField(kField, "must be set");
  const PolicyProfile::DonationIntervals& intervals = policy.intervals();
  const std::string rules = Path(kField, "rules");
  if (intervals.rules().empty()) return InvalidField(rules, "must not be empty");
  std::set<std::pair<int, int>> pairs;
  for (int i = 0; i < intervals.rules_size(); ++i) {
    const PolicyProfile::IntervalRule& rule = intervals.rules(i);
    const std::string field = At(rules, i);
    BG_RETURN_IF_ERROR(CheckDonationType(Path(field, "previous"), rule.previous()));
    BG_RETURN_IF_ERROR(CheckDonationType(Path(field, "next"), rule.next()));
    if (!rule.has_min_interval()) return InvalidField(Path(field, "min_interval"), "must be set");
    BG_RETURN_IF_ERROR(CheckPeriod(Path(field, "min_interval"), rule.min_interval()));
    if (!pairs.emplace(rule.previous(), rule.next()).second) {
      return InvalidField(
          field, absl::StrCat("duplicate rule for ", v1::DonationType_Name(rule.previous()), " -> ",
                              v1::DonationType_Name(rule.next())));
    }
  }
  const std::string caps = Path(kField, "caps");
  for (int i = 0; i < intervals.caps_size(); ++i) {
    const PolicyProfile::RollingCap& cap = intervals.caps(i);
    const std::string field = At(caps, i);
    if (cap.counted().empty()) return InvalidField(Path(field, "counted"), "must not be empty");
    std::set<int> counted;
    for (int j = 0; j < cap.counted_size(); ++j) {
      BG_RETURN_IF_ERROR(CheckDonationType(At(Path(field, "counted"), j), cap.counted(j)));
      if (!counted.insert(cap.counted(j)).second) {
        return InvalidField(At(Path(field, "counted"), j), "duplicate donation type");
      }
    }
    if (!cap.has_window()) return InvalidField(Path(field, "window"), "must be set");
    BG_RETURN_IF_ERROR(CheckPeriod(Path(field, "window"), cap.window()));
    if (cap.max_donations() < 0) {
      return InvalidField(Path(field, "max_donations"), "must be >= 0");
    }
    if (cap.max_volume_ml() < 0) {
      return InvalidField(Path(field, "max_volume_ml"), "must be >= 0");
    }
    if (cap.max_donations() == 0 && cap.max_volume_ml() == 0) {
      return InvalidField(field, "must set max_donations or max_volume_ml");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDeferrals(const PolicyProfile& policy) {
  constexpr absl::string_view kField = "deferrals";
  if (policy.deferrals().empty()) return InvalidField(kField, "must not be empty");
  std::set<std::string, std::less<>> codes;
  std::set<int> tests;
  for (int i = 0; i < policy.deferrals_size(); ++i) {
    const PolicyProfile::DeferralReason& reason = policy.deferrals(i);
    const std::string field = At(kField, i);
    const std::string& code = reason.code();
    bool well_formed = !code.empty() && absl::ascii_isupper(code.front());
    for (char c : code) {
      if (!absl::ascii_isupper(c) && !absl::ascii_isdigit(c) && c != '_') well_formed = false;
    }
    if (!well_formed) return InvalidField(Path(field, "code"), "must be UPPER_SNAKE_CASE");
    if (!codes.insert(code).second) {
      return InvalidField(Path(field, "code"), absl::StrCat("duplicate code ", code));
    }
    if (reason.description().empty()) {
      return InvalidField(Path(field, "description"), "must be set");
    }
    switch (reason.length_case()) {
      case PolicyProfile::DeferralReason::kDuration:
        BG_RETURN_IF_ERROR(CheckPeriod(Path(field, "duration"), reason.duration()));
        break;
      case PolicyProfile::DeferralReason::kPermanent:
        if (!reason.permanent()) {
          return InvalidField(Path(field, "permanent"), "must be true when set");
        }
        break;
      case PolicyProfile::DeferralReason::LENGTH_NOT_SET:
        return InvalidField(field, "must set duration or permanent");
    }
    if (!v1::ScreeningTest_IsValid(reason.reactive_test())) {
      return InvalidField(Path(field, "reactive_test"), "must be a ScreeningTest");
    }
    if (reason.reactive_test() != v1::SCREENING_TEST_UNSPECIFIED &&
        !tests.insert(reason.reactive_test()).second) {
      return InvalidField(Path(field, "reactive_test"),
                          absl::StrCat("another deferral already names ",
                                       v1::ScreeningTest_Name(reason.reactive_test())));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateShelfLives(const PolicyProfile& policy) {
  constexpr absl::string_view kField = "shelf_lives";
  std::set<std::tuple<int, int, int>> keys;
  for (int i = 0; i < policy.shelf_lives_size(); ++i) {
    const PolicyProfile::ShelfLife& shelf_life = policy.shelf_lives(i);
    const std::string field = At(kField, i);
    if (!v1::Component_IsValid(shelf_life.component()) ||
        shelf_life.component() == v1::COMPONENT_UNSPECIFIED) {
      return InvalidField(Path(field, "component"), "must be a specified Component");
    }
    if (!PolicyProfile::Anticoagulant_IsValid(shelf_life.anticoagulant())) {
      return InvalidField(Path(field, "anticoagulant"), "must be an Anticoagulant");
    }
    if (!PolicyProfile::Preparation_IsValid(shelf_life.preparation())) {
      return InvalidField(Path(field, "preparation"), "must be a Preparation");
    }
    if (!shelf_life.has_period()) return InvalidField(Path(field, "period"), "must be set");
    BG_RETURN_IF_ERROR(
        CheckPeriod(Path(field, "period"), shelf_life.period(), /*hours_or_days_only=*/true));
    if (!keys.emplace(shelf_life.component(), shelf_life.anticoagulant(), shelf_life.preparation())
             .second) {
      return InvalidField(field, "duplicate (component, anticoagulant, preparation)");
    }
  }
  const google::protobuf::EnumDescriptor* components = v1::Component_descriptor();
  for (int i = 0; i < components->value_count(); ++i) {
    const int component = components->value(i)->number();
    if (component == v1::COMPONENT_UNSPECIFIED) continue;
    if (!keys.count({component, PolicyProfile::ANTICOAGULANT_UNSPECIFIED,
                     PolicyProfile::PREPARATION_UNSPECIFIED})) {
      return InvalidField(kField,
                          absl::StrCat("no default entry for ", components->value(i)->name()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRelease(const PolicyProfile& policy) {
  const std::string field = "release.mandatory_tests";
  if (!policy.has_release() || policy.release().mandatory_tests().empty()) {
    return InvalidField(field, "must not be empty");
  }
  std::set<int> tests;
  for (int i = 0; i < policy.release().mandatory_tests_size(); ++i) {
    const int test = policy.release().mandatory_tests(i);
    if (!v1::ScreeningTest_IsValid(test) || test == v1::SCREENING_TEST_UNSPECIFIED) {
      return InvalidField(At(field, i), "must be a specified ScreeningTest");
    }
    if (!tests.insert(test).second) return InvalidField(At(field, i), "duplicate test");
  }
  if (!tests.count(v1::SCREENING_TEST_ABO_RHD)) {
    return InvalidField(field, "must include SCREENING_TEST_ABO_RHD");
  }
  return absl::OkStatus();
}

absl::Status ValidateLookback(const PolicyProfile& policy) {
  if (!policy.has_lookback() || !policy.lookback().has_window()) {
    return InvalidField("lookback.window", "must be set");
  }
  return CheckPeriod("lookback.window", policy.lookback().window());
}

absl::Status CheckThreshold(absl::string_view field, bool present,
                            const PolicyProfile::Threshold& threshold) {
  if (!present) return InvalidField(field, "must be set");
  BG_RETURN_IF_ERROR(CheckPositive(Path(field, "indicated_below"), threshold.indicated_below()));
  BG_RETURN_IF_ERROR(
      CheckPositive(Path(field, "not_indicated_above"), threshold.not_indicated_above()));
  if (threshold.not_indicated_above() < threshold.indicated_below()) {
    return InvalidField(
        Path(field, "not_indicated_above"),
        absl::StrCat("must be >= indicated_below (", threshold.indicated_below(), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateIndications(const PolicyProfile& policy) {
  constexpr absl::string_view kField = "indications";
  if (!policy.has_indications()) return InvalidField(kField, "must be set");
  const PolicyProfile::TransfusionIndications& ind = policy.indications();
  BG_RETURN_IF_ERROR(CheckThreshold(Path(kField, "red_cells_hemoglobin_g_l"),
                                    ind.has_red_cells_hemoglobin_g_l(),
                                    ind.red_cells_hemoglobin_g_l()));
  BG_RETURN_IF_ERROR(CheckThreshold(Path(kField, "platelets_count_e9_l"),
                                    ind.has_platelets_count_e9_l(), ind.platelets_count_e9_l()));
  BG_RETURN_IF_ERROR(CheckPositive(Path(kField, "plasma_inr_above"), ind.plasma_inr_above()));
  BG_RETURN_IF_ERROR(
      CheckPositive(Path(kField, "plasma_pt_aptt_ratio_above"), ind.plasma_pt_aptt_ratio_above()));
  BG_RETURN_IF_ERROR(
      CheckPositive(Path(kField, "cryo_fibrinogen_below_g_l"), ind.cryo_fibrinogen_below_g_l()));
  const std::string tiers = Path(kField, "approval_tiers");
  if (ind.approval_tiers().empty()) return InvalidField(tiers, "must not be empty");
  for (int i = 0; i < ind.approval_tiers_size(); ++i) {
    const PolicyProfile::ApprovalTier& tier = ind.approval_tiers(i);
    const std::string field = At(tiers, i);
    if (i == 0 && tier.from_daily_ml() != 0) {
      return InvalidField(Path(field, "from_daily_ml"), "must be 0 for the first tier");
    }
    if (i > 0 && tier.from_daily_ml() <= ind.approval_tiers(i - 1).from_daily_ml()) {
      return InvalidField(Path(field, "from_daily_ml"), "must be strictly ascending");
    }
    if (!PolicyProfile::Approver_IsValid(tier.approver()) ||
        tier.approver() == PolicyProfile::APPROVER_UNSPECIFIED) {
      return InvalidField(Path(field, "approver"), "must be a specified Approver");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateReimbursement(const PolicyProfile& policy) {
  constexpr absl::string_view kField = "reimbursement";
  if (!policy.has_reimbursement()) return absl::OkStatus();
  const PolicyProfile::Reimbursement& r = policy.reimbursement();
  const std::string tiers = Path(kField, "donor_tiers");
  if (r.donor_tiers().empty()) return InvalidField(tiers, "must not be empty");
  for (int i = 0; i < r.donor_tiers_size(); ++i) {
    const PolicyProfile::MultiplierTier& tier = r.donor_tiers(i);
    const std::string field = At(tiers, i);
    const bool last = i + 1 == r.donor_tiers_size();
    if (last && tier.has_within_years()) {
      return InvalidField(Path(field, "within_years"), "must be unset on the last tier");
    }
    if (!last) {
      if (!tier.has_within_years()) {
        return InvalidField(Path(field, "within_years"), "must be set on all but the last tier");
      }
      if (tier.within_years() <= 0) return InvalidField(Path(field, "within_years"), "must be > 0");
      if (i > 0 && tier.within_years() <= r.donor_tiers(i - 1).within_years()) {
        return InvalidField(Path(field, "within_years"), "must be strictly ascending");
      }
    }
    BG_RETURN_IF_ERROR(CheckPositive(Path(field, "multiplier"), tier.multiplier()));
  }
  if (r.lifetime_free_threshold_ml() < 0) {
    return InvalidField(Path(kField, "lifetime_free_threshold_ml"), "must be >= 0");
  }
  BG_RETURN_IF_ERROR(CheckPositive(Path(kField, "relatives_multiplier"), r.relatives_multiplier()));
  return CheckPositive(Path(kField, "apheresis_platelets_ml_equivalent"),
                       r.apheresis_platelets_ml_equivalent());
}

absl::Status ValidateRest(const PolicyProfile& policy) {
  if (!policy.has_massive_transfusion()) return InvalidField("massive_transfusion", "must be set");
  const PolicyProfile::MassiveTransfusionPack& pack = policy.massive_transfusion();
  BG_RETURN_IF_ERROR(CheckPositive("massive_transfusion.red_cell_units", pack.red_cell_units()));
  BG_RETURN_IF_ERROR(CheckPositive("massive_transfusion.plasma_units", pack.plasma_units()));
  BG_RETURN_IF_ERROR(CheckPositive("massive_transfusion.platelet_doses", pack.platelet_doses()));
  if (!policy.has_emergency_rhd()) return InvalidField("emergency_rhd", "must be set");
  BG_RETURN_IF_ERROR(CheckPositive("emergency_rhd.female_rhd_positive_above_age_years",
                                   policy.emergency_rhd().female_rhd_positive_above_age_years()));
  if (!policy.has_units()) return InvalidField("units", "must be set");
  const PolicyProfile::UnitConventions& units = policy.units();
  BG_RETURN_IF_ERROR(CheckPositive("units.whole_blood_ml_per_red_cell_unit",
                                   units.whole_blood_ml_per_red_cell_unit()));
  BG_RETURN_IF_ERROR(CheckPositive("units.plasma_ml_per_unit", units.plasma_ml_per_unit()));
  return CheckPositive("units.platelet_units_per_apheresis_dose",
                       units.platelet_units_per_apheresis_dose());
}

absl::CivilDay AddMonths(absl::CivilDay day, int64_t months) {
  const absl::CivilMonth target = absl::CivilMonth(day) + months;
  // CivilDay normalises 31 Feb to early March; such a period ends on the 1st of the month
  // after the target instead, so it is never shorter than its nominal length.
  const absl::CivilDay same_day(target.year(), target.month(), day.day());
  if (absl::CivilMonth(same_day) != target) return absl::CivilDay(target + 1);
  return same_day;
}

absl::StatusOr<const PolicyProfile::ShelfLife*> FindShelfLife(
    const PolicyProfile& policy, v1::Component component,
    PolicyProfile::Anticoagulant anticoagulant, PolicyProfile::Preparation preparation) {
  const PolicyProfile::ShelfLife* any_anticoagulant = nullptr;
  for (const PolicyProfile::ShelfLife& shelf_life : policy.shelf_lives()) {
    if (shelf_life.component() != component || shelf_life.preparation() != preparation) continue;
    if (shelf_life.anticoagulant() == anticoagulant) return &shelf_life;
    if (shelf_life.anticoagulant() == PolicyProfile::ANTICOAGULANT_UNSPECIFIED) {
      any_anticoagulant = &shelf_life;
    }
  }
  if (any_anticoagulant != nullptr && preparation != PolicyProfile::PREPARATION_UNSPECIFIED) {
    return any_anticoagulant;
  }
  return absl::NotFoundError(absl::StrCat("policy ", policy.name(), " has no shelf life for ",
                                          v1::Component_Name(component), " (",
                                          PolicyProfile::Anticoagulant_Name(anticoagulant), ", ",
                                          PolicyProfile::Preparation_Name(preparation), ")"));
}

}  // namespace

absl::StatusOr<v1::PolicyProfile> ParsePolicyText(absl::string_view text,
                                                  absl::string_view source_name) {
  CollectingErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  v1::PolicyProfile policy;
  if (!parser.ParseFromString(std::string(text), &policy)) {
    if (errors.errors().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ": cannot parse policy"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", absl::StrJoin(errors.errors(), "; ")));
  }
  return policy;
}

absl::StatusOr<v1::PolicyProfile> LoadPolicyFile(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat("policy file not found: ", path));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return absl::FailedPreconditionError(absl::StrCat("policy file is not a regular file: ", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read policy file: ", path));
  }
  // Reading through rdbuf() sets failbit on `text` for an empty file; an empty file is an
  // empty profile, which ValidatePolicy rejects with a field name.
  std::ostringstream text;
  text << in.rdbuf();
  BG_ASSIGN_OR_RETURN(v1::PolicyProfile policy, ParsePolicyText(text.str(), path));
  BG_RETURN_IF_ERROR(Annotate(ValidatePolicy(policy), path));
  return policy;
}

absl::Status ValidatePolicy(const v1::PolicyProfile& policy) {
  BG_RETURN_IF_ERROR(ValidateHeader(policy));
  BG_RETURN_IF_ERROR(ValidateEligibility(policy));
  BG_RETURN_IF_ERROR(ValidateIntervals(policy));
  BG_RETURN_IF_ERROR(ValidateDeferrals(policy));
  BG_RETURN_IF_ERROR(ValidateShelfLives(policy));
  BG_RETURN_IF_ERROR(ValidateRelease(policy));
  BG_RETURN_IF_ERROR(ValidateLookback(policy));
  BG_RETURN_IF_ERROR(ValidateIndications(policy));
  BG_RETURN_IF_ERROR(ValidateReimbursement(policy));
  return ValidateRest(policy);
}

absl::StatusOr<PolicyRegistry> PolicyRegistry::LoadDirectory(const std::string& dir,
                                                             absl::string_view default_name) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat("policy directory not found: ", dir));
  }
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(dir, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string file_name = it->path().filename().string();
    if (file_name.size() > kPolicyFileSuffix.size() &&
        absl::EndsWith(file_name, kPolicyFileSuffix) && it->is_regular_file(error)) {
      files.push_back(it->path());
    }
  }
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot list policy directory ", dir, ": ", error.message()));
  }
  std::sort(files.begin(), files.end());
  std::vector<v1::PolicyProfile> profiles;
  for (const std::filesystem::path& file : files) {
    BG_ASSIGN_OR_RETURN(v1::PolicyProfile profile, LoadPolicyFile(file.string()));
    const std::string stem = file.stem().string();
    if (profile.name() != stem) {
      return InvalidField(
          absl::StrCat(file.string(), ": name"),
          absl::StrCat("\"", profile.name(), "\" must match the file name \"", stem, "\""));
    }
    profiles.push_back(std::move(profile));
  }
  absl::StatusOr<PolicyRegistry> registry = FromProfiles(std::move(profiles), default_name);
  if (!registry.ok()) return Annotate(registry.status(), dir);
  return registry;
}

absl::StatusOr<PolicyRegistry> PolicyRegistry::FromProfiles(std::vector<v1::PolicyProfile> profiles,
                                                            absl::string_view default_name) {
  PolicyRegistry registry;
  for (v1::PolicyProfile& profile : profiles) {
    BG_RETURN_IF_ERROR(ValidatePolicy(profile));
    const std::string name = profile.name();
    if (!registry.profiles_.emplace(name, std::move(profile)).second) {
      return InvalidField("name", absl::StrCat("two profiles are named \"", name, "\""));
    }
  }
  if (registry.Find(default_name) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no default policy profile \"", default_name, "\""));
  }
  registry.default_name_ = std::string(default_name);
  return registry;
}

const v1::PolicyProfile* PolicyRegistry::Find(absl::string_view name) const {
  const auto it = profiles_.find(name);
  return it == profiles_.end() ? nullptr : &it->second;
}

absl::StatusOr<const v1::PolicyProfile*> PolicyRegistry::Get(absl::string_view name) const {
  if (name.empty()) return &Default();
  const v1::PolicyProfile* profile = Find(name);
  if (profile == nullptr) {
    return absl::NotFoundError(absl::StrCat("no policy profile \"", name, "\""));
  }
  return profile;
}

const v1::PolicyProfile& PolicyRegistry::Default() const {
  return profiles_.find(default_name_)->second;
}

std::vector<std::string> PolicyRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(profiles_.size());
  for (const auto& [name, profile] : profiles_) names.push_back(name);
  return names;
}

absl::CivilDay AddPeriod(absl::CivilDay day, const v1::PolicyProfile::Period& period) {
  switch (period.length_case()) {
    case Period::kHours:
      return day + (static_cast<int64_t>(period.hours()) + 23) / 24;
    case Period::kDays:
      return day + period.days();
    case Period::kWeeks:
      return day + 7 * static_cast<int64_t>(period.weeks());
    case Period::kMonths:
      return AddMonths(day, period.months());
    case Period::kYears:
      return AddMonths(day, 12 * static_cast<int64_t>(period.years()));
    case Period::LENGTH_NOT_SET:
      break;
  }
  return day;
}

std::string FormatPeriod(const v1::PolicyProfile::Period& period) {
  auto format = [](int32_t n, absl::string_view unit) {
    return absl::StrCat(n, " ", unit, n == 1 ? "" : "s");
  };
  switch (period.length_case()) {
    case Period::kHours:
      return format(period.hours(), "hour");
    case Period::kDays:
      return format(period.days(), "day");
    case Period::kWeeks:
      return format(period.weeks(), "week");
    case Period::kMonths:
      return format(period.months(), "month");
    case Period::kYears:
      return format(period.years(), "year");
    case Period::LENGTH_NOT_SET:
      break;
  }
  return "";
}

absl::StatusOr<absl::Duration> ShelfLife(const v1::PolicyProfile& policy, v1::Component component,
                                         v1::PolicyProfile::Anticoagulant anticoagulant,
                                         v1::PolicyProfile::Preparation preparation) {
  BG_ASSIGN_OR_RETURN(const PolicyProfile::ShelfLife* shelf_life,
                      FindShelfLife(policy, component, anticoagulant, preparation));
  if (shelf_life->period().has_hours()) return absl::Hours(shelf_life->period().hours());
  return absl::Hours(24) * shelf_life->period().days();
}

absl::StatusOr<absl::Time> ExpiresAt(const v1::PolicyProfile& policy, v1::Component component,
                                     absl::Time start, absl::TimeZone tz,
                                     v1::PolicyProfile::Anticoagulant anticoagulant,
                                     v1::PolicyProfile::Preparation preparation) {
  BG_ASSIGN_OR_RETURN(const PolicyProfile::ShelfLife* shelf_life,
                      FindShelfLife(policy, component, anticoagulant, preparation));
  if (shelf_life->period().has_hours()) return start + absl::Hours(shelf_life->period().hours());
  const absl::CivilDay last_day = absl::ToCivilDay(start, tz) + shelf_life->period().days();
  return absl::FromCivil(
      absl::CivilMinute(last_day.year(), last_day.month(), last_day.day(), 23, 59), tz);
}

const v1::PolicyProfile::DeferralReason* FindDeferralReason(const v1::PolicyProfile& policy,
                                                            absl::string_view code) {
  for (const PolicyProfile::DeferralReason& reason : policy.deferrals()) {
    if (reason.code() == code) return &reason;
  }
  return nullptr;
}

const v1::PolicyProfile::DeferralReason* DeferralForReactiveTest(const v1::PolicyProfile& policy,
                                                                 v1::ScreeningTest test) {
  if (test == v1::SCREENING_TEST_UNSPECIFIED) return nullptr;
  for (const PolicyProfile::DeferralReason& reason : policy.deferrals()) {
    if (reason.reactive_test() == test) return &reason;
  }
  return nullptr;
}

}  // namespace bloodgrid
