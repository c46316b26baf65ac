#include "donor_service/mysql_donor_store.h"

#include <cppconn/exception.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"
#include "common/sql_error.h"
#include "donor_service/mysql_donor_rows.h"

namespace bloodgrid::donor {

using db::Connection;
using db::IdempotencyKey;
using db::Params;

// ---------------------------------------------------------------------------------------------
// Registry

absl::StatusOr<v1::Donor> MysqlDonorStore::RegisterDonor(const CallContext& call,
                                                         const IdempotencyKey& key,
                                                         const v1::Donor& donor) {
  return db::RunIdempotent<v1::Donor>(
      *pool_, "register donor", call.deadline, &key,
      [&](Connection& conn, v1::Donor& out) -> absl::Status {
        if (auto existing = DonorIdWithNationalId(conn, donor.national_id())) {
          return NationalIdTaken(*existing);
        }
        const std::string donor_id = NewDonorId();
        try {
          sql::PreparedStatement& insert = conn.Prepare(kInsertDonor);
          Params(insert)
              .Str(donor_id)
              .Str(donor.national_id())
              .Str(donor.name())
              .Int(donor.sex())
              .Str(donor.birth_date())
              .Int(donor.blood_type().abo())
              .Int(donor.blood_type().rhd())
              .Str(donor.contact().phone())
              .Str(donor.contact().email())
              .Str(donor.contact().address())
              .Str(donor.home_station_id())
              .Str(DbTime(call.now))
              .Str(DbTime(call.now));
          insert.executeUpdate();
        } catch (const sql::SQLException& e) {
          if (e.getErrorCode() != db::kErrDuplicateKey) throw;
          // A concurrent registration of the same national id committed while this insert
          // waited on its key: name the winner (READ COMMITTED sees it now).
          if (auto existing = DonorIdWithNationalId(conn, donor.national_id())) {
            return NationalIdTaken(*existing);
          }
          return db::RetryTransactionStatus("donor id collision");
        }
        InsertPanels(conn, donor_id, donor);
        sql::PreparedStatement& account = conn.Prepare(kInsertAccount);
        Params(account).Str(donor_id).Str(DbTime(call.now));
        account.executeUpdate();
        WriteAudit(conn, call, "RegisterDonor", donor_id, "donor", donor_id, "registered");
        std::optional<v1::Donor> stored = ReadDonor(conn, donor_id, call.today);
        if (!stored) return absl::InternalError("register donor: row vanished");
        out = *std::move(stored);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Donor> MysqlDonorStore::GetDonor(const CallContext& call,
                                                    const std::string& donor_id) {
  return Read<v1::Donor>(*pool_, "get donor", call,
                         [&](Connection& conn, v1::Donor& out) -> absl::Status {
                           std::optional<v1::Donor> donor = ReadDonor(conn, donor_id, call.today);
                           if (!donor) return DonorNotFound(donor_id);
                           out = *std::move(donor);
                           return absl::OkStatus();
                         });
}

absl::StatusOr<v1::Donor> MysqlDonorStore::UpdateDonor(const CallContext& call,
                                                       const IdempotencyKey& key,
                                                       const std::string& donor_id,
                                                       std::optional<int64_t> expected_version,
                                                       DonorUpdateFn update) {
  return db::RunIdempotent<v1::Donor>(
      *pool_, "update donor", call.deadline, &key,
      [&](Connection& conn, v1::Donor& out) -> absl::Status {
        if (!LockDonor(conn, donor_id)) return DonorNotFound(donor_id);
        std::optional<v1::Donor> current = ReadDonor(conn, donor_id, call.today);
        if (!current) return DonorNotFound(donor_id);
        BG_RETURN_IF_ERROR(CheckExpectedVersion(*current, expected_version));
        BG_ASSIGN_OR_RETURN(v1::Donor next, update(*current));
        const std::vector<std::string> changed = ChangedDonorFields(*current, next);
        if (changed.empty()) {
          out = *std::move(current);
          return absl::OkStatus();
        }
        if (next.national_id() != current->national_id()) {
          if (auto existing = DonorIdWithNationalId(conn, next.national_id())) {
            return NationalIdTaken(*existing);
          }
        }
        try {
          sql::PreparedStatement& write = conn.Prepare(kUpdateDonor);
          Params(write)
              .Str(next.national_id())
              .Str(next.name())
              .Int(next.sex())
              .Str(next.birth_date())
              .Str(next.contact().phone())
              .Str(next.contact().email())
              .Str(next.contact().address())
              .Str(next.home_station_id())
              .Str(DbTime(call.now))
              .Str(donor_id);
          write.executeUpdate();
        } catch (const sql::SQLException& e) {
          if (e.getErrorCode() != db::kErrDuplicateKey) throw;
          if (auto existing = DonorIdWithNationalId(conn, next.national_id())) {
            return NationalIdTaken(*existing);
          }
          throw;
        }
        if (std::find(changed.begin(), changed.end(), "panels") != changed.end()) {
          sql::PreparedStatement& clear = conn.Prepare(kDeletePanels);
          Params(clear).Str(donor_id);
          clear.executeUpdate();
          InsertPanels(conn, donor_id, next);
        }
        WriteAudit(conn, call, "UpdateDonor", donor_id, "donor", donor_id,
                   absl::StrCat("fields=", absl::StrJoin(changed, ",")));
        std::optional<v1::Donor> stored = ReadDonor(conn, donor_id, call.today);
        if (!stored) return DonorNotFound(donor_id);
        out = *std::move(stored);
        return absl::OkStatus();
      });
}

absl::StatusOr<Page<v1::Donor>> MysqlDonorStore::SearchDonors(const CallContext& call,
                                                              const DonorFilter& filter,
                                                              const PageQuery& page) {
  std::string sql_text = absl::StrCat(DonorSelect(), kWhereTrue);
  if (!filter.national_id.empty()) absl::StrAppend(&sql_text, kFilterNationalId);
  if (!filter.name_prefix.empty()) absl::StrAppend(&sql_text, kFilterNamePrefix);
  if (!filter.phone.empty()) absl::StrAppend(&sql_text, kFilterPhone);
  if (filter.blood_type) absl::StrAppend(&sql_text, kFilterBloodType);
  if (filter.panel != v1::DONOR_PANEL_UNSPECIFIED) absl::StrAppend(&sql_text, kFilterPanel);
  if (!filter.home_station_id.empty()) absl::StrAppend(&sql_text, kFilterHomeStation);
  return Read<Page<v1::Donor>>(
      *pool_, "search donors", call, [&](Connection& conn, Page<v1::Donor>& out) -> absl::Status {
        out = ListPage<v1::Donor>(
            conn, sql_text, kSearchKeyset, page,
            [&](Params& params) {
              BindDonorDay(params, call.today);
              if (!filter.national_id.empty()) params.Str(filter.national_id);
              if (!filter.name_prefix.empty()) {
                std::string pattern;
                for (char c : filter.name_prefix) {
                  if (c == '%' || c == '_' || c == '\\') pattern += '\\';
                  pattern += c;
                }
                params.Str(pattern + "%");
              }
              if (!filter.phone.empty()) params.Str(filter.phone);
              if (filter.blood_type) {
                params.Int(filter.blood_type->abo).Int(filter.blood_type->rhd);
              }
              if (filter.panel != v1::DONOR_PANEL_UNSPECIFIED) params.Int(filter.panel);
              if (!filter.home_station_id.empty()) params.Str(filter.home_station_id);
            },
            [](sql::ResultSet& r) { return ReadDonorRow(r); },
            [](const v1::Donor& d) {
              return Cursor(0, absl::StrCat(d.name(), "\n", d.donor_id()));
            });
        return absl::OkStatus();
      });
}

// ---------------------------------------------------------------------------------------------
// Blood typing

absl::StatusOr<v1::RecordBloodTypingResponse> MysqlDonorStore::RecordBloodTyping(
    const CallContext& call, const IdempotencyKey& key, const std::string& donor_id,
    const std::string& din, std::optional<absl::Time> typed_at, TypingFn decide) {
  return db::RunIdempotent<v1::RecordBloodTypingResponse>(
      *pool_, "record blood typing", call.deadline, &key,
      [&](Connection& conn, v1::RecordBloodTypingResponse& out) -> absl::Status {
        if (!LockDonor(conn, donor_id)) return DonorNotFound(donor_id);
        sql::PreparedStatement& earlier = conn.Prepare(kSelectTyping);
        Params(earlier).Str(donor_id).Str(din);
        auto rs = Query(earlier);
        std::optional<int64_t> conflict_id;
        if (rs->next()) {
          // Same (donor, DIN) typed before: the first typing's outcome stands.
          if (!rs->isNull("conflict_id")) conflict_id = rs->getInt64("conflict_id");
        } else {
          std::optional<v1::Donor> donor = ReadDonor(conn, donor_id, call.today);
          if (!donor) return DonorNotFound(donor_id);
          const TypingChange change = decide(*donor);
          const BloodType& typed = change.typed;
          std::string detail;
          if (change.open_conflict) {
            sql::PreparedStatement& insert = conn.Prepare(kInsertConflict);
            Params(insert)
                .Str(donor_id)
                .Str(din)
                .Int(change.recorded.abo)
                .Int(change.recorded.rhd)
                .Int(typed.abo)
                .Int(typed.rhd)
                .Str(DbTime(call.now));
            insert.executeUpdate();
            conflict_id = LastInsertId(conn);
            detail =
                absl::StrCat("conflict ", *conflict_id, ": recorded ", change.recorded.ToString(),
                             ", typed ", typed.ToString(), " on ", din);
          } else if (change.set_blood_type) {
            sql::PreparedStatement& set = conn.Prepare(kSetBloodType);
            Params(set).Int(typed.abo).Int(typed.rhd).Str(DbTime(call.now)).Str(donor_id);
            set.executeUpdate();
            detail = absl::StrCat(
                change.outcome == TypingOutcome::kAssigned ? "assigned " : "confirmed ",
                typed.ToString(), " from ", din);
          } else {
            detail = absl::StrCat("agrees with ", typed.ToString(), " on ", din);
          }
          sql::PreparedStatement& insert = conn.Prepare(kInsertTyping);
          Params(insert)
              .Str(donor_id)
              .Str(din)
              .Int(typed.abo)
              .Int(typed.rhd)
              .OptStr(typed_at ? std::optional<std::string>(DbTime(*typed_at)) : std::nullopt)
              .Int(static_cast<int>(change.outcome))
              .OptInt(conflict_id)
              .Str(DbTime(call.now))
              .Str(call.actor.substr(0, 128));
          insert.executeUpdate();
          WriteAudit(conn, call, "RecordBloodTyping", donor_id, "donor", donor_id, detail);
        }
        std::optional<v1::Donor> donor = ReadDonor(conn, donor_id, call.today);
        if (!donor) return DonorNotFound(donor_id);
        *out.mutable_donor() = *std::move(donor);
        if (conflict_id) {
          std::optional<v1::BloodTypeConflict> conflict = ReadConflict(conn, *conflict_id, false);
          if (conflict) *out.mutable_conflict() = *std::move(conflict);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<Page<v1::BloodTypeConflict>> MysqlDonorStore::ListBloodTypeConflicts(
    const CallContext& call, const std::string& donor_id, bool open_only, const PageQuery& page) {
  std::string sql_text = absl::StrCat(kConflictSelect, kWhereTrue);
  if (!donor_id.empty()) absl::StrAppend(&sql_text, kFilterConflictDonor);
  if (open_only) absl::StrAppend(&sql_text, kFilterConflictOpen);
  return Read<Page<v1::BloodTypeConflict>>(
      *pool_, "list blood type conflicts", call,
      [&](Connection& conn, Page<v1::BloodTypeConflict>& out) -> absl::Status {
        out = ListPage<v1::BloodTypeConflict>(
            conn, sql_text, kConflictKeyset, page,
            [&](Params& params) {
              if (!donor_id.empty()) params.Str(donor_id);
            },
            [](sql::ResultSet& r) { return ReadConflictRow(r); },
            [](const v1::BloodTypeConflict& c) {
              return Cursor(absl::ToUnixMicros(FromTimestamp(c.created_at())), c.conflict_id());
            });
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::BloodTypeConflict> MysqlDonorStore::ResolveBloodTypeConflict(
    const CallContext& call, const IdempotencyKey& key, const std::string& conflict_id,
    BloodType resolved, const std::string& resolved_by, const std::string& note) {
  return db::RunIdempotent<v1::BloodTypeConflict>(
      *pool_, "resolve blood type conflict", call.deadline, &key,
      [&](Connection& conn, v1::BloodTypeConflict& out) -> absl::Status {
        const std::optional<int64_t> id = ParseRowId(conflict_id);
        std::optional<v1::BloodTypeConflict> conflict =
            id ? ReadConflict(conn, *id, /*for_update=*/true) : std::nullopt;
        if (!conflict) {
          return absl::NotFoundError(
              absl::StrCat("blood type conflict ", conflict_id, " not found"));
        }
        if (conflict->resolved()) {
          return absl::FailedPreconditionError(
              absl::StrCat("blood type conflict ", conflict_id, " is already resolved"));
        }
        LockDonor(conn, conflict->donor_id());
        sql::PreparedStatement& resolve = conn.Prepare(kResolveConflict);
        Params(resolve)
            .Int(resolved.abo)
            .Int(resolved.rhd)
            .Str(resolved_by)
            .Str(note)
            .Str(DbTime(call.now))
            .Int(*id);
        resolve.executeUpdate();
        sql::PreparedStatement& set = conn.Prepare(kSetBloodType);
        Params(set)
            .Int(resolved.abo)
            .Int(resolved.rhd)
            .Str(DbTime(call.now))
            .Str(conflict->donor_id());
        set.executeUpdate();
        WriteAudit(conn, call, "ResolveBloodTypeConflict", conflict->donor_id(),
                   "blood_type_conflict", conflict_id,
                   absl::StrCat("resolved as ", resolved.ToString(), " by ", resolved_by));
        std::optional<v1::BloodTypeConflict> stored = ReadConflict(conn, *id, false);
        if (!stored) return absl::InternalError("resolve conflict: row vanished");
        out = *std::move(stored);
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::donor
