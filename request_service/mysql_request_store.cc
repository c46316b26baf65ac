#include "request_service/mysql_request_store.h"

#include <cppconn/datatype.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <cstdint>
#include <istream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/idempotency.h"
#include "common/status.h"
#include "request_service/proto_time.h"
#include "request_service/request_rules.h"

namespace bloodgrid::request {
namespace {

using ResultSetPtr = std::unique_ptr<sql::ResultSet>;

// ---------------------------------------------------------------------------------------------
// SQL.

constexpr char kPing[] = "SELECT 1";

constexpr char kHospitalColumns[] =
    "hospital_id, name, serving_station_id, has_location, latitude, longitude, address, active, "
    "created_at, updated_at";
const std::string kSelectHospital =
    absl::StrCat("SELECT ", kHospitalColumns, " FROM hospitals WHERE hospital_id = ?");
const std::string kListHospitals =
    absl::StrCat("SELECT ", kHospitalColumns,
                 " FROM hospitals WHERE hospital_id > ? ORDER BY hospital_id LIMIT ?");
constexpr char kSelectFallbacks[] =
    "SELECT station_id FROM hospital_fallback_stations WHERE hospital_id = ? ORDER BY position";
constexpr char kUpsertHospital[] =
    "INSERT INTO hospitals (hospital_id, name, serving_station_id, has_location, latitude, "
    "longitude, address, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name), serving_station_id = "
    "VALUES(serving_station_id), has_location = VALUES(has_location), latitude = "
    "VALUES(latitude), longitude = VALUES(longitude), address = VALUES(address), active = "
    "VALUES(active), updated_at = VALUES(updated_at)";
constexpr char kDeleteFallbacks[] = "DELETE FROM hospital_fallback_stations WHERE hospital_id = ?";
constexpr char kInsertFallback[] =
    "INSERT INTO hospital_fallback_stations (hospital_id, position, station_id) VALUES (?, ?, ?)";

constexpr char kFindOrderByRequest[] =
    "SELECT order_id, request_hash FROM orders WHERE hospital_id = ? AND request_id = ?";

constexpr char kOrderColumns[] =
    "order_id, hospital_id, request_id, request_hash, status, priority, patient, indication, "
    "needed_by, ward, physician, department_head, medical_affairs, massive_transfusion, "
    "massive_transfusion_id, mt_round, review_reason, status_reason, dispatch_intent, "
    "allow_partial, created_at, updated_at, dispatched_at, delivered_at, completed_at, closed_at";
const std::string kSelectOrder =
    absl::StrCat("SELECT ", kOrderColumns, " FROM orders WHERE order_id = ?");
const std::string kSelectOrderForUpdate = kSelectOrder + " FOR UPDATE";
constexpr char kInsertOrder[] =
    "INSERT INTO orders (order_id, hospital_id, request_id, request_hash, status, priority, "
    "patient_ref, patient, indication, needed_by, ward, physician, department_head, "
    "medical_affairs, massive_transfusion, massive_transfusion_id, mt_round, review_reason, "
    "status_reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?, ?, ?, ?, ?)";
constexpr char kUpdateOrder[] =
    "UPDATE orders SET status = ?, status_reason = ?, review_reason = ?, dispatch_intent = ?, "
    "allow_partial = ?, received_by = COALESCE(?, received_by), dispatched_at = ?, delivered_at = "
    "?, completed_at = ?, "
    "closed_at = ?, updated_at = ? WHERE order_id = ?";

constexpr char kSelectLines[] =
    "SELECT line_no, component, quantity, closed_short FROM order_lines WHERE order_id = ? "
    "ORDER BY line_no";
constexpr char kInsertLine[] =
    "INSERT INTO order_lines (order_id, line_no, component, quantity) VALUES (?, ?, ?, ?)";
constexpr char kCloseLineShort[] =
    "UPDATE order_lines SET closed_short = 1 WHERE order_id = ? AND line_no = ?";

constexpr char kSelectReservations[] =
    "SELECT reservation_key, line_no, attempt, phase, state, component, quantity, candidates, "
    "station_ids, expiry_floor, rhd_exception FROM reservations WHERE order_id = ? "
    "ORDER BY line_no, attempt";
constexpr char kInsertReservation[] =
    "INSERT INTO reservations (reservation_key, order_id, line_no, attempt, phase, state, "
    "component, quantity, candidates, station_ids, expiry_floor, rhd_exception, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kUpdateReservationState[] =
    "UPDATE reservations SET state = ?, updated_at = ? WHERE reservation_key = ? AND order_id = ?";

constexpr char kSelectAllocations[] =
    "SELECT unit_id, line_no, reservation_key, din, component, abo, rhd, station_id, expires_at, "
    "quantity, transfer_id, is_exception, withdrawn, outcome, outcome_at, adverse_reaction "
    "FROM allocations WHERE order_id = ? ORDER BY line_no, created_at, unit_id";
constexpr char kInsertAllocation[] =
    "INSERT INTO allocations (order_id, unit_id, line_no, reservation_key, din, component, abo, "
    "rhd, station_id, expires_at, quantity, transfer_id, is_exception, created_at) VALUES (?, ?, "
    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE line_no = VALUES(line_no), "
    "reservation_key = VALUES(reservation_key), station_id = VALUES(station_id), expires_at = "
    "VALUES(expires_at), transfer_id = VALUES(transfer_id), is_exception = "
    "VALUES(is_exception), withdrawn = 0";
constexpr char kWithdrawAllocation[] =
    "UPDATE allocations SET withdrawn = 1 WHERE order_id = ? AND unit_id = ?";
constexpr char kUpdateOutcome[] =
    "UPDATE allocations SET outcome = ?, outcome_at = ? WHERE order_id = ? AND unit_id = ?";
constexpr char kUpdateAdverseReaction[] =
    "UPDATE allocations SET adverse_reaction = ? WHERE order_id = ? AND unit_id = ?";
constexpr char kUpdateTransferId[] =
    "UPDATE allocations SET transfer_id = ? WHERE order_id = ? AND unit_id = ?";
constexpr char kUpdateUnitStation[] =
    "UPDATE allocations SET station_id = ? WHERE order_id = ? AND unit_id = ?";

constexpr char kInsertException[] =
    "INSERT INTO order_exceptions (order_id, kind, line_no, din, message, recorded_by, "
    "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr char kInsertFinding[] =
    "INSERT INTO order_findings (order_id, seq, code, line_no, message) VALUES (?, ?, ?, ?, ?)";
// An order's exceptions, indication findings and review in one round trip (each is usually
// empty): part 1 = exception (kind, line_no, din, message, recorded_by, recorded_at) in
// recorded order, part 2 = finding (code, line_no, message) in sequence, part 3 = review
// (approve, retrospective, reviewer, note, reviewed_at).
constexpr char kSelectNotes[] =
    "SELECT 1 AS part, exception_id AS pos, kind AS n1, line_no AS n2, din AS s1, "
    "message AS s2, recorded_by AS s3, recorded_at AS t FROM order_exceptions WHERE order_id = ? "
    "UNION ALL SELECT 2, seq, code, line_no, '', message, '', 0 FROM order_findings "
    "WHERE order_id = ? "
    "UNION ALL SELECT 3, 0, approve, retrospective, reviewer, note, '', reviewed_at "
    "FROM order_reviews WHERE order_id = ? ORDER BY part, pos";
constexpr char kInsertReview[] =
    "INSERT INTO order_reviews (order_id, approve, reviewer, note, retrospective, reviewed_at) "
    "VALUES (?, ?, ?, ?, ?, ?)";
constexpr char kInsertEvent[] =
    "INSERT INTO order_events (order_id, kind, from_status, to_status, actor, note, occurred_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";

// Optional filters are written as (? = <any> OR column = ?), an enum's "any" bound as a flag,
// so one prepared statement serves every combination; input never becomes SQL text.
constexpr char kListOrders[] =
    "SELECT order_id FROM orders WHERE (? OR status = ?) AND (? = '' OR hospital_id = ?) "
    "AND (? OR priority = ?) AND created_at >= ? AND created_at < ? AND (? = '' OR "
    "patient_ref = ?) AND (created_at < ? OR (created_at = ? AND order_id < ?)) "
    "ORDER BY created_at DESC, order_id DESC LIMIT ?";

constexpr char kFindDeliveries[] =
    "SELECT a.din, a.unit_id, a.component, o.order_id, o.hospital_id, h.name, o.patient_ref, "
    "o.status, o.dispatched_at, o.delivered_at, a.outcome FROM allocations a JOIN orders o ON "
    "o.order_id = a.order_id JOIN hospitals h ON h.hospital_id = o.hospital_id WHERE a.din = ? "
    "AND a.withdrawn = 0 AND o.dispatched_at IS NOT NULL AND o.dispatched_at >= ? "
    "ORDER BY o.dispatched_at, a.unit_id";

// The statuses and states of the job queries are bound from the rules that name them
// (request_rules.h); each IN list has room for the rule's set (BindSet).
constexpr char kDailyQuantities[] =
    "SELECT l.component, SUM(l.quantity) FROM orders o JOIN order_lines l ON l.order_id = "
    "o.order_id WHERE o.hospital_id = ? AND o.patient_ref = ? AND o.created_at >= ? AND "
    "o.created_at < ? AND o.status NOT IN (?, ?) GROUP BY l.component";
constexpr int kClosedUnissuedSlots = 2;

constexpr char kOrdersToReconcile[] =
    "SELECT order_id, updated_at FROM orders WHERE status = ? AND updated_at < ? "
    "UNION SELECT order_id, updated_at FROM orders WHERE dispatch_intent = 1 AND updated_at < ? "
    "UNION SELECT o.order_id, o.updated_at FROM reservations r JOIN orders o ON o.order_id = "
    "r.order_id WHERE r.state IN (?, ?, ?) AND o.updated_at < ? "
    "ORDER BY updated_at LIMIT ?";
constexpr int kUnsettledReservationSlots = 3;

constexpr char kBackorderedOrders[] =
    "SELECT order_id FROM orders WHERE status = ? AND dispatch_intent = 0 "
    "ORDER BY priority DESC, created_at, order_id LIMIT ?";

constexpr char kUnreportedUnits[] =
    "SELECT a.order_id, a.unit_id FROM allocations a JOIN orders o ON o.order_id = a.order_id "
    "WHERE o.status IN (?, ?) AND o.dispatched_at < ? AND a.withdrawn = 0 AND a.outcome = ? "
    "ORDER BY o.dispatched_at, a.order_id, a.unit_id LIMIT ?";
constexpr int kAwaitsOutcomesSlots = 2;

// The enum numbers of a rule's set, for `slots` placeholders of an IN list: INTERNAL when the
// set is empty or larger than the query has room for.
template <typename Enum>
absl::StatusOr<std::vector<int>> SetOf(const std::vector<Enum>& values, int slots) {
  if (values.empty() || static_cast<int>(values.size()) > slots) {
    return absl::InternalError("a rule's set does not fit its query");
  }
  std::vector<int> numbers;
  for (Enum v : values) numbers.push_back(static_cast<int>(v));
  return numbers;
}

// The enum number of a rule that names exactly one value.
template <typename Enum>
absl::StatusOr<int> OneOf(const std::vector<Enum>& values) {
  if (values.size() != 1) return absl::InternalError("a rule's value does not fit its query");
  return static_cast<int>(values.front());
}

// Binds `numbers` (SetOf) to the `slots` placeholders from `index` on; the last number fills
// the slots left over (a repeat in an IN list changes nothing).
void BindSet(sql::PreparedStatement& statement, int index, int slots,
             const std::vector<int>& numbers) {
  for (int i = 0; i < slots; ++i) {
    statement.setInt(index + i, numbers[std::min<size_t>(i, numbers.size() - 1)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers. They throw sql::SQLException and run only inside RunTransaction bodies.

std::string Truncated(const std::string& text, int max_chars) {
  if (CharacterCount(text) <= max_chars) return text;
  int count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (count == max_chars) return text.substr(0, i);
      ++count;
    }
  }
  return text;
}

std::string ReadBlob(sql::ResultSet& rs, uint32_t column) {
  std::unique_ptr<std::istream> blob(rs.getBlob(column));
  if (blob == nullptr) return "";
  std::stringstream bytes;
  bytes << blob->rdbuf();
  return bytes.str();
}

std::optional<int64_t> OptionalInt64(sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::nullopt;
  return rs.getInt64(column);
}

void SetOptionalMicros(sql::PreparedStatement& ps, unsigned index, std::optional<absl::Time> t) {
  if (t.has_value()) {
    ps.setInt64(index, ToMicros(*t));
  } else {
    ps.setNull(index, sql::DataType::BIGINT);
  }
}

void SetTimestampFromMicros(std::optional<int64_t> micros, google::protobuf::Timestamp* out) {
  if (micros.has_value()) ToTimestamp(FromMicros(*micros), out);
}

std::optional<absl::Time> OptionalTime(const google::protobuf::Timestamp& ts, bool present) {
  if (!present) return std::nullopt;
  return FromTimestamp(ts);
}

db::IdempotencyKey ToDbKey(const IdempotencyKey& key) {
  return db::IdempotencyKey{key.scope, key.request_id, key.request_hash};
}

std::string FormatCandidates(const std::vector<StoredCandidate>& candidates) {
  std::vector<std::string> parts;
  for (const StoredCandidate& c : candidates) {
    parts.push_back(absl::StrCat(c.blood_type.ToString(), ":", c.tier));
  }
  return absl::StrJoin(parts, ",");
}

std::vector<StoredCandidate> ParseCandidates(absl::string_view text) {
  std::vector<StoredCandidate> candidates;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(part, ':');
    if (fields.size() != 2) continue;
    absl::StatusOr<BloodType> type = ParseBloodType(fields[0]);
    int tier = 0;
    if (!type.ok() || !absl::SimpleAtoi(fields[1], &tier)) continue;
    candidates.push_back({*type, tier});
  }
  return candidates;
}

// One hospitals row, without its fallback stations (FillFallbacks).
v1::Hospital ReadHospitalRow(sql::ResultSet& rs) {
  v1::Hospital h;
  h.set_hospital_id(rs.getString(1));
  h.set_name(rs.getString(2));
  h.set_serving_station_id(rs.getString(3));
  if (rs.getBoolean(4)) {
    h.mutable_location()->set_latitude(static_cast<double>(rs.getDouble(5)));
    h.mutable_location()->set_longitude(static_cast<double>(rs.getDouble(6)));
  }
  h.set_address(rs.getString(7));
  h.set_active(rs.getBoolean(8));
  ToTimestamp(FromMicros(rs.getInt64(9)), h.mutable_created_at());
  ToTimestamp(FromMicros(rs.getInt64(10)), h.mutable_updated_at());
  return h;
}

void FillFallbacks(db::Connection& conn, v1::Hospital& h) {
  sql::PreparedStatement& fallbacks = conn.Prepare(kSelectFallbacks);
  fallbacks.setString(1, h.hospital_id());
  ResultSetPtr rs(fallbacks.executeQuery());
  while (rs->next()) h.add_fallback_station_ids(rs->getString(1));
}

absl::StatusOr<v1::Hospital> SelectHospital(db::Connection& conn, const std::string& id) {
  sql::PreparedStatement& select = conn.Prepare(kSelectHospital);
  select.setString(1, id);
  ResultSetPtr rs(select.executeQuery());
  if (!rs->next()) return absl::NotFoundError(absl::StrCat("hospital ", id, " not found"));
  v1::Hospital h = ReadHospitalRow(*rs);
  rs.reset();
  FillFallbacks(conn, h);
  return h;
}

// Fills the derived parts of the client view: each line's current units, allocated and
// back-ordered quantities.
void AssembleLines(OrderRecord& record, const std::map<int, v1::OrderLine>& lines) {
  v1::Order& order = record.order;
  order.clear_lines();
  const bool backorder_open = order.status() == v1::ORDER_STATUS_ALLOCATED ||
                              order.status() == v1::ORDER_STATUS_PARTIALLY_ALLOCATED;
  for (const auto& [line_no, line] : lines) {
    v1::OrderLine* out = order.add_lines();
    *out = line;
    int allocated = 0;
    for (const AllocationRecord& a : record.allocations) {
      if (a.line_no != line_no || a.withdrawn) continue;
      *out->add_units() = a.unit;
      allocated += a.unit.quantity();
    }
    out->set_allocated_quantity(allocated);
    const bool closed =
        std::find(record.closed_short_lines.begin(), record.closed_short_lines.end(), line_no) !=
        record.closed_short_lines.end();
    out->set_backordered_quantity(
        backorder_open && !closed ? std::max(0, line.quantity() - allocated) : 0);
  }
}

absl::StatusOr<OrderRecord> LoadOrderTx(db::Connection& conn, const std::string& order_id,
                                        bool for_update) {
  OrderRecord record;
  v1::Order& order = record.order;
  {
    sql::PreparedStatement& select =
        conn.Prepare(for_update ? kSelectOrderForUpdate : kSelectOrder);
    select.setString(1, order_id);
    ResultSetPtr rs(select.executeQuery());
    if (!rs->next()) return absl::NotFoundError(absl::StrCat("order ", order_id, " not found"));
    order.set_order_id(rs->getString(1));
    order.set_hospital_id(rs->getString(2));
    order.set_request_id(rs->getString(3));
    record.request_hash = rs->getString(4);
    order.set_status(static_cast<v1::OrderStatus>(rs->getInt(5)));
    order.set_priority(static_cast<v1::Priority>(rs->getInt(6)));
    if (!order.mutable_patient()->ParseFromString(ReadBlob(*rs, 7))) {
      return absl::InternalError(absl::StrCat("order ", order_id, ": stored patient unreadable"));
    }
    order.set_indication(rs->getString(8));
    SetTimestampFromMicros(OptionalInt64(*rs, 9), order.mutable_needed_by());
    if (rs->isNull(9)) order.clear_needed_by();
    order.set_ward(rs->getString(10));
    order.mutable_approvals()->set_physician(rs->getString(11));
    order.mutable_approvals()->set_department_head(rs->getString(12));
    order.mutable_approvals()->set_medical_affairs(rs->getString(13));
    order.set_massive_transfusion(rs->getBoolean(14));
    order.set_massive_transfusion_id(rs->getString(15));
    order.set_round(rs->getInt(16));
    order.set_review_reason(rs->getString(17));
    order.set_status_reason(rs->getString(18));
    record.dispatch_intent = rs->getBoolean(19);
    record.allow_partial = rs->getBoolean(20);
    ToTimestamp(FromMicros(rs->getInt64(21)), order.mutable_created_at());
    ToTimestamp(FromMicros(rs->getInt64(22)), order.mutable_updated_at());
    if (!rs->isNull(23)) SetTimestampFromMicros(rs->getInt64(23), order.mutable_dispatched_at());
    if (!rs->isNull(24)) SetTimestampFromMicros(rs->getInt64(24), order.mutable_delivered_at());
    if (!rs->isNull(25)) SetTimestampFromMicros(rs->getInt64(25), order.mutable_completed_at());
    if (!rs->isNull(26)) SetTimestampFromMicros(rs->getInt64(26), order.mutable_closed_at());
  }
  std::map<int, v1::OrderLine> lines;
  {
    sql::PreparedStatement& select = conn.Prepare(kSelectLines);
    select.setString(1, order_id);
    ResultSetPtr rs(select.executeQuery());
    while (rs->next()) {
      v1::OrderLine line;
      line.set_line_no(rs->getInt(1));
      line.set_component(static_cast<v1::Component>(rs->getInt(2)));
      line.set_quantity(rs->getInt(3));
      if (rs->getBoolean(4)) record.closed_short_lines.push_back(line.line_no());
      lines.emplace(line.line_no(), std::move(line));
    }
  }
  {
    sql::PreparedStatement& select = conn.Prepare(kSelectReservations);
    select.setString(1, order_id);
    ResultSetPtr rs(select.executeQuery());
    while (rs->next()) {
      ReservationRecord r;
      r.key = rs->getString(1);
      r.line_no = rs->getInt(2);
      r.attempt = rs->getInt(3);
      r.phase = rs->getInt(4);
      r.state = static_cast<ReservationState>(rs->getInt(5));
      r.component = static_cast<v1::Component>(rs->getInt(6));
      r.quantity = rs->getInt(7);
      r.candidates = ParseCandidates(std::string(rs->getString(8)));
      r.station_ids = absl::StrSplit(std::string(rs->getString(9)), ',', absl::SkipEmpty());
      r.expiry_floor = FromMicros(rs->getInt64(10));
      r.rhd_exception = rs->getBoolean(11);
      record.reservations.push_back(std::move(r));
    }
  }
  {
    sql::PreparedStatement& select = conn.Prepare(kSelectAllocations);
    select.setString(1, order_id);
    ResultSetPtr rs(select.executeQuery());
    while (rs->next()) {
      AllocationRecord a;
      v1::OrderUnit& u = a.unit;
      u.set_unit_id(rs->getString(1));
      a.line_no = rs->getInt(2);
      a.reservation_key = rs->getString(3);
      u.set_din(rs->getString(4));
      u.set_component(static_cast<v1::Component>(rs->getInt(5)));
      u.mutable_blood_type()->set_abo(static_cast<v1::AboGroup>(rs->getInt(6)));
      u.mutable_blood_type()->set_rhd(static_cast<v1::RhD>(rs->getInt(7)));
      u.set_station_id(rs->getString(8));
      ToTimestamp(FromMicros(rs->getInt64(9)), u.mutable_expires_at());
      u.set_quantity(rs->getInt(10));
      u.set_transfer_id(rs->getString(11));
      u.set_exception(rs->getBoolean(12));
      a.withdrawn = rs->getBoolean(13);
      u.set_outcome(static_cast<v1::TransfusionOutcome>(rs->getInt(14)));
      if (!rs->isNull(15)) SetTimestampFromMicros(rs->getInt64(15), u.mutable_outcome_at());
      if (!rs->isNull(16)) {
        if (!u.mutable_adverse_reaction()->ParseFromString(ReadBlob(*rs, 16))) {
          u.clear_adverse_reaction();
        }
      }
      record.allocations.push_back(std::move(a));
    }
  }
  {
    sql::PreparedStatement& select = conn.Prepare(kSelectNotes);
    select.setString(1, order_id);
    select.setString(2, order_id);
    select.setString(3, order_id);
    ResultSetPtr rs(select.executeQuery());
    while (rs->next()) {
      switch (rs->getInt(1)) {
        case 1: {
          v1::OrderException* e = order.add_exceptions();
          e->set_kind(static_cast<v1::OrderExceptionKind>(rs->getInt(3)));
          e->set_line_no(rs->getInt(4));
          e->set_din(rs->getString(5));
          e->set_message(rs->getString(6));
          e->set_recorded_by(rs->getString(7));
          ToTimestamp(FromMicros(rs->getInt64(8)), e->mutable_recorded_at());
          break;
        }
        case 2: {
          v1::IndicationFinding* f = order.add_indication_findings();
          f->set_code(static_cast<v1::IndicationFindingCode>(rs->getInt(3)));
          f->set_line_no(rs->getInt(4));
          f->set_message(rs->getString(6));
          break;
        }
        default: {
          v1::OrderReview* r = order.add_reviews();
          r->set_approve(rs->getInt(3) != 0);
          r->set_retrospective(rs->getInt(4) != 0);
          r->set_reviewer(rs->getString(5));
          r->set_note(rs->getString(6));
          ToTimestamp(FromMicros(rs->getInt64(8)), r->mutable_reviewed_at());
          break;
        }
      }
    }
  }
  AssembleLines(record, lines);
  return record;
}

void InsertEvent(db::Connection& conn, const std::string& order_id, const std::string& kind,
                 v1::OrderStatus from, v1::OrderStatus to, const std::string& actor,
                 const std::string& note, absl::Time now) {
  sql::PreparedStatement& insert = conn.Prepare(kInsertEvent);
  insert.setString(1, order_id);
  insert.setString(2, Truncated(kind, 40));
  insert.setInt(3, from);
  insert.setInt(4, to);
  insert.setString(5, Truncated(actor, 200));
  insert.setString(6, Truncated(note, 2000));
  insert.setInt64(7, ToMicros(now));
  insert.executeUpdate();
}

void InsertReservation(db::Connection& conn, const std::string& order_id,
                       const ReservationRecord& r, absl::Time now) {
  sql::PreparedStatement& insert = conn.Prepare(kInsertReservation);
  insert.setString(1, r.key);
  insert.setString(2, order_id);
  insert.setInt(3, r.line_no);
  insert.setInt(4, r.attempt);
  insert.setInt(5, r.phase);
  insert.setInt(6, static_cast<int>(r.state));
  insert.setInt(7, r.component);
  insert.setInt(8, r.quantity);
  insert.setString(9, FormatCandidates(r.candidates));
  insert.setString(10, absl::StrJoin(r.station_ids, ","));
  insert.setInt64(11, ToMicros(r.expiry_floor));
  insert.setBoolean(12, r.rhd_exception);
  insert.setInt64(13, ToMicros(now));
  insert.setInt64(14, ToMicros(now));
  insert.executeUpdate();
}

void InsertAllocation(db::Connection& conn, const std::string& order_id, const AllocationRecord& a,
                      absl::Time now) {
  const v1::OrderUnit& u = a.unit;
  sql::PreparedStatement& insert = conn.Prepare(kInsertAllocation);
  insert.setString(1, order_id);
  insert.setString(2, u.unit_id());
  insert.setInt(3, a.line_no);
  insert.setString(4, a.reservation_key);
  insert.setString(5, u.din());
  insert.setInt(6, u.component());
  insert.setInt(7, u.blood_type().abo());
  insert.setInt(8, u.blood_type().rhd());
  insert.setString(9, u.station_id());
  insert.setInt64(10, ToMicros(FromTimestamp(u.expires_at())));
  insert.setInt(11, u.quantity());
  insert.setString(12, u.transfer_id());
  insert.setBoolean(13, u.exception());
  insert.setInt64(14, ToMicros(now));
  insert.executeUpdate();
}

void InsertException(db::Connection& conn, const std::string& order_id, const v1::OrderException& e,
                     absl::Time now) {
  sql::PreparedStatement& insert = conn.Prepare(kInsertException);
  insert.setString(1, order_id);
  insert.setInt(2, e.kind());
  insert.setInt(3, e.line_no());
  insert.setString(4, e.din());
  insert.setString(5, Truncated(e.message(), 2000));
  insert.setString(6, Truncated(e.recorded_by(), 200));
  insert.setInt64(7, ToMicros(e.has_recorded_at() ? FromTimestamp(e.recorded_at()) : now));
  insert.executeUpdate();
}

// Inserts a whole new order with its first events. Throws on SQL errors (1062 for a repeated
// request_id, 1452 for an unknown hospital).
void InsertOrderTx(db::Connection& conn, const OrderRecord& record,
                   const std::vector<v1::OrderStatus>& status_path, const std::string& actor,
                   absl::Time now) {
  const v1::Order& order = record.order;
  {
    std::string patient = order.patient().SerializeAsString();
    std::istringstream patient_stream(patient);
    sql::PreparedStatement& insert = conn.Prepare(kInsertOrder);
    insert.setString(1, order.order_id());
    insert.setString(2, order.hospital_id());
    insert.setString(3, order.request_id());
    insert.setString(4, record.request_hash);
    insert.setInt(5, order.status());
    insert.setInt(6, order.priority());
    insert.setString(7, order.patient().patient_ref());
    insert.setBlob(8, &patient_stream);
    insert.setString(9, order.indication());
    SetOptionalMicros(insert, 10, OptionalTime(order.needed_by(), order.has_needed_by()));
    insert.setString(11, order.ward());
    insert.setString(12, order.approvals().physician());
    insert.setString(13, order.approvals().department_head());
    insert.setString(14, order.approvals().medical_affairs());
    insert.setBoolean(15, order.massive_transfusion());
    insert.setString(16, order.massive_transfusion_id());
    insert.setInt(17, order.round());
    insert.setString(18, order.review_reason());
    insert.setString(19, Truncated(order.status_reason(), 1000));
    insert.setInt64(20, ToMicros(now));
    insert.setInt64(21, ToMicros(now));
    insert.executeUpdate();
  }
  for (const v1::OrderLine& line : order.lines()) {
    sql::PreparedStatement& insert = conn.Prepare(kInsertLine);
    insert.setString(1, order.order_id());
    insert.setInt(2, line.line_no());
    insert.setInt(3, line.component());
    insert.setInt(4, line.quantity());
    insert.executeUpdate();
  }
  for (int i = 0; i < order.indication_findings_size(); ++i) {
    const v1::IndicationFinding& f = order.indication_findings(i);
    sql::PreparedStatement& insert = conn.Prepare(kInsertFinding);
    insert.setString(1, order.order_id());
    insert.setInt(2, i + 1);
    insert.setInt(3, f.code());
    insert.setInt(4, f.line_no());
    insert.setString(5, Truncated(f.message(), 1000));
    insert.executeUpdate();
  }
  for (const v1::OrderException& e : order.exceptions()) {
    InsertException(conn, order.order_id(), e, now);
  }
  for (const ReservationRecord& r : record.reservations) {
    InsertReservation(conn, order.order_id(), r, now);
  }
  for (const AllocationRecord& a : record.allocations) {
    InsertAllocation(conn, order.order_id(), a, now);
  }
  v1::OrderStatus from = v1::ORDER_STATUS_UNSPECIFIED;
  for (v1::OrderStatus to : status_path) {
    InsertEvent(conn, order.order_id(), StatusName(to), from, to, actor,
                to == v1::ORDER_STATUS_IN_REVIEW ? order.review_reason() : "", now);
    from = to;
  }
}

void ApplyChange(db::Connection& conn, const OrderRecord& current, const OrderChange& change,
                 const std::string& actor, absl::Time now) {
  const v1::Order& order = current.order;
  const std::string& id = order.order_id();
  const v1::OrderStatus from = order.status();
  const v1::OrderStatus to = change.status.value_or(from);

  auto existing = [](const google::protobuf::Timestamp& ts,
                     bool present) -> std::optional<absl::Time> {
    return OptionalTime(ts, present);
  };
  std::optional<absl::Time> dispatched_at =
      existing(order.dispatched_at(), order.has_dispatched_at());
  std::optional<absl::Time> delivered_at = existing(order.delivered_at(), order.has_delivered_at());
  std::optional<absl::Time> completed_at = existing(order.completed_at(), order.has_completed_at());
  std::optional<absl::Time> closed_at = existing(order.closed_at(), order.has_closed_at());
  if (to != from) {
    if (to == v1::ORDER_STATUS_DISPATCHED) dispatched_at = now;
    if (to == v1::ORDER_STATUS_DELIVERED && !delivered_at.has_value()) delivered_at = now;
    if (to == v1::ORDER_STATUS_COMPLETED) completed_at = now;
    if (to == v1::ORDER_STATUS_CANCELLED || to == v1::ORDER_STATUS_REJECTED) closed_at = now;
  }
  if (change.delivered_at.has_value()) delivered_at = change.delivered_at;
  {
    sql::PreparedStatement& update = conn.Prepare(kUpdateOrder);
    update.setInt(1, to);
    update.setString(2, Truncated(change.status_reason.value_or(order.status_reason()), 1000));
    update.setString(3, change.review_reason.value_or(order.review_reason()));
    update.setBoolean(4, change.dispatch_intent.value_or(current.dispatch_intent));
    update.setBoolean(5, change.allow_partial.value_or(current.allow_partial));
    if (change.received_by.has_value()) {
      update.setString(6, Truncated(*change.received_by, 100));
    } else {
      update.setNull(6, sql::DataType::VARCHAR);
    }
    SetOptionalMicros(update, 7, dispatched_at);
    SetOptionalMicros(update, 8, delivered_at);
    SetOptionalMicros(update, 9, completed_at);
    SetOptionalMicros(update, 10, closed_at);
    update.setInt64(11, ToMicros(now));
    update.setString(12, id);
    update.executeUpdate();
  }
  for (const ReservationRecord& r : change.new_reservations) InsertReservation(conn, id, r, now);
  for (const auto& [key, state] : change.reservation_states) {
    sql::PreparedStatement& update = conn.Prepare(kUpdateReservationState);
    update.setInt(1, static_cast<int>(state));
    update.setInt64(2, ToMicros(now));
    update.setString(3, key);
    update.setString(4, id);
    update.executeUpdate();
  }
  for (const AllocationRecord& a : change.new_allocations) InsertAllocation(conn, id, a, now);
  for (const std::string& unit_id : change.withdrawn_unit_ids) {
    sql::PreparedStatement& update = conn.Prepare(kWithdrawAllocation);
    update.setString(1, id);
    update.setString(2, unit_id);
    update.executeUpdate();
  }
  for (const OrderChange::UnitOutcome& o : change.outcomes) {
    sql::PreparedStatement& update = conn.Prepare(kUpdateOutcome);
    update.setInt(1, o.outcome);
    update.setInt64(2, ToMicros(o.at));
    update.setString(3, id);
    update.setString(4, o.unit_id);
    update.executeUpdate();
    if (o.adverse_reaction.has_value()) {
      std::string bytes = o.adverse_reaction->SerializeAsString();
      std::istringstream stream(bytes);
      sql::PreparedStatement& reaction = conn.Prepare(kUpdateAdverseReaction);
      reaction.setBlob(1, &stream);
      reaction.setString(2, id);
      reaction.setString(3, o.unit_id);
      reaction.executeUpdate();
    }
  }
  for (const auto& [unit_id, transfer_id] : change.unit_transfer_ids) {
    sql::PreparedStatement& update = conn.Prepare(kUpdateTransferId);
    update.setString(1, transfer_id);
    update.setString(2, id);
    update.setString(3, unit_id);
    update.executeUpdate();
  }
  for (const auto& [unit_id, station_id] : change.unit_station_ids) {
    sql::PreparedStatement& update = conn.Prepare(kUpdateUnitStation);
    update.setString(1, station_id);
    update.setString(2, id);
    update.setString(3, unit_id);
    update.executeUpdate();
  }
  for (int line_no : change.close_lines_short) {
    sql::PreparedStatement& update = conn.Prepare(kCloseLineShort);
    update.setString(1, id);
    update.setInt(2, line_no);
    update.executeUpdate();
  }
  for (const v1::OrderException& e : change.new_exceptions) InsertException(conn, id, e, now);
  if (change.review.has_value()) {
    const v1::OrderReview& r = *change.review;
    sql::PreparedStatement& insert = conn.Prepare(kInsertReview);
    insert.setString(1, id);
    insert.setBoolean(2, r.approve());
    insert.setString(3, Truncated(r.reviewer(), 100));
    insert.setString(4, Truncated(r.note(), 1000));
    insert.setBoolean(5, r.retrospective());
    insert.setInt64(6, ToMicros(r.has_reviewed_at() ? FromTimestamp(r.reviewed_at()) : now));
    insert.executeUpdate();
  }
  if (to != from || !change.event_kind.empty()) {
    InsertEvent(conn, id, change.event_kind.empty() ? StatusName(to) : change.event_kind, from, to,
                actor, change.event_note, now);
  }
  if (change.follow_up.has_value()) {
    InsertOrderTx(conn, *change.follow_up, {change.follow_up->order.status()}, actor, now);
  }
}

}  // namespace

absl::Status MysqlRequestStore::Ping(absl::Time deadline) { return pool_->Ping(deadline); }

absl::StatusOr<v1::Hospital> MysqlRequestStore::UpsertHospital(const v1::Hospital& hospital,
                                                               const IdempotencyKey& key,
                                                               absl::Time now,
                                                               absl::Time deadline) {
  v1::Hospital result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "upsert hospital", deadline, [&](db::Connection& conn) -> absl::Status {
        result.Clear();
        const db::IdempotencyKey db_key = ToDbKey(key);
        BG_ASSIGN_OR_RETURN(bool replayed, db::ClaimOrReplay(conn, db_key, &result));
        if (replayed) return absl::OkStatus();
        sql::PreparedStatement& upsert = conn.Prepare(kUpsertHospital);
        upsert.setString(1, hospital.hospital_id());
        upsert.setString(2, hospital.name());
        upsert.setString(3, hospital.serving_station_id());
        upsert.setBoolean(4, hospital.has_location());
        upsert.setDouble(5, hospital.location().latitude());
        upsert.setDouble(6, hospital.location().longitude());
        upsert.setString(7, hospital.address());
        upsert.setBoolean(8, hospital.active());
        upsert.setInt64(9, ToMicros(now));
        upsert.setInt64(10, ToMicros(now));
        upsert.executeUpdate();
        sql::PreparedStatement& clear = conn.Prepare(kDeleteFallbacks);
        clear.setString(1, hospital.hospital_id());
        clear.executeUpdate();
        for (int i = 0; i < hospital.fallback_station_ids_size(); ++i) {
          sql::PreparedStatement& insert = conn.Prepare(kInsertFallback);
          insert.setString(1, hospital.hospital_id());
          insert.setInt(2, i + 1);
          insert.setString(3, hospital.fallback_station_ids(i));
          insert.executeUpdate();
        }
        BG_ASSIGN_OR_RETURN(result, SelectHospital(conn, hospital.hospital_id()));
        db::CompleteIdempotent(conn, db_key, result);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<v1::Hospital> MysqlRequestStore::GetHospital(const std::string& hospital_id,
                                                            absl::Time deadline) {
  v1::Hospital result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "get hospital", deadline, [&](db::Connection& conn) -> absl::Status {
        BG_ASSIGN_OR_RETURN(result, SelectHospital(conn, hospital_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<v1::Hospital>> MysqlRequestStore::ListHospitals(
    const std::string& after_id, int limit, absl::Time deadline) {
  std::vector<v1::Hospital> result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "list hospitals", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kListHospitals);
        select.setString(1, after_id);
        select.setInt(2, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.push_back(ReadHospitalRow(*rs));
        rs.reset();
        for (v1::Hospital& h : result) FillFallbacks(conn, h);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>>
MysqlRequestStore::FindOrderByRequest(const std::string& hospital_id, const std::string& request_id,
                                      absl::Time deadline) {
  std::optional<std::pair<std::string, std::string>> result;
  BG_RETURN_IF_ERROR(
      db::RunTransaction(*pool_, "find order", deadline, [&](db::Connection& conn) -> absl::Status {
        result.reset();
        sql::PreparedStatement& select = conn.Prepare(kFindOrderByRequest);
        select.setString(1, hospital_id);
        select.setString(2, request_id);
        ResultSetPtr rs(select.executeQuery());
        if (rs->next()) result.emplace(rs->getString(1), rs->getString(2));
        return absl::OkStatus();
      }));
  return result;
}

absl::Status MysqlRequestStore::CreateOrder(const OrderRecord& record,
                                            const std::vector<v1::OrderStatus>& status_path,
                                            const std::string& actor, absl::Time now,
                                            absl::Time deadline) {
  absl::Status status = db::RunTransaction(*pool_, "create order", deadline,
                                           [&](db::Connection& conn) -> absl::Status {
                                             InsertOrderTx(conn, record, status_path, actor, now);
                                             return absl::OkStatus();
                                           });
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    return absl::FailedPreconditionError(
        absl::StrCat("hospital ", record.order.hospital_id(), " is not registered"));
  }
  return status;
}

absl::StatusOr<OrderRecord> MysqlRequestStore::LoadOrder(const std::string& order_id,
                                                         absl::Time deadline) {
  OrderRecord result;
  BG_RETURN_IF_ERROR(
      db::RunTransaction(*pool_, "load order", deadline, [&](db::Connection& conn) -> absl::Status {
        BG_ASSIGN_OR_RETURN(result, LoadOrderTx(conn, order_id, false));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<UpdateResult> MysqlRequestStore::UpdateOrder(const std::string& order_id,
                                                            const IdempotencyKey* key,
                                                            const std::string& actor,
                                                            absl::Time now, absl::Time deadline,
                                                            const DecideFn& decide) {
  UpdateResult result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "update order", deadline, [&](db::Connection& conn) -> absl::Status {
        result = UpdateResult();
        if (key != nullptr) {
          BG_ASSIGN_OR_RETURN(bool replayed, db::ClaimOrReplay(conn, ToDbKey(*key), &result.order));
          if (replayed) {
            result.replayed = true;
            return absl::OkStatus();
          }
        }
        BG_ASSIGN_OR_RETURN(OrderRecord current, LoadOrderTx(conn, order_id, true));
        BG_ASSIGN_OR_RETURN(OrderChange change, decide(current));
        if (change.status.has_value() && *change.status != current.order.status()) {
          // The state machine is enforced here, where every status change is written.
          BG_RETURN_IF_ERROR(CheckTransition(current.order.status(), *change.status));
        }
        if (change.empty()) {
          result.record = std::move(current);
        } else {
          ApplyChange(conn, current, change, actor, now);
          if (change.read_back || key != nullptr) {
            BG_ASSIGN_OR_RETURN(result.record, LoadOrderTx(conn, order_id, false));
          } else {
            result.record = std::move(current);
          }
        }
        result.order = result.record.order;
        if (key != nullptr) db::CompleteIdempotent(conn, ToDbKey(*key), result.order);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<bool> MysqlRequestStore::LookupIdempotent(const IdempotencyKey& key,
                                                         google::protobuf::Message* response,
                                                         absl::Time deadline) {
  // ClaimOrReplay claims an unknown key; returning a non-OK status rolls that claim back.
  const absl::Status kNotCompleted = absl::CancelledError("request_id not completed");
  absl::Status status = db::RunTransaction(
      *pool_, "look up request_id", deadline, [&](db::Connection& conn) -> absl::Status {
        BG_ASSIGN_OR_RETURN(bool replayed, db::ClaimOrReplay(conn, ToDbKey(key), response));
        return replayed ? absl::OkStatus() : kNotCompleted;
      });
  if (status == kNotCompleted) return false;
  BG_RETURN_IF_ERROR(status);
  return true;
}

absl::StatusOr<std::vector<v1::Order>> MysqlRequestStore::ListOrders(const OrderFilter& filter,
                                                                     const OrderCursor& cursor,
                                                                     int limit,
                                                                     absl::Time deadline) {
  std::vector<v1::Order> result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "list orders", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        std::vector<std::string> ids;
        {
          sql::PreparedStatement& select = conn.Prepare(kListOrders);
          select.setBoolean(1, filter.status == v1::ORDER_STATUS_UNSPECIFIED);
          select.setInt(2, filter.status);
          select.setString(3, filter.hospital_id);
          select.setString(4, filter.hospital_id);
          select.setBoolean(5, filter.priority == v1::PRIORITY_UNSPECIFIED);
          select.setInt(6, filter.priority);
          select.setInt64(7, filter.created_after.has_value()
                                 ? ToMicros(*filter.created_after)
                                 : std::numeric_limits<int64_t>::min());
          select.setInt64(8, filter.created_before.has_value()
                                 ? ToMicros(*filter.created_before)
                                 : std::numeric_limits<int64_t>::max());
          select.setString(9, filter.patient_ref);
          select.setString(10, filter.patient_ref);
          const int64_t after = cursor.created_at.has_value() ? ToMicros(*cursor.created_at)
                                                              : std::numeric_limits<int64_t>::max();
          select.setInt64(11, after);
          select.setInt64(12, after);
          select.setString(13, cursor.order_id);
          select.setInt(14, limit);
          ResultSetPtr rs(select.executeQuery());
          while (rs->next()) ids.push_back(rs->getString(1));
        }
        for (const std::string& id : ids) {
          BG_ASSIGN_OR_RETURN(OrderRecord record, LoadOrderTx(conn, id, false));
          result.push_back(std::move(record.order));
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<v1::UnitDelivery>> MysqlRequestStore::FindDeliveries(
    const std::vector<std::string>& dins, std::optional<absl::Time> since, absl::Time deadline) {
  std::vector<v1::UnitDelivery> result;
  std::vector<std::string> sorted = dins;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "find deliveries", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        for (const std::string& din : sorted) {
          sql::PreparedStatement& select = conn.Prepare(kFindDeliveries);
          select.setString(1, din);
          select.setInt64(
              2, since.has_value() ? ToMicros(*since) : std::numeric_limits<int64_t>::min());
          ResultSetPtr rs(select.executeQuery());
          while (rs->next()) {
            v1::UnitDelivery d;
            d.set_din(rs->getString(1));
            d.set_unit_id(rs->getString(2));
            d.set_component(static_cast<v1::Component>(rs->getInt(3)));
            d.set_order_id(rs->getString(4));
            d.set_hospital_id(rs->getString(5));
            d.set_hospital_name(rs->getString(6));
            d.set_patient_ref(rs->getString(7));
            d.set_order_status(static_cast<v1::OrderStatus>(rs->getInt(8)));
            SetTimestampFromMicros(rs->getInt64(9), d.mutable_dispatched_at());
            if (!rs->isNull(10)) SetTimestampFromMicros(rs->getInt64(10), d.mutable_delivered_at());
            d.set_outcome(static_cast<v1::TransfusionOutcome>(rs->getInt(11)));
            result.push_back(std::move(d));
          }
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::pair<v1::Component, int64_t>>> MysqlRequestStore::DailyQuantities(
    const std::string& hospital_id, const std::string& patient_ref, absl::Time from, absl::Time to,
    absl::Time deadline) {
  std::vector<std::pair<v1::Component, int64_t>> result;
  BG_ASSIGN_OR_RETURN(const std::vector<int> closed,
                      SetOf(OrderStatusesWhere(IsClosedUnissued), kClosedUnissuedSlots));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "daily volume", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kDailyQuantities);
        select.setString(1, hospital_id);
        select.setString(2, patient_ref);
        select.setInt64(3, ToMicros(from));
        select.setInt64(4, ToMicros(to));
        BindSet(select, 5, kClosedUnissuedSlots, closed);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) {
          result.emplace_back(static_cast<v1::Component>(rs->getInt(1)), rs->getInt64(2));
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::string>> MysqlRequestStore::ListOrdersToReconcile(
    absl::Time changed_before, int limit, absl::Time deadline) {
  std::vector<std::string> result;
  BG_ASSIGN_OR_RETURN(const int unallocated, OneOf(OrderStatusesWhere(IsUnallocated)));
  BG_ASSIGN_OR_RETURN(
      const std::vector<int> unsettled,
      SetOf(ReservationStatesWhere(IsUnsettledReservation), kUnsettledReservationSlots));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "orders to reconcile", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kOrdersToReconcile);
        const int64_t before = ToMicros(changed_before);
        select.setInt(1, unallocated);
        select.setInt64(2, before);
        select.setInt64(3, before);
        BindSet(select, 4, kUnsettledReservationSlots, unsettled);
        select.setInt64(4 + kUnsettledReservationSlots, before);
        select.setInt(5 + kUnsettledReservationSlots, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.push_back(rs->getString(1));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::string>> MysqlRequestStore::ListBackorderedOrders(
    int limit, absl::Time deadline) {
  std::vector<std::string> result;
  BG_ASSIGN_OR_RETURN(const int backordered, OneOf(OrderStatusesWhere(IsBackordered)));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "back-ordered orders", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kBackorderedOrders);
        select.setInt(1, backordered);
        select.setInt(2, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.push_back(rs->getString(1));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
MysqlRequestStore::ListUnreportedUnits(absl::Time dispatched_before, int limit,
                                       absl::Time deadline) {
  std::vector<std::pair<std::string, std::string>> result;
  BG_ASSIGN_OR_RETURN(const std::vector<int> awaiting,
                      SetOf(OrderStatusesWhere(AwaitsOutcomes), kAwaitsOutcomesSlots));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "unreported units", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kUnreportedUnits);
        BindSet(select, 1, kAwaitsOutcomesSlots, awaiting);
        select.setInt64(1 + kAwaitsOutcomesSlots, ToMicros(dispatched_before));
        select.setInt(2 + kAwaitsOutcomesSlots, v1::TRANSFUSION_OUTCOME_UNSPECIFIED);
        select.setInt(3 + kAwaitsOutcomesSlots, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.emplace_back(rs->getString(1), rs->getString(2));
        return absl::OkStatus();
      }));
  return result;
}

}  // namespace bloodgrid::request
