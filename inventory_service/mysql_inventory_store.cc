#include "inventory_service/mysql_inventory_store.h"

#include <cppconn/datatype.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <cstdint>
#include <istream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/page_token.h"
#include "common/sql_error.h"
#include "common/status.h"

namespace bloodgrid::inventory {
namespace {

using db::Connection;

// ---------------------------------------------------------------------------------------------
// SQL. Every statement takes its values as ? parameters; the few texts assembled at run time
// (ListUnits, ListTransfers) choose among fixed fragments by which filters are present, never
// by their values.

#define BG_UNIT_COLUMNS                                                                        \
  "unit_id, din, component, division, product_code, abo, rhd, status, hold, station_id, "      \
  "quantity, volume_ml, donation_type, collected_us, expires_us, donor_id, anticoagulant, "    \
  "preparation, parent_unit_id, reservation_key, transfer_id, lookback_on_arrival, order_id, " \
  "hospital_id, issued_us, outcome, discard_reason, created_us, updated_us"

#define BG_UNIT_COLUMNS_U                                                                \
  "u.unit_id, u.din, u.component, u.division, u.product_code, u.abo, u.rhd, u.status, "  \
  "u.hold, u.station_id, u.quantity, u.volume_ml, u.donation_type, u.collected_us, "     \
  "u.expires_us, u.donor_id, u.anticoagulant, u.preparation, u.parent_unit_id, "         \
  "u.reservation_key, u.transfer_id, u.lookback_on_arrival, u.order_id, u.hospital_id, " \
  "u.issued_us, u.outcome, u.discard_reason, u.created_us, u.updated_us"

#define BG_STATION_COLUMNS \
  "station_id, name, kind, latitude, longitude, address, active, created_us, updated_us"

#define BG_RESERVATION_COLUMNS                                                   \
  "reservation_key, status, component, requested_quantity, priority, order_id, " \
  "hospital_id, hold_expires_us, created_us, confirmed_us"

#define BG_TRANSFER_COLUMNS                                                              \
  "transfer_id, from_station_id, to_station_id, status, spec, reason, reservation_key, " \
  "created_by, created_us, dispatched_us, expected_arrival_us, received_us, cancelled_us, note"

#define BG_RESULT_COLUMNS                                                           \
  "result_id, din, test, reactive, abo, rhd, tested_us, recorded_us, recorded_by, " \
  "corrects_result_id, correction_reason, superseded"

constexpr char kSelectStation[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE station_id = ?";
constexpr char kSelectStationForUpdate[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE station_id = ? FOR UPDATE";
constexpr char kInsertStation[] =
    "INSERT INTO stations (" BG_STATION_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kUpdateStation[] =
    "UPDATE stations SET name = ?, kind = ?, latitude = ?, longitude = ?, address = ?, "
    "active = ?, updated_us = ? WHERE station_id = ?";
constexpr char kListStations[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE station_id > ? ORDER BY station_id LIMIT ?";
constexpr char kListActiveStations[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE active = 1 ORDER BY station_id";

constexpr char kUpsertParLevel[] =
    "INSERT INTO par_levels (station_id, component, abo, rhd, minimum, target, updated_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE minimum = VALUES(minimum), "
    "target = VALUES(target), updated_us = VALUES(updated_us)";
constexpr char kParLevelsOfStation[] =
    "SELECT station_id, component, abo, rhd, minimum, target, updated_us FROM par_levels "
    "WHERE station_id = ? ORDER BY station_id, component, abo, rhd";
constexpr char kAllParLevels[] =
    "SELECT station_id, component, abo, rhd, minimum, target, updated_us FROM par_levels "
    "ORDER BY station_id, component, abo, rhd";

constexpr char kSelectDonationForUpdate[] =
    "SELECT din, donor_id, donation_type, station_id, collected_us, collected_abo, "
    "collected_rhd, testing_outcome FROM donations WHERE din = ? FOR UPDATE";
constexpr char kSelectDonation[] =
    "SELECT din, donor_id, donation_type, station_id, collected_us, collected_abo, "
    "collected_rhd, testing_outcome FROM donations WHERE din = ?";
constexpr char kInsertDonation[] =
    "INSERT INTO donations (din, donor_id, donation_type, station_id, collected_us, "
    "collected_abo, collected_rhd, testing_outcome, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kUpdateDonationOutcome[] = "UPDATE donations SET testing_outcome = ? WHERE din = ?";
constexpr char kLastReleasedDonation[] =
    "SELECT din, collected_us FROM donations WHERE donor_id = ? AND collected_us < ? "
    "AND din <> ? AND testing_outcome = ? ORDER BY collected_us DESC LIMIT 1";

constexpr char kSelectResults[] =
    "SELECT " BG_RESULT_COLUMNS " FROM test_results WHERE din = ? ORDER BY result_id";
constexpr char kInsertResult[] =
    "INSERT INTO test_results (din, test, reactive, abo, rhd, tested_us, recorded_us, "
    "recorded_by, corrects_result_id, correction_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kSupersedeResult[] = "UPDATE test_results SET superseded = 1 WHERE result_id = ?";

constexpr char kSelectUnit[] = "SELECT " BG_UNIT_COLUMNS " FROM units WHERE unit_id = ?";
constexpr char kSelectUnitForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS " FROM units WHERE unit_id = ? FOR UPDATE";
constexpr char kClaimUnit[] =
    "SELECT " BG_UNIT_COLUMNS " FROM units WHERE unit_id = ? AND status = ? FOR UPDATE SKIP LOCKED";
constexpr char kUnitsOfDin[] = "SELECT " BG_UNIT_COLUMNS
                               " FROM units WHERE din = ? "
                               "ORDER BY (parent_unit_id IS NOT NULL), component, division";
constexpr char kUnitsOfDinForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS
    " FROM units WHERE din = ? "
    "ORDER BY (parent_unit_id IS NOT NULL), component, division FOR UPDATE";
constexpr char kUnitsOfReservation[] =
    "SELECT " BG_UNIT_COLUMNS " FROM units WHERE reservation_key = ? ORDER BY expires_us, unit_id";
constexpr char kUnitsOfReservationForUpdate[] = "SELECT " BG_UNIT_COLUMNS
                                                " FROM units WHERE reservation_key = ? "
                                                "ORDER BY expires_us, unit_id FOR UPDATE";
constexpr char kUnitsOfDonorForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS
    " FROM units WHERE donor_id = ? AND collected_us >= ? "
    "AND collected_us <= ? AND din <> ? ORDER BY collected_us, unit_id FOR UPDATE";
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
constexpr char kDueUnits[] =
    "SELECT unit_id FROM units FORCE INDEX (idx_units_status_expiry) WHERE status = ? "
    "AND expires_us <= ? ORDER BY expires_us, unit_id LIMIT ?";
constexpr char kUnitsExpiringBetween[] =
    "SELECT " BG_UNIT_COLUMNS
    " FROM units FORCE INDEX (idx_units_status_expiry) WHERE status = ? "
    "AND expires_us > ? AND expires_us <= ? ORDER BY expires_us, unit_id LIMIT ?";

constexpr char kInsertEvent[] =
    "INSERT INTO unit_events (unit_id, din, component, kind, from_status, to_status, "
    "occurred_us, actor, reason, note, station_id, order_id, hospital_id, reservation_key, "
    "transfer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kEventsOfDin[] =
    "SELECT event_id, unit_id, din, component, kind, from_status, to_status, occurred_us, actor, "
    "reason, note, station_id, order_id, hospital_id, reservation_key, transfer_id "
    "FROM unit_events WHERE din = ? ORDER BY occurred_us, event_id";

constexpr char kSelectReservation[] =
    "SELECT " BG_RESERVATION_COLUMNS " FROM reservations WHERE reservation_key = ?";
constexpr char kSelectReservationForUpdate[] =
    "SELECT " BG_RESERVATION_COLUMNS " FROM reservations WHERE reservation_key = ? FOR UPDATE";
constexpr char kInsertReservation[] =
    "INSERT INTO reservations (reservation_key, status, component, requested_quantity, priority, "
    "order_id, hospital_id, hold_expires_us, created_us, updated_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kUpdateReservationStatus[] =
    "UPDATE reservations SET status = ?, hold_expires_us = ?, confirmed_us = ?, updated_us = ? "
    "WHERE reservation_key = ?";
constexpr char kDueReservations[] =
    "SELECT reservation_key FROM reservations FORCE INDEX (idx_reservations_hold) "
    "WHERE status = ? AND hold_expires_us <= ? ORDER BY hold_expires_us LIMIT ?";

constexpr char kSelectTransfer[] =
    "SELECT " BG_TRANSFER_COLUMNS " FROM transfers WHERE transfer_id = ?";
constexpr char kSelectTransferForUpdate[] =
    "SELECT " BG_TRANSFER_COLUMNS " FROM transfers WHERE transfer_id = ? FOR UPDATE";
constexpr char kInsertTransfer[] =
    "INSERT INTO transfers (transfer_id, from_station_id, to_station_id, status, spec, reason, "
    "reservation_key, created_by, created_us, expected_arrival_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr char kUpdateTransfer[] =
    "UPDATE transfers SET status = ?, dispatched_us = ?, expected_arrival_us = ?, "
    "received_us = ?, cancelled_us = ?, note = ? WHERE transfer_id = ?";
constexpr char kInsertTransferUnit[] =
    "INSERT INTO transfer_units (transfer_id, position, unit_id) VALUES (?, ?, ?)";
constexpr char kRejectTransferUnit[] =
    "UPDATE transfer_units SET rejected = 1 WHERE transfer_id = ? AND unit_id = ?";
constexpr char kUnitsOfTransfer[] =
    "SELECT " BG_UNIT_COLUMNS_U
    ", tu.rejected FROM transfer_units tu "
    "JOIN units u ON u.unit_id = tu.unit_id WHERE tu.transfer_id = ? ORDER BY tu.position";
constexpr char kUnitsOfTransferForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS_U
    ", tu.rejected FROM transfer_units tu "
    "JOIN units u ON u.unit_id = tu.unit_id WHERE tu.transfer_id = ? ORDER BY tu.position "
    "FOR UPDATE";

// Stock views (idx_units_station is covering for these). `@IN_STOCK@` stands for one `?` per
// status of InStockStatuses() (StockViewSql), bound in that order.
constexpr char kStationLevels[] =
    "SELECT station_id, component, abo, rhd, status, COUNT(*), CAST(SUM(quantity) AS SIGNED), "
    "CAST(SUM(CASE WHEN expires_us <= ? THEN 1 ELSE 0 END) AS SIGNED), "
    "CAST(SUM(CASE WHEN expires_us <= ? THEN quantity ELSE 0 END) AS SIGNED) "
    "FROM units FORCE INDEX (idx_units_station) WHERE station_id = ? AND status IN (@IN_STOCK@) "
    "GROUP BY station_id, status, component, abo, rhd";
constexpr char kAllLevels[] =
    "SELECT station_id, component, abo, rhd, status, COUNT(*), CAST(SUM(quantity) AS SIGNED), "
    "CAST(SUM(CASE WHEN expires_us <= ? THEN 1 ELSE 0 END) AS SIGNED), "
    "CAST(SUM(CASE WHEN expires_us <= ? THEN quantity ELSE 0 END) AS SIGNED) "
    "FROM units FORCE INDEX (idx_units_station) WHERE status IN (@IN_STOCK@) "
    "GROUP BY station_id, status, component, abo, rhd";
constexpr char kInTransitLevels[] =
    "SELECT t.to_station_id, u.component, u.abo, u.rhd, COUNT(*), CAST(SUM(u.quantity) AS SIGNED) "
    "FROM units u FORCE INDEX (idx_units_reserve) JOIN transfers t "
    "ON t.transfer_id = u.transfer_id WHERE u.status = ? "
    "GROUP BY t.to_station_id, u.component, u.abo, u.rhd";
// One row of the stock view (the stock watch's reads after a change): each touches only the
// index entries of that row, so a change costs the same whatever else the station holds.
// idx_units_station: (station_id, status, component, abo, rhd) is an equality prefix for each
// of the three statuses.
constexpr char kKeyLevels[] =
    "SELECT status, COUNT(*), CAST(SUM(quantity) AS SIGNED), "
    "CAST(SUM(CASE WHEN expires_us <= ? THEN 1 ELSE 0 END) AS SIGNED), "
    "CAST(SUM(CASE WHEN expires_us <= ? THEN quantity ELSE 0 END) AS SIGNED) "
    "FROM units FORCE INDEX (idx_units_station) WHERE station_id = ? "
    "AND status IN (@IN_STOCK@) AND component = ? AND abo = ? AND rhd = ? GROUP BY status";
// idx_units_reserve: (status, component, abo, rhd) is an equality prefix.
constexpr char kKeyInTransit[] =
    "SELECT COUNT(*), CAST(COALESCE(SUM(u.quantity), 0) AS SIGNED) "
    "FROM units u FORCE INDEX (idx_units_reserve) JOIN transfers t "
    "ON t.transfer_id = u.transfer_id WHERE u.status = ? AND u.component = ? AND u.abo = ? "
    "AND u.rhd = ? AND t.to_station_id = ?";
constexpr char kKeyParLevel[] =
    "SELECT minimum, target FROM par_levels WHERE station_id = ? AND component = ? AND abo = ? "
    "AND rhd = ?";
constexpr char kAvailableLots[] =
    "SELECT station_id, component, abo, rhd, expires_us, COUNT(*), CAST(SUM(quantity) AS SIGNED) "
    "FROM units FORCE INDEX (idx_units_reserve) WHERE status = ? "
    "GROUP BY station_id, component, abo, rhd, expires_us";
constexpr char kIssuedDemand[] =
    "SELECT e.station_id, u.component, u.abo, u.rhd, CAST(SUM(u.quantity) AS SIGNED) "
    "FROM unit_events e FORCE INDEX (idx_unit_events_kind) JOIN units u ON u.unit_id = e.unit_id "
    "WHERE e.kind = ? AND e.occurred_us >= ? GROUP BY e.station_id, u.component, u.abo, u.rhd";

// ---------------------------------------------------------------------------------------------
// Small helpers around Connector/C++.

// `sql` with its @IN_STOCK@ replaced by one placeholder per status of InStockStatuses().
std::string StockViewSql(absl::string_view sql) {
  std::vector<absl::string_view> marks(InStockStatuses().size(), "?");
  return absl::StrReplaceAll(sql, {{"@IN_STOCK@", absl::StrJoin(marks, ", ")}});
}

// Binds parameters in order.
class Params {
 public:
  explicit Params(sql::PreparedStatement& statement) : statement_(statement) {}
  Params& Str(absl::string_view value) {
    statement_.setString(++index_, std::string(value));
    return *this;
  }
  // "" is stored as NULL.
  Params& StrOrNull(absl::string_view value) {
    if (value.empty()) {
      statement_.setNull(++index_, sql::DataType::VARCHAR);
    } else {
      statement_.setString(++index_, std::string(value));
    }
    return *this;
  }
  Params& Int(int64_t value) {
    statement_.setInt64(++index_, value);
    return *this;
  }
  Params& IntOrNull(std::optional<int64_t> value) {
    if (value.has_value()) {
      statement_.setInt64(++index_, *value);
    } else {
      statement_.setNull(++index_, sql::DataType::BIGINT);
    }
    return *this;
  }
  // NULL unless `present`.
  Params& DoubleOrNull(bool present, double value) {
    if (present) {
      statement_.setDouble(++index_, value);
    } else {
      statement_.setNull(++index_, sql::DataType::DOUBLE);
    }
    return *this;
  }
  Params& Blob(std::istream* stream) {
    statement_.setBlob(++index_, stream);
    return *this;
  }

 private:
  sql::PreparedStatement& statement_;
  unsigned index_ = 0;
};

// Runs a query and hands each row to `row`; the result set is closed before returning, so the
// connection is free for the next statement.
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
std::string BlobBytes(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::string();
  std::unique_ptr<std::istream> blob(rs.getBlob(column));
  std::stringstream bytes;
  bytes << blob->rdbuf();
  return bytes.str();
}

void SetTs(int64_t micros, google::protobuf::Timestamp* out) {
  SetTimestamp(FromMicros(micros), out);
}

std::string NewTransferId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrFormat("TR-%016x", random());
}

std::string Truncated(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

// ---------------------------------------------------------------------------------------------
// Row types.

using UnitRow = StoredUnit;

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

int64_t Micros(const google::protobuf::Timestamp& ts) { return ToMicros(FromTimestamp(ts)); }

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
                                       bool for_update = false) {
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

struct DonationRow {
  std::string din;
  std::string donor_id;
  v1::DonationType donation_type = v1::DONATION_TYPE_UNSPECIFIED;
  std::string station_id;
  int64_t collected_us = 0;
  BloodType collected_type;
  v1::TestingOutcome outcome = v1::TESTING_OUTCOME_PENDING;
};

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

// The reservation row, without its units.
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

// The reservation with the units it currently holds or issued.
v1::Reservation WithUnits(Connection& conn, v1::Reservation reservation) {
  sql::PreparedStatement& select = conn.Prepare(kUnitsOfReservation);
  Params(select).Str(reservation.reservation_key());
  int64_t sum = 0;
  for (UnitRow& row : QueryUnits(select)) {
    sum += row.unit.quantity();
    *reservation.add_units() = std::move(row.unit);
  }
  reservation.set_reserved_quantity(static_cast<int32_t>(std::min<int64_t>(sum, INT32_MAX)));
  return reservation;
}

void WriteReservationStatus(Connection& conn, const v1::Reservation& r, absl::Time now) {
  sql::PreparedStatement& update = conn.Prepare(kUpdateReservationStatus);
  Params(update)
      .Int(r.status())
      .IntOrNull(r.has_hold_expires_at() ? std::optional<int64_t>(Micros(r.hold_expires_at()))
                                         : std::nullopt)
      .IntOrNull(r.has_confirmed_at() ? std::optional<int64_t>(Micros(r.confirmed_at()))
                                      : std::nullopt)
      .Int(ToMicros(now))
      .Str(r.reservation_key());
  update.executeUpdate();
}

// ---------------------------------------------------------------------------------------------
// The transaction frame shared by every operation.

struct Txn {
  Connection& conn;
  const OpContext& ctx;
  StockChanges& changes;
};

void InsertEvent(Txn& t, const v1::Unit& unit, v1::UnitStatus from, const UnitEventDraft& event) {
  sql::PreparedStatement& insert = t.conn.Prepare(kInsertEvent);
  Params(insert)
      .Str(unit.unit_id())
      .Str(unit.din())
      .Int(unit.component())
      .Int(event.kind)
      .Int(from)
      .Int(unit.status())
      .Int(ToMicros(event.occurred_at.value_or(t.ctx.now)))
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

// The apply step: writes a change the rules decided (unit_lifecycle.cc) over `current`, the
// unit as this transaction locked it, with its event row, and records its stock rows and
// alerts; `current` becomes the unit as stored. For a new unit `current` is only an output.
// The status change is checked against the state machine once more.
absl::Status ApplyChange(Txn& t, UnitRow& current, const UnitChange& change) {
  switch (change.write) {
    case UnitChange::Write::kEventOnly:
      InsertEvent(t, current.unit, current.unit.status(), change.event);
      break;
    case UnitChange::Write::kNewUnit:
      current = change.after;
      SetTimestamp(t.ctx.now, current.unit.mutable_created_at());
      SetTimestamp(t.ctx.now, current.unit.mutable_updated_at());
      InsertUnit(t.conn, current);
      InsertEvent(t, current.unit, v1::UNIT_STATUS_UNSPECIFIED, change.event);
      t.changes.keys.insert(KeyOfUnit(current.unit));
      break;
    case UnitChange::Write::kUnitAndEvent: {
      BG_RETURN_IF_ERROR(CheckTransition(current.unit.status(), change.after.unit.status()));
      UnitRow after = change.after;
      v1::Unit& u = after.unit;
      SetTimestamp(t.ctx.now, u.mutable_updated_at());
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
          .Int(ToMicros(t.ctx.now))
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

// ApplyChange for each of `changes`, in order.
absl::Status ApplyChanges(Txn& t, UnitRow& current, absl::Span<const UnitChange> changes) {
  for (const UnitChange& change : changes) BG_RETURN_IF_ERROR(ApplyChange(t, current, change));
  return absl::OkStatus();
}

// Runs `body` as one transaction, idempotent on `key` when given (null for reads and for the
// operations keyed by their own natural key; only a protobuf response can be replayed). On
// success `changes` describes the commit.
template <typename Response>
absl::StatusOr<Response> RunOp(db::ConnectionPool& pool, absl::string_view what,
                               const OpContext& ctx, const db::IdempotencyKey* key,
                               StockChanges* changes,
                               absl::FunctionRef<absl::Status(Txn&, Response&)> body) {
  Response response;
  StockChanges local;
  StockChanges& sink = changes != nullptr ? *changes : local;
  bool replayed = false;
  absl::Status status =
      db::RunTransaction(pool, what, ctx.deadline, [&](Connection& conn) -> absl::Status {
        response = Response();
        sink.Clear();
        replayed = false;
        if constexpr (std::is_base_of_v<google::protobuf::Message, Response>) {
          if (key != nullptr) {
            BG_ASSIGN_OR_RETURN(replayed, db::ClaimOrReplay(conn, *key, &response));
            if (replayed) return absl::OkStatus();
          }
        }
        Txn txn{conn, ctx, sink};
        BG_RETURN_IF_ERROR(body(txn, response));
        if constexpr (std::is_base_of_v<google::protobuf::Message, Response>) {
          if (key != nullptr) db::CompleteIdempotent(conn, *key, response);
        }
        return absl::OkStatus();
      });
  if (!status.ok() || replayed) sink.Clear();
  if (!status.ok()) return status;
  return response;
}

absl::Status UnknownStation(absl::string_view field, absl::string_view station_id) {
  return InvalidField(field, absl::StrCat("unknown station '", station_id, "'"));
}

// ---------------------------------------------------------------------------------------------
// Claiming units chosen from a plain read.

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
    unit.expires_at = FromMicros(I64(rs, 2));
    unit.quantity = rs.getInt(3);
    unit.tier = tier;
    unit.station_rank = station_rank;
    out.push_back(std::move(unit));
  });
  return out;
}

// Locks the unit if it is still `status` and no other transaction holds it.
std::optional<UnitRow> ClaimUnit(Connection& conn, absl::string_view unit_id,
                                 v1::UnitStatus status) {
  sql::PreparedStatement& claim = conn.Prepare(kClaimUnit);
  Params(claim).Str(unit_id).Int(status);
  return QueryUnit(claim);
}

// Repeats choose -> claim until every chosen unit is locked by this transaction: a unit that
// another transaction holds (SKIP LOCKED) or has taken meanwhile is dropped from the pool and
// the choice is made again. `more` adds candidates when the pool runs short (returns false
// when there is nothing more to read). Returns the claimed rows of the final choice, in its
// order.
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

}  // namespace

// =============================================================================================
// Stations and par levels

absl::StatusOr<v1::Station> MysqlInventoryStore::UpsertStation(const OpContext& ctx,
                                                               const db::IdempotencyKey& key,
                                                               const v1::Station& station) {
  return RunOp<v1::Station>(
      pool_, "upsert station", ctx, &key, nullptr, [&](Txn& t, v1::Station& out) -> absl::Status {
        std::optional<v1::Station> existing = FindStation(t.conn, station.station_id(), true);
        const bool located = station.has_location();
        const double lat = station.location().latitude();
        const double lon = station.location().longitude();
        if (!existing.has_value()) {
          sql::PreparedStatement& insert = t.conn.Prepare(kInsertStation);
          Params(insert)
              .Str(station.station_id())
              .Str(station.name())
              .Int(station.kind())
              .DoubleOrNull(located, lat)
              .DoubleOrNull(located, lon)
              .Str(station.address())
              .Int(station.active() ? 1 : 0)
              .Int(ToMicros(t.ctx.now))
              .Int(ToMicros(t.ctx.now));
          insert.executeUpdate();
        } else {
          v1::Station wanted = station;
          *wanted.mutable_created_at() = existing->created_at();
          *wanted.mutable_updated_at() = existing->updated_at();
          if (wanted.SerializeAsString() == existing->SerializeAsString()) {
            out = *existing;  // same content: nothing changes
            return absl::OkStatus();
          }
          sql::PreparedStatement& update = t.conn.Prepare(kUpdateStation);
          Params(update)
              .Str(station.name())
              .Int(station.kind())
              .DoubleOrNull(located, lat)
              .DoubleOrNull(located, lon)
              .Str(station.address())
              .Int(station.active() ? 1 : 0)
              .Int(ToMicros(t.ctx.now))
              .Str(station.station_id());
          update.executeUpdate();
        }
        out = *FindStation(t.conn, station.station_id());
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Station> MysqlInventoryStore::GetStation(const OpContext& ctx,
                                                            const std::string& station_id) {
  return RunOp<v1::Station>(
      pool_, "get station", ctx, nullptr, nullptr, [&](Txn& t, v1::Station& out) -> absl::Status {
        std::optional<v1::Station> found = FindStation(t.conn, station_id);
        if (!found.has_value()) {
          return absl::NotFoundError(absl::StrCat("station '", station_id, "' not found"));
        }
        out = std::move(*found);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListStationsResponse> MysqlInventoryStore::ListStations(
    const OpContext& ctx, const PageRequest& page) {
  const uint64_t filter = FilterHash({"stations"});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(page.token, filter));
  return RunOp<v1::ListStationsResponse>(
      pool_, "list stations", ctx, nullptr, nullptr,
      [&](Txn& t, v1::ListStationsResponse& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(kListStations);
        Params(select).Str(cursor.after_id()).Int(page.size + 1);
        ForEachRow(select,
                   [&](const sql::ResultSet& rs) { *out.add_stations() = ReadStation(rs); });
        if (out.stations_size() > page.size) {
          out.mutable_stations()->RemoveLast();
          v1::PageCursor next;
          next.set_after_id(out.stations(out.stations_size() - 1).station_id());
          next.set_filter_hash(filter);
          out.set_next_page_token(EncodePageToken(next));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ParLevel> MysqlInventoryStore::SetParLevel(const OpContext& ctx,
                                                              const db::IdempotencyKey& key,
                                                              const v1::SetParLevelRequest& request,
                                                              StockChanges* changes) {
  return RunOp<v1::ParLevel>(
      pool_, "set par level", ctx, &key, changes, [&](Txn& t, v1::ParLevel& out) -> absl::Status {
        if (!FindStation(t.conn, request.station_id()).has_value()) {
          return absl::NotFoundError(
              absl::StrCat("station '", request.station_id(), "' not found"));
        }
        sql::PreparedStatement& upsert = t.conn.Prepare(kUpsertParLevel);
        Params(upsert)
            .Str(request.station_id())
            .Int(request.component())
            .Int(request.blood_type().abo())
            .Int(request.blood_type().rhd())
            .Int(request.minimum())
            .Int(request.target())
            .Int(ToMicros(t.ctx.now));
        upsert.executeUpdate();
        out.set_station_id(request.station_id());
        out.set_component(request.component());
        *out.mutable_blood_type() = request.blood_type();
        out.set_minimum(request.minimum());
        out.set_target(request.target());
        SetTimestamp(t.ctx.now, out.mutable_updated_at());
        t.changes.keys.insert(LevelKey{request.station_id(), request.component(),
                                       request.blood_type().abo(), request.blood_type().rhd()});
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListParLevelsResponse> MysqlInventoryStore::ListParLevels(
    const OpContext& ctx, const v1::ListParLevelsRequest& request) {
  return RunOp<v1::ListParLevelsResponse>(
      pool_, "list par levels", ctx, nullptr, nullptr,
      [&](Txn& t, v1::ListParLevelsResponse& out) -> absl::Status {
        sql::PreparedStatement& select =
            t.conn.Prepare(request.station_id().empty() ? kAllParLevels : kParLevelsOfStation);
        if (!request.station_id().empty()) Params(select).Str(request.station_id());
        ForEachRow(select, [&](const sql::ResultSet& rs) {
          v1::ParLevel level = ReadParLevel(rs);
          if (request.component() == v1::COMPONENT_UNSPECIFIED ||
              level.component() == request.component()) {
            *out.add_par_levels() = std::move(level);
          }
        });
        return absl::OkStatus();
      });
}

// =============================================================================================
// Collection, testing, processing

absl::StatusOr<v1::RegisterCollectionResponse> MysqlInventoryStore::RegisterCollection(
    const OpContext& ctx, const db::IdempotencyKey& key,
    const v1::RegisterCollectionRequest& request, const CollectionPlan& plan,
    StockChanges* changes) {
  return RunOp<v1::RegisterCollectionResponse>(
      pool_, "register collection", ctx, &key, changes,
      [&](Txn& t, v1::RegisterCollectionResponse& out) -> absl::Status {
        if (std::optional<DonationRow> existing = FindDonation(t.conn, request.din(), true)) {
          if (existing->donor_id != request.donor_id()) {
            return absl::AlreadyExistsError(
                absl::StrCat("din: ", request.din(), " is already registered for another donor"));
          }
          sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDin);
          Params(select).Str(request.din());
          std::vector<UnitRow> units = QueryUnits(select);
          if (units.empty()) return absl::InternalError("donation without units");
          *out.mutable_unit() = units.front().unit;  // the collected unit comes first
          out.set_created(false);
          return absl::OkStatus();
        }
        std::optional<v1::Station> station = FindStation(t.conn, request.station_id());
        if (!station.has_value()) return UnknownStation("station_id", request.station_id());
        if (!station->active()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "station '", request.station_id(), "' is inactive and takes no new stock"));
        }
        try {
          sql::PreparedStatement& insert = t.conn.Prepare(kInsertDonation);
          Params(insert)
              .Str(request.din())
              .Str(request.donor_id())
              .Int(request.donation_type())
              .Str(request.station_id())
              .Int(Micros(request.collected_at()))
              .Int(request.blood_type().abo())
              .Int(request.blood_type().rhd())
              .Int(NewDonationTestingOutcome())
              .Int(ToMicros(t.ctx.now));
          insert.executeUpdate();
        } catch (const sql::SQLException& e) {
          if (e.getErrorCode() == db::kErrDuplicateKey) {
            return db::RetryTransactionStatus("DIN registered concurrently");
          }
          throw;
        }
        UnitRow row;
        BG_RETURN_IF_ERROR(ApplyChange(t, row, CollectedUnit(request, plan)));
        *out.mutable_unit() = row.unit;
        out.set_created(true);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::RecordTestResultsResponse> MysqlInventoryStore::RecordTestResults(
    const OpContext& ctx, const db::IdempotencyKey& key,
    const v1::RecordTestResultsRequest& request, absl::Span<const v1::ScreeningTest> required,
    StockChanges* changes) {
  return RunOp<v1::RecordTestResultsResponse>(
      pool_, "record test results", ctx, &key, changes,
      [&](Txn& t, v1::RecordTestResultsResponse& out) -> absl::Status {
        std::optional<DonationRow> donation = FindDonation(t.conn, request.din(), true);
        if (!donation.has_value()) {
          return absl::NotFoundError(absl::StrCat("no unit carries DIN ", request.din()));
        }
        // Current (not superseded) record of each test.
        std::map<int, v1::TestResult> current;
        for (v1::TestResult& result : ResultsOfDin(t.conn, request.din())) {
          if (!result.superseded()) current[result.test()] = std::move(result);
        }
        auto as_current = [](const v1::TestResult& r) {
          return CurrentResult{r.test(), r.reactive(),
                               BloodType{r.blood_type().abo(), r.blood_type().rhd()}};
        };
        std::vector<std::string> recorded;
        for (int i = 0; i < request.results_size(); ++i) {
          const v1::TestResultInput& input = request.results(i);
          auto it = current.find(input.test());
          std::optional<CurrentResult> now_current;
          if (it != current.end()) now_current = as_current(it->second);
          const ResultChange change =
              ClassifyResult(now_current.has_value() ? &*now_current : nullptr, input);
          if (change == ResultChange::kUnchanged) continue;
          if (change == ResultChange::kCorrection && input.correction_reason().empty()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "results[", i, "]: ", v1::ScreeningTest_Name(input.test()),
                " already has a different result; a correction needs correction_reason"));
          }
          std::optional<int64_t> corrects;
          if (change == ResultChange::kCorrection) {
            int64_t old_id = 0;
            absl::SimpleAtoi(it->second.result_id(), &old_id);
            corrects = old_id;
            sql::PreparedStatement& supersede = t.conn.Prepare(kSupersedeResult);
            Params(supersede).Int(old_id);
            supersede.executeUpdate();
          }
          const bool typing = input.test() == v1::SCREENING_TEST_ABO_RHD;
          sql::PreparedStatement& insert = t.conn.Prepare(kInsertResult);
          Params(insert)
              .Str(request.din())
              .Int(input.test())
              .Int(!typing && input.reactive() ? 1 : 0)
              .Int(typing ? input.blood_type().abo() : 0)
              .Int(typing ? input.blood_type().rhd() : 0)
              .Int(input.has_tested_at() ? Micros(input.tested_at()) : ToMicros(t.ctx.now))
              .Int(ToMicros(t.ctx.now))
              .Str(Truncated(t.ctx.actor, 160))
              .IntOrNull(corrects)
              .Str(input.correction_reason());
          insert.executeUpdate();
          recorded.push_back(
              absl::StrCat(v1::ScreeningTest_Name(input.test()),
                           change == ResultChange::kCorrection ? " (correction)" : ""));
        }
        // Derive the donation's state from the current results (BSIS style: never typed in).
        std::vector<v1::TestResult> all = ResultsOfDin(t.conn, request.din());
        std::vector<CurrentResult> current_list;
        for (const v1::TestResult& r : all) {
          if (r.superseded()) continue;
          current_list.push_back(as_current(r));
          *out.add_results() = r;
        }
        const TestingState state = DeriveTestingState(required, current_list);

        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDinForUpdate);
        Params(select).Str(request.din());
        std::vector<v1::Unit> transfused;
        for (UnitRow& unit : QueryUnits(select)) {
          const TestingDecision decision = DecideAfterTesting(unit, state, recorded);
          BG_RETURN_IF_ERROR(ApplyChanges(t, unit, decision.changes));
          switch (decision.listed) {
            case TestingDecision::Listed::kReleased:
              *out.add_released_units() = unit.unit;
              break;
            case TestingDecision::Listed::kDiscarded:
              *out.add_discarded_units() = unit.unit;
              break;
            case TestingDecision::Listed::kIssued:
              *out.add_issued_units() = unit.unit;
              break;
            case TestingDecision::Listed::kTransfused:
              transfused.push_back(unit.unit);
              break;
            case TestingDecision::Listed::kNone:
              break;
          }
        }
        for (v1::Unit& unit : transfused) *out.add_issued_units() = std::move(unit);
        if (state.outcome != donation->outcome) {
          sql::PreparedStatement& update = t.conn.Prepare(kUpdateDonationOutcome);
          Params(update).Int(state.outcome).Str(request.din());
          update.executeUpdate();
        }
        out.set_din(request.din());
        out.set_donor_id(donation->donor_id);
        out.set_outcome(state.outcome);
        for (v1::ScreeningTest test : state.pending) out.add_pending_tests(test);
        for (v1::ScreeningTest test : state.reactive) out.add_reactive_tests(test);
        if (state.typed.has_value()) {
          *out.mutable_typed_blood_type() = state.typed->ToProto();
          out.set_blood_type_changed(donation->collected_type.IsKnown() &&
                                     !(donation->collected_type == *state.typed));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ProcessDonationResponse> MysqlInventoryStore::ProcessDonation(
    const OpContext& ctx, const db::IdempotencyKey& key, const v1::ProcessDonationRequest& request,
    absl::Time processed_at, const ComponentPlanner& planner, StockChanges* changes) {
  return RunOp<v1::ProcessDonationResponse>(
      pool_, "process donation", ctx, &key, changes,
      [&](Txn& t, v1::ProcessDonationResponse& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDinForUpdate);
        Params(select).Str(request.din());
        std::vector<UnitRow> units = QueryUnits(select);
        if (units.empty())
          return absl::NotFoundError(absl::StrCat("no unit carries DIN ", request.din()));
        const UnitRow* parent = WholeBloodParent(units);
        if (parent == nullptr) {
          return absl::FailedPreconditionError(absl::StrCat(
              "DIN ", request.din(), " holds no whole-blood unit (an apheresis collection)"));
        }
        BG_RETURN_IF_ERROR(CheckProcessing(*parent, processed_at));
        BG_ASSIGN_OR_RETURN(std::vector<ComponentPlan> plans, planner(parent->unit));
        const UnitRow before = *parent;
        UnitRow processed = before;
        BG_RETURN_IF_ERROR(
            ApplyChange(t, processed, ProcessedParent(before, plans.size(), processed_at)));
        *out.mutable_parent() = processed.unit;
        for (const ComponentPlan& plan : plans) {
          UnitRow child;
          BG_RETURN_IF_ERROR(ApplyChange(t, child, ComponentUnit(before, plan, processed_at)));
          *out.add_children() = child.unit;
        }
        return absl::OkStatus();
      });
}

// =============================================================================================
// Reservations

namespace {

absl::Status ReservationNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("reservation '", key, "' not found"));
}

}  // namespace

absl::StatusOr<v1::Reservation> MysqlInventoryStore::Reserve(const OpContext& ctx,
                                                             const v1::ReserveRequest& request,
                                                             absl::Duration hold,
                                                             StockChanges* changes) {
  return RunOp<v1::Reservation>(
      pool_, "reserve", ctx, nullptr, changes, [&](Txn& t, v1::Reservation& out) -> absl::Status {
        const std::string& key = request.reservation_key();
        if (std::optional<v1::Reservation> existing = FindReservation(t.conn, key, true)) {
          // Idempotent on the key: the same reservation, whatever its state; never more units.
          out = WithUnits(t.conn, *existing);
          return absl::OkStatus();
        }
        std::vector<int32_t> ranks;  // active stations, by their index in the request
        for (int i = 0; i < request.station_ids_size(); ++i) {
          std::optional<v1::Station> station = FindStation(t.conn, request.station_ids(i));
          if (!station.has_value()) {
            return UnknownStation(absl::StrCat("station_ids[", i, "]"), request.station_ids(i));
          }
          if (station->active()) ranks.push_back(i);
        }
        try {
          sql::PreparedStatement& insert = t.conn.Prepare(kInsertReservation);
          Params(insert)
              .Str(key)
              .Int(HeldReservationStatus())
              .Int(request.component())
              .Int(request.quantity())
              .Int(request.priority())
              .Str(request.order_id())
              .Str(request.hospital_id())
              .Int(ToMicros(t.ctx.now + hold))
              .Int(ToMicros(t.ctx.now))
              .Int(ToMicros(t.ctx.now));
          insert.executeUpdate();
        } catch (const sql::SQLException& e) {
          // A concurrent Reserve with this key committed first: run again and return its result.
          if (e.getErrorCode() == db::kErrDuplicateKey) {
            return db::RetryTransactionStatus("reservation key taken concurrently");
          }
          throw;
        }

        // Preference groups (one tier at one station), read lazily in allocation order: a
        // later group matters only when the earlier ones cannot fill the quantity.
        std::vector<int32_t> tiers;
        std::map<int32_t, std::vector<BloodType>> types_of_tier;
        for (const v1::CandidateBloodType& candidate : request.candidates()) {
          if (types_of_tier.find(candidate.tier()) == types_of_tier.end())
            tiers.push_back(candidate.tier());
          types_of_tier[candidate.tier()].push_back(
              BloodType{candidate.blood_type().abo(), candidate.blood_type().rhd()});
        }
        const std::vector<PreferenceGroup> groups =
            PreferenceGroups(request.priority(), tiers, ranks);
        const absl::Time floor = std::max(FromTimestamp(request.expiry_floor()), t.ctx.now);
        const int limit = std::min(request.quantity(), 500) + 32;
        std::vector<ChoiceUnit> pool;
        size_t next_group = 0;
        auto more = [&]() -> bool {
          if (next_group >= groups.size()) return false;
          const PreferenceGroup& group = groups[next_group++];
          for (const BloodType& type : types_of_tier[group.tier]) {
            std::vector<ChoiceUnit> found = ReadCandidates(
                t.conn, request.component(), type, request.station_ids(group.station_rank),
                ToMicros(floor), limit, group.tier, group.station_rank);
            pool.insert(pool.end(), std::make_move_iterator(found.begin()),
                        std::make_move_iterator(found.end()));
          }
          return true;
        };
        auto choose = [&](absl::Span<const ChoiceUnit> units) {
          return ChooseUnits(request.priority(), request.quantity(), floor, units);
        };
        std::vector<UnitRow> claimed =
            ChooseAndClaim(t.conn, pool, request.quantity(), choose, more);
        for (UnitRow& unit : claimed) {
          BG_RETURN_IF_ERROR(ApplyChange(t, unit, ReserveUnit(unit, request)));
        }
        std::optional<v1::Reservation> created = FindReservation(t.conn, key, false);
        if (!created.has_value()) return absl::InternalError("reservation vanished");
        out = WithUnits(t.conn, *created);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Reservation> MysqlInventoryStore::ConfirmReservation(const OpContext& ctx,
                                                                        const std::string& key) {
  return RunOp<v1::Reservation>(
      pool_, "confirm reservation", ctx, nullptr, nullptr,
      [&](Txn& t, v1::Reservation& out) -> absl::Status {
        std::optional<v1::Reservation> row = FindReservation(t.conn, key, true);
        if (!row.has_value()) return ReservationNotFound(key);
        BG_ASSIGN_OR_RETURN(std::optional<v1::Reservation> confirmed,
                            ConfirmedReservation(*row, t.ctx.now));
        if (confirmed.has_value()) WriteReservationStatus(t.conn, *confirmed, t.ctx.now);
        const v1::Reservation& r = confirmed.has_value() ? *confirmed : *row;
        out = WithUnits(t.conn, r);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Reservation> MysqlInventoryStore::GetReservation(const OpContext& ctx,
                                                                    const std::string& key) {
  return RunOp<v1::Reservation>(pool_, "get reservation", ctx, nullptr, nullptr,
                                [&](Txn& t, v1::Reservation& out) -> absl::Status {
                                  std::optional<v1::Reservation> row =
                                      FindReservation(t.conn, key, false);
                                  if (!row.has_value()) return ReservationNotFound(key);
                                  out = WithUnits(t.conn, *row);
                                  return absl::OkStatus();
                                });
}

absl::StatusOr<v1::Reservation> MysqlInventoryStore::Release(const OpContext& ctx,
                                                             const db::IdempotencyKey& key,
                                                             const v1::ReleaseRequest& request,
                                                             StockChanges* changes) {
  return RunOp<v1::Reservation>(
      pool_, "release reservation", ctx, &key, changes,
      [&](Txn& t, v1::Reservation& out) -> absl::Status {
        const std::string& rkey = request.reservation_key();
        std::optional<v1::Reservation> row = FindReservation(t.conn, rkey, true);
        if (!row.has_value()) return ReservationNotFound(rkey);
        const v1::Reservation& r = *row;
        if (IsClosedReservation(r.status())) {
          out = WithUnits(t.conn, r);
          return absl::OkStatus();
        }
        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfReservationForUpdate);
        Params(select).Str(rkey);
        std::vector<UnitRow> units = QueryUnits(select);
        BG_ASSIGN_OR_RETURN(std::vector<size_t> targets, ReleaseTargets(units, request));
        for (size_t index : targets) {
          UnitRow& unit = units[index];
          BG_ASSIGN_OR_RETURN(UnitChange change, ReleaseUnit(unit, r, request.reason()));
          BG_RETURN_IF_ERROR(ApplyChange(t, unit, change));
        }
        v1::Reservation now = WithUnits(t.conn, r);
        if (SettleReservation(&now)) WriteReservationStatus(t.conn, now, t.ctx.now);
        out = std::move(now);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::IssueResponse> MysqlInventoryStore::Issue(const OpContext& ctx,
                                                             const db::IdempotencyKey& key,
                                                             const v1::IssueRequest& request,
                                                             StockChanges* changes) {
  return RunOp<v1::IssueResponse>(
      pool_, "issue units", ctx, &key, changes,
      [&](Txn& t, v1::IssueResponse& out) -> absl::Status {
        const std::string& rkey = request.reservation_key();
        std::optional<v1::Reservation> row = FindReservation(t.conn, rkey, true);
        if (!row.has_value()) return ReservationNotFound(rkey);
        const v1::Reservation& r = *row;
        BG_RETURN_IF_ERROR(CheckIssueReservation(r));
        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfReservationForUpdate);
        Params(select).Str(rkey);
        std::vector<UnitRow> units = QueryUnits(select);
        BG_ASSIGN_OR_RETURN(IssueSelection selection, IssueTargets(units, request));
        // All or nothing: check every unit before changing any.
        for (size_t index : selection.to_issue) {
          BG_RETURN_IF_ERROR(CheckIssuable(units[index], t.ctx.now));
        }
        for (size_t index : selection.to_issue) {
          UnitRow& unit = units[index];
          BG_RETURN_IF_ERROR(ApplyChange(t, unit, IssueUnit(unit, request, t.ctx.now)));
          *out.add_units() = unit.unit;
        }
        for (size_t index : selection.already_issued) *out.add_units() = units[index].unit;
        v1::Reservation now = WithUnits(t.conn, r);
        if (SettleReservation(&now)) WriteReservationStatus(t.conn, now, t.ctx.now);
        *out.mutable_reservation() = std::move(now);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Unit> MysqlInventoryStore::RecordOutcome(const OpContext& ctx,
                                                            const db::IdempotencyKey& key,
                                                            const v1::RecordOutcomeRequest& request,
                                                            StockChanges* changes) {
  return RunOp<v1::Unit>(
      pool_, "record outcome", ctx, &key, changes, [&](Txn& t, v1::Unit& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(kSelectUnitForUpdate);
        Params(select).Str(request.unit_id());
        std::optional<UnitRow> before = QueryUnit(select);
        if (!before.has_value()) {
          return absl::NotFoundError(absl::StrCat("unit '", request.unit_id(), "' not found"));
        }
        if (OutcomeAlreadyRecorded(before->unit, request)) {
          out = before->unit;  // the outcome already recorded
          return absl::OkStatus();
        }
        BG_RETURN_IF_ERROR(CheckOutcome(before->unit, request));
        std::string return_station = before->unit.station_id();
        if (request.outcome() == v1::TRANSFUSION_OUTCOME_RETURNED &&
            !request.return_station_id().empty()) {
          if (!FindStation(t.conn, request.return_station_id()).has_value()) {
            return UnknownStation("return_station_id", request.return_station_id());
          }
          return_station = request.return_station_id();
        }
        UnitRow unit = *before;
        BG_RETURN_IF_ERROR(
            ApplyChanges(t, unit, OutcomeChanges(*before, request, return_station, t.ctx.now)));
        out = unit.unit;
        return absl::OkStatus();
      });
}

// =============================================================================================
// Transfers

namespace {

v1::Transfer ReadTransfer(const sql::ResultSet& rs) {
  v1::Transfer tr;
  tr.ParseFromString(BlobBytes(rs, 5));  // the requested items and the shortfalls
  tr.set_transfer_id(Str(rs, 1));
  tr.set_from_station_id(Str(rs, 2));
  tr.set_to_station_id(Str(rs, 3));
  tr.set_status(static_cast<v1::TransferStatus>(rs.getInt(4)));
  tr.set_reason(Str(rs, 6));
  tr.set_reservation_key(Str(rs, 7));
  tr.set_created_by(Str(rs, 8));
  SetTs(I64(rs, 9), tr.mutable_created_at());
  if (std::optional<int64_t> v = OptI64(rs, 10)) SetTs(*v, tr.mutable_dispatched_at());
  SetTs(I64(rs, 11), tr.mutable_expected_arrival_at());
  if (std::optional<int64_t> v = OptI64(rs, 12)) SetTs(*v, tr.mutable_received_at());
  if (std::optional<int64_t> v = OptI64(rs, 13)) SetTs(*v, tr.mutable_cancelled_at());
  tr.set_note(Str(rs, 14));
  return tr;
}

std::optional<v1::Transfer> FindTransfer(Connection& conn, absl::string_view id, bool for_update) {
  sql::PreparedStatement& select =
      conn.Prepare(for_update ? kSelectTransferForUpdate : kSelectTransfer);
  Params(select).Str(id);
  std::optional<v1::Transfer> found;
  ForEachRow(select, [&](const sql::ResultSet& rs) { found = ReadTransfer(rs); });
  return found;
}

struct TransferUnit {
  UnitRow row;
  bool rejected = false;
};

std::vector<TransferUnit> UnitsOnTransfer(Connection& conn, absl::string_view id, bool for_update) {
  sql::PreparedStatement& select =
      conn.Prepare(for_update ? kUnitsOfTransferForUpdate : kUnitsOfTransfer);
  Params(select).Str(id);
  std::vector<TransferUnit> out;
  ForEachRow(select, [&](const sql::ResultSet& rs) {
    out.push_back(TransferUnit{ReadUnitRow(rs), rs.getInt(30) != 0});
  });
  return out;
}

v1::Transfer WithTransferUnits(Connection& conn, v1::Transfer transfer) {
  transfer.clear_units();
  transfer.clear_rejected_unit_ids();
  for (TransferUnit& unit : UnitsOnTransfer(conn, transfer.transfer_id(), false)) {
    if (unit.rejected) transfer.add_rejected_unit_ids(unit.row.unit.unit_id());
    *transfer.add_units() = std::move(unit.row.unit);
  }
  return transfer;
}

void WriteTransfer(Connection& conn, const v1::Transfer& tr) {
  auto micros_or_null = [](bool has, const google::protobuf::Timestamp& ts) {
    return has ? std::optional<int64_t>(Micros(ts)) : std::nullopt;
  };
  sql::PreparedStatement& update = conn.Prepare(kUpdateTransfer);
  Params(update)
      .Int(tr.status())
      .IntOrNull(micros_or_null(tr.has_dispatched_at(), tr.dispatched_at()))
      .Int(Micros(tr.expected_arrival_at()))
      .IntOrNull(micros_or_null(tr.has_received_at(), tr.received_at()))
      .IntOrNull(micros_or_null(tr.has_cancelled_at(), tr.cancelled_at()))
      .Str(tr.note())
      .Str(tr.transfer_id());
  update.executeUpdate();
}

absl::Status TransferNotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("transfer '", id, "' not found"));
}

LevelKey AtStation(LevelKey key, const std::string& station_id) {
  key.station_id = station_id;
  return key;
}

}  // namespace

absl::StatusOr<v1::Transfer> MysqlInventoryStore::CreateTransfer(
    const OpContext& ctx, const db::IdempotencyKey& key, const v1::CreateTransferRequest& request,
    const TransferSettings& settings, StockChanges* changes) {
  return RunOp<v1::Transfer>(
      pool_, "create transfer", ctx, &key, changes, [&](Txn& t, v1::Transfer& out) -> absl::Status {
        std::optional<v1::Station> from = FindStation(t.conn, request.from_station_id());
        if (!from.has_value()) return UnknownStation("from_station_id", request.from_station_id());
        std::optional<v1::Station> to = FindStation(t.conn, request.to_station_id());
        if (!to.has_value()) return UnknownStation("to_station_id", request.to_station_id());
        if (!to->active()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "station '", request.to_station_id(), "' is inactive and takes no new stock"));
        }
        const absl::Time arrival = t.ctx.now + TransportTime(*from, *to, settings.transport);
        const absl::Time floor = arrival + settings.safety_margin;
        const std::string& rkey = request.reservation_key();
        const bool bound = !rkey.empty();
        if (bound) {
          std::optional<v1::Reservation> held_by = FindReservation(t.conn, rkey, true);
          if (!held_by.has_value()) {
            return absl::FailedPreconditionError(
                absl::StrCat("reservation '", rkey, "' not found"));
          }
          BG_RETURN_IF_ERROR(CheckTransferReservation(*held_by));
        }
        std::vector<UnitRow> picked;
        absl::flat_hash_set<std::string> picked_ids;
        v1::Transfer spec;
        for (int i = 0; i < request.items_size(); ++i) {
          const v1::TransferItem& item = request.items(i);
          if (item.item_case() == v1::TransferItem::kUnitId) {
            sql::PreparedStatement& select = t.conn.Prepare(kSelectUnitForUpdate);
            Params(select).Str(item.unit_id());
            std::optional<UnitRow> unit = QueryUnit(select);
            if (!unit.has_value()) {
              return InvalidField(absl::StrCat("items[", i, "].unit_id"),
                                  absl::StrCat("unknown unit '", item.unit_id(), "'"));
            }
            const v1::Unit& u = unit->unit;
            BG_RETURN_IF_ERROR(CheckMovable(u, request, i));
            picked_ids.insert(u.unit_id());
            picked.push_back(std::move(*unit));
            continue;
          }
          const v1::TransferLot& lot = item.lot();
          const BloodType type{lot.blood_type().abo(), lot.blood_type().rhd()};
          std::vector<ChoiceUnit> pool;
          bool read = false;
          auto more = [&]() -> bool {
            if (read) return false;
            read = true;
            for (ChoiceUnit& unit :
                 ReadCandidates(t.conn, lot.component(), type, request.from_station_id(),
                                ToMicros(floor), std::min(lot.quantity(), 500) + 32, 0, 0)) {
              if (!picked_ids.contains(unit.unit_id)) pool.push_back(std::move(unit));
            }
            return true;
          };
          auto choose = [&](absl::Span<const ChoiceUnit> units) {
            return PickFefo(lot.quantity(), floor, units);
          };
          int64_t sum = 0;
          for (UnitRow& row : ChooseAndClaim(t.conn, pool, lot.quantity(), choose, more)) {
            sum += row.unit.quantity();
            picked_ids.insert(row.unit.unit_id());
            picked.push_back(std::move(row));
          }
          if (sum < lot.quantity()) {
            v1::TransferLot* shortfall = spec.add_shortfalls();
            *shortfall = lot;
            shortfall->set_quantity(static_cast<int32_t>(lot.quantity() - sum));
          }
        }
        if (picked.empty()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "nothing could be picked at ", request.from_station_id(), " for this transfer"));
        }
        const std::string transfer_id = NewTransferId();
        for (size_t position = 0; position < picked.size(); ++position) {
          UnitRow& unit = picked[position];
          BG_RETURN_IF_ERROR(ApplyChange(t, unit, PickForTransfer(unit, transfer_id, request)));
          sql::PreparedStatement& insert = t.conn.Prepare(kInsertTransferUnit);
          Params(insert)
              .Str(transfer_id)
              .Int(static_cast<int64_t>(position))
              .Str(unit.unit.unit_id());
          insert.executeUpdate();
        }
        *spec.mutable_items() = request.items();
        const std::string spec_bytes = spec.SerializeAsString();
        std::istringstream spec_stream(spec_bytes);
        sql::PreparedStatement& insert = t.conn.Prepare(kInsertTransfer);
        Params(insert)
            .Str(transfer_id)
            .Str(request.from_station_id())
            .Str(request.to_station_id())
            .Int(NewTransferStatus())
            .Blob(&spec_stream)
            .Str(request.reason())
            .Str(rkey)
            .Str(Truncated(t.ctx.actor, 160))
            .Int(ToMicros(t.ctx.now))
            .Int(ToMicros(arrival));
        insert.executeUpdate();
        std::optional<v1::Transfer> created = FindTransfer(t.conn, transfer_id, false);
        if (!created.has_value()) return absl::InternalError("transfer vanished");
        out = WithTransferUnits(t.conn, *created);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Transfer> MysqlInventoryStore::DispatchTransfer(
    const OpContext& ctx, const db::IdempotencyKey& key, const v1::DispatchTransferRequest& request,
    const TransferSettings& settings, StockChanges* changes) {
  return RunOp<v1::Transfer>(
      pool_, "dispatch transfer", ctx, &key, changes,
      [&](Txn& t, v1::Transfer& out) -> absl::Status {
        std::optional<v1::Transfer> tr = FindTransfer(t.conn, request.transfer_id(), true);
        if (!tr.has_value()) return TransferNotFound(request.transfer_id());
        BG_ASSIGN_OR_RETURN(const bool dispatch, TransferToDispatch(*tr));
        if (!dispatch) {
          out = WithTransferUnits(t.conn, *tr);
          return absl::OkStatus();
        }
        std::optional<v1::Station> from = FindStation(t.conn, tr->from_station_id());
        std::optional<v1::Station> to = FindStation(t.conn, tr->to_station_id());
        if (!from.has_value() || !to.has_value())
          return absl::InternalError("transfer station vanished");
        for (TransferUnit& unit : UnitsOnTransfer(t.conn, tr->transfer_id(), true)) {
          std::optional<UnitChange> change = DispatchUnit(unit.row, *tr);
          if (!change.has_value()) continue;
          BG_RETURN_IF_ERROR(ApplyChange(t, unit.row, *change));
          t.changes.keys.insert(AtStation(KeyOfUnit(unit.row.unit), tr->to_station_id()));
        }
        MarkDispatched(t.ctx.now, t.ctx.now + TransportTime(*from, *to, settings.transport), &*tr);
        WriteTransfer(t.conn, *tr);
        out = WithTransferUnits(t.conn, *tr);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Transfer> MysqlInventoryStore::ReceiveTransfer(
    const OpContext& ctx, const db::IdempotencyKey& key, const v1::ReceiveTransferRequest& request,
    StockChanges* changes) {
  return RunOp<v1::Transfer>(
      pool_, "receive transfer", ctx, &key, changes,
      [&](Txn& t, v1::Transfer& out) -> absl::Status {
        std::optional<v1::Transfer> tr = FindTransfer(t.conn, request.transfer_id(), true);
        if (!tr.has_value()) return TransferNotFound(request.transfer_id());
        BG_ASSIGN_OR_RETURN(const bool receive, TransferToReceive(*tr));
        if (!receive) {
          out = WithTransferUnits(t.conn, *tr);
          return absl::OkStatus();
        }
        std::vector<TransferUnit> units = UnitsOnTransfer(t.conn, tr->transfer_id(), true);
        absl::flat_hash_set<std::string> rejected;
        for (int i = 0; i < request.rejected_unit_ids_size(); ++i) {
          const std::string& id = request.rejected_unit_ids(i);
          const bool on_transfer =
              std::any_of(units.begin(), units.end(),
                          [&](const TransferUnit& u) { return u.row.unit.unit_id() == id; });
          if (!on_transfer) {
            return InvalidField(absl::StrCat("rejected_unit_ids[", i, "]"),
                                absl::StrCat("unit '", id, "' is not on this transfer"));
          }
          rejected.insert(id);
        }
        const absl::Time at =
            request.has_received_at() ? FromTimestamp(request.received_at()) : t.ctx.now;
        if (at < FromTimestamp(tr->dispatched_at())) {
          return InvalidField("received_at", "before the transfer was dispatched");
        }
        for (TransferUnit& unit : units) {
          const bool reject = rejected.contains(unit.row.unit.unit_id());
          std::optional<UnitChange> change = ReceiveUnit(unit.row, *tr, reject, at);
          if (!change.has_value()) continue;
          if (reject) {
            sql::PreparedStatement& mark = t.conn.Prepare(kRejectTransferUnit);
            Params(mark).Str(tr->transfer_id()).Str(unit.row.unit.unit_id());
            mark.executeUpdate();
          }
          BG_RETURN_IF_ERROR(ApplyChange(t, unit.row, *change));
        }
        MarkReceived(at, request.note(), &*tr);
        WriteTransfer(t.conn, *tr);
        out = WithTransferUnits(t.conn, *tr);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Transfer> MysqlInventoryStore::CancelTransfer(
    const OpContext& ctx, const db::IdempotencyKey& key, const v1::CancelTransferRequest& request,
    StockChanges* changes) {
  return RunOp<v1::Transfer>(
      pool_, "cancel transfer", ctx, &key, changes, [&](Txn& t, v1::Transfer& out) -> absl::Status {
        std::optional<v1::Transfer> tr = FindTransfer(t.conn, request.transfer_id(), true);
        if (!tr.has_value()) return TransferNotFound(request.transfer_id());
        BG_ASSIGN_OR_RETURN(const bool cancel, TransferToCancel(*tr));
        if (!cancel) {
          out = WithTransferUnits(t.conn, *tr);
          return absl::OkStatus();
        }
        for (TransferUnit& unit : UnitsOnTransfer(t.conn, tr->transfer_id(), true)) {
          std::optional<UnitChange> change = CancelTransferUnit(unit.row, *tr, request.reason());
          if (!change.has_value()) continue;
          BG_RETURN_IF_ERROR(ApplyChange(t, unit.row, *change));
        }
        MarkCancelled(t.ctx.now, request.reason(), &*tr);
        WriteTransfer(t.conn, *tr);
        out = WithTransferUnits(t.conn, *tr);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Transfer> MysqlInventoryStore::GetTransfer(const OpContext& ctx,
                                                              const std::string& transfer_id) {
  return RunOp<v1::Transfer>(
      pool_, "get transfer", ctx, nullptr, nullptr, [&](Txn& t, v1::Transfer& out) -> absl::Status {
        std::optional<v1::Transfer> tr = FindTransfer(t.conn, transfer_id, false);
        if (!tr.has_value()) return TransferNotFound(transfer_id);
        out = WithTransferUnits(t.conn, *tr);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListTransfersResponse> MysqlInventoryStore::ListTransfers(
    const OpContext& ctx, const v1::ListTransfersRequest& request, const PageRequest& page) {
  const uint64_t filter =
      FilterHash({"transfers", request.station_id(), std::to_string(request.status())});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(page.token, filter));
  const bool first_page = page.token.empty();
  // Fixed fragments chosen by which filters are present.
  std::string sql = "SELECT " BG_TRANSFER_COLUMNS
                    " FROM transfers FORCE INDEX (idx_transfers_created) "
                    "WHERE (created_us < ? OR (created_us = ? AND transfer_id < ?))";
  if (!request.station_id().empty()) sql += " AND (from_station_id = ? OR to_station_id = ?)";
  if (request.status() != v1::TRANSFER_STATUS_UNSPECIFIED) sql += " AND status = ?";
  sql += " ORDER BY created_us DESC, transfer_id DESC LIMIT ?";
  return RunOp<v1::ListTransfersResponse>(
      pool_, "list transfers", ctx, nullptr, nullptr,
      [&](Txn& t, v1::ListTransfersResponse& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(sql);
        Params params(select);
        const int64_t after = first_page ? std::numeric_limits<int64_t>::max() : cursor.after_key();
        params.Int(after).Int(after).Str(cursor.after_id());
        if (!request.station_id().empty())
          params.Str(request.station_id()).Str(request.station_id());
        if (request.status() != v1::TRANSFER_STATUS_UNSPECIFIED) params.Int(request.status());
        params.Int(page.size + 1);
        std::vector<v1::Transfer> rows;
        ForEachRow(select, [&](const sql::ResultSet& rs) { rows.push_back(ReadTransfer(rs)); });
        const bool more = static_cast<int>(rows.size()) > page.size;
        if (more) {
          rows.pop_back();
          v1::PageCursor next;
          next.set_after_key(Micros(rows.back().created_at()));
          next.set_after_id(rows.back().transfer_id());
          next.set_filter_hash(filter);
          out.set_next_page_token(EncodePageToken(next));
        }
        for (v1::Transfer& tr : rows)
          *out.add_transfers() = WithTransferUnits(t.conn, std::move(tr));
        return absl::OkStatus();
      });
}

// =============================================================================================
// Discard and lookback

absl::StatusOr<v1::Unit> MysqlInventoryStore::DiscardUnit(const OpContext& ctx,
                                                          const db::IdempotencyKey& key,
                                                          const v1::DiscardUnitRequest& request,
                                                          StockChanges* changes) {
  return RunOp<v1::Unit>(
      pool_, "discard unit", ctx, &key, changes, [&](Txn& t, v1::Unit& out) -> absl::Status {
        std::optional<UnitRow> target;
        if (request.unit_case() == v1::DiscardUnitRequest::kUnitId) {
          sql::PreparedStatement& select = t.conn.Prepare(kSelectUnitForUpdate);
          Params(select).Str(request.unit_id());
          target = QueryUnit(select);
          if (!target.has_value()) {
            return absl::NotFoundError(absl::StrCat("unit '", request.unit_id(), "' not found"));
          }
        } else {
          sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDinForUpdate);
          Params(select).Str(request.din());
          std::vector<UnitRow> units = QueryUnits(select);
          if (units.empty())
            return absl::NotFoundError(absl::StrCat("no unit carries DIN ", request.din()));
          BG_ASSIGN_OR_RETURN(size_t live, LiveUnitOfDin(units, request.din()));
          target = std::move(units[live]);
        }
        BG_ASSIGN_OR_RETURN(UnitChange change, DiscardChange(*target, request));
        BG_RETURN_IF_ERROR(ApplyChange(t, *target, change));
        out = target->unit;
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::QuarantineByDonorResponse> MysqlInventoryStore::QuarantineByDonor(
    const OpContext& ctx, const db::IdempotencyKey& key,
    const v1::QuarantineByDonorRequest& request, const v1::PolicyProfile::Period& window,
    absl::TimeZone tz, StockChanges* changes) {
  return RunOp<v1::QuarantineByDonorResponse>(
      pool_, "lookback quarantine", ctx, &key, changes,
      [&](Txn& t, v1::QuarantineByDonorResponse& out) -> absl::Status {
        out.set_donor_id(request.donor_id());
        std::optional<DonationRow> reactive = FindDonation(t.conn, request.reactive_din(), false);
        const int64_t end_us = reactive.has_value() ? reactive->collected_us : ToMicros(t.ctx.now);
        int64_t start_us = 0;
        if (request.has_since()) {
          start_us = Micros(request.since());
        } else {
          sql::PreparedStatement& select = t.conn.Prepare(kLastReleasedDonation);
          Params(select)
              .Str(request.donor_id())
              .Int(end_us)
              .Str(request.reactive_din())
              .Int(ClearScreenOutcome());
          std::optional<int64_t> last_clear;
          ForEachRow(select, [&](const sql::ResultSet& rs) { last_clear = I64(rs, 2); });
          if (!last_clear.has_value()) return absl::OkStatus();  // nothing earlier to trace
          // DOMAIN.md section 5: donations within the window before the last non-reactive screen.
          const absl::CivilDay day = absl::ToCivilDay(FromMicros(*last_clear), tz);
          start_us = ToMicros(absl::FromCivil(SubtractPeriod(day, window), tz));
        }
        SetTs(start_us, out.mutable_window_start());
        SetTs(end_us, out.mutable_window_end());
        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDonorForUpdate);
        Params(select)
            .Str(request.donor_id())
            .Int(start_us)
            .Int(end_us)
            .Str(request.reactive_din());
        std::vector<UnitRow> units = QueryUnits(select);
        std::set<std::string> affected;
        const std::string reason =
            request.reason().empty()
                ? absl::StrCat("lookback: donor reactive on ", request.reactive_din())
                : request.reason();
        for (UnitRow& unit : units) {
          const v1::Unit& u = unit.unit;
          const LookbackDecision decision = DecideLookback(unit, reason);
          switch (decision.kind) {
            case LookbackDecision::Kind::kIssued: {
              v1::IssuedUnit* issued = out.add_issued_units();
              *issued->mutable_unit() = u;
              issued->set_order_id(u.order_id());
              issued->set_hospital_id(u.hospital_id());
              *issued->mutable_issued_at() = u.issued_at();
              break;
            }
            case LookbackDecision::Kind::kAlreadyHeld:
              *out.add_quarantined_units() = u;
              break;
            case LookbackDecision::Kind::kHold:
              BG_RETURN_IF_ERROR(ApplyChange(t, unit, decision.change));
              if (!decision.withdrawn_from.empty()) affected.insert(decision.withdrawn_from);
              *out.add_quarantined_units() = unit.unit;
              break;
            case LookbackDecision::Kind::kUntouched:
              break;
          }
        }
        for (const std::string& k : affected) out.add_affected_reservation_keys(k);
        return absl::OkStatus();
      });
}

// =============================================================================================
// Views

namespace {

// One row of the stock-view queries (kStationLevels, kAllLevels, kKeyLevels) from column
// `first` on: status, units, quantity, units expiring soon, quantity expiring soon.
void SetStatusCounts(const sql::ResultSet& rs, int first, v1::StockLevel& level) {
  const auto status = static_cast<v1::UnitStatus>(rs.getInt(first));
  v1::StockCount count;
  count.set_units(static_cast<int32_t>(I64(rs, first + 1)));
  count.set_quantity(I64(rs, first + 2));
  if (status == v1::UNIT_STATUS_AVAILABLE) {
    *level.mutable_available() = count;
    level.mutable_expiring_soon()->set_units(static_cast<int32_t>(I64(rs, first + 3)));
    level.mutable_expiring_soon()->set_quantity(I64(rs, first + 4));
  } else if (status == v1::UNIT_STATUS_RESERVED) {
    *level.mutable_reserved() = count;
  } else {
    *level.mutable_quarantined() = count;
  }
}

std::vector<v1::StockLevel> ComputeLevels(Connection& conn, const std::string& station_id,
                                          v1::Component component, int64_t expiring_before_us) {
  std::map<LevelKey, v1::StockLevel> rows;
  auto row = [&](const LevelKey& key) -> v1::StockLevel& {
    auto it = rows.find(key);
    if (it == rows.end()) {
      v1::StockLevel level;
      level.set_station_id(key.station_id);
      level.set_component(key.component);
      level.mutable_blood_type()->set_abo(key.abo);
      level.mutable_blood_type()->set_rhd(key.rhd);
      it = rows.emplace(key, std::move(level)).first;
    }
    return it->second;
  };
  auto wanted = [&](v1::Component c) {
    return component == v1::COMPONENT_UNSPECIFIED || c == component;
  };
  auto key_of = [](const sql::ResultSet& rs) {
    return LevelKey{Str(rs, 1), static_cast<v1::Component>(rs.getInt(2)),
                    static_cast<v1::AboGroup>(rs.getInt(3)), static_cast<v1::RhD>(rs.getInt(4))};
  };
  static const std::string* const kAllLevelsSql = new std::string(StockViewSql(kAllLevels));
  static const std::string* const kStationLevelsSql = new std::string(StockViewSql(kStationLevels));
  sql::PreparedStatement& levels =
      conn.Prepare(station_id.empty() ? *kAllLevelsSql : *kStationLevelsSql);
  Params params(levels);
  params.Int(expiring_before_us).Int(expiring_before_us);
  if (!station_id.empty()) params.Str(station_id);
  for (v1::UnitStatus status : InStockStatuses()) params.Int(status);
  ForEachRow(levels, [&](const sql::ResultSet& rs) {
    const LevelKey key = key_of(rs);
    if (!wanted(key.component)) return;
    SetStatusCounts(rs, 5, row(key));
  });
  sql::PreparedStatement& transit = conn.Prepare(kInTransitLevels);
  Params(transit).Int(InTransitStatus());
  ForEachRow(transit, [&](const sql::ResultSet& rs) {
    const LevelKey key = key_of(rs);
    if (!wanted(key.component) || (!station_id.empty() && key.station_id != station_id)) return;
    v1::StockLevel& level = row(key);
    level.mutable_in_transit_in()->set_units(static_cast<int32_t>(I64(rs, 5)));
    level.mutable_in_transit_in()->set_quantity(I64(rs, 6));
  });
  sql::PreparedStatement& par =
      conn.Prepare(station_id.empty() ? kAllParLevels : kParLevelsOfStation);
  if (!station_id.empty()) Params(par).Str(station_id);
  ForEachRow(par, [&](const sql::ResultSet& rs) {
    const v1::ParLevel p = ReadParLevel(rs);
    if (!wanted(p.component())) return;
    v1::StockLevel& level =
        row(LevelKey{p.station_id(), p.component(), p.blood_type().abo(), p.blood_type().rhd()});
    level.set_par_minimum(p.minimum());
    level.set_par_target(p.target());
  });
  std::vector<v1::StockLevel> out;
  out.reserve(rows.size());
  for (auto& [key, level] : rows) {
    level.set_below_par(level.available().quantity() < level.par_minimum());
    out.push_back(std::move(level));
  }
  return out;
}

// The stock view's row for one key, read with the three narrow queries above.
v1::StockLevel ComputeKeyLevel(Connection& conn, const LevelKey& key, int64_t expiring_before_us) {
  v1::StockLevel level;
  level.set_station_id(key.station_id);
  level.set_component(key.component);
  level.mutable_blood_type()->set_abo(key.abo);
  level.mutable_blood_type()->set_rhd(key.rhd);
  static const std::string* const kKeyLevelsSql = new std::string(StockViewSql(kKeyLevels));
  sql::PreparedStatement& levels = conn.Prepare(*kKeyLevelsSql);
  Params params(levels);
  params.Int(expiring_before_us).Int(expiring_before_us).Str(key.station_id);
  for (v1::UnitStatus status : InStockStatuses()) params.Int(status);
  params.Int(key.component).Int(key.abo).Int(key.rhd);
  ForEachRow(levels, [&](const sql::ResultSet& rs) { SetStatusCounts(rs, 1, level); });
  sql::PreparedStatement& transit = conn.Prepare(kKeyInTransit);
  Params(transit)
      .Int(InTransitStatus())
      .Int(key.component)
      .Int(key.abo)
      .Int(key.rhd)
      .Str(key.station_id);
  ForEachRow(transit, [&](const sql::ResultSet& rs) {
    if (I64(rs, 1) == 0) return;
    level.mutable_in_transit_in()->set_units(static_cast<int32_t>(I64(rs, 1)));
    level.mutable_in_transit_in()->set_quantity(I64(rs, 2));
  });
  sql::PreparedStatement& par = conn.Prepare(kKeyParLevel);
  Params(par).Str(key.station_id).Int(key.component).Int(key.abo).Int(key.rhd);
  ForEachRow(par, [&](const sql::ResultSet& rs) {
    level.set_par_minimum(I64(rs, 1));
    level.set_par_target(I64(rs, 2));
  });
  level.set_below_par(level.available().quantity() < level.par_minimum());
  return level;
}

}  // namespace

absl::StatusOr<std::vector<v1::StockLevel>> MysqlInventoryStore::StockLevels(
    const OpContext& ctx, const std::string& station_id, v1::Component component,
    absl::Duration expiring_window) {
  using Levels = std::vector<v1::StockLevel>;
  return RunOp<Levels>(
      pool_, "stock summary", ctx, nullptr, nullptr, [&](Txn& t, Levels& out) -> absl::Status {
        if (!station_id.empty() && !FindStation(t.conn, station_id).has_value()) {
          return absl::NotFoundError(absl::StrCat("station '", station_id, "' not found"));
        }
        out = ComputeLevels(t.conn, station_id, component, ToMicros(t.ctx.now + expiring_window));
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<v1::StockLevel>> MysqlInventoryStore::ReadLevels(
    const OpContext& ctx, const std::set<LevelKey>& keys, absl::Duration expiring_window) {
  using Levels = std::vector<v1::StockLevel>;
  return RunOp<Levels>(pool_, "read stock levels", ctx, nullptr, nullptr,
                       [&](Txn& t, Levels& out) -> absl::Status {
                         out.clear();
                         const int64_t expiring_before = ToMicros(t.ctx.now + expiring_window);
                         for (const LevelKey& key : keys) {
                           out.push_back(ComputeKeyLevel(t.conn, key, expiring_before));
                         }
                         return absl::OkStatus();
                       });
}

absl::StatusOr<v1::ListUnitsResponse> MysqlInventoryStore::ListUnits(
    const OpContext& ctx, const v1::ListUnitsRequest& request, const PageRequest& page) {
  const bool by_type = request.has_blood_type();
  const std::optional<int64_t> before =
      request.has_expires_before() ? std::optional<int64_t>(Micros(request.expires_before()))
                                   : std::nullopt;
  const uint64_t filter = FilterHash(
      {"units", request.station_id(), std::to_string(request.component()),
       by_type ? absl::StrCat(request.blood_type().abo(), "/", request.blood_type().rhd()) : "",
       std::to_string(request.status()), request.donor_id(), request.din(),
       before.has_value() ? std::to_string(*before) : ""});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(page.token, filter));
  const bool first_page = page.token.empty();
  // Fixed fragments chosen by which filters are present; values are parameters.
  std::string sql = "SELECT " BG_UNIT_COLUMNS
                    " FROM units WHERE (expires_us > ? OR (expires_us = ? AND unit_id > ?))";
  if (!request.station_id().empty()) sql += " AND station_id = ?";
  if (request.component() != v1::COMPONENT_UNSPECIFIED) sql += " AND component = ?";
  if (by_type) sql += " AND abo = ? AND rhd = ?";
  if (request.status() != v1::UNIT_STATUS_UNSPECIFIED) sql += " AND status = ?";
  if (!request.donor_id().empty()) sql += " AND donor_id = ?";
  if (!request.din().empty()) sql += " AND din = ?";
  if (before.has_value()) sql += " AND expires_us < ?";
  sql += " ORDER BY expires_us, unit_id LIMIT ?";
  return RunOp<v1::ListUnitsResponse>(
      pool_, "list units", ctx, nullptr, nullptr,
      [&](Txn& t, v1::ListUnitsResponse& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(sql);
        Params params(select);
        const int64_t after = first_page ? std::numeric_limits<int64_t>::min() : cursor.after_key();
        params.Int(after).Int(after).Str(first_page ? "" : cursor.after_id());
        if (!request.station_id().empty()) params.Str(request.station_id());
        if (request.component() != v1::COMPONENT_UNSPECIFIED) params.Int(request.component());
        if (by_type) params.Int(request.blood_type().abo()).Int(request.blood_type().rhd());
        if (request.status() != v1::UNIT_STATUS_UNSPECIFIED) params.Int(request.status());
        if (!request.donor_id().empty()) params.Str(request.donor_id());
        if (!request.din().empty()) params.Str(request.din());
        if (before.has_value()) params.Int(*before);
        params.Int(page.size + 1);
        for (UnitRow& row : QueryUnits(select)) *out.add_units() = std::move(row.unit);
        if (out.units_size() > page.size) {
          out.mutable_units()->RemoveLast();
          const v1::Unit& last = out.units(out.units_size() - 1);
          v1::PageCursor next;
          next.set_after_key(Micros(last.expires_at()));
          next.set_after_id(last.unit_id());
          next.set_filter_hash(filter);
          out.set_next_page_token(EncodePageToken(next));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Unit> MysqlInventoryStore::GetUnit(const OpContext& ctx,
                                                      const std::string& unit_id) {
  return RunOp<v1::Unit>(
      pool_, "get unit", ctx, nullptr, nullptr, [&](Txn& t, v1::Unit& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(kSelectUnit);
        Params(select).Str(unit_id);
        std::optional<UnitRow> row = QueryUnit(select);
        if (!row.has_value()) {
          return absl::NotFoundError(absl::StrCat("unit '", unit_id, "' not found"));
        }
        out = std::move(row->unit);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::GetUnitTraceResponse> MysqlInventoryStore::GetUnitTrace(const OpContext& ctx,
                                                                           const std::string& din) {
  return RunOp<v1::GetUnitTraceResponse>(
      pool_, "unit trace", ctx, nullptr, nullptr,
      [&](Txn& t, v1::GetUnitTraceResponse& out) -> absl::Status {
        sql::PreparedStatement& units = t.conn.Prepare(kUnitsOfDin);
        Params(units).Str(din);
        for (UnitRow& row : QueryUnits(units)) *out.add_units() = std::move(row.unit);
        if (out.units().empty())
          return absl::NotFoundError(absl::StrCat("no unit carries DIN ", din));
        out.set_din(din);
        for (v1::TestResult& result : ResultsOfDin(t.conn, din))
          *out.add_test_results() = std::move(result);
        sql::PreparedStatement& events = t.conn.Prepare(kEventsOfDin);
        Params(events).Str(din);
        ForEachRow(events, [&](const sql::ResultSet& rs) {
          v1::UnitEvent* e = out.add_events();
          e->set_event_id(I64(rs, 1));
          e->set_unit_id(Str(rs, 2));
          e->set_din(Str(rs, 3));
          e->set_component(static_cast<v1::Component>(rs.getInt(4)));
          e->set_kind(static_cast<v1::UnitEventKind>(rs.getInt(5)));
          e->set_from_status(static_cast<v1::UnitStatus>(rs.getInt(6)));
          e->set_to_status(static_cast<v1::UnitStatus>(rs.getInt(7)));
          SetTs(I64(rs, 8), e->mutable_occurred_at());
          e->set_actor(Str(rs, 9));
          e->set_reason(Str(rs, 10));
          e->set_note(Str(rs, 11));
          e->set_station_id(Str(rs, 12));
          e->set_order_id(Str(rs, 13));
          e->set_hospital_id(Str(rs, 14));
          e->set_reservation_key(Str(rs, 15));
          e->set_transfer_id(Str(rs, 16));
        });
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::GetRebalanceInputsResponse> MysqlInventoryStore::GetRebalanceInputs(
    const OpContext& ctx, int horizon_hours, int demand_window_days,
    const TransportSettings& transport) {
  return RunOp<v1::GetRebalanceInputsResponse>(
      pool_, "rebalance inputs", ctx, nullptr, nullptr,
      [&](Txn& t, v1::GetRebalanceInputsResponse& out) -> absl::Status {
        SetTimestamp(t.ctx.now, out.mutable_as_of());
        out.set_horizon_hours(horizon_hours);
        out.set_demand_window_days(demand_window_days);
        sql::PreparedStatement& stations = t.conn.Prepare(kListActiveStations);
        ForEachRow(stations,
                   [&](const sql::ResultSet& rs) { *out.add_stations() = ReadStation(rs); });
        std::set<std::string> active;
        for (const v1::Station& from : out.stations()) {
          active.insert(from.station_id());
          for (const v1::Station& to : out.stations()) {
            if (from.station_id() == to.station_id()) continue;
            v1::TransportTime* time = out.add_transport_times();
            time->set_from_station_id(from.station_id());
            time->set_to_station_id(to.station_id());
            time->set_minutes(static_cast<int32_t>(absl::ToInt64Minutes(
                absl::Ceil(TransportTime(from, to, transport), absl::Minutes(1)))));
          }
        }
        std::map<LevelKey, v1::StockPosition> positions;
        auto position = [&](const LevelKey& key) -> v1::StockPosition& {
          auto it = positions.find(key);
          if (it == positions.end()) {
            v1::StockPosition p;
            p.set_station_id(key.station_id);
            p.set_component(key.component);
            p.mutable_blood_type()->set_abo(key.abo);
            p.mutable_blood_type()->set_rhd(key.rhd);
            it = positions.emplace(key, std::move(p)).first;
          }
          return it->second;
        };
        for (const v1::StockLevel& level :
             ComputeLevels(t.conn, "", v1::COMPONENT_UNSPECIFIED, ToMicros(t.ctx.now))) {
          if (!active.contains(level.station_id())) continue;
          v1::StockPosition& p = position(KeyOf(level));
          p.set_reserved_quantity(level.reserved().quantity());
          p.set_quarantined_quantity(level.quarantined().quantity());
          p.set_in_transit_in_quantity(level.in_transit_in().quantity());
          p.set_par_minimum(level.par_minimum());
          p.set_par_target(level.par_target());
        }
        // Available lots by expiry; everything past the horizon merged into one bucket.
        const int64_t horizon_us = ToMicros(t.ctx.now + absl::Hours(horizon_hours));
        std::map<LevelKey, std::map<int64_t, std::pair<int64_t, int64_t>>> lots;
        sql::PreparedStatement& available = t.conn.Prepare(kAvailableLots);
        Params(available).Int(OnShelfStatus());
        ForEachRow(available, [&](const sql::ResultSet& rs) {
          const LevelKey key{Str(rs, 1), static_cast<v1::Component>(rs.getInt(2)),
                             static_cast<v1::AboGroup>(rs.getInt(3)),
                             static_cast<v1::RhD>(rs.getInt(4))};
          if (!active.contains(key.station_id)) return;
          auto& lot = lots[key][I64(rs, 5)];
          lot.first += I64(rs, 6);
          lot.second += I64(rs, 7);
        });
        for (const auto& [key, by_expiry] : lots) {
          v1::StockPosition& p = position(key);
          v1::ExpiryLot* beyond = nullptr;
          for (const auto& [expires_us, count] : by_expiry) {
            if (expires_us > horizon_us) {
              if (beyond == nullptr) {
                beyond = p.add_available_lots();
                beyond->set_beyond_horizon(true);
                SetTs(expires_us, beyond->mutable_expires_at());
              }
              beyond->mutable_count()->set_units(beyond->count().units() +
                                                 static_cast<int32_t>(count.first));
              beyond->mutable_count()->set_quantity(beyond->count().quantity() + count.second);
              continue;
            }
            v1::ExpiryLot* lot = p.add_available_lots();
            SetTs(expires_us, lot->mutable_expires_at());
            lot->mutable_count()->set_units(static_cast<int32_t>(count.first));
            lot->mutable_count()->set_quantity(count.second);
          }
        }
        std::map<LevelKey, int64_t> issued;
        sql::PreparedStatement& demand = t.conn.Prepare(kIssuedDemand);
        Params(demand)
            .Int(v1::UNIT_EVENT_KIND_ISSUED)
            .Int(ToMicros(t.ctx.now - absl::Hours(24) * demand_window_days));
        ForEachRow(demand, [&](const sql::ResultSet& rs) {
          const LevelKey key{Str(rs, 1), static_cast<v1::Component>(rs.getInt(2)),
                             static_cast<v1::AboGroup>(rs.getInt(3)),
                             static_cast<v1::RhD>(rs.getInt(4))};
          if (active.contains(key.station_id)) issued[key] += I64(rs, 5);
        });
        for (const auto& [key, quantity] : issued) position(key);
        for (auto& [key, p] : positions) {
          auto it = issued.find(key);
          const double observed =
              it == issued.end() ? 0.0 : static_cast<double>(it->second) / demand_window_days;
          // At least par_minimum / 7 per day, so a new station is not starved.
          p.set_daily_demand(std::max(observed, static_cast<double>(p.par_minimum()) / 7.0));
          *out.add_positions() = std::move(p);
        }
        return absl::OkStatus();
      });
}

// =============================================================================================
// Sweepers

absl::StatusOr<SweepReport> MysqlInventoryStore::ExpireHeldReservations(const OpContext& ctx,
                                                                        int limit,
                                                                        StockChanges* changes) {
  using Keys = std::vector<std::string>;
  BG_ASSIGN_OR_RETURN(
      Keys due,
      RunOp<Keys>(pool_, "find expired holds", ctx, nullptr, nullptr,
                  [&](Txn& t, Keys& out) -> absl::Status {
                    sql::PreparedStatement& select = t.conn.Prepare(kDueReservations);
                    Params(select).Int(HeldReservationStatus()).Int(ToMicros(t.ctx.now)).Int(limit);
                    ForEachRow(select,
                               [&](const sql::ResultSet& rs) { out.push_back(Str(rs, 1)); });
                    return absl::OkStatus();
                  }));
  SweepReport report;
  // One transaction per reservation: a busy one does not hold up the others.
  for (const std::string& key : due) {
    StockChanges one;
    bool expired = false;
    absl::StatusOr<v1::Reservation> result = RunOp<v1::Reservation>(
        pool_, "expire reservation", ctx, nullptr, &one,
        [&](Txn& t, v1::Reservation& out) -> absl::Status {
          expired = false;
          std::optional<v1::Reservation> row = FindReservation(t.conn, key, true);
          if (!row.has_value()) return absl::OkStatus();
          if (!HoldLapsed(*row, t.ctx.now)) return absl::OkStatus();  // confirmed or released
          sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfReservationForUpdate);
          Params(select).Str(key);
          for (UnitRow& unit : QueryUnits(select)) {
            std::optional<UnitChange> change = UnreserveOnHoldExpiry(unit, *row);
            if (change.has_value()) BG_RETURN_IF_ERROR(ApplyChange(t, unit, *change));
          }
          v1::Reservation r = ExpiredReservation(*row);
          WriteReservationStatus(t.conn, r, t.ctx.now);
          out = std::move(r);
          expired = true;
          return absl::OkStatus();
        });
    if (!result.ok()) return result.status();
    if (expired) ++report.changed;
    if (changes != nullptr) {
      changes->keys.insert(one.keys.begin(), one.keys.end());
      changes->alerts.insert(changes->alerts.end(), one.alerts.begin(), one.alerts.end());
    }
  }
  return report;
}

absl::StatusOr<SweepReport> MysqlInventoryStore::ExpireUnits(const OpContext& ctx, int limit,
                                                             StockChanges* changes) {
  SweepReport report;
  for (v1::UnitStatus status : ExpirableStatuses()) {
    if (report.changed >= limit) break;
    StockChanges one;
    BG_ASSIGN_OR_RETURN(
        int expired,
        RunOp<int>(
            pool_, "expire units", ctx, nullptr, &one, [&](Txn& t, int& out) -> absl::Status {
              sql::PreparedStatement& select = t.conn.Prepare(kDueUnits);
              Params(select).Int(status).Int(ToMicros(t.ctx.now)).Int(limit - report.changed);
              std::vector<std::string> ids;
              ForEachRow(select, [&](const sql::ResultSet& rs) { ids.push_back(Str(rs, 1)); });
              std::vector<v1::Unit> expired_units;
              for (const std::string& id : ids) {
                std::optional<UnitRow> unit = ClaimUnit(t.conn, id, status);
                if (!unit.has_value()) continue;  // busy or changed: the next run sees it
                expired_units.push_back(unit->unit);
                BG_RETURN_IF_ERROR(ApplyChange(t, *unit, ExpireUnit(*unit)));
                ++out;
              }
              for (v1::StockAlert& alert : UnitsExpiredAlerts(expired_units)) {
                t.changes.alerts.push_back(std::move(alert));
              }
              return absl::OkStatus();
            }));
    report.changed += expired;
    if (changes != nullptr) {
      changes->keys.insert(one.keys.begin(), one.keys.end());
      changes->alerts.insert(changes->alerts.end(), one.alerts.begin(), one.alerts.end());
    }
  }
  return report;
}

absl::StatusOr<std::vector<v1::Unit>> MysqlInventoryStore::UnitsExpiringBetween(
    const OpContext& ctx, absl::Time from, absl::Time to, int limit) {
  using Units = std::vector<v1::Unit>;
  return RunOp<Units>(
      pool_, "units expiring soon", ctx, nullptr, nullptr, [&](Txn& t, Units& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(kUnitsExpiringBetween);
        Params(select).Int(OnShelfStatus()).Int(ToMicros(from)).Int(ToMicros(to)).Int(limit);
        for (UnitRow& row : QueryUnits(select)) out.push_back(std::move(row.unit));
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::inventory
