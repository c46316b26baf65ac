#include "donor_service/mysql_donor_rows.h"

#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace bloodgrid::donor {

using db::Connection;
using db::Params;

const std::string& DonorSelect() {
  static const std::string* const sql = new std::string(absl::StrCat(
      kDonorColumns, kDonorDeferred, kDeferralInForce, ") AS deferred,", kDonorPermanentlyDeferred,
      kDeferralInForce, ") AS permanently_deferred,", kDonorOpenConflict));
  return *sql;
}

// ---------------------------------------------------------------------------------------------
// Conversions

std::string DbTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone());
}

absl::Time ParseDbTime(const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S", text, absl::UTCTimeZone(), &t, &error)) {
    return absl::UnixEpoch();
  }
  return t;
}

std::string Day(absl::CivilDay day) { return FormatDate(day); }

absl::CivilDay ParseDbDay(const std::string& text) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day)) return absl::CivilDay(1970, 1, 1);
  return day;
}

int64_t DayNumber(absl::CivilDay day) { return day - absl::CivilDay(1970, 1, 1); }
absl::CivilDay DayFromNumber(int64_t n) { return absl::CivilDay(1970, 1, 1) + n; }

std::optional<int64_t> ParseRowId(const std::string& id) {
  int64_t value = 0;
  if (id.empty() || id.size() > 19 || !absl::SimpleAtoi(id, &value) || value <= 0) {
    return std::nullopt;
  }
  return value;
}

std::string NewDonorId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("D%016X", rng());
}

absl::Status DonorNotFound(const std::string& donor_id) {
  return absl::NotFoundError(absl::StrCat("donor ", donor_id, " not found"));
}

absl::Status NationalIdTaken(const std::string& existing_donor_id) {
  return absl::AlreadyExistsError(
      absl::StrCat("national_id already registered: existing_donor_id=", existing_donor_id));
}

std::string Text(sql::ResultSet& rs, const char* column) { return rs.getString(column); }

std::unique_ptr<sql::ResultSet> Query(sql::PreparedStatement& statement) {
  return std::unique_ptr<sql::ResultSet>(statement.executeQuery());
}

int64_t QueryCount(Connection& conn, const std::string& sql_text,
                   std::initializer_list<std::string> args) {
  sql::PreparedStatement& statement = conn.Prepare(sql_text);
  Params params(statement);
  for (const std::string& arg : args) params.Str(arg);
  auto rs = Query(statement);
  return rs->next() ? rs->getInt64(1) : 0;
}

int64_t LastInsertId(Connection& conn) {
  auto rs = Query(conn.Prepare(kLastInsertId));
  return rs->next() ? rs->getInt64(1) : 0;
}

void WriteAudit(Connection& conn, const CallContext& call, const std::string& action,
                const std::string& donor_id, const std::string& entity,
                const std::string& entity_id, const std::string& detail) {
  sql::PreparedStatement& insert = conn.Prepare(kInsertAudit);
  Params(insert)
      .Str(DbTime(call.now))
      .Str(call.actor.substr(0, 128))
      .Str(call.request_id)
      .Str(action)
      .OptStr(donor_id.empty() ? std::nullopt : std::optional<std::string>(donor_id))
      .Str(entity)
      .Str(entity_id)
      .Str(detail.substr(0, 2000));
  insert.executeUpdate();
}

// ---------------------------------------------------------------------------------------------
// Rows

v1::BloodType BloodTypeOf(int abo, int rhd) {
  v1::BloodType type;
  type.set_abo(static_cast<v1::AboGroup>(abo));
  type.set_rhd(static_cast<v1::RhD>(rhd));
  return type;
}

v1::Donor ReadDonorRow(sql::ResultSet& rs) {
  v1::Donor donor;
  donor.set_donor_id(Text(rs, "donor_id"));
  donor.set_national_id(Text(rs, "national_id"));
  donor.set_name(Text(rs, "name"));
  donor.set_sex(static_cast<v1::Sex>(rs.getInt("sex")));
  donor.set_birth_date(Text(rs, "birth_date"));
  *donor.mutable_blood_type() = BloodTypeOf(rs.getInt("abo"), rs.getInt("rhd"));
  donor.set_blood_type_confirmed(rs.getBoolean("blood_type_confirmed"));
  donor.mutable_contact()->set_phone(Text(rs, "phone"));
  donor.mutable_contact()->set_email(Text(rs, "email"));
  donor.mutable_contact()->set_address(Text(rs, "address"));
  donor.set_home_station_id(Text(rs, "home_station_id"));
  if (!rs.isNull("panels")) {
    for (absl::string_view part : absl::StrSplit(Text(rs, "panels"), ',', absl::SkipEmpty())) {
      int panel = 0;
      if (absl::SimpleAtoi(part, &panel)) donor.add_panels(static_cast<v1::DonorPanel>(panel));
    }
  }
  donor.set_donation_count(rs.getInt("donation_count"));
  if (!rs.isNull("last_donation_date"))
    donor.set_last_donation_date(Text(rs, "last_donation_date"));
  donor.set_deferred(rs.getBoolean("deferred"));
  donor.set_permanently_deferred(rs.getBoolean("permanently_deferred"));
  donor.set_has_open_blood_type_conflict(rs.getBoolean("open_conflict"));
  donor.set_had_adverse_reaction(rs.getBoolean("had_adverse_reaction"));
  donor.set_version(rs.getInt64("version"));
  *donor.mutable_created_at() = ToTimestamp(ParseDbTime(Text(rs, "created_at")));
  *donor.mutable_updated_at() = ToTimestamp(ParseDbTime(Text(rs, "updated_at")));
  return donor;
}

Params& BindDeferralInForce(Params& params, absl::CivilDay day) {
  return params.Str(FormatDate(day)).Str(FormatDate(day));
}

Params& BindDonorDay(Params& params, absl::CivilDay today) {
  return BindDeferralInForce(BindDeferralInForce(params, today).Int(v1::DEFERRAL_KIND_PERMANENT),
                             today);
}

std::optional<v1::Donor> ReadDonor(Connection& conn, const std::string& donor_id,
                                   absl::CivilDay today) {
  sql::PreparedStatement& select = conn.Prepare(absl::StrCat(DonorSelect(), kDonorById));
  Params params(select);
  BindDonorDay(params, today).Str(donor_id);
  auto rs = Query(select);
  if (!rs->next()) return std::nullopt;
  return ReadDonorRow(*rs);
}

bool LockDonor(Connection& conn, const std::string& donor_id) {
  sql::PreparedStatement& lock = conn.Prepare(kLockDonor);
  Params(lock).Str(donor_id);
  auto rs = Query(lock);
  return rs->next();
}

std::optional<std::string> DonorIdWithNationalId(Connection& conn, const std::string& national_id) {
  sql::PreparedStatement& select = conn.Prepare(kDonorIdByNationalId);
  Params(select).Str(national_id);
  auto rs = Query(select);
  if (!rs->next()) return std::nullopt;
  return Text(*rs, "donor_id");
}

void InsertPanels(Connection& conn, const std::string& donor_id, const v1::Donor& donor) {
  for (int panel : donor.panels()) {
    sql::PreparedStatement& insert = conn.Prepare(kInsertPanel);
    Params(insert).Str(donor_id).Int(panel);
    insert.executeUpdate();
  }
}

v1::BloodTypeConflict ReadConflictRow(sql::ResultSet& rs) {
  v1::BloodTypeConflict conflict;
  conflict.set_conflict_id(std::to_string(rs.getInt64("conflict_id")));
  conflict.set_donor_id(Text(rs, "donor_id"));
  conflict.set_din(Text(rs, "din"));
  *conflict.mutable_recorded_blood_type() =
      BloodTypeOf(rs.getInt("recorded_abo"), rs.getInt("recorded_rhd"));
  *conflict.mutable_typed_blood_type() =
      BloodTypeOf(rs.getInt("typed_abo"), rs.getInt("typed_rhd"));
  *conflict.mutable_created_at() = ToTimestamp(ParseDbTime(Text(rs, "created_at")));
  conflict.set_resolved(rs.getBoolean("resolved"));
  if (conflict.resolved()) {
    *conflict.mutable_resolved_blood_type() =
        BloodTypeOf(rs.getInt("resolved_abo"), rs.getInt("resolved_rhd"));
    conflict.set_resolved_by(Text(rs, "resolved_by"));
    conflict.set_resolution_note(Text(rs, "resolution_note"));
    if (!rs.isNull("resolved_at")) {
      *conflict.mutable_resolved_at() = ToTimestamp(ParseDbTime(Text(rs, "resolved_at")));
    }
  }
  return conflict;
}

std::optional<v1::BloodTypeConflict> ReadConflict(Connection& conn, int64_t conflict_id,
                                                  bool for_update) {
  sql::PreparedStatement& select = conn.Prepare(
      absl::StrCat(kConflictSelect, for_update ? kConflictByIdForUpdate : kConflictById));
  Params(select).Int(conflict_id);
  auto rs = Query(select);
  if (!rs->next()) return std::nullopt;
  return ReadConflictRow(*rs);
}

v1::Deferral ReadDeferralRow(sql::ResultSet& rs, absl::CivilDay today) {
  v1::Deferral deferral;
  deferral.set_deferral_id(std::to_string(rs.getInt64("deferral_id")));
  deferral.set_donor_id(Text(rs, "donor_id"));
  deferral.set_kind(static_cast<v1::DeferralKind>(rs.getInt("kind")));
  deferral.set_reason_code(Text(rs, "reason_code"));
  deferral.set_note(Text(rs, "note"));
  deferral.set_start_date(Text(rs, "start_date"));
  if (!rs.isNull("ends_on")) deferral.set_ends_on(Text(rs, "ends_on"));
  deferral.set_reactive_test(static_cast<v1::ScreeningTest>(rs.getInt("reactive_test")));
  if (!rs.isNull("din")) deferral.set_din(Text(rs, "din"));
  deferral.set_deferred_by(Text(rs, "deferred_by"));
  *deferral.mutable_created_at() = ToTimestamp(ParseDbTime(Text(rs, "created_at")));
  deferral.set_voided(rs.getBoolean("voided"));
  if (deferral.voided()) {
    deferral.set_voided_by(Text(rs, "voided_by"));
    deferral.set_void_reason(Text(rs, "void_reason"));
    if (!rs.isNull("voided_at")) {
      *deferral.mutable_voided_at() = ToTimestamp(ParseDbTime(Text(rs, "voided_at")));
    }
  }
  DeferralSpan span;
  span.voided = deferral.voided();
  span.start_date = ParseDbDay(deferral.start_date());
  if (!deferral.ends_on().empty()) span.ends_on = ParseDbDay(deferral.ends_on());
  deferral.set_active(DeferralInForceOn(span, today));
  return deferral;
}

std::optional<v1::Deferral> ReadDeferral(Connection& conn, int64_t deferral_id,
                                         absl::CivilDay today, bool for_update) {
  sql::PreparedStatement& select = conn.Prepare(
      absl::StrCat(kDeferralSelect, for_update ? kDeferralByIdForUpdate : kDeferralById));
  Params(select).Int(deferral_id);
  auto rs = Query(select);
  if (!rs->next()) return std::nullopt;
  return ReadDeferralRow(*rs, today);
}

int64_t InsertDeferral(Connection& conn, const CallContext& call, const DeferralDraft& draft) {
  sql::PreparedStatement& insert = conn.Prepare(kInsertDeferral);
  Params(insert)
      .Str(draft.donor_id)
      .Int(draft.kind)
      .Str(draft.reason_code)
      .Str(draft.note)
      .Str(Day(draft.start_date))
      .OptStr(draft.ends_on ? std::optional<std::string>(Day(*draft.ends_on)) : std::nullopt)
      .Int(draft.reactive_test)
      .OptStr(draft.din.empty() ? std::nullopt : std::optional<std::string>(draft.din))
      .Str(draft.deferred_by)
      .Str(DbTime(call.now));
  insert.executeUpdate();
  return LastInsertId(conn);
}

v1::Donation ReadDonationRow(sql::ResultSet& rs) {
  v1::Donation donation;
  donation.set_donation_id(std::to_string(rs.getInt64("donation_id")));
  donation.set_donor_id(Text(rs, "donor_id"));
  donation.set_din(Text(rs, "din"));
  donation.set_donation_type(static_cast<v1::DonationType>(rs.getInt("donation_type")));
  donation.set_volume_ml(rs.getInt("volume_ml"));
  donation.set_station_id(Text(rs, "station_id"));
  *donation.mutable_collected_at() = ToTimestamp(ParseDbTime(Text(rs, "collected_at")));
  donation.set_collection_date(Text(rs, "collection_date"));
  v1::DonorScreening* s = donation.mutable_screening();
  if (!rs.isNull("weight_kg")) s->set_weight_kg(rs.getDouble("weight_kg"));
  if (!rs.isNull("hemoglobin_g_l")) s->set_hemoglobin_g_l(rs.getDouble("hemoglobin_g_l"));
  if (!rs.isNull("systolic_mmhg")) s->set_systolic_mmhg(rs.getInt("systolic_mmhg"));
  if (!rs.isNull("diastolic_mmhg")) s->set_diastolic_mmhg(rs.getInt("diastolic_mmhg"));
  if (!rs.isNull("pulse_bpm")) s->set_pulse_bpm(rs.getInt("pulse_bpm"));
  if (!rs.isNull("hematocrit")) s->set_hematocrit(rs.getDouble("hematocrit"));
  if (!rs.isNull("platelet_count_e9_l"))
    s->set_platelet_count_e9_l(rs.getInt("platelet_count_e9_l"));
  donation.set_adverse_reaction(rs.getBoolean("adverse_reaction"));
  donation.set_reactive(rs.getBoolean("reactive"));
  donation.set_anticoagulant(
      static_cast<v1::PolicyProfile::Anticoagulant>(rs.getInt("anticoagulant")));
  *donation.mutable_recorded_at() = ToTimestamp(ParseDbTime(Text(rs, "recorded_at")));
  if (rs.getBoolean("voided")) {
    donation.set_voided(true);
    donation.set_voided_by(Text(rs, "voided_by"));
    donation.set_void_reason(Text(rs, "void_reason"));
    if (!rs.isNull("voided_at")) {
      *donation.mutable_voided_at() = ToTimestamp(ParseDbTime(Text(rs, "voided_at")));
    }
  }
  return donation;
}

std::optional<v1::Donation> ReadDonationByDin(Connection& conn, const std::string& din) {
  sql::PreparedStatement& select = conn.Prepare(absl::StrCat(kDonationSelect, kDonationByDin));
  Params(select).Str(din);
  auto rs = Query(select);
  if (!rs->next()) return std::nullopt;
  return ReadDonationRow(*rs);
}

std::vector<PastDonation> ReadHistory(Connection& conn, const std::string& donor_id) {
  sql::PreparedStatement& select = conn.Prepare(kDonorHistory);
  Params(select).Str(donor_id);
  auto rs = Query(select);
  std::vector<PastDonation> history;
  while (rs->next()) {
    history.push_back(PastDonation{ParseDbDay(Text(*rs, "collection_date")),
                                   static_cast<v1::DonationType>(rs->getInt("donation_type")),
                                   rs->getInt("volume_ml")});
  }
  return history;
}

DeferralInForce DeferralInForceRow(sql::ResultSet& rs) {
  DeferralInForce d;
  d.deferral_id = std::to_string(rs.getInt64("deferral_id"));
  d.deferral.code = Text(rs, "reason_code");
  if (!rs.isNull("ends_on")) d.deferral.until = ParseDbDay(Text(rs, "ends_on"));
  return d;
}

std::vector<DeferralInForce> ReadDeferralsInForce(Connection& conn, const std::string& donor_id,
                                                  absl::CivilDay on_date) {
  sql::PreparedStatement& select = conn.Prepare(
      absl::StrCat(kDeferralsInForceOfDonor, kDeferralInForce, kDeferralsInForceOrder));
  BindDeferralInForce(Params(select).Str(donor_id), on_date);
  auto rs = Query(select);
  std::vector<DeferralInForce> deferrals;
  while (rs->next()) deferrals.push_back(DeferralInForceRow(*rs));
  return deferrals;
}

Params& BindAppealCounts(Params& params) {
  return params.Int(v1::APPEAL_RESPONSE_PENDING)
      .Int(v1::APPEAL_RESPONSE_CONTACTED)
      .Int(v1::APPEAL_RESPONSE_ACCEPTED)
      .Int(v1::APPEAL_RESPONSE_DECLINED)
      .Int(v1::APPEAL_RESPONSE_DONATED);
}

v1::Appeal ReadAppealRow(sql::ResultSet& rs, absl::Time now) {
  v1::Appeal appeal;
  appeal.set_appeal_id(std::to_string(rs.getInt64("appeal_id")));
  appeal.set_station_id(Text(rs, "station_id"));
  *appeal.mutable_blood_type() = BloodTypeOf(rs.getInt("abo"), rs.getInt("rhd"));
  appeal.set_donation_type(static_cast<v1::DonationType>(rs.getInt("donation_type")));
  appeal.set_donations_needed(rs.getInt("donations_needed"));
  appeal.set_reason(Text(rs, "reason"));
  appeal.set_created_by(Text(rs, "created_by"));
  *appeal.mutable_created_at() = ToTimestamp(ParseDbTime(Text(rs, "created_at")));
  const absl::Time closes_at = ParseDbTime(Text(rs, "closes_at"));
  *appeal.mutable_closes_at() = ToTimestamp(closes_at);
  appeal.set_open(AppealOpenAt(closes_at, now));
  v1::AppealCounts* counts = appeal.mutable_counts();
  counts->set_total(rs.getInt("total"));
  counts->set_pending(rs.getInt("pending"));
  counts->set_contacted(rs.getInt("contacted"));
  counts->set_accepted(rs.getInt("accepted"));
  counts->set_declined(rs.getInt("declined"));
  counts->set_donated(rs.getInt("donated"));
  return appeal;
}

std::optional<v1::Appeal> ReadAppeal(Connection& conn, int64_t appeal_id, absl::Time now) {
  sql::PreparedStatement& select = conn.Prepare(absl::StrCat(kAppealSelect, kAppealById));
  Params params(select);
  BindAppealCounts(params).Int(appeal_id);
  auto rs = Query(select);
  if (!rs->next()) return std::nullopt;
  v1::Appeal appeal = ReadAppealRow(*rs, now);
  sql::PreparedStatement& contacts = conn.Prepare(kAppealContacts);
  Params(contacts).Int(appeal_id);
  auto crs = Query(contacts);
  while (crs->next()) {
    v1::AppealContact* contact = appeal.add_contacts();
    contact->set_donor_id(Text(*crs, "donor_id"));
    contact->set_name(Text(*crs, "name"));
    contact->set_response(static_cast<v1::AppealResponse>(crs->getInt("response")));
    if (!crs->isNull("responded_at")) {
      *contact->mutable_responded_at() = ToTimestamp(ParseDbTime(Text(*crs, "responded_at")));
    }
    contact->set_din(Text(*crs, "din"));
    contact->set_note(Text(*crs, "note"));
  }
  return appeal;
}

v1::LedgerEntry ReadLedgerRow(sql::ResultSet& rs) {
  v1::LedgerEntry entry;
  entry.set_entry_id(std::to_string(rs.getInt64("entry_id")));
  entry.set_donor_id(Text(rs, "donor_id"));
  entry.set_kind(static_cast<v1::LedgerEntryKind>(rs.getInt("kind")));
  if (!rs.isNull("din")) entry.set_din(Text(rs, "din"));
  entry.set_volume_ml(rs.getInt("volume_ml"));
  entry.set_claimant_relation(static_cast<v1::ClaimantRelation>(rs.getInt("claimant_relation")));
  if (!rs.isNull("invoice_no")) entry.set_invoice_no(Text(rs, "invoice_no"));
  entry.set_invoice_volume_ml(rs.getInt("invoice_volume_ml"));
  entry.set_blood_fee(rs.getInt64("blood_fee"));
  entry.set_reimbursed_amount(rs.getInt64("reimbursed_amount"));
  entry.set_recipient_name(Text(rs, "recipient_name"));
  entry.set_hospital_name(Text(rs, "hospital_name"));
  *entry.mutable_created_at() = ToTimestamp(ParseDbTime(Text(rs, "created_at")));
  entry.set_created_by(Text(rs, "created_by"));
  return entry;
}

LedgerState ReadLedgerState(Connection& conn, const std::string& donor_id, bool for_update,
                            bool* found) {
  LedgerState state;
  sql::PreparedStatement& account = conn.Prepare(for_update ? kLockAccount : kSelectAccount);
  Params(account).Str(donor_id);
  auto rs = Query(account);
  *found = rs->next();
  if (!*found) return state;
  state.self_claimed_ml = rs->getInt64("self_claimed_ml");
  state.relatives_claimed_ml = rs->getInt64("relatives_claimed_ml");
  sql::PreparedStatement& credits = conn.Prepare(kSelectCredits);
  Params(credits).Str(donor_id).Int(v1::LEDGER_ENTRY_KIND_CREDIT);
  auto crs = Query(credits);
  while (crs->next()) {
    state.credits.push_back(CreditInput{Text(*crs, "din"), ParseDbDay(Text(*crs, "donation_date")),
                                        crs->getInt("volume_ml")});
  }
  return state;
}

v1::PageCursor Cursor(int64_t key, const std::string& id) {
  v1::PageCursor cursor;
  cursor.set_after_key(key);
  cursor.set_after_id(id);
  return cursor;
}

int64_t CursorRowId(const v1::PageCursor& cursor) {
  return ParseRowId(cursor.after_id()).value_or(0);
}

void BindInstantAfter(Params& params, const v1::PageCursor& after) {
  const std::string at = DbTime(absl::FromUnixMicros(after.after_key()));
  params.Str(at).Str(at).Int(CursorRowId(after));
}

void BindDayAfter(Params& params, const v1::PageCursor& after) {
  const std::string day = Day(DayFromNumber(after.after_key()));
  params.Str(day).Str(day).Int(CursorRowId(after));
}

void BindNameAfter(Params& params, const v1::PageCursor& after) {
  std::pair<std::string, std::string> parts =
      absl::StrSplit(after.after_id(), absl::MaxSplits('\n', 1));
  params.Str(parts.first).Str(parts.first).Str(parts.second);
}

}  // namespace bloodgrid::donor
