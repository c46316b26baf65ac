// MysqlInventoryStore (mysql_inventory_store.h): the sweepers (lapsed holds, expired units).
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::ApplyChange;
using mysql_internal::ClaimUnit;
using mysql_internal::FindReservation;
using mysql_internal::ForEachRow;
using mysql_internal::kUnitsOfReservationForUpdate;
using mysql_internal::Params;
using mysql_internal::QueryUnits;
using mysql_internal::RunOp;
using mysql_internal::Str;
using mysql_internal::Txn;
using mysql_internal::UnitRow;
using mysql_internal::WriteReservationStatus;

namespace {

constexpr char kDueUnits[] =
    "SELECT unit_id FROM units FORCE INDEX (idx_units_status_expiry) WHERE status = ? "
    "AND expires_us <= ? ORDER BY expires_us, unit_id LIMIT ?";

constexpr char kUnitsExpiringBetween[] =
    "SELECT " BG_UNIT_COLUMNS
    " FROM units FORCE INDEX (idx_units_status_expiry) WHERE status = ? "
    "AND expires_us > ? AND expires_us <= ? ORDER BY expires_us, unit_id LIMIT ?";

constexpr char kDueReservations[] =
    "SELECT reservation_key FROM reservations FORCE INDEX (idx_reservations_hold) "
    "WHERE status = ? AND hold_expires_us <= ? ORDER BY hold_expires_us LIMIT ?";

}  // namespace

// =============================================================================================
// Sweepers

absl::StatusOr<SweepReport> MysqlInventoryStore::ExpireHeldReservations(const CallContext& ctx,
                                                                        int limit,
                                                                        StockChanges* changes) {
  using Keys = std::vector<std::string>;
  BG_ASSIGN_OR_RETURN(Keys due, RunOp<Keys>(pool_, "find expired holds", ctx, nullptr, nullptr,
                                            [&](Txn& t, Keys& out) -> absl::Status {
                                              sql::PreparedStatement& select =
                                                  t.conn.Prepare(kDueReservations);
                                              Params(select)
                                                  .Int(HeldReservationStatus())
                                                  .Int(absl::ToUnixMicros(t.ctx.now))
                                                  .Int(limit);
                                              ForEachRow(select, [&](const sql::ResultSet& rs) {
                                                out.push_back(Str(rs, 1));
                                              });
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

absl::StatusOr<SweepReport> MysqlInventoryStore::ExpireUnits(const CallContext& ctx, int limit,
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
              Params(select)
                  .Int(status)
                  .Int(absl::ToUnixMicros(t.ctx.now))
                  .Int(limit - report.changed);
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
    const CallContext& ctx, absl::Time from, absl::Time to, int limit) {
  using Units = std::vector<v1::Unit>;
  return RunOp<Units>(pool_, "units expiring soon", ctx, nullptr, nullptr,
                      [&](Txn& t, Units& out) -> absl::Status {
                        sql::PreparedStatement& select = t.conn.Prepare(kUnitsExpiringBetween);
                        Params(select)
                            .Int(OnShelfStatus())
                            .Int(absl::ToUnixMicros(from))
                            .Int(absl::ToUnixMicros(to))
                            .Int(limit);
                        for (UnitRow& row : QueryUnits(select)) out.push_back(std::move(row.unit));
                        return absl::OkStatus();
                      });
}

}  // namespace bloodgrid::inventory
