// A bounded pool of MySQL Connector/C++ 1.1 connections, an RAII lease, a transaction guard
// and the helper that runs a whole transaction with bounded retries.
//
// Rules it enforces (STYLE.md "Database concurrency"):
//  - at most `pool_size` connections; Acquire waits at most until its deadline (and never longer
//    than `acquire_timeout`), then fails with UNAVAILABLE;
//  - one connection per thread at a time: a Lease is move-only and is not to be shared;
//  - connect/read/write timeouts on every connection, a per-session lock-wait timeout, UTC,
//    utf8mb4, READ COMMITTED, autocommit off (every unit of work ends in commit or rollback);
//  - sql::Driver::threadInit()/threadEnd() once per thread that uses the connector;
//  - prepared statements are cached per connection (Prepare is a server round trip).
//
// Thread safety: ConnectionPool is thread-safe. Lease and Connection are not.
#ifndef BLOODGRID_COMMON_MYSQL_POOL_H_
#define BLOODGRID_COMMON_MYSQL_POOL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sql {
class Connection;
class PreparedStatement;
}  // namespace sql

namespace bloodgrid::db {

struct DbOptions {
  std::string host = "127.0.0.1";
  int port = 3306;
  // When set, connect through this Unix socket instead of host:port.
  std::string unix_socket;
  std::string user;
  std::string password;
  // Default schema of every connection.
  std::string schema;
  int pool_size = 16;
  // Upper bound of a wait for a free connection (a call's own deadline may be shorter).
  absl::Duration acquire_timeout = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  // innodb_lock_wait_timeout for the session (whole seconds, at least 1).
  absl::Duration lock_wait_timeout = absl::Seconds(3);
  // A connection idle longer than this is pinged before it is handed out again.
  absl::Duration validate_after_idle = absl::Seconds(30);
  // How many times RunTransaction runs a body that keeps losing lock conflicts or its connection.
  int max_transaction_attempts = 5;
};

// One server connection with its prepared-statement cache. Methods may throw
// sql::SQLException; they are meant to be called inside RunTransaction, which maps them.
class Connection {
 public:
  explicit Connection(std::unique_ptr<sql::Connection> raw);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sql::Connection& raw() { return *raw_; }

  // The prepared statement for `sql_text`, prepared on first use and cached for the life of
  // the connection. Parameters keep the values of the previous use: set them all.
  sql::PreparedStatement& Prepare(const std::string& sql_text);

  // Runs a statement that returns no rows (DDL, SET, ...), not cached.
  void Execute(const std::string& sql_text);

  void Commit();
  void Rollback();

 private:
  friend class ConnectionPool;
  std::unique_ptr<sql::Connection> raw_;
  absl::flat_hash_map<std::string, std::unique_ptr<sql::PreparedStatement>> statements_;
  absl::Time last_used_;
};

class ConnectionPool;

// Exclusive use of one pooled connection; returns it to the pool when destroyed.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  Connection* operator->() { return conn_.get(); }
  Connection& operator*() { return *conn_; }

  // The connection is unusable (lost, or left mid-transaction): close it instead of reusing it.
  void MarkBroken() { broken_ = true; }

 private:
  friend class ConnectionPool;
  Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn)
      : pool_(pool), conn_(std::move(conn)) {}
  void ReturnToPool();

  ConnectionPool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
  bool broken_ = false;
};

class ConnectionPool {
 public:
  // Makes a pool; connects lazily, so it succeeds while the server is down. Must be called
  // first on the main thread (it initialises the connector's driver).
  static std::unique_ptr<ConnectionPool> Create(DbOptions options);
  ~ConnectionPool();

  // A connection for exclusive use. UNAVAILABLE when none frees up before min(deadline,
  // now + acquire_timeout) or the server cannot be reached.
  absl::StatusOr<Lease> Acquire(absl::Time deadline = absl::InfiniteFuture());

  // OK iff the server answers a trivial query before the deadline; UNAVAILABLE otherwise.
  // Health probes use it: it runs on a connection of its own, outside pool_size, so it
  // answers while every pooled connection is leased (an exhausted pool is busy, not down).
  absl::Status Ping(absl::Time deadline);

  // Closes every idle connection (after the server was seen to go away, they are all dead).
  void DiscardIdle();

  struct Stats {
    int open = 0;    // connections that exist (idle + leased)
    int leased = 0;  // connections in use
    int64_t connects = 0;
    int64_t acquire_timeouts = 0;
  };
  Stats GetStats() const;

  const DbOptions& options() const { return options_; }

 private:
  explicit ConnectionPool(DbOptions options);
  friend class Lease;
  absl::StatusOr<std::unique_ptr<Connection>> Connect();
  void Return(std::unique_ptr<Connection> conn, bool broken);

  const DbOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int leased_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t connects_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t acquire_timeouts_ ABSL_GUARDED_BY(mu_) = 0;

  // Ping's own connection (one probe at a time; made on first use, remade after a failure).
  absl::Mutex probe_mu_;
  bool probe_busy_ ABSL_GUARDED_BY(probe_mu_) = false;
  std::unique_ptr<Connection> probe_conn_ ABSL_GUARDED_BY(probe_mu_);
};

// Rolls the transaction back when destroyed unless Commit() was called. Autocommit is off on
// pooled connections, so the transaction starts with the first statement.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Commits; throws sql::SQLException on failure (then the destructor still rolls back).
  void Commit();

 private:
  Connection& conn_;
  bool done_ = false;
};

// A body returns this to have RunTransaction roll back and run it again (it counts as an
// attempt), e.g. after losing a race to claim an idempotency key that the winner has now
// committed. After the last attempt the caller gets it as ABORTED.
absl::Status RetryTransactionStatus(absl::string_view why);
bool IsRetryTransactionStatus(const absl::Status& status);

// Runs `body` as one transaction on a pooled connection: commits when it returns OK, rolls
// back otherwise and returns its status. Connector exceptions are caught here and mapped by
// StatusFromSqlException (`what` names the operation in messages). The whole body is re-run,
// on a fresh connection where needed, when it loses a lock conflict (deadlock 1213 / lock wait
// 1205) or the connection is lost before COMMIT, up to options().max_transaction_attempts and
// never past `deadline`; then ABORTED / UNAVAILABLE. A connection lost during COMMIT is
// UNAVAILABLE at once (the outcome is unknown: callers rely on idempotency keys to retry).
// `body` must therefore be safe to re-run: no side effects outside the transaction.
absl::Status RunTransaction(ConnectionPool& pool, absl::string_view what, absl::Time deadline,
                            absl::FunctionRef<absl::Status(Connection&)> body);

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_MYSQL_POOL_H_
