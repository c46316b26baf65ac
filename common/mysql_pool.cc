#include "common/mysql_pool.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

#include <algorithm>
#include <exception>
#include <random>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fault_point.h"
#include "common/log.h"
#include "common/sql_error.h"
#include "common/status.h"

namespace bloodgrid::db {
namespace {

sql::mysql::MySQL_Driver* Driver() {
  static sql::mysql::MySQL_Driver* const driver = sql::mysql::get_mysql_driver_instance();
  return driver;
}

// Connector/C++ 1.1 keeps per-thread client state: threadInit() before a thread's first use,
// threadEnd() when the thread exits.
struct ConnectorThreadGuard {
  ConnectorThreadGuard() { Driver()->threadInit(); }
  ~ConnectorThreadGuard() { Driver()->threadEnd(); }
};

void EnsureThreadInitialised() { static thread_local ConnectorThreadGuard guard; }

int WholeSeconds(absl::Duration d) {
  return std::max<int>(1, static_cast<int>(absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1)))));
}

}  // namespace

Connection::Connection(std::unique_ptr<sql::Connection> raw)
    : raw_(std::move(raw)), last_used_(absl::Now()) {}

Connection::~Connection() {
  statements_.clear();
  try {
    if (raw_ != nullptr) raw_->close();
  } catch (const std::exception&) {
    // Closing a dead connection: nothing to do.
  }
}

sql::PreparedStatement& Connection::Prepare(const std::string& sql_text) {
  auto it = statements_.find(sql_text);
  if (it == statements_.end()) {
    std::unique_ptr<sql::PreparedStatement> statement(raw_->prepareStatement(sql_text));
    it = statements_.emplace(sql_text, std::move(statement)).first;
  }
  return *it->second;
}

void Connection::Execute(const std::string& sql_text) {
  std::unique_ptr<sql::Statement> statement(raw_->createStatement());
  statement->execute(sql_text);
  // Drain any result so the connection stays usable.
  do {
    std::unique_ptr<sql::ResultSet> rs(statement->getResultSet());
  } while (statement->getMoreResults());
}

void Connection::Commit() { raw_->commit(); }
void Connection::Rollback() { raw_->rollback(); }

Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), broken_(other.broken_) {
  other.pool_ = nullptr;
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    ReturnToPool();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    broken_ = other.broken_;
    other.pool_ = nullptr;
  }
  return *this;
}

Lease::~Lease() { ReturnToPool(); }

void Lease::ReturnToPool() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Return(std::move(conn_), broken_);
  pool_ = nullptr;
}

std::unique_ptr<ConnectionPool> ConnectionPool::Create(DbOptions options) {
  Driver();  // initialise the driver on the calling (main) thread
  return std::unique_ptr<ConnectionPool>(new ConnectionPool(std::move(options)));
}

ConnectionPool::ConnectionPool(DbOptions options) : options_(std::move(options)) {}

ConnectionPool::~ConnectionPool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

absl::StatusOr<std::unique_ptr<Connection>> ConnectionPool::Connect() {
  EnsureThreadInitialised();
  sql::ConnectOptionsMap props;
  if (!options_.unix_socket.empty()) {
    props["hostName"] = sql::SQLString(absl::StrCat("unix://", options_.unix_socket));
  } else {
    props["hostName"] = sql::SQLString(absl::StrCat("tcp://", options_.host, ":", options_.port));
  }
  props["userName"] = sql::SQLString(options_.user);
  props["password"] = sql::SQLString(options_.password);
  if (!options_.schema.empty()) props["schema"] = sql::SQLString(options_.schema);
  props["OPT_CONNECT_TIMEOUT"] = WholeSeconds(options_.connect_timeout);
  props["OPT_READ_TIMEOUT"] = WholeSeconds(options_.read_timeout);
  props["OPT_WRITE_TIMEOUT"] = WholeSeconds(options_.write_timeout);
  props["OPT_RECONNECT"] = false;  // a silent reconnect would lose transaction state
  props["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
  try {
    std::unique_ptr<sql::Connection> raw(Driver()->connect(props));
    raw->setAutoCommit(false);
    auto conn = std::make_unique<Connection>(std::move(raw));
    conn->Execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    conn->Execute(absl::StrCat("SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = ",
                               WholeSeconds(options_.lock_wait_timeout)));
    conn->Commit();
    return conn;
  } catch (const sql::SQLException& e) {
    LogWarning("db_connect_failed", {{"schema", options_.schema},
                                     {"errno", std::to_string(e.getErrorCode())},
                                     {"message", e.what()}});
    if (IsConnectionLost(e.getErrorCode())) {
      return absl::UnavailableError("database unavailable");
    }
    return StatusFromSqlException(e, "connect to database");
  }
}

absl::StatusOr<Lease> ConnectionPool::Acquire(absl::Time deadline) {
  EnsureThreadInitialised();
  const absl::Time give_up = std::min(deadline, absl::Now() + options_.acquire_timeout);
  std::unique_ptr<Connection> conn;
  {
    absl::MutexLock lock(&mu_);
    auto can_proceed = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&can_proceed), give_up)) {
      ++acquire_timeouts_;
      return absl::UnavailableError(absl::StrCat("database connection pool exhausted (",
                                                 options_.pool_size, " in use); retry"));
    }
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;  // reserve the slot; connect outside the lock
    }
    ++leased_;
  }
  if (conn != nullptr && absl::Now() - conn->last_used_ > options_.validate_after_idle) {
    bool valid = false;
    try {
      valid = conn->raw().isValid();
    } catch (const std::exception&) {
      valid = false;
    }
    if (!valid) conn.reset();  // the slot stays counted in open_; reconnect below
  }
  if (conn == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> fresh = Connect();
    if (!fresh.ok()) {
      absl::MutexLock lock(&mu_);
      --open_;
      --leased_;
      return fresh.status();
    }
    conn = *std::move(fresh);
    absl::MutexLock lock(&mu_);
    ++connects_;
  }
  return Lease(this, std::move(conn));
}

void ConnectionPool::Return(std::unique_ptr<Connection> conn, bool broken) {
  conn->last_used_ = absl::Now();
  std::unique_ptr<Connection> to_close;
  {
    absl::MutexLock lock(&mu_);
    --leased_;
    if (broken) {
      --open_;
      to_close = std::move(conn);
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  // to_close is destroyed here, outside the lock (closing may touch the network).
}

void ConnectionPool::DiscardIdle() {
  std::vector<std::unique_ptr<Connection>> to_close;
  {
    absl::MutexLock lock(&mu_);
    to_close.swap(idle_);
    open_ -= static_cast<int>(to_close.size());
  }
}

absl::Status ConnectionPool::Ping(absl::Time deadline) {
  EnsureThreadInitialised();
  std::unique_ptr<Connection> conn;
  {
    absl::MutexLock lock(&probe_mu_);
    auto free = [this]() ABSL_SHARED_LOCKS_REQUIRED(probe_mu_) { return !probe_busy_; };
    if (!probe_mu_.AwaitWithDeadline(absl::Condition(&free), deadline)) {
      return absl::UnavailableError("database probe: another probe is still waiting");
    }
    probe_busy_ = true;
    conn = std::move(probe_conn_);
  }
  absl::Status status = absl::OkStatus();
  if (conn == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> fresh = Connect();
    if (fresh.ok()) {
      conn = *std::move(fresh);
    } else {
      status = absl::UnavailableError("database unavailable");
    }
  }
  if (conn != nullptr) {
    try {
      conn->Execute("SELECT 1");
      conn->Commit();
    } catch (const sql::SQLException& e) {
      conn.reset();
      if (IsConnectionLost(e.getErrorCode())) DiscardIdle();
      status = absl::UnavailableError("database unavailable");
    }
  }
  absl::MutexLock lock(&probe_mu_);
  probe_conn_ = std::move(conn);
  probe_busy_ = false;
  return status;
}

ConnectionPool::Stats ConnectionPool::GetStats() const {
  absl::MutexLock lock(&mu_);
  return Stats{open_, leased_, connects_, acquire_timeouts_};
}

Transaction::~Transaction() {
  if (done_) return;
  try {
    conn_.Rollback();
  } catch (const std::exception&) {
    // The connection is gone; the server rolls back on its own. RunTransaction marks it broken.
  }
}

void Transaction::Commit() {
  conn_.Commit();
  done_ = true;
}

namespace {
constexpr char kRetryPayloadUrl[] = "type.bloodgrid/retry-transaction";
}  // namespace

absl::Status RetryTransactionStatus(absl::string_view why) {
  absl::Status status = absl::AbortedError(why);
  status.SetPayload(kRetryPayloadUrl, absl::Cord("1"));
  return status;
}

bool IsRetryTransactionStatus(const absl::Status& status) {
  return status.GetPayload(kRetryPayloadUrl).has_value();
}

absl::Status RunTransaction(ConnectionPool& pool, absl::string_view what, absl::Time deadline,
                            absl::FunctionRef<absl::Status(Connection&)> body) {
  thread_local std::minstd_rand jitter(std::random_device{}());
  const int max_attempts = std::max(1, pool.options().max_transaction_attempts);
  absl::Status last = absl::UnavailableError(absl::StrCat(what, ": database unavailable"));
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    if (attempt > 1) {
      // Back off a little (and randomly) so the competing transactions do not meet again.
      const int spread = 5 * attempt;
      const int extra =
          static_cast<int>(jitter() % static_cast<std::minstd_rand::result_type>(spread));
      absl::Duration pause = absl::Milliseconds(2 * attempt + extra);
      if (absl::Now() + pause >= deadline) break;
      absl::SleepFor(pause);
    }
    absl::StatusOr<Lease> lease = pool.Acquire(deadline);
    if (!lease.ok()) return Annotate(lease.status(), what);
    bool committing = false;
    try {
      Transaction txn(**lease);
      absl::Status status = body(**lease);
      if (IsRetryTransactionStatus(status)) {
        last = absl::AbortedError(absl::StrCat(what, ": ", status.message()));
        continue;  // txn rolls back; run the body again
      }
      if (!status.ok()) return status;  // txn rolls back
      committing = true;
      FaultPoint("db.commit.before:", what);
      txn.Commit();
      FaultPoint("db.commit.after:", what);
      return absl::OkStatus();
    } catch (const sql::SQLException& e) {
      const int code = e.getErrorCode();
      last = StatusFromSqlException(e, what);
      if (IsConnectionLost(code)) {
        lease->MarkBroken();
        pool.DiscardIdle();
        if (committing) return last;  // outcome unknown: the caller retries idempotently
        continue;
      }
      if (IsRetryableConflict(code)) {
        LogInfo("txn_conflict_retry", {{"what", std::string(what)},
                                       {"errno", std::to_string(code)},
                                       {"attempt", std::to_string(attempt)}});
        continue;
      }
      return last;
    } catch (const std::exception& e) {
      lease->MarkBroken();
      LogError("txn_unexpected_exception", {{"what", std::string(what)}, {"message", e.what()}});
      return absl::InternalError(absl::StrCat(what, ": internal error"));
    }
  }
  return last;
}

}  // namespace bloodgrid::db
