// MysqlInventoryStore, the change feed: appending in the writer's transaction, and reading.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/sql_toolkit.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory::mysql_internal {
namespace {

constexpr char kFeedName[] = "inventory";

constexpr char kAdvanceHead[] =
    "UPDATE change_feed_head SET last_sequence = last_sequence + ? WHERE feed = ?";

constexpr char kReadHead[] = "SELECT last_sequence FROM change_feed_head WHERE feed = ?";

constexpr char kReadEvents[] =
    "SELECT sequence, actor, committed_us, payload FROM change_feed WHERE sequence > ? "
    "ORDER BY sequence LIMIT ?";

constexpr char kOldestKept[] = "SELECT MIN(sequence) FROM change_feed";

constexpr char kInsertEvent[] =
    "INSERT INTO change_feed (sequence, kind, din, actor, committed_us, payload) "
    "VALUES (?, ?, ?, ?, ?, ?)";

// The kind column: which member of ChangeEvent.change is set (for reading by eye and for
// filtered scans; the payload is authoritative).
const char* KindOf(const v1::ChangeEvent& event) {
  switch (event.change_case()) {
    case v1::ChangeEvent::kStock:
      return "stock";
    case v1::ChangeEvent::kTesting:
      return "testing";
    case v1::ChangeEvent::kRegistered:
      return "registered";
    case v1::ChangeEvent::CHANGE_NOT_SET:
      break;
  }
  return "unknown";
}

std::string DinOf(const v1::ChangeEvent& event) {
  if (event.has_testing()) return event.testing().din();
  if (event.has_registered()) return event.registered().din();
  return "";
}

v1::ChangeEvent StockEventOf(const StockChanges& changes) {
  v1::ChangeEvent event;
  v1::StockChange& stock = *event.mutable_stock();
  for (const LevelKey& key : changes.keys) {
    v1::StockRowKey& row = *stock.add_rows();
    row.set_station_id(key.station_id);
    row.set_component(key.component);
    row.mutable_blood_type()->set_abo(key.abo);
    row.mutable_blood_type()->set_rhd(key.rhd);
  }
  for (const v1::StockAlert& alert : changes.alerts) *stock.add_alerts() = alert;
  return event;
}

}  // namespace

void AppendChangeFeed(Txn& t) {
  std::vector<const v1::ChangeEvent*> events;
  v1::ChangeEvent stock;
  if (!t.changes.keys.empty() || !t.changes.alerts.empty()) {
    stock = StockEventOf(t.changes);
    events.push_back(&stock);
  }
  for (const v1::ChangeEvent& event : t.feed) events.push_back(&event);
  if (events.empty()) return;

  sql::PreparedStatement& advance = t.conn.Prepare(kAdvanceHead);
  db::Params(advance).Int(static_cast<int64_t>(events.size())).Str(kFeedName);
  advance.executeUpdate();
  int64_t last = 0;
  sql::PreparedStatement& head = t.conn.Prepare(kReadHead);
  db::Params(head).Str(kFeedName);
  db::ForEachRow(head, [&](const sql::ResultSet& rs) { last = db::I64(rs, 1); });
  int64_t sequence = last - static_cast<int64_t>(events.size());
  for (const v1::ChangeEvent* event : events) {
    ++sequence;
    v1::ChangeEvent stored = *event;
    stored.clear_sequence();
    stored.clear_committed_at();
    stored.set_actor(t.ctx.actor);
    std::istringstream payload(stored.SerializeAsString());
    sql::PreparedStatement& insert = t.conn.Prepare(kInsertEvent);
    db::Params(insert)
        .Int(sequence)
        .Str(KindOf(stored))
        .StrOrNull(DinOf(stored))
        .Str(t.ctx.actor)
        .Time(t.ctx.now)
        .Blob(&payload);
    insert.executeUpdate();
  }
}

}  // namespace bloodgrid::inventory::mysql_internal

namespace bloodgrid::inventory {

using mysql_internal::RunOp;
using mysql_internal::Txn;

absl::StatusOr<v1::ReadChangeFeedResponse> MysqlInventoryStore::ReadChangeFeed(
    const CallContext& ctx, uint64_t after_sequence, int limit) {
  return RunOp<v1::ReadChangeFeedResponse>(
      pool_, "read change feed", ctx, nullptr, nullptr,
      [&](Txn& t, v1::ReadChangeFeedResponse& out) -> absl::Status {
        // One snapshot for the head, the retention check and the events.
        sql::PreparedStatement& head = t.conn.Prepare(mysql_internal::kReadHead);
        db::Params(head).Str(mysql_internal::kFeedName);
        db::ForEachRow(head, [&](const sql::ResultSet& rs) {
          out.set_head_sequence(static_cast<uint64_t>(db::I64(rs, 1)));
        });
        if (after_sequence > 0) {
          std::optional<int64_t> oldest;
          sql::PreparedStatement& min = t.conn.Prepare(mysql_internal::kOldestKept);
          db::ForEachRow(min, [&](const sql::ResultSet& rs) { oldest = db::OptI64(rs, 1); });
          const bool removed = oldest.has_value()
                                   ? after_sequence + 1 < static_cast<uint64_t>(*oldest)
                                   : after_sequence < out.head_sequence();
          if (removed) {
            return absl::OutOfRangeError(absl::StrCat(
                "after_sequence: ", after_sequence,
                " is older than the change feed keeps (oldest kept: ",
                oldest.has_value() ? absl::StrCat(*oldest) : "none", "); resynchronise"));
          }
        }
        if (limit <= 0) return absl::OkStatus();
        sql::PreparedStatement& read = t.conn.Prepare(mysql_internal::kReadEvents);
        db::Params(read).Int(static_cast<int64_t>(after_sequence)).Int(limit);
        absl::Status parsed = absl::OkStatus();
        db::ForEachRow(read, [&](const sql::ResultSet& rs) {
          v1::ChangeEvent& event = *out.add_events();
          if (!event.ParseFromString(db::BlobBytes(rs, 4)) && parsed.ok()) {
            parsed = absl::DataLossError(
                absl::StrCat("change feed event ", db::I64(rs, 1), " does not parse"));
          }
          event.set_sequence(static_cast<uint64_t>(db::I64(rs, 1)));
          event.set_actor(db::Str(rs, 2));
          ToTimestamp(db::Time(rs, 3), event.mutable_committed_at());
        });
        return parsed;
      });
}

absl::Status MysqlInventoryStore::AppendStockAlerts(const CallContext& ctx,
                                                    const std::vector<v1::StockAlert>& alerts) {
  if (alerts.empty()) return absl::OkStatus();
  return RunOp<int>(pool_, "append stock alerts", ctx, nullptr, nullptr,
                    [&](Txn& t, int&) -> absl::Status {
                      t.changes.alerts = alerts;
                      return absl::OkStatus();
                    })
      .status();
}

}  // namespace bloodgrid::inventory
