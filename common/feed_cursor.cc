#include "common/feed_cursor.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include "common/sql_toolkit.h"

namespace bloodgrid::db {
namespace {

constexpr char kEnsure[] =
    "INSERT IGNORE INTO feed_cursors (feed, after_sequence, updated_us) VALUES (?, 0, ?)";
constexpr char kLoad[] = "SELECT after_sequence FROM feed_cursors WHERE feed = ?";
constexpr char kLoadForUpdate[] =
    "SELECT after_sequence FROM feed_cursors WHERE feed = ? FOR UPDATE";
constexpr char kSave[] =
    "INSERT INTO feed_cursors (feed, after_sequence, updated_us) VALUES (?, ?, ?) "
    "ON DUPLICATE KEY UPDATE after_sequence = GREATEST(after_sequence, VALUES(after_sequence)), "
    "updated_us = VALUES(updated_us)";

}  // namespace

uint64_t LoadFeedCursor(Connection& conn, absl::string_view feed, bool for_update) {
  if (for_update) {
    sql::PreparedStatement& ensure = conn.Prepare(kEnsure);
    Params(ensure).Str(feed).Time(absl::Now());
    ensure.executeUpdate();
  }
  sql::PreparedStatement& load = conn.Prepare(for_update ? kLoadForUpdate : kLoad);
  Params(load).Str(feed);
  uint64_t after = 0;
  ForEachRow(load, [&](const sql::ResultSet& rs) { after = static_cast<uint64_t>(I64(rs, 1)); });
  return after;
}

void SaveFeedCursor(Connection& conn, absl::string_view feed, uint64_t after_sequence,
                    absl::Time now) {
  sql::PreparedStatement& save = conn.Prepare(kSave);
  Params(save).Str(feed).Int(static_cast<int64_t>(after_sequence)).Time(now);
  save.executeUpdate();
}

}  // namespace bloodgrid::db
