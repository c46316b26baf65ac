#include <cppconn/exception.h>

#include "common/sql_error.h"
#include "donor_service/mysql_donor_rows.h"
#include "donor_service/mysql_donor_store.h"

namespace bloodgrid::donor {

using db::Connection;
using db::IdempotencyKey;
using db::Params;

// ---------------------------------------------------------------------------------------------
// Reimbursement

absl::StatusOr<LedgerState> MysqlDonorStore::LoadLedgerState(const CallContext& call,
                                                             const std::string& donor_id) {
  return Read<LedgerState>(*pool_, "load ledger", call,
                           [&](Connection& conn, LedgerState& out) -> absl::Status {
                             bool found = false;
                             out = ReadLedgerState(conn, donor_id, /*for_update=*/false, &found);
                             if (!found) return DonorNotFound(donor_id);
                             return absl::OkStatus();
                           });
}

absl::StatusOr<v1::ClaimReimbursementResponse> MysqlDonorStore::ClaimReimbursement(
    const CallContext& call, const IdempotencyKey& key, const ClaimDraft& claim, ClaimFn decide) {
  return db::RunIdempotent<v1::ClaimReimbursementResponse>(
      *pool_, "claim reimbursement", call.deadline, &key,
      [&](Connection& conn, v1::ClaimReimbursementResponse& out) -> absl::Status {
        // The account row lock serialises every claim on this donor's balance.
        bool found = false;
        const LedgerState state =
            ReadLedgerState(conn, claim.donor_id, /*for_update=*/true, &found);
        if (!found) return DonorNotFound(claim.donor_id);
        const absl::Status invoice_taken = absl::AlreadyExistsError(
            absl::StrCat("invoice_no: ", claim.invoice_no, " was already claimed"));
        if (QueryCount(conn, kInvoiceClaimed, {claim.invoice_no}) > 0) return invoice_taken;
        BG_ASSIGN_OR_RETURN(ClaimOutcome outcome, decide(state));
        try {
          sql::PreparedStatement& insert = conn.Prepare(kInsertDebit);
          Params(insert)
              .Str(claim.donor_id)
              .Int(v1::LEDGER_ENTRY_KIND_DEBIT)
              .Int(outcome.decision.covered_volume_ml)
              .Int(claim.relation)
              .Str(claim.invoice_no)
              .Int(claim.volume_ml)
              .Int(claim.blood_fee)
              .Int(outcome.decision.reimbursed_amount)
              .Str(claim.recipient_name)
              .Str(claim.hospital_name)
              .Str(Day(claim.invoice_date))
              .Str(DbTime(call.now))
              .Str(call.actor.substr(0, 128));
          insert.executeUpdate();
        } catch (const sql::SQLException& e) {
          // Another donor's claim of the same invoice committed while this one waited.
          if (e.getErrorCode() == db::kErrDuplicateKey) return invoice_taken;
          throw;
        }
        const int64_t entry_id = LastInsertId(conn);
        sql::PreparedStatement& add =
            conn.Prepare(IsRelative(claim.relation) ? kAddRelativesClaimed : kAddSelfClaimed);
        Params(add)
            .Int(outcome.decision.covered_volume_ml)
            .Str(DbTime(call.now))
            .Str(claim.donor_id);
        add.executeUpdate();
        WriteAudit(
            conn, call, "ClaimReimbursement", claim.donor_id, "ledger_entry",
            std::to_string(entry_id),
            absl::StrCat(v1::ClaimantRelation_Name(claim.relation), " invoice ", claim.invoice_no,
                         ": ", outcome.decision.covered_volume_ml, " of ", claim.volume_ml,
                         " mL covered, ", outcome.decision.reimbursed_amount, " reimbursed"));
        sql::PreparedStatement& select = conn.Prepare(absl::StrCat(kLedgerSelect, kLedgerById));
        Params(select).Int(entry_id);
        auto rs = Query(select);
        if (!rs->next()) return absl::InternalError("claim reimbursement: row vanished");
        *out.mutable_entry() = ReadLedgerRow(*rs);
        out.set_covered_volume_ml(outcome.decision.covered_volume_ml);
        out.set_reimbursed_amount(outcome.decision.reimbursed_amount);
        *out.mutable_balance() = outcome.balance_after;
        return absl::OkStatus();
      });
}

absl::StatusOr<Page<v1::LedgerEntry>> MysqlDonorStore::ListLedger(const CallContext& call,
                                                                  const std::string& donor_id,
                                                                  const PageQuery& page) {
  const std::string sql_text = absl::StrCat(kLedgerSelect, kLedgerOfDonor);
  return Read<Page<v1::LedgerEntry>>(
      *pool_, "list ledger", call,
      [&](Connection& conn, Page<v1::LedgerEntry>& out) -> absl::Status {
        if (QueryCount(conn, kDonorExists, {donor_id}) == 0) return DonorNotFound(donor_id);
        out = ListPage<v1::LedgerEntry>(
            conn, sql_text, kLedgerKeyset, page, [&](Params& params) { params.Str(donor_id); },
            [](sql::ResultSet& r) { return ReadLedgerRow(r); },
            [](const v1::LedgerEntry& e) {
              return Cursor(absl::ToUnixMicros(FromTimestamp(e.created_at())), e.entry_id());
            });
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::donor
