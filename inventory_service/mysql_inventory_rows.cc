// Helpers of MysqlInventoryStore (mysql_inventory_internal.h): row mappings, the apply step and
// the claiming of chosen units.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"

namespace bloodgrid::inventory::mysql_internal {
namespace {

constexpr char kSelectStation[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE station_id = ?";

constexpr char kSelectStationForUpdate[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE station_id = ? FOR UPDATE";

constexpr char kSelectDonationForUpdate[] =
    "SELECT din, donor_id, donation_type, station_id, collected_us, collected_abo, "
    "collected_rhd, testing_outcome FROM donations WHERE din = ? FOR UPDATE";

constexpr char kSelectDonation[] =
    "SELECT din, donor_id, donation_type, station_id, collected_us, collected_abo, "
    "collected_rhd, testing_outcome FROM donations WHERE din = ?";

constexpr char kSelectResults[] =
    "SELECT " BG_RESULT_COLUMNS " FROM test_results WHERE din = ? ORDER BY result_id";

constexpr char kClaimUnit[] =
    "SELECT " BG_UNIT_COLUMNS " FROM units WHERE unit_id = ? AND status = ? FOR UPDATE SKIP LOCKED";

constexpr char kInsertUnit[] =
    "INSERT INTO units (" BG_UNIT_COLUMNS
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?)";

constexpr char kUpdateUnit[] =
    "UPDATE units SET abo = ?, rhd = ?, status = ?, hold = ?, station_id = ?, reservation_key = ?, "
    "transfer_id = ?, lookback_on_arrival = ?, order_id = ?, hospital_id = ?, issued_us = ?, "
    "outcome = ?, discard_reason = ?, updated_us = ? WHERE unit_id = ?";

// idx_units_reserve, exactly (see the migration).
constexpr char kCandidateUnits[] =
    "SELECT unit_id, expires_us, quantity FROM units FORCE INDEX (idx_units_reserve) "
    "WHERE status = ? AND component = ? AND abo = ? AND rhd = ? AND station_id = ? "
    "AND expires_us > ? ORDER BY expires_us, unit_id LIMIT ?";

constexpr char kInsertEvent[] =
    "INSERT INTO unit_events (unit_id, din, component, kind, from_status, to_status, "
    "occurred_us, actor, reason, note, station_id, order_id, hospital_id, reservation_key, "
    "transfer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

constexpr char kSelectReservation[] =
    "SELECT " BG_RESERVATION_COLUMNS " FROM reservations WHERE reservation_key = ?";

constexpr char kSelectReservationForUpdate[] =
    "SELECT " BG_RESERVATION_COLUMNS " FROM reservations WHERE reservation_key = ? FOR UPDATE";

constexpr char kUpdateReservationStatus[] =
    "UPDATE reservations SET status = ?, hold_expires_us = ?, confirmed_us = ?, updated_us = ? "
    "WHERE reservation_key = ?";

}  // namespace

void ForEachRow(sql::PreparedStatement& statement,
                absl::FunctionRef<void(const sql::ResultSet&)> row) {
  std::unique_ptr<sql::ResultSet> rs(statement.executeQuery());
  while (rs->next()) row(*rs);
}

std::string Str(const sql::ResultSet& rs, uint32_t column) {
  return rs.isNull(column) ? std::string() : rs.getString(column).asStdString();
}

int64_t I64(const sql::ResultSet& rs, uint32_t column) {
  return rs.isNull(column) ? 0 : rs.getInt64(column);
}

std::optional<int64_t> OptI64(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::nullopt;
  return rs.getInt64(column);
}

void SetTs(int64_t micros, google::protobuf::Timestamp* out) {
  ToTimestamp(absl::FromUnixMicros(micros), out);
}

std::string Truncated(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

UnitRow ReadUnitRow(const sql::ResultSet& rs) {
  UnitRow row;
  v1::Unit& u = row.unit;
  u.set_unit_id(Str(rs, 1));
  u.set_din(Str(rs, 2));
  u.set_component(static_cast<v1::Component>(rs.getInt(3)));
  u.set_division(rs.getInt(4));
  u.set_product_code(Str(rs, 5));
  u.mutable_blood_type()->set_abo(static_cast<v1::AboGroup>(rs.getInt(6)));
  u.mutable_blood_type()->set_rhd(static_cast<v1::RhD>(rs.getInt(7)));
  u.set_status(static_cast<v1::UnitStatus>(rs.getInt(8)));
  u.set_hold(static_cast<v1::UnitHold>(rs.getInt(9)));
  u.set_station_id(Str(rs, 10));
  u.set_quantity(rs.getInt(11));
  u.set_volume_ml(rs.getInt(12));
  u.set_donation_type(static_cast<v1::DonationType>(rs.getInt(13)));
  SetTs(I64(rs, 14), u.mutable_collected_at());
  SetTs(I64(rs, 15), u.mutable_expires_at());
  u.set_donor_id(Str(rs, 16));
  u.set_anticoagulant(static_cast<v1::PolicyProfile::Anticoagulant>(rs.getInt(17)));
  u.set_preparation(static_cast<v1::PolicyProfile::Preparation>(rs.getInt(18)));
  u.set_parent_unit_id(Str(rs, 19));
  u.set_reservation_key(Str(rs, 20));
  u.set_transfer_id(Str(rs, 21));
  row.lookback_on_arrival = rs.getInt(22) != 0;
  u.set_order_id(Str(rs, 23));
  u.set_hospital_id(Str(rs, 24));
  if (std::optional<int64_t> issued = OptI64(rs, 25)) SetTs(*issued, u.mutable_issued_at());
  u.set_outcome(static_cast<v1::TransfusionOutcome>(rs.getInt(26)));
  u.set_discard_reason(static_cast<v1::DiscardReason>(rs.getInt(27)));
  SetTs(I64(rs, 28), u.mutable_created_at());
  SetTs(I64(rs, 29), u.mutable_updated_at());
  return row;
}

std::vector<UnitRow> QueryUnits(sql::PreparedStatement& statement) {
  std::vector<UnitRow> rows;
  ForEachRow(statement, [&](const sql::ResultSet& rs) { rows.push_back(ReadUnitRow(rs)); });
  return rows;
}

std::optional<UnitRow> QueryUnit(sql::PreparedStatement& statement) {
  std::vector<UnitRow> rows = QueryUnits(statement);
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

void InsertUnit(Connection& conn, const UnitRow& row) {
  const v1::Unit& u = row.unit;
  sql::PreparedStatement& insert = conn.Prepare(kInsertUnit);
  Params(insert)
      .Str(u.unit_id())
      .Str(u.din())
      .Int(u.component())
      .Int(u.division())
      .Str(u.product_code())
      .Int(u.blood_type().abo())
      .Int(u.blood_type().rhd())
      .Int(u.status())
      .Int(u.hold())
      .Str(u.station_id())
      .Int(u.quantity())
      .Int(u.volume_ml())
      .Int(u.donation_type())
      .Int(Micros(u.collected_at()))
      .Int(Micros(u.expires_at()))
      .Str(u.donor_id())
      .Int(u.anticoagulant())
      .Int(u.preparation())
      .StrOrNull(u.parent_unit_id())
      .StrOrNull(u.reservation_key())
      .StrOrNull(u.transfer_id())
      .Int(row.lookback_on_arrival ? 1 : 0)
      .StrOrNull(u.order_id())
      .StrOrNull(u.hospital_id())
      .IntOrNull(u.has_issued_at() ? std::optional<int64_t>(Micros(u.issued_at())) : std::nullopt)
      .Int(u.outcome())
      .Int(u.discard_reason())
      .Int(Micros(u.created_at()))
      .Int(Micros(u.updated_at()));
  insert.executeUpdate();
}

v1::Station ReadStation(const sql::ResultSet& rs) {
  v1::Station s;
  s.set_station_id(Str(rs, 1));
  s.set_name(Str(rs, 2));
  s.set_kind(static_cast<v1::StationKind>(rs.getInt(3)));
  if (!rs.isNull(4) && !rs.isNull(5)) {
    s.mutable_location()->set_latitude(static_cast<double>(rs.getDouble(4)));
    s.mutable_location()->set_longitude(static_cast<double>(rs.getDouble(5)));
  }
  s.set_address(Str(rs, 6));
  s.set_active(rs.getInt(7) != 0);
  SetTs(I64(rs, 8), s.mutable_created_at());
  SetTs(I64(rs, 9), s.mutable_updated_at());
  return s;
}

std::optional<v1::Station> FindStation(Connection& conn, absl::string_view station_id,
                                       bool for_update) {
  sql::PreparedStatement& select =
      conn.Prepare(for_update ? kSelectStationForUpdate : kSelectStation);
  Params(select).Str(station_id);
  std::optional<v1::Station> station;
  ForEachRow(select, [&](const sql::ResultSet& rs) { station = ReadStation(rs); });
  return station;
}

v1::ParLevel ReadParLevel(const sql::ResultSet& rs) {
  v1::ParLevel p;
  p.set_station_id(Str(rs, 1));
  p.set_component(static_cast<v1::Component>(rs.getInt(2)));
  p.mutable_blood_type()->set_abo(static_cast<v1::AboGroup>(rs.getInt(3)));
  p.mutable_blood_type()->set_rhd(static_cast<v1::RhD>(rs.getInt(4)));
  p.set_minimum(I64(rs, 5));
  p.set_target(I64(rs, 6));
  SetTs(I64(rs, 7), p.mutable_updated_at());
  return p;
}

std::optional<DonationRow> FindDonation(Connection& conn, absl::string_view din, bool for_update) {
  sql::PreparedStatement& select =
      conn.Prepare(for_update ? kSelectDonationForUpdate : kSelectDonation);
  Params(select).Str(din);
  std::optional<DonationRow> found;
  ForEachRow(select, [&](const sql::ResultSet& rs) {
    DonationRow row;
    row.din = Str(rs, 1);
    row.donor_id = Str(rs, 2);
    row.donation_type = static_cast<v1::DonationType>(rs.getInt(3));
    row.station_id = Str(rs, 4);
    row.collected_us = I64(rs, 5);
    row.collected_type =
        BloodType{static_cast<v1::AboGroup>(rs.getInt(6)), static_cast<v1::RhD>(rs.getInt(7))};
    row.outcome = static_cast<v1::TestingOutcome>(rs.getInt(8));
    found = std::move(row);
  });
  return found;
}

v1::TestResult ReadResult(const sql::ResultSet& rs) {
  v1::TestResult r;
  r.set_result_id(std::to_string(I64(rs, 1)));
  r.set_din(Str(rs, 2));
  r.set_test(static_cast<v1::ScreeningTest>(rs.getInt(3)));
  r.set_reactive(rs.getInt(4) != 0);
  if (rs.getInt(5) != 0 || rs.getInt(6) != 0) {
    r.mutable_blood_type()->set_abo(static_cast<v1::AboGroup>(rs.getInt(5)));
    r.mutable_blood_type()->set_rhd(static_cast<v1::RhD>(rs.getInt(6)));
  }
  SetTs(I64(rs, 7), r.mutable_tested_at());
  SetTs(I64(rs, 8), r.mutable_recorded_at());
  r.set_recorded_by(Str(rs, 9));
  if (std::optional<int64_t> corrects = OptI64(rs, 10))
    r.set_corrects_result_id(std::to_string(*corrects));
  r.set_correction_reason(Str(rs, 11));
  r.set_superseded(rs.getInt(12) != 0);
  return r;
}

std::vector<v1::TestResult> ResultsOfDin(Connection& conn, absl::string_view din) {
  sql::PreparedStatement& select = conn.Prepare(kSelectResults);
  Params(select).Str(din);
  std::vector<v1::TestResult> results;
  ForEachRow(select, [&](const sql::ResultSet& rs) { results.push_back(ReadResult(rs)); });
  return results;
}

std::optional<v1::Reservation> FindReservation(Connection& conn, absl::string_view key,
                                               bool for_update) {
  sql::PreparedStatement& select =
      conn.Prepare(for_update ? kSelectReservationForUpdate : kSelectReservation);
  Params(select).Str(key);
  std::optional<v1::Reservation> found;
  ForEachRow(select, [&](const sql::ResultSet& rs) {
    v1::Reservation r;
    r.set_reservation_key(Str(rs, 1));
    r.set_status(static_cast<v1::ReservationStatus>(rs.getInt(2)));
    r.set_component(static_cast<v1::Component>(rs.getInt(3)));
    r.set_requested_quantity(rs.getInt(4));
    r.set_priority(static_cast<v1::Priority>(rs.getInt(5)));
    r.set_order_id(Str(rs, 6));
    r.set_hospital_id(Str(rs, 7));
    if (std::optional<int64_t> hold = OptI64(rs, 8)) SetTs(*hold, r.mutable_hold_expires_at());
    SetTs(I64(rs, 9), r.mutable_created_at());
    if (std::optional<int64_t> confirmed = OptI64(rs, 10)) {
      SetTs(*confirmed, r.mutable_confirmed_at());
    }
    found = std::move(r);
  });
  return found;
}

void WriteReservationStatus(Connection& conn, const v1::Reservation& r, absl::Time now) {
  sql::PreparedStatement& update = conn.Prepare(kUpdateReservationStatus);
  Params(update)
      .Int(r.status())
      .IntOrNull(r.has_hold_expires_at() ? std::optional<int64_t>(Micros(r.hold_expires_at()))
                                         : std::nullopt)
      .IntOrNull(r.has_confirmed_at() ? std::optional<int64_t>(Micros(r.confirmed_at()))
                                      : std::nullopt)
      .Int(absl::ToUnixMicros(now))
      .Str(r.reservation_key());
  update.executeUpdate();
}

void InsertEvent(Txn& t, const v1::Unit& unit, v1::UnitStatus from, const UnitEventDraft& event) {
  sql::PreparedStatement& insert = t.conn.Prepare(kInsertEvent);
  Params(insert)
      .Str(unit.unit_id())
      .Str(unit.din())
      .Int(unit.component())
      .Int(event.kind)
      .Int(from)
      .Int(unit.status())
      .Int(absl::ToUnixMicros(event.occurred_at.value_or(t.ctx.now)))
      .Str(Truncated(t.ctx.actor, 160))
      .Str(Truncated(event.reason, 200))
      .Str(Truncated(event.note, 1000))
      .Str(unit.station_id())
      .Str(Truncated(event.order_id, 64))
      .Str(Truncated(event.hospital_id, 64))
      .Str(event.reservation_key)
      .Str(event.transfer_id);
  insert.executeUpdate();
}

absl::Status ApplyChange(Txn& t, UnitRow& current, const UnitChange& change) {
  switch (change.write) {
    case UnitChange::Write::kEventOnly:
      InsertEvent(t, current.unit, current.unit.status(), change.event);
      break;
    case UnitChange::Write::kNewUnit:
      current = change.after;
      ToTimestamp(t.ctx.now, current.unit.mutable_created_at());
      ToTimestamp(t.ctx.now, current.unit.mutable_updated_at());
      InsertUnit(t.conn, current);
      InsertEvent(t, current.unit, v1::UNIT_STATUS_UNSPECIFIED, change.event);
      t.changes.keys.insert(KeyOfUnit(current.unit));
      break;
    case UnitChange::Write::kUnitAndEvent: {
      BG_RETURN_IF_ERROR(CheckTransition(current.unit.status(), change.after.unit.status()));
      UnitRow after = change.after;
      v1::Unit& u = after.unit;
      ToTimestamp(t.ctx.now, u.mutable_updated_at());
      sql::PreparedStatement& update = t.conn.Prepare(kUpdateUnit);
      Params(update)
          .Int(u.blood_type().abo())
          .Int(u.blood_type().rhd())
          .Int(u.status())
          .Int(u.hold())
          .Str(u.station_id())
          .StrOrNull(u.reservation_key())
          .StrOrNull(u.transfer_id())
          .Int(after.lookback_on_arrival ? 1 : 0)
          .StrOrNull(u.order_id())
          .StrOrNull(u.hospital_id())
          .IntOrNull(u.has_issued_at() ? std::optional<int64_t>(Micros(u.issued_at()))
                                       : std::nullopt)
          .Int(u.outcome())
          .Int(u.discard_reason())
          .Int(absl::ToUnixMicros(t.ctx.now))
          .Str(u.unit_id());
      update.executeUpdate();
      InsertEvent(t, u, current.unit.status(), change.event);
      t.changes.keys.insert(KeyOfUnit(current.unit));
      t.changes.keys.insert(KeyOfUnit(u));
      current = std::move(after);
      break;
    }
  }
  t.changes.alerts.insert(t.changes.alerts.end(), change.alerts.begin(), change.alerts.end());
  return absl::OkStatus();
}

absl::Status ApplyChanges(Txn& t, UnitRow& current, absl::Span<const UnitChange> changes) {
  for (const UnitChange& change : changes) BG_RETURN_IF_ERROR(ApplyChange(t, current, change));
  return absl::OkStatus();
}

absl::Status UnknownStation(absl::string_view field, absl::string_view station_id) {
  return InvalidField(field, absl::StrCat("unknown station '", station_id, "'"));
}

std::vector<ChoiceUnit> ReadCandidates(Connection& conn, v1::Component component, BloodType type,
                                       const std::string& station_id, int64_t floor_us, int limit,
                                       int32_t tier, int32_t station_rank) {
  sql::PreparedStatement& select = conn.Prepare(kCandidateUnits);
  Params(select)
      .Int(OnShelfStatus())
      .Int(component)
      .Int(type.abo)
      .Int(type.rhd)
      .Str(station_id)
      .Int(floor_us)
      .Int(limit);
  std::vector<ChoiceUnit> out;
  ForEachRow(select, [&](const sql::ResultSet& rs) {
    ChoiceUnit unit;
    unit.unit_id = Str(rs, 1);
    unit.expires_at = absl::FromUnixMicros(I64(rs, 2));
    unit.quantity = rs.getInt(3);
    unit.tier = tier;
    unit.station_rank = station_rank;
    out.push_back(std::move(unit));
  });
  return out;
}

std::optional<UnitRow> ClaimUnit(Connection& conn, absl::string_view unit_id,
                                 v1::UnitStatus status) {
  sql::PreparedStatement& claim = conn.Prepare(kClaimUnit);
  Params(claim).Str(unit_id).Int(status);
  return QueryUnit(claim);
}

std::vector<UnitRow> ChooseAndClaim(
    Connection& conn, std::vector<ChoiceUnit>& pool, int32_t quantity,
    absl::FunctionRef<std::vector<size_t>(absl::Span<const ChoiceUnit>)> choose,
    absl::FunctionRef<bool()> more) {
  absl::flat_hash_map<std::string, UnitRow> locked;
  absl::flat_hash_set<std::string> gone;
  std::vector<size_t> chosen;
  std::vector<ChoiceUnit> eligible;
  // The pool minus the units found gone; returns their total quantity.
  auto refresh_eligible = [&] {
    eligible.clear();
    int64_t sum = 0;
    for (const ChoiceUnit& unit : pool) {
      if (gone.contains(unit.unit_id)) continue;
      eligible.push_back(unit);
      sum += unit.quantity;
    }
    return sum;
  };
  // Each round that fails drops at least one unit, so this ends; the bound is a safety net.
  for (int round = 0; round < 256; ++round) {
    int64_t eligible_quantity = refresh_eligible();
    while (eligible_quantity < quantity && more()) eligible_quantity = refresh_eligible();
    chosen = choose(eligible);
    bool all_claimed = true;
    for (size_t index : chosen) {
      const std::string& id = eligible[index].unit_id;
      if (locked.contains(id)) continue;
      std::optional<UnitRow> row = ClaimUnit(conn, id, OnShelfStatus());
      if (row.has_value()) {
        locked.emplace(id, std::move(*row));
      } else {
        gone.insert(id);
        all_claimed = false;
      }
    }
    if (all_claimed) break;
  }
  std::vector<UnitRow> out;
  for (size_t index : chosen) {
    auto it = locked.find(eligible[index].unit_id);
    if (it != locked.end()) out.push_back(it->second);
  }
  return out;
}

}  // namespace bloodgrid::inventory::mysql_internal
