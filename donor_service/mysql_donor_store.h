// DonorStore on MySQL/MariaDB (schema: donor_service/migrations). Prepared statements with `?`
// parameters only, SQL text as constants in mysql_donor_sql.h, rows mapped in
// mysql_donor_rows.{h,cc}, the methods in mysql_donor_store*.cc by area; every method runs in
// db::RunTransaction, which maps connector exceptions to statuses (common/sql_error.h) and
// re-runs a transaction that lost a lock conflict. Connector exceptions never leave this class.
//
// Thread-safe (the pool is); holds no state of its own.
#ifndef BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_STORE_H_
#define BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_STORE_H_

#include <string>
#include <vector>

#include "common/migrations.h"
#include "common/mysql_pool.h"
#include "donor_service/donor_store.h"

namespace bloodgrid::donor {

// The donor schema's migrations (donor_service/migrations/NNN_name.sql, compiled in).
const std::vector<db::Migration>& DonorMigrations();

class MysqlDonorStore : public DonorStore {
 public:
  // `pool` must outlive the store; its schema must be migrated (DonorMigrations()).
  explicit MysqlDonorStore(db::ConnectionPool* pool) : pool_(pool) {}

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

 private:
  db::ConnectionPool* const pool_;
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_STORE_H_
