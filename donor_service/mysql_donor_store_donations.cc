#include <cppconn/exception.h>

#include <utility>

#include "common/sql_error.h"
#include "donor_service/mysql_donor_rows.h"
#include "donor_service/mysql_donor_store.h"

namespace bloodgrid::donor {

using db::Connection;
using db::IdempotencyKey;
using db::Params;

// ---------------------------------------------------------------------------------------------
// Eligibility

absl::StatusOr<EligibilityInputs> MysqlDonorStore::LoadEligibilityInputs(
    const CallContext& call, const std::string& donor_id, absl::CivilDay on_date) {
  return Read<EligibilityInputs>(*pool_, "load eligibility inputs", call,
                                 [&](Connection& conn, EligibilityInputs& out) -> absl::Status {
                                   std::optional<v1::Donor> donor =
                                       ReadDonor(conn, donor_id, call.today);
                                   if (!donor) return DonorNotFound(donor_id);
                                   out.donor = *std::move(donor);
                                   out.history = ReadHistory(conn, donor_id);
                                   out.deferrals = ReadDeferralsInForce(conn, donor_id, on_date);
                                   return absl::OkStatus();
                                 });
}

// ---------------------------------------------------------------------------------------------
// Deferrals

absl::StatusOr<v1::Deferral> MysqlDonorStore::DeferDonor(const CallContext& call,
                                                         const IdempotencyKey& key,
                                                         const DeferralDraft& draft) {
  return db::RunIdempotent<v1::Deferral>(
      *pool_, "defer donor", call.deadline, &key,
      [&](Connection& conn, v1::Deferral& out) -> absl::Status {
        if (!LockDonor(conn, draft.donor_id)) return DonorNotFound(draft.donor_id);
        const int64_t id = InsertDeferral(conn, call, draft);
        WriteAudit(conn, call, "DeferDonor", draft.donor_id, "deferral", std::to_string(id),
                   absl::StrCat(draft.reason_code, " from ", Day(draft.start_date),
                                draft.ends_on ? absl::StrCat(" until ", Day(*draft.ends_on))
                                              : std::string(" permanently")));
        std::optional<v1::Deferral> stored = ReadDeferral(conn, id, call.today, false);
        if (!stored) return absl::InternalError("defer donor: row vanished");
        out = *std::move(stored);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Deferral> MysqlDonorStore::VoidDeferral(const CallContext& call,
                                                           const IdempotencyKey& key,
                                                           const std::string& deferral_id,
                                                           const std::string& voided_by,
                                                           const std::string& reason) {
  return db::RunIdempotent<v1::Deferral>(
      *pool_, "void deferral", call.deadline, &key,
      [&](Connection& conn, v1::Deferral& out) -> absl::Status {
        const std::optional<int64_t> id = ParseRowId(deferral_id);
        std::optional<v1::Deferral> deferral =
            id ? ReadDeferral(conn, *id, call.today, /*for_update=*/true) : std::nullopt;
        if (!deferral) {
          return absl::NotFoundError(absl::StrCat("deferral ", deferral_id, " not found"));
        }
        if (deferral->voided()) {
          return absl::FailedPreconditionError(
              absl::StrCat("deferral ", deferral_id, " is already voided"));
        }
        sql::PreparedStatement& update = conn.Prepare(kVoidDeferral);
        Params(update).Str(voided_by).Str(reason).Str(DbTime(call.now)).Int(*id);
        update.executeUpdate();
        WriteAudit(conn, call, "VoidDeferral", deferral->donor_id(), "deferral", deferral_id,
                   absl::StrCat("voided by ", voided_by));
        std::optional<v1::Deferral> stored = ReadDeferral(conn, *id, call.today, false);
        if (!stored) return absl::InternalError("void deferral: row vanished");
        out = *std::move(stored);
        return absl::OkStatus();
      });
}

absl::StatusOr<Page<v1::Deferral>> MysqlDonorStore::ListDeferrals(const CallContext& call,
                                                                  const std::string& donor_id,
                                                                  bool active_only,
                                                                  const PageQuery& page) {
  std::string sql_text = absl::StrCat(kDeferralSelect, kDeferralsOfDonor);
  if (active_only) absl::StrAppend(&sql_text, kAnd, kDeferralInForce);
  return Read<Page<v1::Deferral>>(
      *pool_, "list deferrals", call,
      [&](Connection& conn, Page<v1::Deferral>& out) -> absl::Status {
        if (QueryCount(conn, kDonorExists, {donor_id}) == 0) return DonorNotFound(donor_id);
        out = ListPage<v1::Deferral>(
            conn, sql_text, kDeferralKeyset, page,
            [&](Params& params) {
              params.Str(donor_id);
              if (active_only) BindDeferralInForce(params, call.today);
            },
            [&](sql::ResultSet& r) { return ReadDeferralRow(r, call.today); },
            [](const v1::Deferral& d) {
              return Cursor(DayNumber(ParseDbDay(d.start_date())), d.deferral_id());
            });
        return absl::OkStatus();
      });
}

// ---------------------------------------------------------------------------------------------
// Donations

absl::StatusOr<v1::RecordDonationResponse> MysqlDonorStore::RecordDonation(
    const CallContext& call, const IdempotencyKey& key, const DonationDraft& draft,
    EligibilityFn check) {
  const v1::Donation& donation = draft.donation;
  return db::RunIdempotent<v1::RecordDonationResponse>(
      *pool_, "record donation", call.deadline, &key,
      [&](Connection& conn, v1::RecordDonationResponse& out) -> absl::Status {
        const std::string& donor_id = donation.donor_id();
        // The donor's row lock serialises this donor's donations: two collections racing
        // cannot both pass the interval rules.
        if (!LockDonor(conn, donor_id)) return DonorNotFound(donor_id);
        if (std::optional<v1::Donation> existing = ReadDonationByDin(conn, donation.din())) {
          if (existing->donor_id() != donor_id) {
            return absl::AlreadyExistsError(
                absl::StrCat("din: ", donation.din(), " is already recorded for another donor"));
          }
          if (existing->voided()) return VoidedDinStatus(*existing);
          v1::CheckEligibilityResponse* eligibility = out.mutable_eligibility();
          eligibility->set_eligible(true);
          eligibility->set_next_eligible_date(existing->collection_date());
          eligibility->set_policy_profile(draft.policy_label);
          *out.mutable_donation() = *std::move(existing);
          out.set_created(false);
        } else {
          const absl::CivilDay collection_day = ParseDbDay(donation.collection_date());
          EligibilityInputs inputs;
          std::optional<v1::Donor> donor = ReadDonor(conn, donor_id, call.today);
          if (!donor) return DonorNotFound(donor_id);
          inputs.donor = *std::move(donor);
          inputs.history = ReadHistory(conn, donor_id);
          inputs.deferrals = ReadDeferralsInForce(conn, donor_id, collection_day);
          BG_ASSIGN_OR_RETURN(*out.mutable_eligibility(), check(inputs));

          const v1::DonorScreening& s = donation.screening();
          auto opt_double = [](bool has, double v) {
            return has ? std::optional<double>(v) : std::nullopt;
          };
          auto opt_int = [](bool has, int32_t v) {
            return has ? std::optional<int64_t>(v) : std::nullopt;
          };
          try {
            sql::PreparedStatement& insert = conn.Prepare(kInsertDonation);
            Params(insert)
                .Str(donor_id)
                .Str(donation.din())
                .Int(donation.donation_type())
                .Int(donation.volume_ml())
                .Str(donation.station_id())
                .Str(DbTime(FromTimestamp(donation.collected_at())))
                .Str(donation.collection_date())
                .OptDouble(opt_double(s.has_weight_kg(), s.weight_kg()))
                .OptDouble(opt_double(s.has_hemoglobin_g_l(), s.hemoglobin_g_l()))
                .OptInt(opt_int(s.has_systolic_mmhg(), s.systolic_mmhg()))
                .OptInt(opt_int(s.has_diastolic_mmhg(), s.diastolic_mmhg()))
                .OptInt(opt_int(s.has_pulse_bpm(), s.pulse_bpm()))
                .OptDouble(opt_double(s.has_hematocrit(), s.hematocrit()))
                .OptInt(opt_int(s.has_platelet_count_e9_l(), s.platelet_count_e9_l()))
                .Bool(donation.adverse_reaction())
                .Int(donation.anticoagulant())
                .Str(draft.product_code)
                .Str(DbTime(call.now))
                .Str(call.actor.substr(0, 128));
            insert.executeUpdate();
          } catch (const sql::SQLException& e) {
            if (e.getErrorCode() != db::kErrDuplicateKey) throw;
            // The same DIN was recorded concurrently (for another donor, whose lock is not
            // ours): run again and answer from the stored row.
            return db::RetryTransactionStatus("din recorded concurrently");
          }
          const int64_t donation_id = LastInsertId(conn);
          sql::PreparedStatement& count = conn.Prepare(kCountDonation);
          Params(count)
              .Str(donation.collection_date())
              .Str(donation.collection_date())
              .Bool(donation.adverse_reaction())
              .Str(DbTime(call.now))
              .Str(donor_id);
          count.executeUpdate();
          if (draft.credit_ml) {
            sql::PreparedStatement& credit = conn.Prepare(kInsertCredit);
            Params(credit)
                .Str(donor_id)
                .Int(v1::LEDGER_ENTRY_KIND_CREDIT)
                .Str(donation.din())
                .Str(donation.collection_date())
                .Int(*draft.credit_ml)
                .Str(DbTime(call.now))
                .Str(call.actor.substr(0, 128));
            credit.executeUpdate();
          }
          WriteAudit(conn, call, "RecordDonation", donor_id, "donation",
                     std::to_string(donation_id),
                     absl::StrCat(v1::DonationType_Name(donation.donation_type()), " ",
                                  donation.volume_ml(), " mL, din ", donation.din()));
          std::optional<v1::Donation> stored = ReadDonationByDin(conn, donation.din());
          if (!stored) return absl::InternalError("record donation: row vanished");
          *out.mutable_donation() = *std::move(stored);
          out.set_created(true);
        }
        std::optional<v1::Donor> donor = ReadDonor(conn, donor_id, call.today);
        if (donor) *out.mutable_donor_blood_type() = donor->blood_type();
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Donation> MysqlDonorStore::VoidDonation(const CallContext& call,
                                                           const IdempotencyKey& key,
                                                           const std::string& din,
                                                           const std::string& reason) {
  return db::RunIdempotent<v1::Donation>(
      *pool_, "void donation", call.deadline, &key,
      [&](Connection& conn, v1::Donation& out) -> absl::Status {
        // The donor's row first, as RecordDonation locks it: one lock order for both.
        std::optional<v1::Donation> found = ReadDonationByDin(conn, din);
        if (!found) return DonationNotFound(din);
        if (!LockDonor(conn, found->donor_id())) return DonorNotFound(found->donor_id());
        found = ReadDonationByDin(conn, din);
        if (!found) return DonationNotFound(din);
        if (!found->voided()) {
          sql::PreparedStatement& update = conn.Prepare(kVoidDonation);
          Params(update).Str(call.actor.substr(0, 128)).Str(reason).Str(DbTime(call.now)).Str(din);
          update.executeUpdate();
          sql::PreparedStatement& uncount = conn.Prepare(kUncountDonation);
          Params(uncount)
              .Str(found->collection_date())
              .Str(found->donor_id())
              .Str(DbTime(call.now))
              .Str(found->donor_id());
          uncount.executeUpdate();
          WriteAudit(conn, call, "VoidDonation", found->donor_id(), "donation",
                     found->donation_id(), absl::StrCat("din ", din, ": ", reason));
          found = ReadDonationByDin(conn, din);
          if (!found) return absl::InternalError("void donation: row vanished");
        }
        out = *std::move(found);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<UnconfirmedDonation>> MysqlDonorStore::ListUnconfirmedDonations(
    const CallContext& call, absl::Time recorded_before, int limit) {
  return Read<std::vector<UnconfirmedDonation>>(
      *pool_, "list unconfirmed donations", call,
      [&](Connection& conn, std::vector<UnconfirmedDonation>& out) -> absl::Status {
        sql::PreparedStatement& select = conn.Prepare(kUnconfirmedDonations);
        Params(select).Str(DbTime(recorded_before)).Int(limit);
        auto rs = Query(select);
        while (rs->next()) {
          UnconfirmedDonation d;
          d.donation = ReadDonationRow(*rs);
          d.product_code = Text(*rs, "product_code");
          d.donor_blood_type = BloodTypeOf(rs->getInt("abo"), rs->getInt("rhd"));
          out.push_back(std::move(d));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Donation> MysqlDonorStore::GetDonation(const CallContext& call,
                                                          const std::string& din) {
  return Read<v1::Donation>(*pool_, "get donation", call,
                            [&](Connection& conn, v1::Donation& out) -> absl::Status {
                              std::optional<v1::Donation> found = ReadDonationByDin(conn, din);
                              if (!found) return DonationNotFound(din);
                              out = *std::move(found);
                              return absl::OkStatus();
                            });
}

absl::Status MysqlDonorStore::ConfirmDonationUnit(const CallContext& call, const std::string& din) {
  return db::RunTransaction(*pool_, "confirm donation unit", call.deadline,
                            [&](Connection& conn) -> absl::Status {
                              if (!ReadDonationByDin(conn, din)) return DonationNotFound(din);
                              sql::PreparedStatement& update = conn.Prepare(kConfirmDonationUnit);
                              Params(update).Str(din);
                              update.executeUpdate();
                              return absl::OkStatus();
                            });
}

absl::StatusOr<Page<v1::Donation>> MysqlDonorStore::ListDonations(const CallContext& call,
                                                                  const std::string& donor_id,
                                                                  const PageQuery& page) {
  const std::string sql_text = absl::StrCat(kDonationSelect, kDonationsOfDonor);
  return Read<Page<v1::Donation>>(
      *pool_, "list donations", call,
      [&](Connection& conn, Page<v1::Donation>& out) -> absl::Status {
        if (QueryCount(conn, kDonorExists, {donor_id}) == 0) return DonorNotFound(donor_id);
        out = ListPage<v1::Donation>(
            conn, sql_text, kDonationKeyset, page, [&](Params& params) { params.Str(donor_id); },
            [](sql::ResultSet& r) { return ReadDonationRow(r); },
            [](const v1::Donation& d) {
              return Cursor(absl::ToUnixMicros(FromTimestamp(d.collected_at())), d.donation_id());
            });
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::MarkDonorReactiveResponse> MysqlDonorStore::MarkDonorReactive(
    const CallContext& call, const IdempotencyKey& key, const DeferralDraft& draft) {
  return db::RunIdempotent<v1::MarkDonorReactiveResponse>(
      *pool_, "mark donor reactive", call.deadline, &key,
      [&](Connection& conn, v1::MarkDonorReactiveResponse& out) -> absl::Status {
        if (!LockDonor(conn, draft.donor_id)) return DonorNotFound(draft.donor_id);
        out.set_donation_found(
            QueryCount(conn, kDonationOfDonorExists, {draft.din, draft.donor_id}) > 0);
        sql::PreparedStatement& existing =
            conn.Prepare(absl::StrCat(kDeferralSelect, kDeferralByReactive));
        Params(existing).Str(draft.donor_id).Str(draft.din).Int(draft.reactive_test);
        auto rs = Query(existing);
        if (rs->next()) {
          *out.mutable_deferral() = ReadDeferralRow(*rs, call.today);
          out.set_newly_deferred(false);
          return absl::OkStatus();
        }
        if (out.donation_found()) {
          sql::PreparedStatement& mark = conn.Prepare(kMarkDonationReactive);
          Params(mark).Str(draft.din).Str(draft.donor_id);
          mark.executeUpdate();
        }
        const int64_t id = InsertDeferral(conn, call, draft);
        WriteAudit(conn, call, "MarkDonorReactive", draft.donor_id, "deferral", std::to_string(id),
                   absl::StrCat(v1::ScreeningTest_Name(draft.reactive_test), " reactive on ",
                                draft.din, ": ", draft.reason_code));
        std::optional<v1::Deferral> stored = ReadDeferral(conn, id, call.today, false);
        if (!stored) return absl::InternalError("mark donor reactive: row vanished");
        *out.mutable_deferral() = *std::move(stored);
        out.set_newly_deferred(true);
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::donor
