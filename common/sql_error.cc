#include "common/sql_error.h"

#include <cppconn/exception.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace bloodgrid::db {

bool IsRetryableConflict(int error_code) {
  return error_code == kErrDeadlock || error_code == kErrLockWaitTimeout;
}

bool IsConnectionLost(int error_code) {
  switch (error_code) {
    case 2002:  // can't connect through socket
    case 2003:  // can't connect to server
    case 2005:  // unknown host
    case 2006:  // server has gone away
    case 2013:  // lost connection during query
    case 2055:  // lost connection at handshake / system error
    case 1927:  // MariaDB: connection was killed
    case 1053:  // server shutdown in progress
      return true;
    default:
      return false;
  }
}

absl::Status StatusFromSqlError(int error_code, absl::string_view sql_state,
                                absl::string_view server_message, absl::string_view what) {
  if (error_code == kErrDuplicateKey) {
    return absl::AlreadyExistsError(absl::StrCat(what, ": already exists"));
  }
  if (error_code == kErrForeignKeyNoParent) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": a referenced record does not exist"));
  }
  if (IsRetryableConflict(error_code)) {
    return absl::AbortedError(
        absl::StrCat(what, ": lost a conflict with a concurrent change; retry"));
  }
  if (IsConnectionLost(error_code)) {
    return absl::UnavailableError(absl::StrCat(what, ": database unavailable"));
  }
  if (error_code == kErrStatementTimeoutMariaDb || error_code == kErrStatementTimeoutMySql) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": database statement timed out"));
  }
  LogError("sql_error", {{"what", std::string(what)},
                         {"errno", std::to_string(error_code)},
                         {"sqlstate", std::string(sql_state)},
                         {"message", std::string(server_message)}});
  return absl::InternalError(absl::StrCat(what, ": database error"));
}

absl::Status StatusFromSqlException(const sql::SQLException& e, absl::string_view what) {
  return StatusFromSqlError(e.getErrorCode(), e.getSQLState(), e.what(), what);
}

}  // namespace bloodgrid::db
