#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "donor_service/fake_donor_store.h"
#include "donor_service/fake_donor_store_internal.h"

namespace bloodgrid::donor {
namespace {

using fake_internal::Audit;
using fake_internal::DeferralsInForce;
using fake_internal::DonorAsOf;
using fake_internal::DonorExists;
using fake_internal::DonorNotFound;
using fake_internal::HistoryOf;
using fake_internal::Micros;
using fake_internal::NewestFirstPage;
using fake_internal::ParseRowId;
using fake_internal::State;

v1::Appeal AppealAsOf(const FakeDonorStore::AppealRow& row, const State& state, absl::Time now,
                      bool with_contacts) {
  v1::Appeal appeal = row.appeal;
  appeal.set_open(AppealOpenAt(FromTimestamp(appeal.closes_at()), now));
  v1::AppealCounts* counts = appeal.mutable_counts();
  for (const FakeDonorStore::Contact& c : row.contacts) {
    counts->set_total(counts->total() + 1);
    switch (c.response) {
      case v1::APPEAL_RESPONSE_PENDING:
        counts->set_pending(counts->pending() + 1);
        break;
      case v1::APPEAL_RESPONSE_CONTACTED:
        counts->set_contacted(counts->contacted() + 1);
        break;
      case v1::APPEAL_RESPONSE_ACCEPTED:
        counts->set_accepted(counts->accepted() + 1);
        break;
      case v1::APPEAL_RESPONSE_DECLINED:
        counts->set_declined(counts->declined() + 1);
        break;
      case v1::APPEAL_RESPONSE_DONATED:
        counts->set_donated(counts->donated() + 1);
        break;
      default:
        break;
    }
    if (!with_contacts) continue;
    v1::AppealContact* contact = appeal.add_contacts();
    contact->set_donor_id(c.donor_id);
    auto donor = state.donors.find(c.donor_id);
    if (donor != state.donors.end()) contact->set_name(donor->second.name());
    contact->set_response(c.response);
    if (c.responded_at) *contact->mutable_responded_at() = ToTimestamp(*c.responded_at);
    contact->set_din(c.din);
    contact->set_note(c.note);
  }
  return appeal;
}

LedgerState LedgerOf(const State& state, const std::string& donor_id) {
  LedgerState ledger;
  const FakeDonorStore::Account& account = state.accounts.at(donor_id);
  ledger.self_claimed_ml = account.self_claimed_ml;
  ledger.relatives_claimed_ml = account.relatives_claimed_ml;
  std::vector<std::pair<std::pair<absl::CivilDay, int64_t>, CreditInput>> credits;
  for (const auto& [id, row] : state.ledger) {
    if (row.entry.donor_id() != donor_id || row.entry.kind() != v1::LEDGER_ENTRY_KIND_CREDIT) {
      continue;
    }
    credits.push_back({{row.donation_date, id},
                       CreditInput{row.entry.din(), row.donation_date, row.entry.volume_ml()}});
  }
  std::sort(credits.begin(), credits.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& credit : credits) ledger.credits.push_back(std::move(credit.second));
  return ledger;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Appeals

absl::StatusOr<std::vector<AppealPoolEntry>> FakeDonorStore::LoadAppealPool(
    const CallContext& call, BloodType type, absl::CivilDay on_date, absl::CivilDay history_from) {
  return Read<std::vector<AppealPoolEntry>>(
      call, [&](const State& state, std::vector<AppealPoolEntry>& out) -> absl::Status {
        for (const auto& [id, stored] : state.donors) {
          if (stored.blood_type().abo() != type.abo || stored.blood_type().rhd() != type.rhd) {
            continue;
          }
          AppealPoolEntry entry;
          entry.donor = DonorAsOf(state, stored, on_date);
          for (const PastDonation& donation : HistoryOf(state, id)) {
            if (donation.date >= history_from && donation.date <= on_date) {
              entry.history.push_back(donation);
            }
          }
          entry.deferrals = DeferralsInForce(state, id, on_date);
          out.push_back(std::move(entry));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Appeal> FakeDonorStore::CreateAppeal(const CallContext& call,
                                                        const db::IdempotencyKey& key,
                                                        const v1::Appeal& appeal,
                                                        const std::vector<std::string>& donor_ids) {
  return Idempotent<v1::Appeal>(call, key, [&](State& state, v1::Appeal& out) -> absl::Status {
    for (size_t i = 0; i < donor_ids.size(); ++i) {
      if (!DonorExists(state, donor_ids[i])) {
        return InvalidField(absl::StrCat("donor_ids[", i, "]"),
                            absl::StrCat("unknown donor ", donor_ids[i]));
      }
    }
    const int64_t appeal_id = state.next_row++;
    AppealRow row;
    row.appeal.set_appeal_id(std::to_string(appeal_id));
    row.appeal.set_station_id(appeal.station_id());
    row.appeal.mutable_blood_type()->set_abo(appeal.blood_type().abo());
    row.appeal.mutable_blood_type()->set_rhd(appeal.blood_type().rhd());
    row.appeal.set_donation_type(appeal.donation_type());
    row.appeal.set_donations_needed(appeal.donations_needed());
    row.appeal.set_reason(appeal.reason());
    row.appeal.set_created_by(appeal.created_by());
    *row.appeal.mutable_created_at() = ToTimestamp(call.now);
    *row.appeal.mutable_closes_at() = ToTimestamp(FromTimestamp(appeal.closes_at()));
    for (const std::string& donor_id : donor_ids) {
      row.contacts.push_back(Contact{donor_id, v1::APPEAL_RESPONSE_PENDING, std::nullopt, "", ""});
    }
    state.appeals[appeal_id] = row;
    Audit(state, call, "CreateAppeal", "", "appeal", std::to_string(appeal_id),
          absl::StrCat("station ", appeal.station_id(), ", ", donor_ids.size(), " donors"));
    out = AppealAsOf(row, state, call.now, /*with_contacts=*/true);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Appeal> FakeDonorStore::RecordAppealResponse(
    const CallContext& call, const db::IdempotencyKey& key, const std::string& appeal_id,
    const std::string& donor_id, v1::AppealResponse response, const std::string& din,
    const std::string& note) {
  return Idempotent<v1::Appeal>(call, key, [&](State& state, v1::Appeal& out) -> absl::Status {
    const std::optional<int64_t> id = ParseRowId(appeal_id);
    auto it = id ? state.appeals.find(*id) : state.appeals.end();
    if (it == state.appeals.end()) {
      return absl::NotFoundError(absl::StrCat("appeal ", appeal_id, " not found"));
    }
    AppealRow& row = it->second;
    const absl::Time closes_at = FromTimestamp(row.appeal.closes_at());
    if (!AppealOpenAt(closes_at, call.now)) {
      return absl::FailedPreconditionError(
          absl::StrCat("appeal ", appeal_id, " closed at ",
                       absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", closes_at, absl::UTCTimeZone())));
    }
    if (!DonorExists(state, donor_id)) {
      return InvalidField("donor_id", absl::StrCat("unknown donor ", donor_id));
    }
    auto contact = std::find_if(row.contacts.begin(), row.contacts.end(),
                                [&](const Contact& c) { return c.donor_id == donor_id; });
    if (contact == row.contacts.end()) {
      row.contacts.push_back(Contact{donor_id, response, call.now, din, note});
    } else {
      contact->response = response;
      contact->responded_at = call.now;
      contact->din = din;
      contact->note = note;
    }
    Audit(state, call, "RecordAppealResponse", donor_id, "appeal", appeal_id,
          absl::StrCat(v1::AppealResponse_Name(response), din.empty() ? "" : " din ", din));
    out = AppealAsOf(row, state, call.now, /*with_contacts=*/true);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Appeal> FakeDonorStore::GetAppeal(const CallContext& call,
                                                     const std::string& appeal_id) {
  return Read<v1::Appeal>(call, [&](const State& state, v1::Appeal& out) -> absl::Status {
    const std::optional<int64_t> id = ParseRowId(appeal_id);
    auto it = id ? state.appeals.find(*id) : state.appeals.end();
    if (it == state.appeals.end()) {
      return absl::NotFoundError(absl::StrCat("appeal ", appeal_id, " not found"));
    }
    out = AppealAsOf(it->second, state, call.now, /*with_contacts=*/true);
    return absl::OkStatus();
  });
}

absl::StatusOr<Page<v1::Appeal>> FakeDonorStore::ListAppeals(const CallContext& call,
                                                             const std::string& station_id,
                                                             bool open_only,
                                                             const PageQuery& page) {
  return Read<Page<v1::Appeal>>(call, [&](const State& state, Page<v1::Appeal>& out) {
    std::vector<v1::Appeal> found;
    for (const auto& [id, row] : state.appeals) {
      if (!station_id.empty() && row.appeal.station_id() != station_id) continue;
      v1::Appeal appeal = AppealAsOf(row, state, call.now, /*with_contacts=*/false);
      if (open_only && !appeal.open()) continue;
      found.push_back(std::move(appeal));
    }
    out = NewestFirstPage<v1::Appeal>(
        std::move(found), page, [](const v1::Appeal& a) { return Micros(a.created_at()); },
        [](const v1::Appeal& a) { return a.appeal_id(); });
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------------------------------------
// Reimbursement

absl::StatusOr<LedgerState> FakeDonorStore::LoadLedgerState(const CallContext& call,
                                                            const std::string& donor_id) {
  return Read<LedgerState>(call, [&](const State& state, LedgerState& out) -> absl::Status {
    if (!state.accounts.count(donor_id)) return DonorNotFound(donor_id);
    out = LedgerOf(state, donor_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::ClaimReimbursementResponse> FakeDonorStore::ClaimReimbursement(
    const CallContext& call, const db::IdempotencyKey& key, const ClaimDraft& claim,
    ClaimFn decide) {
  return Idempotent<v1::ClaimReimbursementResponse>(
      call, key, [&](State& state, v1::ClaimReimbursementResponse& out) -> absl::Status {
        if (!state.accounts.count(claim.donor_id)) return DonorNotFound(claim.donor_id);
        for (const auto& [id, row] : state.ledger) {
          if (row.entry.invoice_no() == claim.invoice_no) {
            return absl::AlreadyExistsError(
                absl::StrCat("invoice_no: ", claim.invoice_no, " was already claimed"));
          }
        }
        BG_ASSIGN_OR_RETURN(ClaimOutcome outcome, decide(LedgerOf(state, claim.donor_id)));
        const int64_t entry_id = state.next_row++;
        LedgerRow debit;
        v1::LedgerEntry& entry = debit.entry;
        entry.set_entry_id(std::to_string(entry_id));
        entry.set_donor_id(claim.donor_id);
        entry.set_kind(v1::LEDGER_ENTRY_KIND_DEBIT);
        entry.set_volume_ml(outcome.decision.covered_volume_ml);
        entry.set_claimant_relation(claim.relation);
        entry.set_invoice_no(claim.invoice_no);
        entry.set_invoice_volume_ml(claim.volume_ml);
        entry.set_blood_fee(claim.blood_fee);
        entry.set_reimbursed_amount(outcome.decision.reimbursed_amount);
        entry.set_recipient_name(claim.recipient_name);
        entry.set_hospital_name(claim.hospital_name);
        *entry.mutable_created_at() = ToTimestamp(call.now);
        entry.set_created_by(call.actor.substr(0, 128));
        state.ledger[entry_id] = debit;
        Account& account = state.accounts[claim.donor_id];
        (IsRelative(claim.relation) ? account.relatives_claimed_ml : account.self_claimed_ml) +=
            outcome.decision.covered_volume_ml;
        Audit(state, call, "ClaimReimbursement", claim.donor_id, "ledger_entry",
              std::to_string(entry_id),
              absl::StrCat(v1::ClaimantRelation_Name(claim.relation), " invoice ", claim.invoice_no,
                           ": ", outcome.decision.covered_volume_ml, " of ", claim.volume_ml,
                           " mL covered, ", outcome.decision.reimbursed_amount, " reimbursed"));
        *out.mutable_entry() = entry;
        out.set_covered_volume_ml(outcome.decision.covered_volume_ml);
        out.set_reimbursed_amount(outcome.decision.reimbursed_amount);
        *out.mutable_balance() = outcome.balance_after;
        return absl::OkStatus();
      });
}

absl::StatusOr<Page<v1::LedgerEntry>> FakeDonorStore::ListLedger(const CallContext& call,
                                                                 const std::string& donor_id,
                                                                 const PageQuery& page) {
  return Read<Page<v1::LedgerEntry>>(
      call, [&](const State& state, Page<v1::LedgerEntry>& out) -> absl::Status {
        if (!DonorExists(state, donor_id)) return DonorNotFound(donor_id);
        std::vector<v1::LedgerEntry> found;
        for (const auto& [id, row] : state.ledger) {
          if (row.entry.donor_id() == donor_id) found.push_back(row.entry);
        }
        out = NewestFirstPage<v1::LedgerEntry>(
            std::move(found), page, [](const v1::LedgerEntry& e) { return Micros(e.created_at()); },
            [](const v1::LedgerEntry& e) { return e.entry_id(); });
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::donor
