// MysqlInventoryStore (mysql_inventory_store.h): the stock views, unit lists and traces,
// rebalancing inputs.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/page_token.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::Connection;
using mysql_internal::FindStation;
using mysql_internal::ForEachRow;
using mysql_internal::I64;
using mysql_internal::kAllParLevels;
using mysql_internal::kParLevelsOfStation;
using mysql_internal::kUnitsOfDin;
using mysql_internal::Micros;
using mysql_internal::Params;
using mysql_internal::QueryUnit;
using mysql_internal::QueryUnits;
using mysql_internal::ReadParLevel;
using mysql_internal::ReadStation;
using mysql_internal::ResultsOfDin;
using mysql_internal::RunOp;
using mysql_internal::SetTs;
using mysql_internal::Str;
using mysql_internal::Txn;
using mysql_internal::UnitRow;

namespace {

constexpr char kListActiveStations[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE active = 1 ORDER BY station_id";

constexpr char kSelectUnit[] = "SELECT " BG_UNIT_COLUMNS " FROM units WHERE unit_id = ?";

constexpr char kEventsOfDin[] =
    "SELECT event_id, unit_id, din, component, kind, from_status, to_status, occurred_us, actor, "
    "reason, note, station_id, order_id, hospital_id, reservation_key, transfer_id "
    "FROM unit_events WHERE din = ? ORDER BY occurred_us, event_id";

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

}  // namespace

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
    const CallContext& ctx, const std::string& station_id, v1::Component component,
    absl::Duration expiring_window) {
  using Levels = std::vector<v1::StockLevel>;
  return RunOp<Levels>(
      pool_, "stock summary", ctx, nullptr, nullptr, [&](Txn& t, Levels& out) -> absl::Status {
        if (!station_id.empty() && !FindStation(t.conn, station_id).has_value()) {
          return absl::NotFoundError(absl::StrCat("station '", station_id, "' not found"));
        }
        out = ComputeLevels(t.conn, station_id, component,
                            absl::ToUnixMicros(t.ctx.now + expiring_window));
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<v1::StockLevel>> MysqlInventoryStore::ReadLevels(
    const CallContext& ctx, const std::set<LevelKey>& keys, absl::Duration expiring_window) {
  using Levels = std::vector<v1::StockLevel>;
  return RunOp<Levels>(
      pool_, "read stock levels", ctx, nullptr, nullptr, [&](Txn& t, Levels& out) -> absl::Status {
        out.clear();
        const int64_t expiring_before = absl::ToUnixMicros(t.ctx.now + expiring_window);
        for (const LevelKey& key : keys) {
          out.push_back(ComputeKeyLevel(t.conn, key, expiring_before));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListUnitsResponse> MysqlInventoryStore::ListUnits(
    const CallContext& ctx, const v1::ListUnitsRequest& request, const PageRequest& page) {
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

absl::StatusOr<v1::Unit> MysqlInventoryStore::GetUnit(const CallContext& ctx,
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

absl::StatusOr<v1::GetUnitTraceResponse> MysqlInventoryStore::GetUnitTrace(const CallContext& ctx,
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
    const CallContext& ctx, int horizon_hours, int demand_window_days,
    const TransportSettings& transport) {
  return RunOp<v1::GetRebalanceInputsResponse>(
      pool_, "rebalance inputs", ctx, nullptr, nullptr,
      [&](Txn& t, v1::GetRebalanceInputsResponse& out) -> absl::Status {
        ToTimestamp(t.ctx.now, out.mutable_as_of());
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
             ComputeLevels(t.conn, "", v1::COMPONENT_UNSPECIFIED, absl::ToUnixMicros(t.ctx.now))) {
          if (!active.contains(level.station_id())) continue;
          v1::StockPosition& p = position(KeyOf(level));
          p.set_reserved_quantity(level.reserved().quantity());
          p.set_quarantined_quantity(level.quarantined().quantity());
          p.set_in_transit_in_quantity(level.in_transit_in().quantity());
          p.set_par_minimum(level.par_minimum());
          p.set_par_target(level.par_target());
        }
        // Available lots by expiry; everything past the horizon merged into one bucket.
        const int64_t horizon_us = absl::ToUnixMicros(t.ctx.now + absl::Hours(horizon_hours));
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
            .Int(absl::ToUnixMicros(t.ctx.now - absl::Hours(24) * demand_window_days));
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

}  // namespace bloodgrid::inventory
