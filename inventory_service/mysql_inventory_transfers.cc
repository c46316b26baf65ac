// MysqlInventoryStore (mysql_inventory_store.h): transfers.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/page_token.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::ApplyChange;
using mysql_internal::ChooseAndClaim;
using mysql_internal::Connection;
using mysql_internal::FindReservation;
using mysql_internal::FindStation;
using mysql_internal::ForEachRow;
using mysql_internal::I64;
using mysql_internal::kSelectUnitForUpdate;
using mysql_internal::Micros;
using mysql_internal::OptI64;
using mysql_internal::Params;
using mysql_internal::QueryUnit;
using mysql_internal::ReadCandidates;
using mysql_internal::ReadUnitRow;
using mysql_internal::RunOp;
using mysql_internal::SetTs;
using mysql_internal::Str;
using mysql_internal::Truncated;
using mysql_internal::Txn;
using mysql_internal::UnitRow;
using mysql_internal::UnknownStation;

namespace {

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

std::string BlobBytes(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::string();
  std::unique_ptr<std::istream> blob(rs.getBlob(column));
  std::stringstream bytes;
  bytes << blob->rdbuf();
  return bytes.str();
}

std::string NewTransferId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrFormat("TR-%016x", random());
}

}  // namespace

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

// Sends the locked CREATED transfer `tr` on its way: its units IN_TRANSIT, the transfer marked
// dispatched and written.
absl::Status DispatchLocked(Txn& t, v1::Transfer& tr,
                            const InventoryStore::TransferSettings& settings) {
  std::optional<v1::Station> from = FindStation(t.conn, tr.from_station_id());
  std::optional<v1::Station> to = FindStation(t.conn, tr.to_station_id());
  if (!from.has_value() || !to.has_value()) return absl::InternalError("transfer station vanished");
  for (TransferUnit& unit : UnitsOnTransfer(t.conn, tr.transfer_id(), true)) {
    std::optional<UnitChange> change = DispatchUnit(unit.row, tr);
    if (!change.has_value()) continue;
    BG_RETURN_IF_ERROR(ApplyChange(t, unit.row, *change));
    t.changes.keys.insert(AtStation(KeyOfUnit(unit.row.unit), tr.to_station_id()));
  }
  MarkDispatched(t.ctx.now, t.ctx.now + TransportTime(*from, *to, settings.transport), &tr);
  WriteTransfer(t.conn, tr);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Transfer> MysqlInventoryStore::CreateTransfer(
    const CallContext& ctx, const db::IdempotencyKey& key, const v1::CreateTransferRequest& request,
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
            for (ChoiceUnit& unit : ReadCandidates(
                     t.conn, lot.component(), type, request.from_station_id(),
                     absl::ToUnixMicros(floor), std::min(lot.quantity(), 500) + 32, 0, 0)) {
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
            .Int(absl::ToUnixMicros(t.ctx.now))
            .Int(absl::ToUnixMicros(arrival));
        insert.executeUpdate();
        std::optional<v1::Transfer> created = FindTransfer(t.conn, transfer_id, request.dispatch());
        if (!created.has_value()) return absl::InternalError("transfer vanished");
        if (request.dispatch()) {
          BG_ASSIGN_OR_RETURN(const bool dispatch, TransferToDispatch(*created));
          if (dispatch) BG_RETURN_IF_ERROR(DispatchLocked(t, *created, settings));
        }
        out = WithTransferUnits(t.conn, *created);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Transfer> MysqlInventoryStore::DispatchTransfer(
    const CallContext& ctx, const db::IdempotencyKey& key,
    const v1::DispatchTransferRequest& request, const TransferSettings& settings,
    StockChanges* changes) {
  return RunOp<v1::Transfer>(pool_, "dispatch transfer", ctx, &key, changes,
                             [&](Txn& t, v1::Transfer& out) -> absl::Status {
                               std::optional<v1::Transfer> tr =
                                   FindTransfer(t.conn, request.transfer_id(), true);
                               if (!tr.has_value()) return TransferNotFound(request.transfer_id());
                               BG_ASSIGN_OR_RETURN(const bool dispatch, TransferToDispatch(*tr));
                               if (!dispatch) {
                                 out = WithTransferUnits(t.conn, *tr);
                                 return absl::OkStatus();
                               }
                               BG_RETURN_IF_ERROR(DispatchLocked(t, *tr, settings));
                               out = WithTransferUnits(t.conn, *tr);
                               return absl::OkStatus();
                             });
}

absl::StatusOr<v1::Transfer> MysqlInventoryStore::ReceiveTransfer(
    const CallContext& ctx, const db::IdempotencyKey& key,
    const v1::ReceiveTransferRequest& request, StockChanges* changes) {
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
    const CallContext& ctx, const db::IdempotencyKey& key, const v1::CancelTransferRequest& request,
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

absl::StatusOr<v1::Transfer> MysqlInventoryStore::GetTransfer(const CallContext& ctx,
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
    const CallContext& ctx, const v1::ListTransfersRequest& request, const PageRequest& page) {
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

}  // namespace bloodgrid::inventory
