// MysqlInventoryStore (mysql_inventory_store.h): reservations, issue and outcomes.
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sql_error.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::ApplyChange;
using mysql_internal::ApplyChanges;
using mysql_internal::ChooseAndClaim;
using mysql_internal::Connection;
using mysql_internal::FindReservation;
using mysql_internal::FindStation;
using mysql_internal::kSelectUnitForUpdate;
using mysql_internal::kUnitsOfReservationForUpdate;
using mysql_internal::Params;
using mysql_internal::QueryUnit;
using mysql_internal::QueryUnits;
using mysql_internal::ReadCandidates;
using mysql_internal::RunOp;
using mysql_internal::Str;
using mysql_internal::Txn;
using mysql_internal::UnitRow;
using mysql_internal::UnknownStation;
using mysql_internal::WriteReservationStatus;

namespace {

constexpr char kUnitsOfReservation[] =
    "SELECT " BG_UNIT_COLUMNS " FROM units WHERE reservation_key = ? ORDER BY expires_us, unit_id";

constexpr char kInsertReservation[] =
    "INSERT INTO reservations (reservation_key, status, component, requested_quantity, priority, "
    "order_id, hospital_id, hold_expires_us, created_us, updated_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

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

}  // namespace

// =============================================================================================
// Reservations

namespace {

absl::Status ReservationNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("reservation '", key, "' not found"));
}

}  // namespace

absl::StatusOr<v1::Reservation> MysqlInventoryStore::Reserve(const CallContext& ctx,
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
              .Int(absl::ToUnixMicros(t.ctx.now + hold))
              .Int(absl::ToUnixMicros(t.ctx.now))
              .Int(absl::ToUnixMicros(t.ctx.now));
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
                absl::ToUnixMicros(floor), limit, group.tier, group.station_rank);
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

absl::StatusOr<v1::Reservation> MysqlInventoryStore::ConfirmReservation(const CallContext& ctx,
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

absl::StatusOr<v1::Reservation> MysqlInventoryStore::GetReservation(const CallContext& ctx,
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

absl::StatusOr<v1::Reservation> MysqlInventoryStore::Release(const CallContext& ctx,
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

absl::StatusOr<v1::IssueResponse> MysqlInventoryStore::Issue(const CallContext& ctx,
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

absl::StatusOr<v1::Unit> MysqlInventoryStore::RecordOutcome(const CallContext& ctx,
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

}  // namespace bloodgrid::inventory
