#include "donor_service/eligibility.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy.h"
#include "common/status.h"

namespace bloodgrid::donor {
namespace {

using v1::PolicyProfile;

std::string Day(absl::CivilDay day) { return absl::FormatCivilTime(day); }

absl::string_view DonationTypeText(v1::DonationType type) {
  switch (type) {
    case v1::DONATION_TYPE_WHOLE_BLOOD:
      return "whole blood";
    case v1::DONATION_TYPE_APHERESIS_PLATELETS:
      return "apheresis platelets";
    case v1::DONATION_TYPE_APHERESIS_PLASMA:
      return "apheresis plasma";
    default:
      return "another donation type";
  }
}

std::string RangeText(const PolicyProfile::IntRange& range, absl::string_view unit) {
  if (range.has_min() && range.has_max()) {
    return absl::StrCat(range.min(), "-", range.max(), " ", unit);
  }
  if (range.has_min()) return absl::StrCat(">= ", range.min(), " ", unit);
  return absl::StrCat("<= ", range.max(), " ", unit);
}

PolicyProfile::Period Years(int32_t years) {
  PolicyProfile::Period period;
  period.set_years(years);
  return period;
}

absl::Status CheckPositive(absl::string_view field, const std::optional<double>& value) {
  if (value.has_value() && !(*value > 0 && std::isfinite(*value))) {
    return InvalidField(field, "must be > 0");
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(absl::string_view field, const std::optional<int32_t>& value) {
  if (value.has_value() && *value <= 0) return InvalidField(field, "must be > 0");
  return absl::OkStatus();
}

absl::Status ValidateQuery(const EligibilityQuery& query) {
  if (!v1::DonationType_IsValid(query.donation_type) ||
      query.donation_type == v1::DONATION_TYPE_UNSPECIFIED) {
    return InvalidField("donation_type", "must be specified");
  }
  if (query.donor.sex != v1::SEX_MALE && query.donor.sex != v1::SEX_FEMALE) {
    return InvalidField("donor.sex", "must be specified");
  }
  if (query.donor.birth_date > query.on_date) {
    return InvalidField("donor.birth_date", "must not be after on_date");
  }
  for (size_t i = 0; i < query.history.size(); ++i) {
    const PastDonation& donation = query.history[i];
    if (!v1::DonationType_IsValid(donation.type) ||
        donation.type == v1::DONATION_TYPE_UNSPECIFIED) {
      return InvalidField(absl::StrCat("history[", i, "].type"), "must be specified");
    }
    if (donation.volume_ml < 0) {
      return InvalidField(absl::StrCat("history[", i, "].volume_ml"), "must be >= 0");
    }
  }
  for (size_t i = 0; i < query.deferrals.size(); ++i) {
    if (query.deferrals[i].code.empty()) {
      return InvalidField(absl::StrCat("deferrals[", i, "].code"), "must be set");
    }
  }
  BG_RETURN_IF_ERROR(CheckPositive("volume_ml", query.volume_ml));
  const Screening& s = query.screening;
  BG_RETURN_IF_ERROR(CheckPositive("screening.weight_kg", s.weight_kg));
  BG_RETURN_IF_ERROR(CheckPositive("screening.hemoglobin_g_l", s.hemoglobin_g_l));
  BG_RETURN_IF_ERROR(CheckPositive("screening.systolic_mmhg", s.systolic_mmhg));
  BG_RETURN_IF_ERROR(CheckPositive("screening.diastolic_mmhg", s.diastolic_mmhg));
  BG_RETURN_IF_ERROR(CheckPositive("screening.pulse_bpm", s.pulse_bpm));
  BG_RETURN_IF_ERROR(CheckPositive("screening.platelet_count_e9_l", s.platelet_count_e9_l));
  if (s.hematocrit.has_value() && !(*s.hematocrit > 0 && *s.hematocrit <= 1)) {
    return InvalidField("screening.hematocrit", "must be a fraction in (0, 1]");
  }
  return absl::OkStatus();
}

// Collects the reasons of one check.
class Reasons {
 public:
  explicit Reasons(CheckKind kind) : kind_(kind) {}

  void Add(ReasonCode code, std::string detail, std::string text,
           std::optional<absl::CivilDay> until = std::nullopt) {
    reasons_.push_back(Reason{code, std::move(detail), std::move(text), until});
  }

  // True if `value` is present; in a full check a missing value is itself a reason.
  template <typename T>
  bool Present(const std::optional<T>& value, absl::string_view field) {
    if (value.has_value()) return true;
    if (kind_ == CheckKind::kFullCheck) {
      Add(ReasonCode::kMissingInput, std::string(field),
          absl::StrCat(field, " is required for a full eligibility check"));
    }
    return false;
  }

  void CheckRange(const std::optional<int32_t>& value, const PolicyProfile::IntRange& range,
                  ReasonCode code, absl::string_view field, absl::string_view label,
                  absl::string_view unit) {
    if (!Present(value, field)) return;
    if ((range.has_min() && *value < range.min()) || (range.has_max() && *value > range.max())) {
      Add(code, "",
          absl::StrCat(label, " ", *value, " ", unit, " is outside ", RangeText(range, unit)));
    }
  }

  std::vector<Reason> Take() && { return std::move(reasons_); }

 private:
  CheckKind kind_;
  std::vector<Reason> reasons_;
};

// The upper age limit that applies to this donor, if any, and whom it applies to.
std::pair<std::optional<int32_t>, absl::string_view> UpperAgeLimit(
    const PolicyProfile::DonorEligibility& e, const DonorFacts& donor, bool repeat_donor) {
  // GB 18467-2011: repeat donors without adverse reactions may donate up to 60.
  if (repeat_donor && !donor.adverse_reaction_history) {
    if (!e.has_age_max_repeat_years()) return {std::nullopt, ""};
    return {e.age_max_repeat_years(), "a repeat donor"};
  }
  if (!e.has_age_max_first_time_years()) return {std::nullopt, ""};
  return {e.age_max_first_time_years(),
          repeat_donor ? "a donor with a history of adverse reactions" : "a first-time donor"};
}

void CheckDeferrals(const EligibilityQuery& query, const PolicyProfile& policy, Reasons& reasons) {
  for (const ActiveDeferral& deferral : query.deferrals) {
    const PolicyProfile::DeferralReason* entry = FindDeferralReason(policy, deferral.code);
    const std::string what = entry != nullptr ? entry->description() : deferral.code;
    if (!deferral.until.has_value()) {
      reasons.Add(ReasonCode::kDeferredPermanent, deferral.code,
                  absl::StrCat("permanently deferred: ", what));
    } else if (query.on_date < *deferral.until) {
      reasons.Add(ReasonCode::kDeferredTemporary, deferral.code,
                  absl::StrCat("deferred until ", Day(*deferral.until), ": ", what),
                  *deferral.until);
    }
  }
}

void CheckIntervals(const EligibilityQuery& query, const std::vector<PastDonation>& history,
                    const PolicyProfile& policy, Reasons& reasons) {
  for (const PolicyProfile::IntervalRule& rule : policy.intervals().rules()) {
    if (rule.next() != query.donation_type) continue;
    std::optional<absl::CivilDay> latest;
    for (const PastDonation& donation : history) {
      if (donation.type == rule.previous() && (!latest || donation.date > *latest)) {
        latest = donation.date;
      }
    }
    if (!latest) continue;
    const absl::CivilDay end = AddPeriod(*latest, rule.min_interval());
    if (query.on_date < end) {
      reasons.Add(
          ReasonCode::kIntervalNotElapsed, v1::DonationType_Name(rule.previous()),
          absl::StrCat(FormatPeriod(rule.min_interval()), " must pass after ",
                       DonationTypeText(rule.previous()), " (last ", Day(*latest), ") before ",
                       DonationTypeText(query.donation_type), "; possible from ", Day(end)),
          end);
    }
  }
}

void CheckCaps(const EligibilityQuery& query, const std::vector<PastDonation>& history,
               const PolicyProfile& policy, Reasons& reasons) {
  for (const PolicyProfile::RollingCap& cap : policy.intervals().caps()) {
    const auto& counted = cap.counted();
    auto is_counted = [&](v1::DonationType type) {
      return std::find(counted.begin(), counted.end(), type) != counted.end();
    };
    if (!is_counted(query.donation_type)) continue;
    std::vector<const PastDonation*> in_window;
    int64_t total_ml = 0;
    for (const PastDonation& donation : history) {
      if (is_counted(donation.type) && query.on_date < AddPeriod(donation.date, cap.window())) {
        in_window.push_back(&donation);
        total_ml += donation.volume_ml;
      }
    }
    // Oldest first: they leave the window first.
    std::stable_sort(
        in_window.begin(), in_window.end(),
        [](const PastDonation* a, const PastDonation* b) { return a->date < b->date; });
    const std::string window = FormatPeriod(cap.window());
    const std::string types = absl::StrJoin(counted, " + ", [](std::string* out, int type) {
      absl::StrAppend(out, DonationTypeText(static_cast<v1::DonationType>(type)));
    });

    const int64_t count = static_cast<int64_t>(in_window.size());
    if (cap.max_donations() > 0 && count + 1 > cap.max_donations()) {
      const absl::CivilDay until =
          AddPeriod(in_window[count - cap.max_donations()]->date, cap.window());
      reasons.Add(ReasonCode::kDonationCountCap, "",
                  absl::StrCat(count, " ", types, " donations in the last ", window, " (at most ",
                               cap.max_donations(), "); possible from ", Day(until)),
                  until);
    }

    if (cap.max_volume_ml() <= 0) continue;
    // Without a requested volume (pre-check), any room left under the cap will do.
    auto fits = [&](int64_t collected_ml) {
      return query.volume_ml ? collected_ml + *query.volume_ml <= cap.max_volume_ml()
                             : collected_ml < cap.max_volume_ml();
    };
    if (fits(total_ml)) continue;
    std::optional<absl::CivilDay> until;
    if (!query.volume_ml || *query.volume_ml <= cap.max_volume_ml()) {
      int64_t remaining_ml = total_ml;
      for (const PastDonation* donation : in_window) {
        remaining_ml -= donation->volume_ml;
        if (fits(remaining_ml)) {
          until = AddPeriod(donation->date, cap.window());
          break;
        }
      }
    }
    reasons.Add(
        ReasonCode::kCollectedVolumeCap, "",
        absl::StrCat(total_ml, " mL of ", types, " collected in the last ", window,
                     query.volume_ml ? absl::StrCat(" + ", *query.volume_ml, " mL") : std::string(),
                     " would exceed ", cap.max_volume_ml(), " mL",
                     until ? absl::StrCat("; possible from ", Day(*until)) : ""),
        until);
  }
}

void CheckScreening(const EligibilityQuery& query, const PolicyProfile::DonorEligibility& e,
                    Reasons& reasons) {
  const Screening& s = query.screening;
  const bool female = query.donor.sex == v1::SEX_FEMALE;
  const absl::string_view sex = female ? "female" : "male";
  if (reasons.Present(s.weight_kg, "weight_kg")) {
    const double min = female ? e.weight_min_kg().female() : e.weight_min_kg().male();
    if (*s.weight_kg < min) {
      reasons.Add(
          ReasonCode::kWeightBelowMin, "",
          absl::StrCat("weight ", *s.weight_kg, " kg is below ", min, " kg for a ", sex, " donor"));
    }
  }
  if (reasons.Present(s.hemoglobin_g_l, "hemoglobin_g_l")) {
    const double min = female ? e.hemoglobin_min_g_l().female() : e.hemoglobin_min_g_l().male();
    if (*s.hemoglobin_g_l < min) {
      reasons.Add(ReasonCode::kHemoglobinBelowMin, "",
                  absl::StrCat("haemoglobin ", *s.hemoglobin_g_l, " g/L is below ", min,
                               " g/L for a ", sex, " donor"));
    }
  }
  reasons.CheckRange(s.systolic_mmhg, e.systolic_mmhg(), ReasonCode::kSystolicOutOfRange,
                     "systolic_mmhg", "systolic pressure", "mmHg");
  reasons.CheckRange(s.diastolic_mmhg, e.diastolic_mmhg(), ReasonCode::kDiastolicOutOfRange,
                     "diastolic_mmhg", "diastolic pressure", "mmHg");
  reasons.CheckRange(s.pulse_bpm, e.pulse_bpm(), ReasonCode::kPulseOutOfRange, "pulse_bpm", "pulse",
                     "bpm");
  if (e.has_pulse_pressure_min_mmhg() && s.systolic_mmhg && s.diastolic_mmhg) {
    const int32_t pulse_pressure = *s.systolic_mmhg - *s.diastolic_mmhg;
    if (pulse_pressure < e.pulse_pressure_min_mmhg()) {
      reasons.Add(ReasonCode::kPulsePressureBelowMin, "",
                  absl::StrCat("pulse pressure ", pulse_pressure, " mmHg is below ",
                               e.pulse_pressure_min_mmhg(), " mmHg"));
    }
  }
  if (query.donation_type != v1::DONATION_TYPE_APHERESIS_PLATELETS) return;
  // GB 18467-2011: apheresis platelet donors also need HCT and a platelet count in range.
  if (reasons.Present(s.hematocrit, "hematocrit") &&
      *s.hematocrit < e.apheresis_platelets_hematocrit_min()) {
    reasons.Add(ReasonCode::kHematocritBelowMin, "",
                absl::StrCat("haematocrit ", *s.hematocrit, " is below ",
                             e.apheresis_platelets_hematocrit_min()));
  }
  reasons.CheckRange(s.platelet_count_e9_l, e.apheresis_platelets_platelet_count_e9_l(),
                     ReasonCode::kPlateletCountOutOfRange, "platelet_count_e9_l", "platelet count",
                     "x10^9/L");
}

}  // namespace

absl::string_view ReasonCodeName(ReasonCode code) {
  switch (code) {
    case ReasonCode::kAgeBelowMin:
      return "AGE_BELOW_MIN";
    case ReasonCode::kAgeAboveMax:
      return "AGE_ABOVE_MAX";
    case ReasonCode::kDeferredTemporary:
      return "DEFERRED_TEMPORARY";
    case ReasonCode::kDeferredPermanent:
      return "DEFERRED_PERMANENT";
    case ReasonCode::kIntervalNotElapsed:
      return "INTERVAL_NOT_ELAPSED";
    case ReasonCode::kDonationCountCap:
      return "DONATION_COUNT_CAP";
    case ReasonCode::kCollectedVolumeCap:
      return "COLLECTED_VOLUME_CAP";
    case ReasonCode::kVolumeNotAllowed:
      return "VOLUME_NOT_ALLOWED";
    case ReasonCode::kWeightBelowMin:
      return "WEIGHT_BELOW_MIN";
    case ReasonCode::kHemoglobinBelowMin:
      return "HEMOGLOBIN_BELOW_MIN";
    case ReasonCode::kSystolicOutOfRange:
      return "SYSTOLIC_OUT_OF_RANGE";
    case ReasonCode::kDiastolicOutOfRange:
      return "DIASTOLIC_OUT_OF_RANGE";
    case ReasonCode::kPulseOutOfRange:
      return "PULSE_OUT_OF_RANGE";
    case ReasonCode::kPulsePressureBelowMin:
      return "PULSE_PRESSURE_BELOW_MIN";
    case ReasonCode::kHematocritBelowMin:
      return "HEMATOCRIT_BELOW_MIN";
    case ReasonCode::kPlateletCountOutOfRange:
      return "PLATELET_COUNT_OUT_OF_RANGE";
    case ReasonCode::kMissingInput:
      return "MISSING_INPUT";
  }
  return "UNKNOWN";
}

int AgeInYears(absl::CivilDay birth_date, absl::CivilDay on_date) {
  int age = static_cast<int>(on_date.year() - birth_date.year());
  // Comparing (month, day) makes a 29 Feb birthday count from 1 Mar in common years.
  if (std::make_pair(on_date.month(), on_date.day()) <
      std::make_pair(birth_date.month(), birth_date.day())) {
    --age;
  }
  return age;
}

absl::StatusOr<EligibilityResult> CheckEligibility(const EligibilityQuery& query,
                                                   const v1::PolicyProfile& policy) {
  BG_RETURN_IF_ERROR(ValidateQuery(query));
  const PolicyProfile::DonorEligibility& e = policy.eligibility();
  std::vector<PastDonation> history;
  for (const PastDonation& donation : query.history) {
    if (donation.date <= query.on_date) history.push_back(donation);
  }
  Reasons reasons(query.kind);

  const int age = AgeInYears(query.donor.birth_date, query.on_date);
  if (age < e.age_min_years()) {
    const absl::CivilDay birthday = AddPeriod(query.donor.birth_date, Years(e.age_min_years()));
    reasons.Add(ReasonCode::kAgeBelowMin, "",
                absl::StrCat("age ", age, " is below the minimum of ", e.age_min_years(),
                             "; possible from ", Day(birthday)),
                birthday);
  }
  const auto [max_age, whom] =
      UpperAgeLimit(e, query.donor, query.donor.repeat_donor || !history.empty());
  if (max_age && age > *max_age) {
    reasons.Add(ReasonCode::kAgeAboveMax, "",
                absl::StrCat("age ", age, " is above the maximum of ", *max_age, " for ", whom));
  }

  CheckDeferrals(query, policy, reasons);
  CheckIntervals(query, history, policy, reasons);
  CheckCaps(query, history, policy, reasons);

  const auto& allowed = e.whole_blood_volumes_ml();
  if (reasons.Present(query.volume_ml, "volume_ml") &&
      query.donation_type == v1::DONATION_TYPE_WHOLE_BLOOD &&
      std::find(allowed.begin(), allowed.end(), *query.volume_ml) == allowed.end()) {
    reasons.Add(ReasonCode::kVolumeNotAllowed, "",
                absl::StrCat(*query.volume_ml, " mL is not an allowed whole-blood volume (",
                             absl::StrJoin(allowed, ", "), " mL)"));
  }
  CheckScreening(query, e, reasons);

  EligibilityResult result;
  result.reasons = std::move(reasons).Take();
  result.eligible = result.reasons.empty();
  if (result.eligible) {
    result.next_eligible_date = query.on_date;
    result.calendar_eligible_date = query.on_date;
    return result;
  }
  // Waiting out the other rules must not carry the donor past the upper age limit.
  auto within_age = [&, max_age = max_age](absl::CivilDay day) {
    return !max_age || AgeInYears(query.donor.birth_date, day) <= *max_age;
  };
  absl::CivilDay next = query.on_date;
  bool all_pass_with_time = true;
  absl::CivilDay calendar_next = query.on_date;
  bool calendar_clears = true;
  for (const Reason& reason : result.reasons) {
    if (reason.until) {
      next = std::max(next, *reason.until);
      calendar_next = std::max(calendar_next, *reason.until);
      continue;
    }
    all_pass_with_time = false;
    if (reason.code == ReasonCode::kAgeAboveMax || reason.code == ReasonCode::kDeferredPermanent) {
      calendar_clears = false;
    }
  }
  if (calendar_clears && within_age(calendar_next)) result.calendar_eligible_date = calendar_next;
  if (all_pass_with_time && within_age(next)) result.next_eligible_date = next;
  return result;
}

}  // namespace bloodgrid::donor
