#include "request_service/mysql_order_rows.h"

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
#include "common/proto_time.h"
#include "common/status.h"
#include "request_service/request_rules.h"

namespace bloodgrid::request::mysql_rows {
namespace {

// ---------------------------------------------------------------------------------------------
// SQL.

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

}  // namespace

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
    ps.setInt64(index, absl::ToUnixMicros(*t));
  } else {
    ps.setNull(index, sql::DataType::BIGINT);
  }
}

void SetTimestampFromMicros(std::optional<int64_t> micros, google::protobuf::Timestamp* out) {
  if (micros.has_value()) ToTimestamp(absl::FromUnixMicros(*micros), out);
}

std::optional<absl::Time> OptionalTime(const google::protobuf::Timestamp& ts, bool present) {
  if (!present) return std::nullopt;
  return FromTimestamp(ts);
}

namespace {

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

}  // namespace

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
    ToTimestamp(absl::FromUnixMicros(rs->getInt64(21)), order.mutable_created_at());
    ToTimestamp(absl::FromUnixMicros(rs->getInt64(22)), order.mutable_updated_at());
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
      r.expiry_floor = absl::FromUnixMicros(rs->getInt64(10));
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
      ToTimestamp(absl::FromUnixMicros(rs->getInt64(9)), u.mutable_expires_at());
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
          ToTimestamp(absl::FromUnixMicros(rs->getInt64(8)), e->mutable_recorded_at());
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
          ToTimestamp(absl::FromUnixMicros(rs->getInt64(8)), r->mutable_reviewed_at());
          break;
        }
      }
    }
  }
  AssembleLines(record, lines);
  return record;
}

namespace {

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
  insert.setInt64(7, absl::ToUnixMicros(now));
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
  insert.setInt64(11, absl::ToUnixMicros(r.expiry_floor));
  insert.setBoolean(12, r.rhd_exception);
  insert.setInt64(13, absl::ToUnixMicros(now));
  insert.setInt64(14, absl::ToUnixMicros(now));
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
  insert.setInt64(10, absl::ToUnixMicros(FromTimestamp(u.expires_at())));
  insert.setInt(11, u.quantity());
  insert.setString(12, u.transfer_id());
  insert.setBoolean(13, u.exception());
  insert.setInt64(14, absl::ToUnixMicros(now));
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
  insert.setInt64(7,
                  absl::ToUnixMicros(e.has_recorded_at() ? FromTimestamp(e.recorded_at()) : now));
  insert.executeUpdate();
}

}  // namespace

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
    insert.setInt64(20, absl::ToUnixMicros(now));
    insert.setInt64(21, absl::ToUnixMicros(now));
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
    update.setInt64(11, absl::ToUnixMicros(now));
    update.setString(12, id);
    update.executeUpdate();
  }
  for (const ReservationRecord& r : change.new_reservations) InsertReservation(conn, id, r, now);
  for (const auto& [key, state] : change.reservation_states) {
    sql::PreparedStatement& update = conn.Prepare(kUpdateReservationState);
    update.setInt(1, static_cast<int>(state));
    update.setInt64(2, absl::ToUnixMicros(now));
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
    update.setInt64(2, absl::ToUnixMicros(o.at));
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
    insert.setInt64(6,
                    absl::ToUnixMicros(r.has_reviewed_at() ? FromTimestamp(r.reviewed_at()) : now));
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

}  // namespace bloodgrid::request::mysql_rows
