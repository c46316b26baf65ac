// The one place where MySQL errors become absl::Status (STYLE.md "Errors").
//
//   1062 duplicate key                  -> ALREADY_EXISTS
//   1452 foreign key missing parent     -> FAILED_PRECONDITION
//   1213 deadlock, 1205 lock wait       -> ABORTED (callers retry the whole transaction first)
//   2002/2003/2005/2006/2013/2055 gone  -> UNAVAILABLE (the client may retry)
//   1969/3024 statement time limit      -> DEADLINE_EXCEEDED
//   anything else                       -> INTERNAL "database error" (details logged, never sent)
//
// Messages never include the server's error text, which can quote data or SQL.
#ifndef BLOODGRID_COMMON_SQL_ERROR_H_
#define BLOODGRID_COMMON_SQL_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sql {
class SQLException;
}  // namespace sql

namespace bloodgrid::db {

// MySQL/MariaDB error numbers BloodGrid reacts to.
inline constexpr int kErrDuplicateKey = 1062;
inline constexpr int kErrForeignKeyNoParent = 1452;
inline constexpr int kErrLockWaitTimeout = 1205;
inline constexpr int kErrDeadlock = 1213;
inline constexpr int kErrStatementTimeoutMariaDb = 1969;
inline constexpr int kErrStatementTimeoutMySql = 3024;

// True for errors that mean the whole transaction lost a lock conflict and may be re-run.
bool IsRetryableConflict(int error_code);

// True for errors that mean the connection is unusable (server gone, connection lost).
bool IsConnectionLost(int error_code);

// Maps an error number to a status. `what` names the operation for the message
// (e.g. "register donor"); the server's own text goes only to the log.
absl::Status StatusFromSqlError(int error_code, absl::string_view sql_state,
                                absl::string_view server_message, absl::string_view what);

// Convenience for a caught connector exception.
absl::Status StatusFromSqlException(const sql::SQLException& e, absl::string_view what);

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_SQL_ERROR_H_
