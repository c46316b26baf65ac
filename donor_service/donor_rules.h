// The donor service's rules that are not eligibility (eligibility.h): identity and contact
// normalisation and validation, applying an update mask, the blood-typing decision, when a
// deferral is in force, the eligibility answer in the contract's terms, appeal ranking, and the
// blood-fee reimbursement ledger arithmetic (DOMAIN.md section 6).
//
// Every function here is pure (no clock, no I/O) and thread-safe. Validation errors are
// INVALID_ARGUMENT with the field path first ("donor.contact.phone: ..."), built with
// bloodgrid::InvalidField; `field` arguments give that path.
#ifndef BLOODGRID_DONOR_SERVICE_DONOR_RULES_H_
#define BLOODGRID_DONOR_SERVICE_DONOR_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/donor.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/blood.h"
#include "common/national_id.h"
#include "donor_service/eligibility.h"
#include "google/protobuf/field_mask.pb.h"

namespace bloodgrid::donor {

// ---------------------------------------------------------------------------------------------
// Dates, text, ids

// Parses a calendar day "YYYY-MM-DD" (exactly that shape, a real date: 2023-02-29 fails).
absl::StatusOr<absl::CivilDay> ParseDate(absl::string_view text, absl::string_view field);
// "YYYY-MM-DD".
std::string FormatDate(absl::CivilDay day);

// Checks free text: valid UTF-8 without control characters, between min_chars and max_chars
// characters (code points).
absl::Status ValidateText(absl::string_view text, absl::string_view field, size_t min_chars,
                          size_t max_chars);

// Checks an identifier of another record (station, donor, ...): 1-64 characters from
// [A-Za-z0-9._:-]. An empty id is allowed only when `required` is false.
absl::Status ValidateRecordId(absl::string_view id, absl::string_view field, bool required);

// ---------------------------------------------------------------------------------------------
// Identity and contact

// ChineseIdCheckCharacter: common/national_id.h.

// Normalises a national id: ASCII whitespace around it is removed and a trailing letter
// upper-cased. An 18-character id of 17 digits and a digit or X is a PRC resident identity
// number and must hold a real birth date (characters 7-14, not in the future of `today`) and
// the right check character. Any other id (a passport, another jurisdiction's number) is
// accepted as 1-32 characters of letters, digits and "-()/" (Donor.national_id allows other
// formats).
absl::StatusOr<std::string> NormalizeNationalId(absl::string_view raw, absl::string_view field,
                                                absl::CivilDay today);

// Normalises a phone number: spaces and '-' removed, then an optional leading '+' and 6-20
// digits. "" stays "" (no phone).
absl::StatusOr<std::string> NormalizePhone(absl::string_view raw, absl::string_view field);

// Checks an e-mail address: "" (none), or at most 254 characters, one '@' with a non-empty
// local part and a domain containing a '.', no whitespace or control characters.
absl::Status ValidateEmail(absl::string_view email, absl::string_view field);

// Checks a panel list: known values, no DONOR_PANEL_UNSPECIFIED, no duplicates.
absl::Status ValidatePanels(const google::protobuf::RepeatedField<int>& panels,
                            absl::string_view field);

// Validates and normalises the input fields of a donor in place, the paths prefixed with
// `prefix` (e.g. "donor"): national_id, name (trimmed, 1-100 characters), sex, birth_date (real,
// not after `today`), blood_type (unknown or fully specified), contact (phone normalised,
// e-mail, address <= 300 characters), home_station_id, panels (sorted). Output-only fields
// are cleared.
absl::Status NormalizeDonorInput(v1::Donor* donor, absl::string_view prefix, absl::CivilDay today);

// Checks UpdateDonor's mask: at least one path, each one of national_id, name, sex,
// birth_date, contact, contact.phone, contact.email, contact.address, home_station_id, panels.
// INVALID_ARGUMENT "update_mask..." otherwise (blood_type named with the RPCs that change it).
absl::Status ValidateDonorUpdateMask(const google::protobuf::FieldMask& mask);

// The donor after UpdateDonor: `current` with the fields named by `mask` taken from `update`,
// then normalised as by NormalizeDonorInput. Output-only fields keep `current`'s values.
// INVALID_ARGUMENT "update_mask: ..." for an empty mask or a path that cannot be updated
// (donor_id, blood_type, any output-only or unknown field).
absl::StatusOr<v1::Donor> ApplyDonorUpdate(const v1::Donor& current, const v1::Donor& update,
                                           const google::protobuf::FieldMask& mask,
                                           absl::CivilDay today);

// Names of the Donor fields that differ between two donors (for the audit trail, which
// records what changed without copying identity data).
std::vector<std::string> ChangedDonorFields(const v1::Donor& before, const v1::Donor& after);

// Optimistic concurrency of UpdateDonor: OK without an expected version or when it matches the
// stored one; ABORTED "donor <id> is at version <n>, not the expected <m>; re-read and retry"
// otherwise.
absl::Status CheckExpectedVersion(const v1::Donor& current, std::optional<int64_t> expected);

// ---------------------------------------------------------------------------------------------
// Blood typing

enum class TypingOutcome {
  // The donor had no blood type: the typing gives it (confirmed).
  kAssigned = 1,
  // The typing agrees with the record: the record is now confirmed.
  kConfirmed = 2,
  // The typing disagrees: a conflict is opened; the record is not changed.
  kConflict = 3,
};

// What a laboratory typing `typed` (a known type) does to a record `recorded`.
TypingOutcome DecideTyping(BloodType recorded, BloodType typed);

// The change one typing makes, as the store applies it (DonorStore::RecordBloodTyping).
struct TypingChange {
  // Kept with the typing.
  TypingOutcome outcome = TypingOutcome::kAssigned;
  // The donor's type on record before the typing (unknown when none), and the typed one.
  BloodType recorded;
  BloodType typed;
  // Store `typed` as the donor's blood type, confirmed.
  bool set_blood_type = false;
  // Open a conflict between `recorded` and `typed`; the donor's record is left unchanged.
  bool open_conflict = false;
};

// DecideTyping applied to the donor as stored: kAssigned sets the type; kConfirmed sets it
// (confirming it) unless the record is already confirmed, when nothing changes; kConflict opens
// a conflict. A record whose type is not fully specified counts as unknown.
TypingChange DecideTypingChange(const v1::Donor& current, BloodType typed);

// A known blood type from the proto; INVALID_ARGUMENT "<field>: ..." when it is not fully
// specified.
absl::StatusOr<BloodType> RequireKnownBloodType(const v1::BloodType& proto,
                                                absl::string_view field);

// ---------------------------------------------------------------------------------------------
// Deferrals in force

// When a stored deferral applies.
struct DeferralSpan {
  bool voided = false;
  absl::CivilDay start_date;
  // Exclusive end; nullopt for a deferral that does not end (every permanent one).
  std::optional<absl::CivilDay> ends_on;
};

// The one definition of "in force" (Deferral.active, Donor.deferred, the deferrals that
// eligibility sees, ListDeferrals' active_only): not voided, started on or before `day`, and
// not ended by it (no ends_on, or `day` before ends_on). The MySQL store filters with the SQL
// form of this rule, built once beside its statements; the store contract suite runs the same
// boundary cases against it and the in-memory store.
bool DeferralInForceOn(const DeferralSpan& deferral, absl::CivilDay day);

// True for the kind of deferral that never ends (DEFERRAL_KIND_PERMANENT).
bool IsPermanentDeferral(v1::DeferralKind kind);

// Donor.permanently_deferred: a permanent deferral in force on `day`.
bool PermanentDeferralInForceOn(v1::DeferralKind kind, const DeferralSpan& deferral,
                                absl::CivilDay day);

// A deferral as the eligibility engine sees it, with the id it came from.
struct DeferralInForce {
  std::string deferral_id;
  ActiveDeferral deferral;
};

// ---------------------------------------------------------------------------------------------
// Eligibility in the contract's terms

// The engine's reason as the contract's code (MISSING_INPUT has none: UNSPECIFIED).
v1::EligibilityReasonCode ToProtoReasonCode(ReasonCode code);

// The screening values given; INVALID_ARGUMENT "screening.<field>: ..." for a value <= 0, not
// finite, or a haematocrit outside (0, 1].
absl::StatusOr<Screening> ScreeningFromProto(const v1::DonorScreening& proto);

// Field paths of the screening values that `type` uses and `proto` lacks ("screening.weight_kg",
// ...): weight, Hb, systolic, diastolic and pulse always; haematocrit and platelet count for
// apheresis platelets.
std::vector<std::string> MissingScreeningFields(const v1::DonorScreening& proto,
                                                v1::DonationType type);

// The CheckEligibilityResponse for an engine result: every reason with its contract code,
// text, clears_on and (for a deferral) deferral_id; next_eligible_date from the calendar
// rules only (screening values do not move it); `unchecked` as given; policy "name@version".
v1::CheckEligibilityResponse EligibilityResponse(const EligibilityResult& result,
                                                 const std::vector<DeferralInForce>& deferrals,
                                                 std::vector<std::string> unchecked,
                                                 const v1::PolicyProfile& policy);

// FAILED_PRECONDITION "donor <id> not eligible: ELIGIBILITY_REASON_X[, ...]" for an ineligible
// response (RecordDonation's refusal); OK when eligible.
absl::Status IneligibleStatus(absl::string_view donor_id,
                              const v1::CheckEligibilityResponse& response);

// "cn-gb18467-2011@1".
std::string PolicyLabel(const v1::PolicyProfile& policy);

// The stores' refusals about a donation: NOT_FOUND "donation with din <din> not found"; a
// RecordDonation of a voided DIN, FAILED_PRECONDITION "din: <din> was voided (<reason>); a new
// collection needs a new DIN".
absl::Status DonationNotFound(absl::string_view din);
absl::Status VoidedDinStatus(const v1::Donation& voided);

// How many days of donation history the policy's interval rules and rolling caps can look
// back (the longest of them, rounded up generously); older donations cannot affect
// eligibility except by making the donor a repeat donor.
int HistoryLookbackDays(const v1::PolicyProfile& policy);

// ---------------------------------------------------------------------------------------------
// Appeal ranking

// What the call-up ranking looks at.
struct AppealRankFacts {
  std::string donor_id;
  // Member of the emergency or the rare-type panel.
  bool priority_panel = false;
  // Home station is the calling station.
  bool home_station_match = false;
  // nullopt: never donated (ranks as the longest since).
  std::optional<absl::CivilDay> last_donation;
};

// An appeal takes responses (Appeal.open) until its closes_at instant, exclusive.
bool AppealOpenAt(absl::Time closes_at, absl::Time now);

// True when `a` is called before `b`: priority panel members first, then home-station
// matches, then the longest since the last donation (never donated first), then donor_id.
bool AppealRanksBefore(const AppealRankFacts& a, const AppealRankFacts& b);

// Sorts candidates into call-up order (AppealRanksBefore).
void RankAppealCandidates(std::vector<AppealRankFacts>& candidates);

// Whole days from the last donation to `on_date`; -1 when never donated.
int32_t DaysSinceLastDonation(const std::optional<absl::CivilDay>& last, absl::CivilDay on_date);

// ---------------------------------------------------------------------------------------------
// Reimbursement ledger arithmetic (DOMAIN.md section 6)

// Volume a donation counts for in the ledger: apheresis platelets count as the rule set's
// mL equivalent, whole blood and apheresis plasma as the volume collected.
int32_t CountedVolumeMl(const v1::PolicyProfile::Reimbursement& rules, v1::DonationType type,
                        int32_t volume_ml);

// A donation credit as kept in the ledger.
struct CreditInput {
  std::string din;
  absl::CivilDay donation_date;
  int32_t counted_volume_ml = 0;
};

// One credit as of the balance day.
struct CreditFigure {
  CreditInput credit;
  // Multiplier of the tier that applies on the balance day.
  double multiplier = 0;
  // First day of the next (lower) tier; nullopt on the last tier.
  std::optional<absl::CivilDay> tier_ends_on;
};

struct BalanceFigures {
  absl::CivilDay as_of;
  int64_t cumulative_donated_ml = 0;
  bool lifetime_free = false;
  // Sum over credits of counted volume x current tier multiplier (rounded down per credit).
  int64_t self_entitlement_ml = 0;
  // Sum of counted volumes x relatives_multiplier (rounded down).
  int64_t relatives_entitlement_ml = 0;
  int64_t self_claimed_ml = 0;
  int64_t relatives_claimed_ml = 0;
  // max(0, entitlement - claimed). A self entitlement that shrank below what was claimed
  // (a tier ended) leaves 0, never a negative balance.
  int64_t self_available_ml = 0;
  int64_t relatives_available_ml = 0;
  std::vector<CreditFigure> credits;
};

// The balance on `as_of`. Credits dated after `as_of` do not count. A credit is in the first
// tier whose within_years has not passed (fewer whole years since the donation, a 29 Feb
// donation counting from 1 Mar in common years), else in the last, open-ended tier.
// INVALID_ARGUMENT for a negative volume or claimed total.
absl::StatusOr<BalanceFigures> ComputeBalance(const v1::PolicyProfile::Reimbursement& rules,
                                              const std::vector<CreditInput>& credits,
                                              int64_t self_claimed_ml, int64_t relatives_claimed_ml,
                                              absl::CivilDay as_of);

// True for spouse, parent and child (the relatives' pool).
bool IsRelative(v1::ClaimantRelation relation);

struct ClaimDecision {
  // mL covered: min(invoice volume, what the claimant's pool has left); the whole invoice for
  // a lifetime-free donor's own claim.
  int32_t covered_volume_ml = 0;
  // blood_fee x covered / invoice volume, rounded down: never more than blood_fee.
  int64_t reimbursed_amount = 0;
};

// Decides a claim against `balance`. INVALID_ARGUMENT for an unspecified relation, a volume
// <= 0 or a negative fee; FAILED_PRECONDITION when nothing can be covered.
absl::StatusOr<ClaimDecision> DecideClaim(const BalanceFigures& balance,
                                          v1::ClaimantRelation relation, int32_t volume_ml,
                                          int64_t blood_fee);

// `balance` after debiting `covered_ml` from the claimant's pool.
BalanceFigures AfterClaim(const BalanceFigures& balance, v1::ClaimantRelation relation,
                          int32_t covered_ml);

// The contract's ReimbursementBalance.
v1::ReimbursementBalance BalanceToProto(const BalanceFigures& balance, absl::string_view donor_id,
                                        const v1::PolicyProfile& policy);

// Normalises an invoice number: trimmed, upper-cased, 1-64 characters without control
// characters.
absl::StatusOr<std::string> NormalizeInvoiceNo(absl::string_view raw, absl::string_view field);

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_DONOR_RULES_H_
