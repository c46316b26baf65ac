// MysqlInventoryStore, stations and par levels. The other operations are in mysql_inventory_*.cc,
// one file per banner of inventory_store.h; their shared helpers in mysql_inventory_internal.h.
#include "inventory_service/mysql_inventory_store.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/page_token.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"

namespace bloodgrid::inventory {

using mysql_internal::FindStation;
using mysql_internal::ForEachRow;
using mysql_internal::kAllParLevels;
using mysql_internal::kParLevelsOfStation;
using mysql_internal::Params;
using mysql_internal::ReadParLevel;
using mysql_internal::ReadStation;
using mysql_internal::RunOp;
using mysql_internal::Str;
using mysql_internal::Txn;

namespace {

constexpr char kInsertStation[] =
    "INSERT INTO stations (" BG_STATION_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

constexpr char kUpdateStation[] =
    "UPDATE stations SET name = ?, kind = ?, latitude = ?, longitude = ?, address = ?, "
    "active = ?, updated_us = ? WHERE station_id = ?";

constexpr char kListStations[] =
    "SELECT " BG_STATION_COLUMNS " FROM stations WHERE station_id > ? ORDER BY station_id LIMIT ?";

constexpr char kUpsertParLevel[] =
    "INSERT INTO par_levels (station_id, component, abo, rhd, minimum, target, updated_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE minimum = VALUES(minimum), "
    "target = VALUES(target), updated_us = VALUES(updated_us)";

}  // namespace

// =============================================================================================
// Stations and par levels

absl::StatusOr<v1::Station> MysqlInventoryStore::UpsertStation(const CallContext& ctx,
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
              .Int(absl::ToUnixMicros(t.ctx.now))
              .Int(absl::ToUnixMicros(t.ctx.now));
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
              .Int(absl::ToUnixMicros(t.ctx.now))
              .Str(station.station_id());
          update.executeUpdate();
        }
        out = *FindStation(t.conn, station.station_id());
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Station> MysqlInventoryStore::GetStation(const CallContext& ctx,
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
    const CallContext& ctx, const PageRequest& page) {
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

absl::StatusOr<v1::ParLevel> MysqlInventoryStore::SetParLevel(const CallContext& ctx,
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
            .Int(absl::ToUnixMicros(t.ctx.now));
        upsert.executeUpdate();
        out.set_station_id(request.station_id());
        out.set_component(request.component());
        *out.mutable_blood_type() = request.blood_type();
        out.set_minimum(request.minimum());
        out.set_target(request.target());
        ToTimestamp(t.ctx.now, out.mutable_updated_at());
        t.changes.keys.insert(LevelKey{request.station_id(), request.component(),
                                       request.blood_type().abo(), request.blood_type().rhd()});
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListParLevelsResponse> MysqlInventoryStore::ListParLevels(
    const CallContext& ctx, const v1::ListParLevelsRequest& request) {
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

}  // namespace bloodgrid::inventory
