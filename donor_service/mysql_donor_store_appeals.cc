#include <map>
#include <utility>

#include "donor_service/mysql_donor_rows.h"
#include "donor_service/mysql_donor_store.h"

namespace bloodgrid::donor {

using db::Connection;
using db::IdempotencyKey;
using db::Params;

// ---------------------------------------------------------------------------------------------
// Appeals

absl::StatusOr<std::vector<AppealPoolEntry>> MysqlDonorStore::LoadAppealPool(
    const CallContext& call, BloodType type, absl::CivilDay on_date, absl::CivilDay history_from) {
  return Read<std::vector<AppealPoolEntry>>(
      *pool_, "load appeal pool", call,
      [&](Connection& conn, std::vector<AppealPoolEntry>& out) -> absl::Status {
        std::map<std::string, size_t> index;
        sql::PreparedStatement& donors = conn.Prepare(absl::StrCat(DonorSelect(), kPoolDonors));
        Params params(donors);
        BindDonorDay(params, on_date).Int(type.abo).Int(type.rhd);
        auto rs = Query(donors);
        while (rs->next()) {
          AppealPoolEntry entry;
          entry.donor = ReadDonorRow(*rs);
          index[entry.donor.donor_id()] = out.size();
          out.push_back(std::move(entry));
        }
        sql::PreparedStatement& history = conn.Prepare(kPoolHistory);
        Params(history).Int(type.abo).Int(type.rhd).Str(Day(history_from)).Str(Day(on_date));
        auto hrs = Query(history);
        while (hrs->next()) {
          auto it = index.find(Text(*hrs, "donor_id"));
          if (it == index.end()) continue;  // registered after the first query
          out[it->second].history.push_back(
              PastDonation{ParseDbDay(Text(*hrs, "collection_date")),
                           static_cast<v1::DonationType>(hrs->getInt("donation_type")),
                           hrs->getInt("volume_ml")});
        }
        sql::PreparedStatement& deferrals =
            conn.Prepare(absl::StrCat(kPoolDeferrals, kDeferralInForce, kDeferralsInForceOrder));
        BindDeferralInForce(Params(deferrals).Int(type.abo).Int(type.rhd), on_date);
        auto drs = Query(deferrals);
        while (drs->next()) {
          auto it = index.find(Text(*drs, "donor_id"));
          if (it == index.end()) continue;
          out[it->second].deferrals.push_back(DeferralInForceRow(*drs));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Appeal> MysqlDonorStore::CreateAppeal(
    const CallContext& call, const IdempotencyKey& key, const v1::Appeal& appeal,
    const std::vector<std::string>& donor_ids) {
  return db::RunIdempotent<v1::Appeal>(
      *pool_, "create appeal", call.deadline, &key,
      [&](Connection& conn, v1::Appeal& out) -> absl::Status {
        for (size_t i = 0; i < donor_ids.size(); ++i) {
          if (QueryCount(conn, kDonorExists, {donor_ids[i]}) == 0) {
            return InvalidField(absl::StrCat("donor_ids[", i, "]"),
                                absl::StrCat("unknown donor ", donor_ids[i]));
          }
        }
        sql::PreparedStatement& insert = conn.Prepare(kInsertAppeal);
        Params(insert)
            .Str(appeal.station_id())
            .Int(appeal.blood_type().abo())
            .Int(appeal.blood_type().rhd())
            .Int(appeal.donation_type())
            .Int(appeal.donations_needed())
            .Str(appeal.reason())
            .Str(appeal.created_by())
            .Str(DbTime(call.now))
            .Str(DbTime(FromTimestamp(appeal.closes_at())));
        insert.executeUpdate();
        const int64_t appeal_id = LastInsertId(conn);
        for (size_t i = 0; i < donor_ids.size(); ++i) {
          sql::PreparedStatement& contact = conn.Prepare(kInsertContact);
          Params(contact)
              .Int(appeal_id)
              .Str(donor_ids[i])
              .Int(static_cast<int64_t>(i) + 1)
              .Int(v1::APPEAL_RESPONSE_PENDING)
              .Null()
              .Str("")
              .Str("");
          contact.executeUpdate();
        }
        WriteAudit(
            conn, call, "CreateAppeal", "", "appeal", std::to_string(appeal_id),
            absl::StrCat("station ", appeal.station_id(), ", ", donor_ids.size(), " donors"));
        std::optional<v1::Appeal> stored = ReadAppeal(conn, appeal_id, call.now);
        if (!stored) return absl::InternalError("create appeal: row vanished");
        out = *std::move(stored);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Appeal> MysqlDonorStore::RecordAppealResponse(
    const CallContext& call, const IdempotencyKey& key, const std::string& appeal_id,
    const std::string& donor_id, v1::AppealResponse response, const std::string& din,
    const std::string& note) {
  return db::RunIdempotent<v1::Appeal>(
      *pool_, "record appeal response", call.deadline, &key,
      [&](Connection& conn, v1::Appeal& out) -> absl::Status {
        const std::optional<int64_t> id = ParseRowId(appeal_id);
        std::optional<absl::Time> closes_at;
        if (id) {
          sql::PreparedStatement& lock = conn.Prepare(kLockAppeal);
          Params(lock).Int(*id);
          auto rs = Query(lock);
          if (rs->next()) closes_at = ParseDbTime(Text(*rs, "closes_at"));
        }
        if (!closes_at)
          return absl::NotFoundError(absl::StrCat("appeal ", appeal_id, " not found"));
        if (!AppealOpenAt(*closes_at, call.now)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "appeal ", appeal_id, " closed at ",
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *closes_at, absl::UTCTimeZone())));
        }
        if (QueryCount(conn, kDonorExists, {donor_id}) == 0) {
          return InvalidField("donor_id", absl::StrCat("unknown donor ", donor_id));
        }
        if (QueryCount(conn, kContactExists, {appeal_id, donor_id}) > 0) {
          sql::PreparedStatement& update = conn.Prepare(kUpdateContact);
          Params(update)
              .Int(response)
              .Str(DbTime(call.now))
              .Str(din)
              .Str(note)
              .Int(*id)
              .Str(donor_id);
          update.executeUpdate();
        } else {
          const int64_t position = QueryCount(conn, kNextContactPosition, {appeal_id});
          sql::PreparedStatement& insert = conn.Prepare(kInsertContact);
          Params(insert)
              .Int(*id)
              .Str(donor_id)
              .Int(position)
              .Int(response)
              .Str(DbTime(call.now))
              .Str(din)
              .Str(note);
          insert.executeUpdate();
        }
        WriteAudit(
            conn, call, "RecordAppealResponse", donor_id, "appeal", appeal_id,
            absl::StrCat(v1::AppealResponse_Name(response), din.empty() ? "" : " din ", din));
        std::optional<v1::Appeal> stored = ReadAppeal(conn, *id, call.now);
        if (!stored) return absl::InternalError("record appeal response: row vanished");
        out = *std::move(stored);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Appeal> MysqlDonorStore::GetAppeal(const CallContext& call,
                                                      const std::string& appeal_id) {
  return Read<v1::Appeal>(
      *pool_, "get appeal", call, [&](Connection& conn, v1::Appeal& out) -> absl::Status {
        const std::optional<int64_t> id = ParseRowId(appeal_id);
        std::optional<v1::Appeal> appeal = id ? ReadAppeal(conn, *id, call.now) : std::nullopt;
        if (!appeal) {
          return absl::NotFoundError(absl::StrCat("appeal ", appeal_id, " not found"));
        }
        out = *std::move(appeal);
        return absl::OkStatus();
      });
}

absl::StatusOr<Page<v1::Appeal>> MysqlDonorStore::ListAppeals(const CallContext& call,
                                                              const std::string& station_id,
                                                              bool open_only,
                                                              const PageQuery& page) {
  std::string sql_text = absl::StrCat(kAppealSelect, kWhereTrue);
  if (!station_id.empty()) absl::StrAppend(&sql_text, kFilterAppealStation);
  if (open_only) absl::StrAppend(&sql_text, kFilterAppealOpen);
  return Read<Page<v1::Appeal>>(
      *pool_, "list appeals", call, [&](Connection& conn, Page<v1::Appeal>& out) -> absl::Status {
        out = ListPage<v1::Appeal>(
            conn, sql_text, kAppealKeyset, page,
            [&](Params& params) {
              BindAppealCounts(params);
              if (!station_id.empty()) params.Str(station_id);
              if (open_only) params.Str(DbTime(call.now));
            },
            [&](sql::ResultSet& r) { return ReadAppealRow(r, call.now); },
            [](const v1::Appeal& a) {
              return Cursor(absl::ToUnixMicros(FromTimestamp(a.created_at())), a.appeal_id());
            });
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::donor
