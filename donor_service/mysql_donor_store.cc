#include "donor_service/mysql_donor_store.h"

#include <cppconn/datatype.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/mysql_pool.h"
#include "common/sql_error.h"
#include "common/status.h"

namespace bloodgrid::donor {
namespace {

using db::Connection;
using db::IdempotencyKey;

// ---------------------------------------------------------------------------------------------
// SQL. Instants are DATETIME(6) in UTC, passed and read as "YYYY-MM-DD HH:MM:SS.ffffff".

// DeferralInForceOn (donor_rules.h) over the deferrals row `f`, the one SQL form of it: every
// query that filters by "in force" appends this and binds it with BindDeferralInForce.
constexpr char kDeferralInForce[] =
    " f.voided = FALSE AND f.start_date <= ? AND (f.ends_on IS NULL OR f.ends_on > ?)";

// The donor columns plus the output-only flags computed as of a day (BindDonorDay binds them).
constexpr char kDonorColumns[] =
    "SELECT d.donor_id, d.national_id, d.name, d.sex, d.birth_date, d.abo, d.rhd,"
    " d.blood_type_confirmed, d.phone, d.email, d.address, d.home_station_id, d.donation_count,"
    " d.last_donation_date, d.had_adverse_reaction, d.version, d.created_at, d.updated_at,"
    " (SELECT GROUP_CONCAT(p.panel ORDER BY p.panel) FROM donor_panels p"
    "   WHERE p.donor_id = d.donor_id) AS panels,";
constexpr char kDonorDeferred[] =
    " EXISTS (SELECT 1 FROM deferrals f WHERE f.donor_id = d.donor_id AND";
// PermanentDeferralInForceOn: the kind is bound (IsPermanentDeferral's kind).
constexpr char kDonorPermanentlyDeferred[] =
    " EXISTS (SELECT 1 FROM deferrals f WHERE f.donor_id = d.donor_id AND f.kind = ? AND";
constexpr char kDonorOpenConflict[] =
    " EXISTS (SELECT 1 FROM blood_type_conflicts c WHERE c.donor_id = d.donor_id"
    "   AND c.resolved = FALSE) AS open_conflict"
    " FROM donors d";

const std::string& DonorSelect() {
  static const std::string* const sql = new std::string(
      absl::StrCat(kDonorColumns, kDonorDeferred, kDeferralInForce, ") AS deferred,",
                   kDonorPermanentlyDeferred, kDeferralInForce, ") AS permanently_deferred,",
                   kDonorOpenConflict));
  return *sql;
}
constexpr char kDonorById[] = " WHERE d.donor_id = ?";
constexpr char kLockDonor[] = "SELECT version FROM donors WHERE donor_id = ? FOR UPDATE";
constexpr char kDonorIdByNationalId[] = "SELECT donor_id FROM donors WHERE national_id = ?";
constexpr char kInsertDonor[] =
    "INSERT INTO donors (donor_id, national_id, name, sex, birth_date, abo, rhd, phone, email,"
    " address, home_station_id, version, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)";
constexpr char kUpdateDonor[] =
    "UPDATE donors SET national_id = ?, name = ?, sex = ?, birth_date = ?, phone = ?, email = ?,"
    " address = ?, home_station_id = ?, version = version + 1, updated_at = ? WHERE donor_id = ?";
constexpr char kInsertPanel[] = "INSERT INTO donor_panels (donor_id, panel) VALUES (?, ?)";
constexpr char kDeletePanels[] = "DELETE FROM donor_panels WHERE donor_id = ?";
constexpr char kInsertAccount[] =
    "INSERT INTO reimbursement_accounts (donor_id, updated_at) VALUES (?, ?)";
constexpr char kInsertAudit[] =
    "INSERT INTO audit_log (occurred_at, actor, request_id, action, donor_id, entity, entity_id,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kLastInsertId[] = "SELECT LAST_INSERT_ID()";

// SearchDonors: DonorSelect() + " WHERE TRUE" + the fragments of the filters given.
constexpr char kWhereTrue[] = " WHERE TRUE";
constexpr char kFilterNationalId[] = " AND d.national_id = ?";
constexpr char kFilterNamePrefix[] = " AND d.name LIKE ?";
constexpr char kFilterPhone[] = " AND d.phone = ?";
constexpr char kFilterBloodType[] = " AND d.abo = ? AND d.rhd = ?";
constexpr char kFilterPanel[] =
    " AND EXISTS (SELECT 1 FROM donor_panels p2 WHERE p2.donor_id = d.donor_id AND p2.panel = ?)";
constexpr char kFilterHomeStation[] = " AND d.home_station_id = ?";
constexpr char kSearchAfter[] = " AND (d.name > ? OR (d.name = ? AND d.donor_id > ?))";
constexpr char kSearchOrder[] = " ORDER BY d.name, d.donor_id LIMIT ?";

// Blood typing.
constexpr char kSelectTyping[] =
    "SELECT outcome, conflict_id FROM blood_typings WHERE donor_id = ? AND din = ?";
constexpr char kInsertTyping[] =
    "INSERT INTO blood_typings (donor_id, din, abo, rhd, typed_at, outcome, conflict_id,"
    " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kSetBloodType[] =
    "UPDATE donors SET abo = ?, rhd = ?, blood_type_confirmed = TRUE, version = version + 1,"
    " updated_at = ? WHERE donor_id = ?";
constexpr char kConflictSelect[] =
    "SELECT conflict_id, donor_id, din, recorded_abo, recorded_rhd, typed_abo, typed_rhd,"
    " created_at, resolved, resolved_abo, resolved_rhd, resolved_by, resolution_note, resolved_at"
    " FROM blood_type_conflicts c";
constexpr char kConflictById[] = " WHERE c.conflict_id = ?";
constexpr char kConflictByIdForUpdate[] = " WHERE c.conflict_id = ? FOR UPDATE";
constexpr char kInsertConflict[] =
    "INSERT INTO blood_type_conflicts (donor_id, din, recorded_abo, recorded_rhd, typed_abo,"
    " typed_rhd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr char kResolveConflict[] =
    "UPDATE blood_type_conflicts SET resolved = TRUE, resolved_abo = ?, resolved_rhd = ?,"
    " resolved_by = ?, resolution_note = ?, resolved_at = ? WHERE conflict_id = ?";
constexpr char kFilterConflictDonor[] = " AND c.donor_id = ?";
constexpr char kFilterConflictOpen[] = " AND c.resolved = FALSE";
constexpr char kConflictAfter[] =
    " AND (c.created_at < ? OR (c.created_at = ? AND c.conflict_id < ?))";
constexpr char kConflictOrder[] = " ORDER BY c.created_at DESC, c.conflict_id DESC LIMIT ?";

// Deferrals.
constexpr char kDeferralSelect[] =
    "SELECT deferral_id, donor_id, kind, reason_code, note, start_date, ends_on, reactive_test,"
    " din, deferred_by, created_at, voided, voided_by, void_reason, voided_at FROM deferrals f";
constexpr char kDeferralById[] = " WHERE f.deferral_id = ?";
constexpr char kDeferralByIdForUpdate[] = " WHERE f.deferral_id = ? FOR UPDATE";
constexpr char kDeferralByReactive[] =
    " WHERE f.donor_id = ? AND f.din = ? AND f.reactive_test = ?";
constexpr char kDeferralsOfDonor[] = " WHERE f.donor_id = ?";
constexpr char kAnd[] = " AND";
constexpr char kDeferralAfter[] =
    " AND (f.start_date < ? OR (f.start_date = ? AND f.deferral_id < ?))";
constexpr char kDeferralOrder[] = " ORDER BY f.start_date DESC, f.deferral_id DESC LIMIT ?";
// The deferrals of one donor in force on a day, oldest first: + kDeferralInForce + order.
constexpr char kDeferralsInForceOfDonor[] =
    "SELECT f.deferral_id, f.reason_code, f.ends_on FROM deferrals f WHERE f.donor_id = ? AND";
constexpr char kDeferralsInForceOrder[] = " ORDER BY f.start_date, f.deferral_id";
constexpr char kInsertDeferral[] =
    "INSERT INTO deferrals (donor_id, kind, reason_code, note, start_date, ends_on, reactive_test,"
    " din, deferred_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kVoidDeferral[] =
    "UPDATE deferrals SET voided = TRUE, voided_by = ?, void_reason = ?, voided_at = ?"
    " WHERE deferral_id = ?";

// Donations.
constexpr char kDonationSelect[] =
    "SELECT donation_id, donor_id, din, donation_type, volume_ml, station_id, collected_at,"
    " collection_date, weight_kg, hemoglobin_g_l, systolic_mmhg, diastolic_mmhg, pulse_bpm,"
    " hematocrit, platelet_count_e9_l, adverse_reaction, reactive, anticoagulant, product_code,"
    " recorded_at FROM donations n";
constexpr char kDonationByDin[] = " WHERE n.din = ?";
constexpr char kDonationsOfDonor[] = " WHERE n.donor_id = ?";
constexpr char kDonationAfter[] =
    " AND (n.collected_at < ? OR (n.collected_at = ? AND n.donation_id < ?))";
constexpr char kDonationOrder[] = " ORDER BY n.collected_at DESC, n.donation_id DESC LIMIT ?";
constexpr char kDonorHistory[] =
    "SELECT collection_date, donation_type, volume_ml FROM donations WHERE donor_id = ?"
    " ORDER BY collection_date";
constexpr char kInsertDonation[] =
    "INSERT INTO donations (donor_id, din, donation_type, volume_ml, station_id, collected_at,"
    " collection_date, weight_kg, hemoglobin_g_l, systolic_mmhg, diastolic_mmhg, pulse_bpm,"
    " hematocrit, platelet_count_e9_l, adverse_reaction, anticoagulant, product_code,"
    " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kCountDonation[] =
    "UPDATE donors SET donation_count = donation_count + 1,"
    " last_donation_date = CASE WHEN last_donation_date IS NULL OR last_donation_date < ?"
    "   THEN ? ELSE last_donation_date END,"
    " had_adverse_reaction = had_adverse_reaction OR ?, version = version + 1, updated_at = ?"
    " WHERE donor_id = ?";
constexpr char kMarkDonationReactive[] =
    "UPDATE donations SET reactive = TRUE WHERE din = ? AND donor_id = ?";
constexpr char kDonationOfDonorExists[] =
    "SELECT COUNT(*) FROM donations WHERE din = ? AND donor_id = ?";

// Appeal pool: every donor of one blood type, their recent donations and deferrals in force.
constexpr char kPoolDonors[] = " WHERE d.abo = ? AND d.rhd = ?";
constexpr char kPoolHistory[] =
    "SELECT n.donor_id, n.collection_date, n.donation_type, n.volume_ml FROM donations n"
    " JOIN donors d ON d.donor_id = n.donor_id WHERE d.abo = ? AND d.rhd = ?"
    " AND n.collection_date >= ? AND n.collection_date <= ?";
constexpr char kPoolDeferrals[] =
    "SELECT f.deferral_id, f.donor_id, f.reason_code, f.ends_on FROM deferrals f"
    " JOIN donors d ON d.donor_id = f.donor_id WHERE d.abo = ? AND d.rhd = ? AND";

// Appeals. Counts by response: BindAppealCounts binds the five responses, in column order.
constexpr char kAppealSelect[] =
    "SELECT a.appeal_id, a.station_id, a.abo, a.rhd, a.donation_type, a.donations_needed,"
    " a.reason, a.created_by, a.created_at, a.closes_at,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id) AS total,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS pending,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS contacted,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS accepted,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS declined,"
    " (SELECT COUNT(*) FROM appeal_contacts c WHERE c.appeal_id = a.appeal_id"
    "   AND c.response = ?) AS donated"
    " FROM appeals a";
constexpr char kAppealById[] = " WHERE a.appeal_id = ?";
constexpr char kLockAppeal[] = "SELECT closes_at FROM appeals WHERE appeal_id = ? FOR UPDATE";
constexpr char kAppealContacts[] =
    "SELECT c.donor_id, d.name, c.response, c.responded_at, c.din, c.note FROM appeal_contacts c"
    " JOIN donors d ON d.donor_id = c.donor_id WHERE c.appeal_id = ? ORDER BY c.position";
constexpr char kInsertAppeal[] =
    "INSERT INTO appeals (station_id, abo, rhd, donation_type, donations_needed, reason,"
    " created_by, created_at, closes_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kInsertContact[] =
    "INSERT INTO appeal_contacts (appeal_id, donor_id, position, response, responded_at, din,"
    " note) VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr char kUpdateContact[] =
    "UPDATE appeal_contacts SET response = ?, responded_at = ?, din = ?, note = ?"
    " WHERE appeal_id = ? AND donor_id = ?";
constexpr char kContactExists[] =
    "SELECT COUNT(*) FROM appeal_contacts WHERE appeal_id = ? AND donor_id = ?";
constexpr char kNextContactPosition[] =
    "SELECT COALESCE(MAX(position), 0) + 1 FROM appeal_contacts WHERE appeal_id = ?";
constexpr char kDonorExists[] = "SELECT COUNT(*) FROM donors WHERE donor_id = ?";
constexpr char kFilterAppealStation[] = " AND a.station_id = ?";
// AppealOpenAt's SQL form; parameter: the instant.
constexpr char kFilterAppealOpen[] = " AND a.closes_at > ?";
constexpr char kAppealAfter[] = " AND (a.created_at < ? OR (a.created_at = ? AND a.appeal_id < ?))";
constexpr char kAppealOrder[] = " ORDER BY a.created_at DESC, a.appeal_id DESC LIMIT ?";

// Reimbursement ledger.
constexpr char kSelectAccount[] =
    "SELECT self_claimed_ml, relatives_claimed_ml FROM reimbursement_accounts WHERE donor_id = ?";
constexpr char kLockAccount[] =
    "SELECT self_claimed_ml, relatives_claimed_ml FROM reimbursement_accounts WHERE donor_id = ?"
    " FOR UPDATE";
constexpr char kSelectCredits[] =
    "SELECT din, donation_date, volume_ml FROM reimbursement_ledger WHERE donor_id = ?"
    " AND kind = ? ORDER BY donation_date, entry_id";
constexpr char kInvoiceClaimed[] = "SELECT COUNT(*) FROM reimbursement_ledger WHERE invoice_no = ?";
constexpr char kInsertCredit[] =
    "INSERT INTO reimbursement_ledger (donor_id, kind, din, donation_date, volume_ml, created_at,"
    " created_by) VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr char kInsertDebit[] =
    "INSERT INTO reimbursement_ledger (donor_id, kind, volume_ml, claimant_relation, invoice_no,"
    " invoice_volume_ml, blood_fee, reimbursed_amount, recipient_name, hospital_name,"
    " invoice_date, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kAddSelfClaimed[] =
    "UPDATE reimbursement_accounts SET self_claimed_ml = self_claimed_ml + ?, updated_at = ?"
    " WHERE donor_id = ?";
constexpr char kAddRelativesClaimed[] =
    "UPDATE reimbursement_accounts SET relatives_claimed_ml = relatives_claimed_ml + ?,"
    " updated_at = ? WHERE donor_id = ?";
constexpr char kLedgerSelect[] =
    "SELECT entry_id, donor_id, kind, din, volume_ml, claimant_relation, invoice_no,"
    " invoice_volume_ml, blood_fee, reimbursed_amount, recipient_name, hospital_name, created_at,"
    " created_by FROM reimbursement_ledger l";
constexpr char kLedgerById[] = " WHERE l.entry_id = ?";
constexpr char kLedgerOfDonor[] = " WHERE l.donor_id = ?";
constexpr char kLedgerAfter[] = " AND (l.created_at < ? OR (l.created_at = ? AND l.entry_id < ?))";
constexpr char kLedgerOrder[] = " ORDER BY l.created_at DESC, l.entry_id DESC LIMIT ?";

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

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000));
  return ts;
}

std::string Day(absl::CivilDay day) { return FormatDate(day); }

absl::CivilDay ParseDbDay(const std::string& text) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day)) return absl::CivilDay(1970, 1, 1);
  return day;
}

int64_t DayNumber(absl::CivilDay day) { return day - absl::CivilDay(1970, 1, 1); }
absl::CivilDay DayFromNumber(int64_t n) { return absl::CivilDay(1970, 1, 1) + n; }

// A row id from a request ("42"); nullopt when it cannot name a row.
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

// Binds parameters left to right.
class Params {
 public:
  explicit Params(sql::PreparedStatement& statement) : statement_(statement) {}
  Params& Str(const std::string& value) {
    statement_.setString(++index_, value);
    return *this;
  }
  Params& Int(int64_t value) {
    statement_.setInt64(++index_, value);
    return *this;
  }
  Params& Bool(bool value) {
    statement_.setBoolean(++index_, value);
    return *this;
  }
  Params& Double(double value) {
    statement_.setDouble(++index_, value);
    return *this;
  }
  Params& Null() {
    statement_.setNull(++index_, sql::DataType::VARCHAR);
    return *this;
  }
  template <typename T>
  Params& OptInt(const std::optional<T>& value) {
    return value ? Int(*value) : Null();
  }
  Params& OptDouble(const std::optional<double>& value) { return value ? Double(*value) : Null(); }
  Params& OptStr(const std::optional<std::string>& value) { return value ? Str(*value) : Null(); }
  // The parameters of kDeferralInForce.
  Params& DeferralInForce(absl::CivilDay day) { return Str(FormatDate(day)).Str(FormatDate(day)); }

 private:
  sql::PreparedStatement& statement_;
  unsigned int index_ = 0;
};

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

void WriteAudit(Connection& conn, const CallInfo& call, const std::string& action,
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

// Runs a transaction whose body fills `response`, with request_id idempotency: a completed
// key replays the stored response; otherwise the body runs and its response is stored.
template <typename Response, typename Body>
absl::StatusOr<Response> Idempotent(db::ConnectionPool& pool, absl::string_view what,
                                    const CallInfo& call, const IdempotencyKey& key, Body body) {
  Response response;
  absl::Status status =
      db::RunTransaction(pool, what, call.deadline, [&](Connection& conn) -> absl::Status {
        response.Clear();
        BG_ASSIGN_OR_RETURN(bool replayed, db::ClaimOrReplay(conn, key, &response));
        if (replayed) return absl::OkStatus();
        BG_RETURN_IF_ERROR(body(conn, response));
        db::CompleteIdempotent(conn, key, response);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return response;
}

// A read in a transaction of its own (which ends the snapshot).
template <typename Result, typename Body>
absl::StatusOr<Result> Read(db::ConnectionPool& pool, absl::string_view what, const CallInfo& call,
                            Body body) {
  Result result;
  absl::Status status =
      db::RunTransaction(pool, what, call.deadline, [&](Connection& conn) -> absl::Status {
        result = Result();
        return body(conn, result);
      });
  if (!status.ok()) return status;
  return result;
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

// The parameters of DonorSelect() for the output-only flags as of `today`.
Params& BindDonorDay(Params& params, absl::CivilDay today) {
  return params.DeferralInForce(today).Int(v1::DEFERRAL_KIND_PERMANENT).DeferralInForce(today);
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

// Locks the donor's row for the rest of the transaction; false when there is none.
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

int64_t InsertDeferral(Connection& conn, const CallInfo& call, const DeferralDraft& draft) {
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
  Params(select).Str(donor_id).DeferralInForce(on_date);
  auto rs = Query(select);
  std::vector<DeferralInForce> deferrals;
  while (rs->next()) deferrals.push_back(DeferralInForceRow(*rs));
  return deferrals;
}

// The parameters of kAppealSelect's counts.
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

int64_t TimestampMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

// A cursor of (sort key, row id).
v1::PageCursor Cursor(int64_t key, const std::string& id) {
  v1::PageCursor cursor;
  cursor.set_after_key(key);
  cursor.set_after_id(id);
  return cursor;
}

// The row id of a cursor made by this store; 0 (before every row) when it is not one.
int64_t CursorRowId(const v1::PageCursor& cursor) {
  return ParseRowId(cursor.after_id()).value_or(0);
}

// A keyset order of a list: the clause that continues after a cursor (its parameters bound by
// bind_after) and the ORDER BY ... LIMIT ? clause.
struct Keyset {
  const char* after_clause;
  const char* order_clause;
  void (*bind_after)(Params& params, const v1::PageCursor& after);
};

// (instant, row id) cursors: after_key is the instant in Unix microseconds.
void BindInstantAfter(Params& params, const v1::PageCursor& after) {
  const std::string at = DbTime(absl::FromUnixMicros(after.after_key()));
  params.Str(at).Str(at).Int(CursorRowId(after));
}

// (day, row id) cursors: after_key is the day's number since 1970-01-01.
void BindDayAfter(Params& params, const v1::PageCursor& after) {
  const std::string day = Day(DayFromNumber(after.after_key()));
  params.Str(day).Str(day).Int(CursorRowId(after));
}

// SearchDonors' (name, donor_id) cursor: after_id is "<name>\n<donor_id>"; names never contain
// a newline.
void BindNameAfter(Params& params, const v1::PageCursor& after) {
  std::pair<std::string, std::string> parts =
      absl::StrSplit(after.after_id(), absl::MaxSplits('\n', 1));
  params.Str(parts.first).Str(parts.first).Str(parts.second);
}

// One page of a keyset-paged list: `filtered_sql` (a SELECT with its WHERE filters), then the
// keyset's after clause when the page has a cursor, then its order and limit. bind_filters binds
// the filters' parameters. page_size + 1 rows are read so that `next` (cursor_of the last item
// kept) is set only when more rows follow. The statement is assembled from constant fragments
// only, so each combination of filters is its own cached prepared statement with its own plan.
template <typename T, typename BindFilters, typename ReadRow, typename CursorOf>
Page<T> ListPage(Connection& conn, const std::string& filtered_sql, const Keyset& keyset,
                 const PageQuery& page, BindFilters bind_filters, ReadRow read_row,
                 CursorOf cursor_of) {
  sql::PreparedStatement& select =
      conn.Prepare(absl::StrCat(filtered_sql, page.after ? keyset.after_clause : "",
                                keyset.order_clause));
  Params params(select);
  bind_filters(params);
  if (page.after) keyset.bind_after(params, *page.after);
  params.Int(page.page_size + 1);
  auto rs = Query(select);
  Page<T> out;
  while (rs->next()) {
    if (static_cast<int>(out.items.size()) == page.page_size) {
      out.next = cursor_of(out.items.back());
      break;
    }
    out.items.push_back(read_row(*rs));
  }
  return out;
}

constexpr Keyset kSearchKeyset{kSearchAfter, kSearchOrder, BindNameAfter};
constexpr Keyset kConflictKeyset{kConflictAfter, kConflictOrder, BindInstantAfter};
constexpr Keyset kDeferralKeyset{kDeferralAfter, kDeferralOrder, BindDayAfter};
constexpr Keyset kDonationKeyset{kDonationAfter, kDonationOrder, BindInstantAfter};
constexpr Keyset kAppealKeyset{kAppealAfter, kAppealOrder, BindInstantAfter};
constexpr Keyset kLedgerKeyset{kLedgerAfter, kLedgerOrder, BindInstantAfter};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Registry

absl::StatusOr<v1::Donor> MysqlDonorStore::RegisterDonor(const CallInfo& call,
                                                         const IdempotencyKey& key,
                                                         const v1::Donor& donor) {
  return Idempotent<v1::Donor>(
      *pool_, "register donor", call, key, [&](Connection& conn, v1::Donor& out) -> absl::Status {
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

absl::StatusOr<v1::Donor> MysqlDonorStore::GetDonor(const CallInfo& call,
                                                    const std::string& donor_id) {
  return Read<v1::Donor>(*pool_, "get donor", call,
                         [&](Connection& conn, v1::Donor& out) -> absl::Status {
                           std::optional<v1::Donor> donor = ReadDonor(conn, donor_id, call.today);
                           if (!donor) return DonorNotFound(donor_id);
                           out = *std::move(donor);
                           return absl::OkStatus();
                         });
}

absl::StatusOr<v1::Donor> MysqlDonorStore::UpdateDonor(const CallInfo& call,
                                                       const IdempotencyKey& key,
                                                       const std::string& donor_id,
                                                       std::optional<int64_t> expected_version,
                                                       DonorUpdateFn update) {
  return Idempotent<v1::Donor>(
      *pool_, "update donor", call, key, [&](Connection& conn, v1::Donor& out) -> absl::Status {
        if (!LockDonor(conn, donor_id)) return DonorNotFound(donor_id);
        std::optional<v1::Donor> current = ReadDonor(conn, donor_id, call.today);
        if (!current) return DonorNotFound(donor_id);
        if (expected_version && *expected_version != current->version()) {
          return absl::AbortedError(absl::StrCat("donor ", donor_id, " is at version ",
                                                 current->version(), ", not the expected ",
                                                 *expected_version, "; re-read and retry"));
        }
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

absl::StatusOr<Page<v1::Donor>> MysqlDonorStore::SearchDonors(const CallInfo& call,
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
    const CallInfo& call, const IdempotencyKey& key, const std::string& donor_id,
    const std::string& din, std::optional<absl::Time> typed_at, TypingFn decide) {
  return Idempotent<v1::RecordBloodTypingResponse>(
      *pool_, "record blood typing", call, key,
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
            detail = absl::StrCat("conflict ", *conflict_id, ": recorded ",
                                  change.recorded.ToString(), ", typed ", typed.ToString(), " on ",
                                  din);
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
    const CallInfo& call, const std::string& donor_id, bool open_only, const PageQuery& page) {
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
              return Cursor(TimestampMicros(c.created_at()), c.conflict_id());
            });
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::BloodTypeConflict> MysqlDonorStore::ResolveBloodTypeConflict(
    const CallInfo& call, const IdempotencyKey& key, const std::string& conflict_id,
    BloodType resolved, const std::string& resolved_by, const std::string& note) {
  return Idempotent<v1::BloodTypeConflict>(
      *pool_, "resolve blood type conflict", call, key,
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

// ---------------------------------------------------------------------------------------------
// Eligibility

absl::StatusOr<EligibilityInputs> MysqlDonorStore::LoadEligibilityInputs(
    const CallInfo& call, const std::string& donor_id, absl::CivilDay on_date) {
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

absl::StatusOr<v1::Deferral> MysqlDonorStore::DeferDonor(const CallInfo& call,
                                                         const IdempotencyKey& key,
                                                         const DeferralDraft& draft) {
  return Idempotent<v1::Deferral>(
      *pool_, "defer donor", call, key, [&](Connection& conn, v1::Deferral& out) -> absl::Status {
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

absl::StatusOr<v1::Deferral> MysqlDonorStore::VoidDeferral(const CallInfo& call,
                                                           const IdempotencyKey& key,
                                                           const std::string& deferral_id,
                                                           const std::string& voided_by,
                                                           const std::string& reason) {
  return Idempotent<v1::Deferral>(
      *pool_, "void deferral", call, key, [&](Connection& conn, v1::Deferral& out) -> absl::Status {
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

absl::StatusOr<Page<v1::Deferral>> MysqlDonorStore::ListDeferrals(const CallInfo& call,
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
              if (active_only) params.DeferralInForce(call.today);
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
    const CallInfo& call, const IdempotencyKey& key, const DonationDraft& draft,
    EligibilityFn check) {
  const v1::Donation& donation = draft.donation;
  return Idempotent<v1::RecordDonationResponse>(
      *pool_, "record donation", call, key,
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
                .Str(DbTime(absl::FromUnixMicros(TimestampMicros(donation.collected_at()))))
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

absl::StatusOr<Page<v1::Donation>> MysqlDonorStore::ListDonations(const CallInfo& call,
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
              return Cursor(TimestampMicros(d.collected_at()), d.donation_id());
            });
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::MarkDonorReactiveResponse> MysqlDonorStore::MarkDonorReactive(
    const CallInfo& call, const IdempotencyKey& key, const DeferralDraft& draft) {
  return Idempotent<v1::MarkDonorReactiveResponse>(
      *pool_, "mark donor reactive", call, key,
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

// ---------------------------------------------------------------------------------------------
// Appeals

absl::StatusOr<std::vector<AppealPoolEntry>> MysqlDonorStore::LoadAppealPool(
    const CallInfo& call, BloodType type, absl::CivilDay on_date, absl::CivilDay history_from) {
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
        sql::PreparedStatement& deferrals = conn.Prepare(
            absl::StrCat(kPoolDeferrals, kDeferralInForce, kDeferralsInForceOrder));
        Params(deferrals).Int(type.abo).Int(type.rhd).DeferralInForce(on_date);
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
    const CallInfo& call, const IdempotencyKey& key, const v1::Appeal& appeal,
    const std::vector<std::string>& donor_ids) {
  return Idempotent<v1::Appeal>(
      *pool_, "create appeal", call, key, [&](Connection& conn, v1::Appeal& out) -> absl::Status {
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
            .Str(DbTime(absl::FromUnixMicros(TimestampMicros(appeal.closes_at()))));
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
    const CallInfo& call, const IdempotencyKey& key, const std::string& appeal_id,
    const std::string& donor_id, v1::AppealResponse response, const std::string& din,
    const std::string& note) {
  return Idempotent<v1::Appeal>(
      *pool_, "record appeal response", call, key,
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

absl::StatusOr<v1::Appeal> MysqlDonorStore::GetAppeal(const CallInfo& call,
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

absl::StatusOr<Page<v1::Appeal>> MysqlDonorStore::ListAppeals(const CallInfo& call,
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
              return Cursor(TimestampMicros(a.created_at()), a.appeal_id());
            });
        return absl::OkStatus();
      });
}

// ---------------------------------------------------------------------------------------------
// Reimbursement

absl::StatusOr<LedgerState> MysqlDonorStore::LoadLedgerState(const CallInfo& call,
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
    const CallInfo& call, const IdempotencyKey& key, const ClaimDraft& claim, ClaimFn decide) {
  return Idempotent<v1::ClaimReimbursementResponse>(
      *pool_, "claim reimbursement", call, key,
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
        sql::PreparedStatement& add = conn.Prepare(
            IsRelative(claim.relation) ? kAddRelativesClaimed : kAddSelfClaimed);
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

absl::StatusOr<Page<v1::LedgerEntry>> MysqlDonorStore::ListLedger(const CallInfo& call,
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
              return Cursor(TimestampMicros(e.created_at()), e.entry_id());
            });
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::donor
