// Donor eligibility: may this donor give this donation on this date under this policy?
//
// CheckEligibility is a pure function of its arguments (no clock, no I/O, thread-safe). Every
// number comes from the policy profile (DOMAIN.md section 4; GB 18467-2011 for the default
// profile). The rules:
//  - Age, in whole years (a 29 Feb birthday falls on 1 Mar in common years): at least
//    age_min_years; at most age_max_first_time_years for a first-time donor or a repeat donor
//    with an adverse-reaction history, age_max_repeat_years for other repeat donors.
//  - Active deferrals: a temporary deferral excludes every date before its `until` day; from
//    `until` on, the donor is no longer deferred (`until` is exclusive). A permanent one never
//    ends.
//  - Intervals: for each IntervalRule whose `next` is the requested type, the latest past
//    donation of its `previous` type D allows the next donation from AddPeriod(D, min_interval)
//    on (calendar months keep the day of the month; a day that does not exist moves to the 1st
//    of the following month, e.g. 31 Aug + 6 months = 1 Mar; see bloodgrid::AddPeriod).
//  - Rolling caps: when the requested type is counted, the counted donations in the window
//    (a donation on D counts on dates D .. AddPeriod(D, window) - 1) plus this one may not
//    exceed max_donations, and their volumes plus this one's may not exceed max_volume_ml.
//  - Whole blood: the volume must be one of whole_blood_volumes_ml.
//  - Screening, checked when the value is given: weight and haemoglobin by sex, systolic,
//    diastolic, pulse, pulse pressure (systolic - diastolic); for apheresis platelets also
//    haematocrit and platelet count. All limits are inclusive.
// Donations dated after `on_date` are ignored (the check answers "as of on_date").
//
// Pre-check vs full check: a pre-check (appeal candidates, "when can I donate again?") may
// come without screening values or a volume; rules whose input is missing are skipped (a
// volume cap then requires some room left, i.e. total < max). A full check (at collection)
// reports each missing input as a MISSING_INPUT reason naming the field.
#ifndef BLOODGRID_DONOR_SERVICE_ELIGIBILITY_H_
#define BLOODGRID_DONOR_SERVICE_ELIGIBILITY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/policy.pb.h"

namespace bloodgrid::donor {

// What the rules need to know about the donor.
struct DonorFacts {
  v1::Sex sex = v1::SEX_UNSPECIFIED;
  absl::CivilDay birth_date;
  // Has donated before (anywhere). Any entry in the history also makes the donor a repeat
  // donor.
  bool repeat_donor = false;
  // Has had an adverse reaction to a donation; keeps the first-time upper age limit.
  bool adverse_reaction_history = false;
};

// One earlier donation.
struct PastDonation {
  absl::CivilDay date;
  v1::DonationType type = v1::DONATION_TYPE_UNSPECIFIED;
  // Collected volume, mL (counted by the rolling volume caps).
  int32_t volume_ml = 0;
};

// A deferral in force (voided deferrals are not passed).
struct ActiveDeferral {
  // Catalogue code, e.g. "TATTOO"; codes not in the profile's catalogue are still honoured.
  std::string code;
  // The first day the donor is no longer deferred (exclusive end); nullopt: permanent.
  std::optional<absl::CivilDay> until;
};

// Measurements taken at the session; any may be missing.
struct Screening {
  std::optional<double> weight_kg;
  std::optional<double> hemoglobin_g_l;
  std::optional<int32_t> systolic_mmhg;
  std::optional<int32_t> diastolic_mmhg;
  std::optional<int32_t> pulse_bpm;
  // Haematocrit as a fraction (0.40, not 40).
  std::optional<double> hematocrit;
  std::optional<int32_t> platelet_count_e9_l;
};

enum class CheckKind {
  // Missing screening values and volume skip their rules.
  kPreCheck,
  // Missing screening values and volume are reasons (MISSING_INPUT).
  kFullCheck,
};

struct EligibilityQuery {
  DonorFacts donor;
  std::vector<PastDonation> history;
  std::vector<ActiveDeferral> deferrals;
  Screening screening;
  v1::DonationType donation_type = v1::DONATION_TYPE_UNSPECIFIED;
  // Requested volume, mL.
  std::optional<int32_t> volume_ml;
  // The day of the (planned) donation.
  absl::CivilDay on_date;
  CheckKind kind = CheckKind::kPreCheck;
};

// Why a donor is not eligible. ReasonCodeName gives the stable string clients see.
enum class ReasonCode {
  kAgeBelowMin,              // AGE_BELOW_MIN; until the birthday
  kAgeAboveMax,              // AGE_ABOVE_MAX; never ends
  kDeferredTemporary,        // DEFERRED_TEMPORARY; detail = code; until the deferral ends
  kDeferredPermanent,        // DEFERRED_PERMANENT; detail = code
  kIntervalNotElapsed,       // INTERVAL_NOT_ELAPSED; detail = previous DonationType name
  kDonationCountCap,         // DONATION_COUNT_CAP; until enough donations leave the window
  kCollectedVolumeCap,       // COLLECTED_VOLUME_CAP; until enough volume leaves the window,
                             // never if the requested volume alone is over the cap
  kVolumeNotAllowed,         // VOLUME_NOT_ALLOWED; whole-blood volume not in the profile
  kWeightBelowMin,           // WEIGHT_BELOW_MIN
  kHemoglobinBelowMin,       // HEMOGLOBIN_BELOW_MIN
  kSystolicOutOfRange,       // SYSTOLIC_OUT_OF_RANGE
  kDiastolicOutOfRange,      // DIASTOLIC_OUT_OF_RANGE
  kPulseOutOfRange,          // PULSE_OUT_OF_RANGE
  kPulsePressureBelowMin,    // PULSE_PRESSURE_BELOW_MIN
  kHematocritBelowMin,       // HEMATOCRIT_BELOW_MIN
  kPlateletCountOutOfRange,  // PLATELET_COUNT_OUT_OF_RANGE
  kMissingInput,             // MISSING_INPUT (full check only); detail = field name
};

// "AGE_BELOW_MIN", ... as listed above.
absl::string_view ReasonCodeName(ReasonCode code);

struct Reason {
  ReasonCode code;
  // Machine-readable specifics (see ReasonCode), or empty.
  std::string detail;
  // One English sentence for staff.
  std::string text;
  // The first day this reason no longer applies; nullopt if it does not pass with time
  // (permanent deferral, upper age, a screening value, a volume).
  std::optional<absl::CivilDay> until;
};

struct EligibilityResult {
  bool eligible = false;
  // Every rule that fails, in a fixed order: age, deferrals, intervals, caps, volume,
  // screening. Empty iff eligible.
  std::vector<Reason> reasons;
  // on_date when eligible; otherwise the latest `until` of the reasons, if every reason
  // passes with time and the donor is still within the upper age limit on that day;
  // otherwise nullopt.
  std::optional<absl::CivilDay> next_eligible_date;
  // The same day computed from the calendar rules only (age, deferrals, intervals, rolling
  // caps): reasons from a screening value or the requested volume are left out, since waiting
  // does not clear them. on_date when no calendar rule fails; nullopt when one never clears
  // (permanent deferral, upper age limit, or its day falls past the upper age limit).
  std::optional<absl::CivilDay> calendar_eligible_date;
};

// Applies the policy's rules to the query. `policy` must have passed ValidatePolicy.
// INVALID_ARGUMENT naming the field for malformed input: unspecified donation type or sex,
// birth date after on_date, a history entry without a type or with a negative volume, a
// deferral without a code, a volume <= 0, a screening value <= 0 (or a haematocrit not in
// (0, 1]). Ineligibility is not an error.
absl::StatusOr<EligibilityResult> CheckEligibility(const EligibilityQuery& query,
                                                   const v1::PolicyProfile& policy);

// Age in whole years on `on_date`; a 29 Feb birthday counts on 1 Mar in common years.
// Requires birth_date <= on_date.
int AgeInYears(absl::CivilDay birth_date, absl::CivilDay on_date);

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_ELIGIBILITY_H_
