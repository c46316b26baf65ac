// The order aggregate's rows in the `request` schema, shared by MysqlRequestStore's methods:
// reading an order with everything on it, inserting a new one with its first events, and
// applying a decided OrderChange with its event. Internal to the MySQL store library.
//
// Every function throws sql::SQLException on an SQL error and runs only inside a
// db::RunTransaction body, which maps it.
#ifndef BLOODGRID_REQUEST_SERVICE_MYSQL_ORDER_ROWS_H_
#define BLOODGRID_REQUEST_SERVICE_MYSQL_ORDER_ROWS_H_

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"
#include "request_service/request_store.h"

namespace bloodgrid::request::mysql_rows {

using ResultSetPtr = std::unique_ptr<sql::ResultSet>;

// `text` cut to at most `max_chars` characters (the column's width).
std::string Truncated(const std::string& text, int max_chars);
std::string ReadBlob(sql::ResultSet& rs, uint32_t column);
std::optional<int64_t> OptionalInt64(sql::ResultSet& rs, uint32_t column);
// Binds `t` in microseconds, or NULL.
void SetOptionalMicros(sql::PreparedStatement& ps, unsigned index, std::optional<absl::Time> t);
void SetTimestampFromMicros(std::optional<int64_t> micros, google::protobuf::Timestamp* out);
std::optional<absl::Time> OptionalTime(const google::protobuf::Timestamp& ts, bool present);

// The order with its lines (current units, allocated and back-ordered quantities derived),
// reservations, allocations, exceptions, findings and review; `for_update` locks its row.
// NOT_FOUND "order <id> not found".
absl::StatusOr<OrderRecord> LoadOrderTx(db::Connection& conn, const std::string& order_id,
                                        bool for_update);
// Inserts a whole new order with one event per status of `status_path` (1062 for a repeated
// request_id, 1452 for an unknown hospital).
void InsertOrderTx(db::Connection& conn, const OrderRecord& record,
                   const std::vector<v1::OrderStatus>& status_path, const std::string& actor,
                   absl::Time now);
// Writes `change` to `current` (already decided and checked against the state machine) with
// its event row and follow-up order.
void ApplyChange(db::Connection& conn, const OrderRecord& current, const OrderChange& change,
                 const std::string& actor, absl::Time now);

}  // namespace bloodgrid::request::mysql_rows

#endif  // BLOODGRID_REQUEST_SERVICE_MYSQL_ORDER_ROWS_H_
