// MysqlInventoryStore (mysql_inventory_store.h): lookback cases and recall notices, read back and
// acknowledged. Cases are opened by RecordTestResults (mysql_inventory_lookback.cc).
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/page_token.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_lookback.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::Connection;
using mysql_internal::FindLookback;
using mysql_internal::ForEachRow;
using mysql_internal::I64;
using mysql_internal::OptI64;
using mysql_internal::Params;
using mysql_internal::RunOp;
using mysql_internal::SetTs;
using mysql_internal::Str;
using mysql_internal::Truncated;
using mysql_internal::Txn;

namespace {

#define BG_CASE_COLUMNS                                                                   \
  "lookback_id, donor_id, reactive_din, markers, opened_us, opened_by, window_start_us, " \
  "window_end_us, status, reason"

#define BG_RECALL_COLUMNS                                                               \
  "recall_id, lookback_id, hospital_id, din, unit_id, component, order_id, issued_us, " \
  "reason, action, notified_us, status, acknowledged_us, acknowledged_by, "             \
  "acknowledgement_note"

constexpr char kCaseById[] = "SELECT " BG_CASE_COLUMNS " FROM lookback_cases WHERE lookback_id = ?";
constexpr char kCaseByIdForUpdate[] =
    "SELECT " BG_CASE_COLUMNS " FROM lookback_cases WHERE lookback_id = ? FOR UPDATE";
constexpr char kCaseByDin[] =
    "SELECT " BG_CASE_COLUMNS " FROM lookback_cases WHERE reactive_din = ?";
constexpr char kCaseByDinForUpdate[] =
    "SELECT " BG_CASE_COLUMNS " FROM lookback_cases WHERE reactive_din = ? FOR UPDATE";

constexpr char kUnitsOfCase[] =
    "SELECT kind, unit FROM lookback_units WHERE lookback_id = ? ORDER BY position";

constexpr char kRecallsOfCase[] = "SELECT " BG_RECALL_COLUMNS
                                  " FROM recall_notices WHERE lookback_id = ? "
                                  "ORDER BY issued_us, unit_id";

constexpr char kRecallById[] =
    "SELECT " BG_RECALL_COLUMNS " FROM recall_notices WHERE recall_id = ?";
constexpr char kRecallByIdForUpdate[] =
    "SELECT " BG_RECALL_COLUMNS " FROM recall_notices WHERE recall_id = ? FOR UPDATE";

constexpr char kAcknowledgeRecall[] =
    "UPDATE recall_notices SET status = ?, acknowledged_us = ?, acknowledged_by = ?, "
    "acknowledgement_note = ? WHERE recall_id = ?";

// A locking read, so it counts what the latest commits left, not this transaction's snapshot.
constexpr char kOpenRecallsOfCase[] =
    "SELECT COUNT(*) FROM recall_notices WHERE lookback_id = ? AND status = ? FOR UPDATE";

constexpr char kUpdateCaseStatus[] = "UPDATE lookback_cases SET status = ? WHERE lookback_id = ?";

// lookback_units.kind (mysql_inventory_lookback.cc writes them).
constexpr int kHeldUnit = 1;

std::string BlobBytes(const sql::ResultSet& rs, uint32_t column) {
  if (rs.isNull(column)) return std::string();
  std::unique_ptr<std::istream> blob(rs.getBlob(column));
  std::stringstream bytes;
  bytes << blob->rdbuf();
  return bytes.str();
}

v1::LookbackCase ReadCase(const sql::ResultSet& rs) {
  v1::LookbackCase c;
  c.set_lookback_id(Str(rs, 1));
  c.set_donor_id(Str(rs, 2));
  c.set_reactive_din(Str(rs, 3));
  for (absl::string_view part : absl::StrSplit(Str(rs, 4), ',', absl::SkipEmpty())) {
    int number = 0;
    if (absl::SimpleAtoi(part, &number) && v1::ScreeningTest_IsValid(number)) {
      c.add_markers(static_cast<v1::ScreeningTest>(number));
    }
  }
  SetTs(I64(rs, 5), c.mutable_opened_at());
  c.set_opened_by(Str(rs, 6));
  if (std::optional<int64_t> start = OptI64(rs, 7)) SetTs(*start, c.mutable_window_start());
  SetTs(I64(rs, 8), c.mutable_window_end());
  c.set_status(static_cast<v1::LookbackStatus>(rs.getInt(9)));
  c.set_reason(Str(rs, 10));
  return c;
}

v1::RecallNotice ReadRecall(const sql::ResultSet& rs) {
  v1::RecallNotice n;
  n.set_recall_id(Str(rs, 1));
  n.set_lookback_id(Str(rs, 2));
  n.set_hospital_id(Str(rs, 3));
  n.set_din(Str(rs, 4));
  n.set_unit_id(Str(rs, 5));
  n.set_component(static_cast<v1::Component>(rs.getInt(6)));
  n.set_order_id(Str(rs, 7));
  SetTs(I64(rs, 8), n.mutable_issued_at());
  n.set_reason(Str(rs, 9));
  n.set_action(Str(rs, 10));
  SetTs(I64(rs, 11), n.mutable_notified_at());
  n.set_status(static_cast<v1::RecallStatus>(rs.getInt(12)));
  if (std::optional<int64_t> at = OptI64(rs, 13)) SetTs(*at, n.mutable_acknowledged_at());
  n.set_acknowledged_by(Str(rs, 14));
  n.set_acknowledgement_note(Str(rs, 15));
  return n;
}

// The case's units and notices.
void CompleteCase(Connection& conn, v1::LookbackCase& c) {
  sql::PreparedStatement& units = conn.Prepare(kUnitsOfCase);
  Params(units).Str(c.lookback_id());
  ForEachRow(units, [&](const sql::ResultSet& rs) {
    v1::Unit unit;
    unit.ParseFromString(BlobBytes(rs, 2));
    if (rs.getInt(1) == kHeldUnit) {
      *c.add_held_units() = std::move(unit);
      return;
    }
    v1::IssuedUnit& issued = *c.add_issued_units();
    issued.set_order_id(unit.order_id());
    issued.set_hospital_id(unit.hospital_id());
    *issued.mutable_issued_at() = unit.issued_at();
    *issued.mutable_unit() = std::move(unit);
  });
  sql::PreparedStatement& recalls = conn.Prepare(kRecallsOfCase);
  Params(recalls).Str(c.lookback_id());
  ForEachRow(recalls, [&](const sql::ResultSet& rs) { *c.add_recalls() = ReadRecall(rs); });
}

std::optional<v1::LookbackCase> FindCase(Connection& conn, const char* sql, absl::string_view key) {
  sql::PreparedStatement& select = conn.Prepare(sql);
  Params(select).Str(key);
  std::optional<v1::LookbackCase> found;
  ForEachRow(select, [&](const sql::ResultSet& rs) { found = ReadCase(rs); });
  if (found.has_value()) CompleteCase(conn, *found);
  return found;
}

std::optional<v1::RecallNotice> FindRecall(Connection& conn, absl::string_view recall_id,
                                           bool for_update) {
  sql::PreparedStatement& select = conn.Prepare(for_update ? kRecallByIdForUpdate : kRecallById);
  Params(select).Str(recall_id);
  std::optional<v1::RecallNotice> found;
  ForEachRow(select, [&](const sql::ResultSet& rs) { found = ReadRecall(rs); });
  return found;
}

absl::Status RecallNotFound(absl::string_view recall_id) {
  return absl::NotFoundError(absl::StrCat("recall '", recall_id, "' not found"));
}

}  // namespace

namespace mysql_internal {

std::optional<v1::LookbackCase> FindLookbackOfDin(Connection& conn, absl::string_view din,
                                                  bool for_update) {
  return FindCase(conn, for_update ? kCaseByDinForUpdate : kCaseByDin, din);
}

std::optional<v1::LookbackCase> FindLookback(Connection& conn, absl::string_view lookback_id,
                                             bool for_update) {
  return FindCase(conn, for_update ? kCaseByIdForUpdate : kCaseById, lookback_id);
}

}  // namespace mysql_internal

// =============================================================================================
// Lookback cases and recalls

absl::StatusOr<v1::ListLookbacksResponse> MysqlInventoryStore::ListLookbacks(
    const CallContext& ctx, const v1::ListLookbacksRequest& request, const PageRequest& page) {
  const uint64_t filter =
      FilterHash({"lookbacks", request.donor_id(), std::to_string(request.status())});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(page.token, filter));
  const bool first_page = page.token.empty();
  // Fixed fragments chosen by which filters are present.
  std::string sql = "SELECT " BG_CASE_COLUMNS
                    " FROM lookback_cases "
                    "WHERE (opened_us < ? OR (opened_us = ? AND lookback_id < ?))";
  if (!request.donor_id().empty()) sql += " AND donor_id = ?";
  if (request.status() != v1::LOOKBACK_STATUS_UNSPECIFIED) sql += " AND status = ?";
  sql += " ORDER BY opened_us DESC, lookback_id DESC LIMIT ?";
  return RunOp<v1::ListLookbacksResponse>(
      pool_, "list lookbacks", ctx, nullptr, nullptr,
      [&](Txn& t, v1::ListLookbacksResponse& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(sql);
        Params params(select);
        const int64_t after = first_page ? std::numeric_limits<int64_t>::max() : cursor.after_key();
        params.Int(after).Int(after).Str(cursor.after_id());
        if (!request.donor_id().empty()) params.Str(request.donor_id());
        if (request.status() != v1::LOOKBACK_STATUS_UNSPECIFIED) params.Int(request.status());
        params.Int(page.size + 1);
        std::vector<v1::LookbackCase> rows;
        ForEachRow(select, [&](const sql::ResultSet& rs) { rows.push_back(ReadCase(rs)); });
        if (static_cast<int>(rows.size()) > page.size) {
          rows.pop_back();
          v1::PageCursor next;
          next.set_after_key(mysql_internal::Micros(rows.back().opened_at()));
          next.set_after_id(rows.back().lookback_id());
          next.set_filter_hash(filter);
          out.set_next_page_token(EncodePageToken(next));
        }
        for (v1::LookbackCase& c : rows) {
          CompleteCase(t.conn, c);
          *out.add_lookbacks() = std::move(c);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::LookbackCase> MysqlInventoryStore::GetLookback(const CallContext& ctx,
                                                                  const std::string& lookback_id) {
  return RunOp<v1::LookbackCase>(
      pool_, "get lookback", ctx, nullptr, nullptr,
      [&](Txn& t, v1::LookbackCase& out) -> absl::Status {
        std::optional<v1::LookbackCase> found = FindLookback(t.conn, lookback_id, false);
        if (!found.has_value()) {
          return absl::NotFoundError(absl::StrCat("lookback '", lookback_id, "' not found"));
        }
        out = *std::move(found);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListRecallsResponse> MysqlInventoryStore::ListRecalls(
    const CallContext& ctx, const v1::ListRecallsRequest& request, const PageRequest& page) {
  const uint64_t filter =
      FilterHash({"recalls", request.hospital_id(), std::to_string(request.status())});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(page.token, filter));
  const bool first_page = page.token.empty();
  std::string sql = "SELECT " BG_RECALL_COLUMNS
                    " FROM recall_notices WHERE hospital_id = ? "
                    "AND (notified_us < ? OR (notified_us = ? AND recall_id < ?))";
  if (request.status() != v1::RECALL_STATUS_UNSPECIFIED) sql += " AND status = ?";
  sql += " ORDER BY notified_us DESC, recall_id DESC LIMIT ?";
  return RunOp<v1::ListRecallsResponse>(
      pool_, "list recalls", ctx, nullptr, nullptr,
      [&](Txn& t, v1::ListRecallsResponse& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(sql);
        Params params(select);
        const int64_t after = first_page ? std::numeric_limits<int64_t>::max() : cursor.after_key();
        params.Str(request.hospital_id()).Int(after).Int(after).Str(cursor.after_id());
        if (request.status() != v1::RECALL_STATUS_UNSPECIFIED) params.Int(request.status());
        params.Int(page.size + 1);
        std::vector<v1::RecallNotice> rows;
        ForEachRow(select, [&](const sql::ResultSet& rs) { rows.push_back(ReadRecall(rs)); });
        if (static_cast<int>(rows.size()) > page.size) {
          rows.pop_back();
          v1::PageCursor next;
          next.set_after_key(mysql_internal::Micros(rows.back().notified_at()));
          next.set_after_id(rows.back().recall_id());
          next.set_filter_hash(filter);
          out.set_next_page_token(EncodePageToken(next));
        }
        for (v1::RecallNotice& notice : rows) *out.add_recalls() = std::move(notice);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::RecallNotice> MysqlInventoryStore::AcknowledgeRecall(
    const CallContext& ctx, const db::IdempotencyKey& key,
    const v1::AcknowledgeRecallRequest& request) {
  return RunOp<v1::RecallNotice>(
      pool_, "acknowledge recall", ctx, &key, nullptr,
      [&](Txn& t, v1::RecallNotice& out) -> absl::Status {
        std::optional<v1::RecallNotice> notice = FindRecall(t.conn, request.recall_id(), false);
        // Another hospital's notice is as unknown as a missing one.
        if (!notice.has_value() || notice->hospital_id() != request.hospital_id()) {
          return RecallNotFound(request.recall_id());
        }
        if (!RecallToAcknowledge(*notice)) {
          out = *std::move(notice);
          return absl::OkStatus();
        }
        // The case row first: two hospitals acknowledging the last two notices of a case at
        // once then settle its status one after the other.
        sql::PreparedStatement& lock_case = t.conn.Prepare(kCaseByIdForUpdate);
        Params(lock_case).Str(notice->lookback_id());
        std::optional<v1::LookbackCase> lookback;
        ForEachRow(lock_case, [&](const sql::ResultSet& rs) { lookback = ReadCase(rs); });
        if (!lookback.has_value()) return absl::InternalError("recall notice without its case");
        notice = FindRecall(t.conn, request.recall_id(), true);
        if (!notice.has_value()) return RecallNotFound(request.recall_id());
        if (RecallToAcknowledge(*notice)) {
          sql::PreparedStatement& update = t.conn.Prepare(kAcknowledgeRecall);
          Params(update)
              .Int(v1::RECALL_STATUS_ACKNOWLEDGED)
              .Int(absl::ToUnixMicros(t.ctx.now))
              .Str(Truncated(t.ctx.actor, 160))
              .Str(request.note())
              .Str(request.recall_id());
          update.executeUpdate();
        }
        int64_t open = 0;
        sql::PreparedStatement& count = t.conn.Prepare(kOpenRecallsOfCase);
        Params(count).Str(notice->lookback_id()).Int(v1::RECALL_STATUS_OPEN);
        ForEachRow(count, [&](const sql::ResultSet& rs) { open = I64(rs, 1); });
        const v1::LookbackStatus status = CaseStatusFor(static_cast<int>(open));
        if (status != lookback->status()) {
          sql::PreparedStatement& update = t.conn.Prepare(kUpdateCaseStatus);
          Params(update).Int(status).Str(notice->lookback_id());
          update.executeUpdate();
        }
        notice = FindRecall(t.conn, request.recall_id(), true);
        if (!notice.has_value()) return absl::InternalError("recall notice vanished");
        out = *std::move(notice);
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::inventory
