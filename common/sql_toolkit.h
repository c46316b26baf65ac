// The small SQL toolkit every MySQL store is written with, above the pool (mysql_pool.h):
//  - Params: binds a prepared statement's parameters left to right, NULLs included;
//  - typed row readers that map SQL NULL to the type's empty value or to nullopt;
//  - ForEachRow: runs a query and closes its result set before returning;
//  - RunIdempotent: one transaction with the request_id claimed, replayed or completed in it.
//
// Everything here may throw sql::SQLException and is meant to run inside RunTransaction, which
// maps it (sql_error.h). Not thread-safe: one connection, one thread.
#ifndef BLOODGRID_COMMON_SQL_TOOLKIT_H_
#define BLOODGRID_COMMON_SQL_TOOLKIT_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/idempotency.h"
#include "common/mysql_pool.h"
#include "common/status.h"

namespace sql {
class PreparedStatement;
class ResultSet;
}  // namespace sql

namespace bloodgrid::db {

// Binds parameters in order: `Params(statement).Str(id).Int(n).Time(now)`. Instants are bound
// as microseconds since the Unix epoch, as the schemas store them.
class Params {
 public:
  explicit Params(sql::PreparedStatement& statement) : statement_(statement) {}

  Params& Str(absl::string_view value);
  // "" is bound as NULL.
  Params& StrOrNull(absl::string_view value);
  Params& OptStr(const std::optional<std::string>& value);
  Params& Int(int64_t value);
  Params& OptInt(std::optional<int64_t> value);
  Params& Bool(bool value);
  Params& Double(double value);
  Params& OptDouble(std::optional<double> value);
  Params& Time(absl::Time value);
  Params& OptTime(std::optional<absl::Time> value);
  Params& Blob(std::istream* stream);
  Params& Null();

  // Parameters bound so far.
  unsigned count() const { return index_; }

 private:
  sql::PreparedStatement& statement_;
  unsigned index_ = 0;
};

// Column readers (1-based column index): NULL reads as "", 0, false or nullopt.
std::string Str(const sql::ResultSet& rs, uint32_t column);
std::optional<std::string> OptStr(const sql::ResultSet& rs, uint32_t column);
int64_t I64(const sql::ResultSet& rs, uint32_t column);
std::optional<int64_t> OptI64(const sql::ResultSet& rs, uint32_t column);
bool Bool(const sql::ResultSet& rs, uint32_t column);
double Double(const sql::ResultSet& rs, uint32_t column);
std::optional<double> OptDouble(const sql::ResultSet& rs, uint32_t column);
// A BIGINT column of microseconds since the Unix epoch.
absl::Time Time(const sql::ResultSet& rs, uint32_t column);
std::optional<absl::Time> OptTime(const sql::ResultSet& rs, uint32_t column);
std::string BlobBytes(const sql::ResultSet& rs, uint32_t column);

// Runs the query and hands each row to `row`, then closes the result set, so the connection is
// free for the next statement. Returns the number of rows.
int64_t ForEachRow(sql::PreparedStatement& statement,
                   absl::FunctionRef<void(const sql::ResultSet&)> row);

// Runs `body` as one transaction (RunTransaction: retries, mapping, deadline) with the request
// idempotency of common/idempotency.h: with a `key`, a key completed before fills the result
// with the first answer and `body` does not run (`*replayed` set true); otherwise `body` runs
// and its response is stored under the key in the same transaction. Without a key, a plain
// transaction. `body` may run several times (each attempt starts from an empty Response).
template <typename Response>
absl::StatusOr<Response> RunIdempotent(ConnectionPool& pool, absl::string_view what,
                                       absl::Time deadline, const IdempotencyKey* key,
                                       absl::FunctionRef<absl::Status(Connection&, Response&)> body,
                                       bool* replayed = nullptr) {
  Response response;
  bool was_replayed = false;
  absl::Status status = RunTransaction(pool, what, deadline, [&](Connection& conn) -> absl::Status {
    response = Response();
    was_replayed = false;
    if (key != nullptr) {
      BG_ASSIGN_OR_RETURN(was_replayed, ClaimOrReplay(conn, *key, &response));
      if (was_replayed) return absl::OkStatus();
    }
    BG_RETURN_IF_ERROR(body(conn, response));
    if (key != nullptr) CompleteIdempotent(conn, *key, response);
    return absl::OkStatus();
  });
  if (replayed != nullptr) *replayed = status.ok() && was_replayed;
  if (!status.ok()) return status;
  return response;
}

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_SQL_TOOLKIT_H_
