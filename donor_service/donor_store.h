// DonorStore: the donor schema behind an interface (Envoy's *_interface beside *_lib; the
// microservices-demo CartService -> ICartStore seam). DonorOperations depends on this header
// only; MysqlDonorStore implements it.
//
// Records cross the seam as bloodgrid.v1 messages (plain data, no gRPC) and the small structs
// below. Every mutating method:
//  - runs as one transaction that also claims `key` (request_id idempotency: a repeat returns the
//    first result and changes nothing; the same request_id with other content is
//    INVALID_ARGUMENT "request_id: ...");
//  - writes an audit row (actor, time, action, record, detail) in that transaction;
//  - leaves nothing behind when it fails.
// Status codes: NOT_FOUND for the record a method acts on, ALREADY_EXISTS for a natural-key
// duplicate, FAILED_PRECONDITION for a state that forbids the change, ABORTED after lost lock
// conflicts, UNAVAILABLE when the database is unreachable, DEADLINE_EXCEEDED past
// CallContext::deadline. Audit rows record the CallContext's actor, request_id and now; "today"
// below is its today. Where a method takes a rule callback, the store calls it inside the
// transaction with the data it read (after locking what the decision depends on) and returns
// the callback's error unchanged.
//
// Implementations are thread-safe.
#ifndef BLOODGRID_DONOR_SERVICE_DONOR_STORE_H_
#define BLOODGRID_DONOR_SERVICE_DONOR_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/donor.pb.h"
#include "common/blood.h"
#include "common/call_context.h"
#include "common/idempotency.h"
#include "donor_service/donor_rules.h"
#include "donor_service/eligibility.h"

namespace bloodgrid::donor {

// One page of a list: up to page_size rows after the cursor.
struct PageQuery {
  int page_size = 50;
  // nullopt: the first page.
  std::optional<v1::PageCursor> after;
};

template <typename T>
struct Page {
  std::vector<T> items;
  // Position after the last item when more rows follow (filter_hash left for the caller).
  std::optional<v1::PageCursor> next;
};

// SearchDonors filters; empty/unset members do not filter. Values are already normalised.
struct DonorFilter {
  std::string national_id;
  std::string name_prefix;
  std::string phone;
  std::optional<BloodType> blood_type;
  v1::DonorPanel panel = v1::DONOR_PANEL_UNSPECIFIED;
  std::string home_station_id;
};

// What eligibility needs about one donor, read in one snapshot.
struct EligibilityInputs {
  v1::Donor donor;
  // Every recorded donation of the donor (except the one being recorded).
  std::vector<PastDonation> history;
  // The deferrals in force (DeferralInForceOn) on the day considered.
  std::vector<DeferralInForce> deferrals;
};

// A deferral to record (validated; dates resolved).
struct DeferralDraft {
  std::string donor_id;
  v1::DeferralKind kind = v1::DEFERRAL_KIND_UNSPECIFIED;
  std::string reason_code;
  std::string note;
  absl::CivilDay start_date;
  // Exclusive end; nullopt for a permanent deferral.
  std::optional<absl::CivilDay> ends_on;
  v1::ScreeningTest reactive_test = v1::SCREENING_TEST_UNSPECIFIED;
  // DIN (13 characters) for a deferral caused by a reactive result; "" otherwise.
  std::string din;
  std::string deferred_by;
};

// A donation to record (validated; collection_date resolved in the region's time zone).
struct DonationDraft {
  // donation_id, recorded_at and reactive are ignored.
  v1::Donation donation;
  // ISBT 128 product code from the label, "" when none.
  std::string product_code;
  // mL to credit to the reimbursement ledger; nullopt when the policy has no reimbursement.
  std::optional<int32_t> credit_ml;
  // "name@version" of the policy, for the answer to a repeated DIN.
  std::string policy_label;
};

// A donation whose unit the inventory has not yet confirmed, with what registering it needs.
struct UnconfirmedDonation {
  v1::Donation donation;
  std::string product_code;
  // The donor's blood type on record now (unspecified when untyped).
  v1::BloodType donor_blood_type;
};

// A donor's reimbursement ledger as a balance needs it.
struct LedgerState {
  std::vector<CreditInput> credits;
  int64_t self_claimed_ml = 0;
  int64_t relatives_claimed_ml = 0;
};

// A claim to record (validated and normalised).
struct ClaimDraft {
  std::string donor_id;
  v1::ClaimantRelation relation = v1::CLAIMANT_RELATION_UNSPECIFIED;
  int32_t volume_ml = 0;
  // Normalised invoice number.
  std::string invoice_no;
  int64_t blood_fee = 0;
  std::string recipient_name;
  std::string hospital_name;
  absl::CivilDay invoice_date;
};

// What the claim rule decided, and the balance after it.
struct ClaimOutcome {
  ClaimDecision decision;
  v1::ReimbursementBalance balance_after;
};

// One donor of the blood type asked for by an appeal, with what eligibility needs.
struct AppealPoolEntry {
  v1::Donor donor;
  std::vector<PastDonation> history;
  std::vector<DeferralInForce> deferrals;
};

class DonorStore {
 public:
  virtual ~DonorStore() = default;

  // Rule callbacks (see the file comment).
  using DonorUpdateFn = absl::FunctionRef<absl::StatusOr<v1::Donor>(const v1::Donor& current)>;
  using EligibilityFn =
      absl::FunctionRef<absl::StatusOr<v1::CheckEligibilityResponse>(const EligibilityInputs&)>;
  using ClaimFn = absl::FunctionRef<absl::StatusOr<ClaimOutcome>(const LedgerState&)>;
  using TypingFn = absl::FunctionRef<TypingChange(const v1::Donor& current)>;

  // ---- Registry

  // Stores a new donor (input fields normalised; output-only ones ignored) with a new donor_id.
  // ALREADY_EXISTS "national_id already registered: existing_donor_id=<id>" when the national
  // id is taken, also when a concurrent registration of it commits first.
  virtual absl::StatusOr<v1::Donor> RegisterDonor(const CallContext& call,
                                                  const db::IdempotencyKey& key,
                                                  const v1::Donor& donor) = 0;

  // The donor with its output-only fields as of call.today. NOT_FOUND.
  virtual absl::StatusOr<v1::Donor> GetDonor(const CallContext& call,
                                             const std::string& donor_id) = 0;

  // Locks the donor, checks expected_version (ABORTED on a mismatch), asks `update` for the new
  // record and stores its input fields (version + 1 when something changed). NOT_FOUND;
  // ALREADY_EXISTS (as RegisterDonor) when the new national id belongs to another donor.
  virtual absl::StatusOr<v1::Donor> UpdateDonor(const CallContext& call,
                                                const db::IdempotencyKey& key,
                                                const std::string& donor_id,
                                                std::optional<int64_t> expected_version,
                                                DonorUpdateFn update) = 0;

  // Donors matching every filter, by name then donor_id.
  virtual absl::StatusOr<Page<v1::Donor>> SearchDonors(const CallContext& call,
                                                       const DonorFilter& filter,
                                                       const PageQuery& page) = 0;

  // ---- Blood typing

  // Records a typing of donation `din` (13 characters): with the donor locked, `decide` rules
  // on the stored donor (DecideTypingChange) and its change is applied: the typed type set as
  // confirmed, or a conflict opened; the typing is kept with its outcome. A second typing of
  // the same (donor, DIN) does not ask `decide` and returns the first one's outcome (the donor
  // as now, the conflict it opened). NOT_FOUND.
  virtual absl::StatusOr<v1::RecordBloodTypingResponse> RecordBloodTyping(
      const CallContext& call, const db::IdempotencyKey& key, const std::string& donor_id,
      const std::string& din, std::optional<absl::Time> typed_at, TypingFn decide) = 0;

  // Conflicts, newest first; donor_id "" = every donor.
  virtual absl::StatusOr<Page<v1::BloodTypeConflict>> ListBloodTypeConflicts(
      const CallContext& call, const std::string& donor_id, bool open_only,
      const PageQuery& page) = 0;

  // Resolves a conflict and sets the donor's blood type (confirmed). NOT_FOUND;
  // FAILED_PRECONDITION when already resolved.
  virtual absl::StatusOr<v1::BloodTypeConflict> ResolveBloodTypeConflict(
      const CallContext& call, const db::IdempotencyKey& key, const std::string& conflict_id,
      BloodType resolved, const std::string& resolved_by, const std::string& note) = 0;

  // ---- Eligibility

  // The donor, history and deferrals in force on `on_date`. NOT_FOUND.
  virtual absl::StatusOr<EligibilityInputs> LoadEligibilityInputs(const CallContext& call,
                                                                  const std::string& donor_id,
                                                                  absl::CivilDay on_date) = 0;

  // ---- Deferrals

  // Records a deferral. NOT_FOUND for an unknown donor.
  virtual absl::StatusOr<v1::Deferral> DeferDonor(const CallContext& call,
                                                  const db::IdempotencyKey& key,
                                                  const DeferralDraft& draft) = 0;

  // Voids a deferral, keeping the record. NOT_FOUND; FAILED_PRECONDITION when already voided.
  virtual absl::StatusOr<v1::Deferral> VoidDeferral(const CallContext& call,
                                                    const db::IdempotencyKey& key,
                                                    const std::string& deferral_id,
                                                    const std::string& voided_by,
                                                    const std::string& reason) = 0;

  // A donor's deferrals, newest start_date first; active_only: active on call.today.
  // NOT_FOUND for an unknown donor.
  virtual absl::StatusOr<Page<v1::Deferral>> ListDeferrals(const CallContext& call,
                                                           const std::string& donor_id,
                                                           bool active_only,
                                                           const PageQuery& page) = 0;

  // ---- Donations

  // Records a donation. With the donor locked: the same DIN for this donor returns the stored
  // donation (created = false, eligibility {eligible, next_eligible_date = its collection day,
  // policy_profile = policy_label}); the same DIN for another donor is ALREADY_EXISTS
  // "din: ..."; otherwise `check` decides on the donor's data as of collection_date (its error
  // is returned), then the donation, the donor's counters and, when credit_ml is set, a ledger
  // credit are written. NOT_FOUND for an unknown donor.
  virtual absl::StatusOr<v1::RecordDonationResponse> RecordDonation(const CallContext& call,
                                                                    const db::IdempotencyKey& key,
                                                                    const DonationDraft& draft,
                                                                    EligibilityFn check) = 0;

  // Voids the donation of `din` (canonical): voided_by = the call's actor, `reason`, voided_at =
  // now, and the donor's counters (donation_count, last_donation_date) no longer count it; the
  // history LoadEligibilityInputs and LoadAppealPool give leaves it out. Already voided: the
  // stored donation, unchanged. NOT_FOUND "donation with din <din> not found".
  virtual absl::StatusOr<v1::Donation> VoidDonation(const CallContext& call,
                                                    const db::IdempotencyKey& key,
                                                    const std::string& din,
                                                    const std::string& reason) = 0;

  // The donation of `din` (canonical) as stored now, voided or not. NOT_FOUND "donation with din
  // <din> not found".
  virtual absl::StatusOr<v1::Donation> GetDonation(const CallContext& call,
                                                   const std::string& din) = 0;

  // Donations neither voided nor confirmed to have their unit (ConfirmDonationUnit), recorded
  // before `recorded_before`, oldest recorded first, at most `limit`.
  virtual absl::StatusOr<std::vector<UnconfirmedDonation>> ListUnconfirmedDonations(
      const CallContext& call, absl::Time recorded_before, int limit) = 0;

  // Records that the inventory holds the unit of the donation of `din`: it is no longer listed
  // by ListUnconfirmedDonations. Confirming twice is fine. NOT_FOUND for an unknown DIN.
  virtual absl::Status ConfirmDonationUnit(const CallContext& call, const std::string& din) = 0;

  // A donor's donations, newest collected_at first. NOT_FOUND for an unknown donor.
  virtual absl::StatusOr<Page<v1::Donation>> ListDonations(const CallContext& call,
                                                           const std::string& donor_id,
                                                           const PageQuery& page) = 0;

  // Marks the donor's donation `draft.din` reactive (when recorded) and records `draft` unless a
  // deferral for (donor, DIN, test) exists (then returns it, newly_deferred = false).
  // NOT_FOUND for an unknown donor.
  virtual absl::StatusOr<v1::MarkDonorReactiveResponse> MarkDonorReactive(
      const CallContext& call, const db::IdempotencyKey& key, const DeferralDraft& draft) = 0;

  // ---- Appeals

  // Every donor of `type` with donations since `history_from` (up to `on_date`) and the
  // deferrals in force on `on_date`.
  virtual absl::StatusOr<std::vector<AppealPoolEntry>> LoadAppealPool(
      const CallContext& call, BloodType type, absl::CivilDay on_date,
      absl::CivilDay history_from) = 0;

  // Opens an appeal (appeal_id, created_at, open, contacts, counts of `appeal` ignored) with a
  // PENDING contact per donor id, in order. INVALID_ARGUMENT "donor_ids[i]: ..." for an
  // unknown donor.
  virtual absl::StatusOr<v1::Appeal> CreateAppeal(const CallContext& call,
                                                  const db::IdempotencyKey& key,
                                                  const v1::Appeal& appeal,
                                                  const std::vector<std::string>& donor_ids) = 0;

  // Sets one donor's response (adding the donor when not on the appeal). NOT_FOUND for the
  // appeal; FAILED_PRECONDITION when closed; INVALID_ARGUMENT "donor_id: ..." for an unknown
  // donor.
  virtual absl::StatusOr<v1::Appeal> RecordAppealResponse(
      const CallContext& call, const db::IdempotencyKey& key, const std::string& appeal_id,
      const std::string& donor_id, v1::AppealResponse response, const std::string& din,
      const std::string& note) = 0;

  // One appeal with contacts and counts. NOT_FOUND.
  virtual absl::StatusOr<v1::Appeal> GetAppeal(const CallContext& call,
                                               const std::string& appeal_id) = 0;

  // Appeals newest first, without contacts; station "" = all; open_only: closes_at > now.
  virtual absl::StatusOr<Page<v1::Appeal>> ListAppeals(const CallContext& call,
                                                       const std::string& station_id,
                                                       bool open_only, const PageQuery& page) = 0;

  // ---- Reimbursement

  // The donor's credits and claimed totals. NOT_FOUND.
  virtual absl::StatusOr<LedgerState> LoadLedgerState(const CallContext& call,
                                                      const std::string& donor_id) = 0;

  // With the donor's ledger account locked FOR UPDATE (so concurrent claims serialise):
  // ALREADY_EXISTS "invoice_no: <no> was already claimed" when the invoice is in the ledger
  // (for any donor); otherwise `decide` rules on the ledger state, and the debit and the new
  // totals are written. NOT_FOUND for an unknown donor.
  virtual absl::StatusOr<v1::ClaimReimbursementResponse> ClaimReimbursement(
      const CallContext& call, const db::IdempotencyKey& key, const ClaimDraft& claim,
      ClaimFn decide) = 0;

  // Ledger entries, newest first. NOT_FOUND for an unknown donor.
  virtual absl::StatusOr<Page<v1::LedgerEntry>> ListLedger(const CallContext& call,
                                                           const std::string& donor_id,
                                                           const PageQuery& page) = 0;
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_DONOR_STORE_H_
