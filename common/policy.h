// Policy profiles: loading, validation, lookup, and the helpers that turn a profile's numbers
// into dates, durations and instants.
//
// A profile (bloodgrid.v1.PolicyProfile, protos/bloodgrid/v1/policy.proto) holds every number
// a BloodGrid rule depends on. Services load the profiles of a directory once at start-up
// (PolicyRegistry::LoadDirectory) and fail to start on any error; the profiles are immutable
// afterwards. All functions here are pure and thread-safe.
#ifndef BLOODGRID_COMMON_POLICY_H_
#define BLOODGRID_COMMON_POLICY_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/policy.pb.h"

namespace bloodgrid {

// The profile used when none is named.
inline constexpr char kDefaultPolicyName[] = "cn-gb18467-2011";

// Parses a profile in protobuf text format. Does not validate it.
// INVALID_ARGUMENT "<source_name>:<line>:<column>: <parser message>" (1-based line and column)
// on a syntax error, an unknown field or a bad enum value.
absl::StatusOr<v1::PolicyProfile> ParsePolicyText(absl::string_view text,
                                                  absl::string_view source_name);

// Reads, parses and validates the profile in the text file at `path`.
// NOT_FOUND naming the path if it does not exist; FAILED_PRECONDITION if it exists but cannot
// be read (a directory, no permission); INVALID_ARGUMENT from ParsePolicyText or, prefixed
// with the path, from ValidatePolicy.
absl::StatusOr<v1::PolicyProfile> LoadPolicyFile(const std::string& path);

// Checks that every field a profile needs is set and sane: name and version, positive limits
// and durations, min <= max, the repeat-donor age limit >= the first-time one, intervals and
// caps well-formed, deferral codes unique and each temporary or permanent, a default shelf
// life (hours or days) for every component and no duplicate shelf-life entry, release tests,
// lookback, indication thresholds and approval tiers ordered, reimbursement tiers ordered
// (when the profile has reimbursement), massive-transfusion pack, emergency RhD age, units.
// OK, or INVALID_ARGUMENT naming the first offending field path, e.g.
// "eligibility.age_max_repeat_years: must be >= age_max_first_time_years (55)".
absl::Status ValidatePolicy(const v1::PolicyProfile& policy);

// The validated profiles of a deployment, by name. Immutable once built; thread-safe.
// Pointers it returns stay valid for the registry's lifetime (moves included).
class PolicyRegistry {
 public:
  // Loads every regular file whose name ends in ".textproto" directly in `dir` with
  // LoadPolicyFile. Each file must be named "<profile name>.textproto".
  // NOT_FOUND if `dir` does not exist or holds no profile named `default_name`;
  // INVALID_ARGUMENT (prefixed with the file path) for a bad file, a file name that does not
  // match the profile name, or two profiles with one name; other codes from LoadPolicyFile.
  static absl::StatusOr<PolicyRegistry> LoadDirectory(
      const std::string& dir, absl::string_view default_name = kDefaultPolicyName);

  // Builds a registry from profiles already in memory; validates each.
  // INVALID_ARGUMENT for an invalid profile or a duplicate name; NOT_FOUND if no profile is
  // named `default_name`.
  static absl::StatusOr<PolicyRegistry> FromProfiles(
      std::vector<v1::PolicyProfile> profiles, absl::string_view default_name = kDefaultPolicyName);

  // The profile named `name`, or nullptr.
  const v1::PolicyProfile* Find(absl::string_view name) const;
  // The profile named `name`; an empty name means the default. NOT_FOUND otherwise.
  absl::StatusOr<const v1::PolicyProfile*> Get(absl::string_view name) const;
  // The default profile.
  const v1::PolicyProfile& Default() const;
  // Names of all profiles, sorted.
  std::vector<std::string> Names() const;

 private:
  PolicyRegistry() = default;

  std::map<std::string, v1::PolicyProfile, std::less<>> profiles_;
  std::string default_name_;
};

// `day` plus `period`, by the rules documented on PolicyProfile.Period: days and weeks exact;
// months and years keep the day of the month and move to the 1st of the following month when
// that day does not exist (2024-08-31 + 6 months = 2025-03-01; 2024-02-29 + 1 year =
// 2025-03-01); hours round up to whole days. An unset period adds nothing.
absl::CivilDay AddPeriod(absl::CivilDay day, const v1::PolicyProfile::Period& period);

// "6 months", "14 days", "1 year", "24 hours"; "" for an unset period.
std::string FormatPeriod(const v1::PolicyProfile::Period& period);

// Shelf life of a component stored with `anticoagulant` after `preparation`. Looks up the
// exact entry first; a non-standard preparation falls back to its entry for any anticoagulant
// (washed red cells keep 24 h whatever they were stored in). NOT_FOUND when the profile has
// no matching entry (an anticoagulant it does not list): never a guess.
absl::StatusOr<absl::Duration> ShelfLife(
    const v1::PolicyProfile& policy, v1::Component component,
    v1::PolicyProfile::Anticoagulant anticoagulant = v1::PolicyProfile::ANTICOAGULANT_UNSPECIFIED,
    v1::PolicyProfile::Preparation preparation = v1::PolicyProfile::PREPARATION_UNSPECIFIED);

// When a unit collected (or, for PREPARATION_WASHED, washed) at `start` expires: a day-based
// shelf life of N days ends at 23:59 local time in `tz` of the Nth day after the start day
// (day 0 = the start day; ISBT 128 default expiry time 2359); an hour-based one ends exactly
// N hours after `start`. Callers cap a washed unit at its original expiry. Errors as ShelfLife.
absl::StatusOr<absl::Time> ExpiresAt(
    const v1::PolicyProfile& policy, v1::Component component, absl::Time start, absl::TimeZone tz,
    v1::PolicyProfile::Anticoagulant anticoagulant = v1::PolicyProfile::ANTICOAGULANT_UNSPECIFIED,
    v1::PolicyProfile::Preparation preparation = v1::PolicyProfile::PREPARATION_UNSPECIFIED);

// The deferral catalogue entry with `code`, or nullptr.
const v1::PolicyProfile::DeferralReason* FindDeferralReason(const v1::PolicyProfile& policy,
                                                            absl::string_view code);

// The catalogue entry recorded when `test` is reactive, or nullptr.
const v1::PolicyProfile::DeferralReason* DeferralForReactiveTest(const v1::PolicyProfile& policy,
                                                                 v1::ScreeningTest test);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_POLICY_H_
