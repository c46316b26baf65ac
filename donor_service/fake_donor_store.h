// FakeDonorStore: DonorStore in memory, for fast tests of DonorOperations. It passes the same
// store contract suite as MysqlDonorStore (tests/support/donor_store_contract.h).
//
// Each mutating method works on a copy of the whole state and publishes it only when the
// method succeeds, so a failure leaves nothing behind, as a rolled-back transaction does.
// request_id keys replay the first response (a serialised copy) exactly as the MySQL store
// does, and audit events are kept in order (Events()).
//
// Differences from the MySQL store that the contract leaves open: new donor ids are D followed
// by a 16-digit hexadecimal sequence number (not random); names compare ASCII
// case-insensitively (the schema's utf8mb4_unicode_ci also folds other scripts); a call past
// CallContext::deadline fails before doing anything; nothing is ever ABORTED or UNAVAILABLE.
//
// Thread-safe (one mutex; calls run one at a time).
#ifndef BLOODGRID_DONOR_SERVICE_FAKE_DONOR_STORE_H_
#define BLOODGRID_DONOR_SERVICE_FAKE_DONOR_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "donor_service/donor_store.h"

namespace bloodgrid::donor {

// One audit row as the store wrote it.
struct StoreEvent {
  std::string actor;
  std::string request_id;
  std::string action;
  // "" when the change concerns no single donor (CreateAppeal).
  std::string donor_id;
  std::string entity;
  std::string entity_id;
  std::string detail;
};

class FakeDonorStore : public DonorStore {
 public:
  FakeDonorStore() = default;

  // Every audit event so far, oldest first.
  std::vector<StoreEvent> Events() const;

  absl::StatusOr<v1::Donor> RegisterDonor(const CallContext& call, const db::IdempotencyKey& key,
                                          const v1::Donor& donor) override;
  absl::StatusOr<v1::Donor> GetDonor(const CallContext& call, const std::string& donor_id) override;
  absl::StatusOr<v1::Donor> UpdateDonor(const CallContext& call, const db::IdempotencyKey& key,
                                        const std::string& donor_id,
                                        std::optional<int64_t> expected_version,
                                        DonorUpdateFn update) override;
  absl::StatusOr<Page<v1::Donor>> SearchDonors(const CallContext& call, const DonorFilter& filter,
                                               const PageQuery& page) override;

  absl::StatusOr<v1::RecordBloodTypingResponse> RecordBloodTyping(
      const CallContext& call, const db::IdempotencyKey& key, const std::string& donor_id,
      const std::string& din, std::optional<absl::Time> typed_at, TypingFn decide) override;
  absl::StatusOr<Page<v1::BloodTypeConflict>> ListBloodTypeConflicts(
      const CallContext& call, const std::string& donor_id, bool open_only,
      const PageQuery& page) override;
  absl::StatusOr<v1::BloodTypeConflict> ResolveBloodTypeConflict(
      const CallContext& call, const db::IdempotencyKey& key, const std::string& conflict_id,
      BloodType resolved, const std::string& resolved_by, const std::string& note) override;

  absl::StatusOr<EligibilityInputs> LoadEligibilityInputs(const CallContext& call,
                                                          const std::string& donor_id,
                                                          absl::CivilDay on_date) override;

  absl::StatusOr<v1::Deferral> DeferDonor(const CallContext& call, const db::IdempotencyKey& key,
                                          const DeferralDraft& draft) override;
  absl::StatusOr<v1::Deferral> VoidDeferral(const CallContext& call, const db::IdempotencyKey& key,
                                            const std::string& deferral_id,
                                            const std::string& voided_by,
                                            const std::string& reason) override;
  absl::StatusOr<std::vector<UnconfirmedDonation>> ListUnconfirmedDonations(
      const CallContext& call, absl::Time recorded_before, int limit) override;
  absl::StatusOr<v1::Donation> GetDonation(const CallContext& call,
                                           const std::string& din) override;
  absl::Status ConfirmDonationUnit(const CallContext& call, const std::string& din) override;
  absl::StatusOr<Page<v1::Deferral>> ListDeferrals(const CallContext& call,
                                                   const std::string& donor_id, bool active_only,
                                                   const PageQuery& page) override;

  absl::StatusOr<v1::RecordDonationResponse> RecordDonation(const CallContext& call,
                                                            const db::IdempotencyKey& key,
                                                            const DonationDraft& draft,
                                                            EligibilityFn check) override;
  absl::StatusOr<Page<v1::Donation>> ListDonations(const CallContext& call,
                                                   const std::string& donor_id,
                                                   const PageQuery& page) override;
  absl::StatusOr<v1::MarkDonorReactiveResponse> MarkDonorReactive(
      const CallContext& call, const db::IdempotencyKey& key, const DeferralDraft& draft) override;
  absl::StatusOr<v1::Donation> VoidDonation(const CallContext& call, const db::IdempotencyKey& key,
                                            const std::string& din,
                                            const std::string& reason) override;

  absl::StatusOr<std::vector<AppealPoolEntry>> LoadAppealPool(const CallContext& call,
                                                              BloodType type,
                                                              absl::CivilDay on_date,
                                                              absl::CivilDay history_from) override;
  absl::StatusOr<v1::Appeal> CreateAppeal(const CallContext& call, const db::IdempotencyKey& key,
                                          const v1::Appeal& appeal,
                                          const std::vector<std::string>& donor_ids) override;
  absl::StatusOr<v1::Appeal> RecordAppealResponse(
      const CallContext& call, const db::IdempotencyKey& key, const std::string& appeal_id,
      const std::string& donor_id, v1::AppealResponse response, const std::string& din,
      const std::string& note) override;
  absl::StatusOr<v1::Appeal> GetAppeal(const CallContext& call,
                                       const std::string& appeal_id) override;
  absl::StatusOr<Page<v1::Appeal>> ListAppeals(const CallContext& call,
                                               const std::string& station_id, bool open_only,
                                               const PageQuery& page) override;

  absl::StatusOr<LedgerState> LoadLedgerState(const CallContext& call,
                                              const std::string& donor_id) override;
  absl::StatusOr<v1::ClaimReimbursementResponse> ClaimReimbursement(const CallContext& call,
                                                                    const db::IdempotencyKey& key,
                                                                    const ClaimDraft& claim,
                                                                    ClaimFn decide) override;
  absl::StatusOr<Page<v1::LedgerEntry>> ListLedger(const CallContext& call,
                                                   const std::string& donor_id,
                                                   const PageQuery& page) override;

  // The stored data, public for the implementation's helpers only.
  struct Contact {
    std::string donor_id;
    v1::AppealResponse response = v1::APPEAL_RESPONSE_UNSPECIFIED;
    std::optional<absl::Time> responded_at;
    std::string din;
    std::string note;
  };
  struct AppealRow {
    // Without contacts, counts and open (computed on read).
    v1::Appeal appeal;
    std::vector<Contact> contacts;
  };
  struct Typing {
    TypingOutcome outcome = TypingOutcome::kAssigned;
    std::optional<int64_t> conflict_id;
  };
  struct LedgerRow {
    v1::LedgerEntry entry;
    // Credits: the donation day.
    absl::CivilDay donation_date;
  };
  struct Account {
    int64_t self_claimed_ml = 0;
    int64_t relatives_claimed_ml = 0;
  };
  struct Completed {
    std::string request_hash;
    std::string response;
  };
  struct State {
    // Stored columns only; the output-only flags are computed on read.
    std::map<std::string, v1::Donor> donors;
    std::map<std::string, Account> accounts;
    std::map<std::pair<std::string, std::string>, Typing> typings;
    std::map<int64_t, v1::BloodTypeConflict> conflicts;
    // Without `active` (computed on read).
    std::map<int64_t, v1::Deferral> deferrals;
    std::map<int64_t, v1::Donation> donations;
    // Columns of donations that v1::Donation does not carry, by donation id.
    std::map<int64_t, std::string> product_codes;
    std::set<int64_t> units_confirmed;
    std::map<int64_t, AppealRow> appeals;
    std::map<int64_t, LedgerRow> ledger;
    std::map<std::pair<std::string, std::string>, Completed> keys;
    std::vector<StoreEvent> events;
    int64_t next_donor = 1;
    int64_t next_row = 1;
  };

 private:
  template <typename Response, typename Body>
  absl::StatusOr<Response> Idempotent(const CallContext& call, const db::IdempotencyKey& key,
                                      Body body);
  template <typename Result, typename Body>
  absl::StatusOr<Result> Read(const CallContext& call, Body body) const;
  // A change without an idempotency key, all or nothing.
  template <typename Body>
  absl::Status Write(const CallContext& call, Body body);

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_FAKE_DONOR_STORE_H_
