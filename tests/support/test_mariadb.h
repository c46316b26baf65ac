// What a test owns outright: child processes that die with it, loopback ports, and a MariaDB
// server of its own. The integration tests start one when scripts/test gave them none
// (tests/integration/test_db.h); an end-to-end test starts one that it may SIGKILL and restart
// (the MariaDB that scripts/test starts is shared by tests running in parallel and must never be
// killed).
#ifndef BLOODGRID_TESTS_SUPPORT_TEST_MARIADB_H_
#define BLOODGRID_TESTS_SUPPORT_TEST_MARIADB_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/mysql_pool.h"

namespace bloodgrid::testing {

// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
int PickFreePort();

// Starts argv[0] (a path, or a name looked up in PATH) with stdout and stderr appended to
// `log_path` and an empty signal mask. The child is SIGKILLed when the thread that started it
// exits (PR_SET_PDEATHSIG), so a test that crashes or is killed by ctest's timeout leaves no
// process behind: start children from a thread that outlives them (the test's own thread).
// Returns the child's pid, or -1 (errno set) when it could not be started.
pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path);

// A MariaDB server in a throwaway data directory, started as scripts/lib/common.sh mariadb_start
// does, with an admin account for TCP use. Not thread-safe: drive it from the test's thread.
class TestMariaDb {
 public:
  // Installs a fresh data directory (mariadb-install-db) in a new temporary directory, starts
  // mariadbd on a port picked now and creates the admin account. Logs go to files under
  // `log_dir`. Reports a fatal gtest failure when any step fails: check HasFatalFailure().
  explicit TestMariaDb(const std::string& log_dir);
  // Stops the server (SIGTERM, SIGKILL after 30 s) and removes the data directory.
  ~TestMariaDb();
  TestMariaDb(const TestMariaDb&) = delete;
  TestMariaDb& operator=(const TestMariaDb&) = delete;

  // SIGKILLs mariadbd and reaps it: committed transactions survive in the redo log, everything
  // in flight is lost, every client connection breaks.
  void Kill();
  // Starts mariadbd again on the same data directory and port; returns once it accepts
  // connections (InnoDB crash recovery included). Fatal gtest failure after 60 s.
  void Start();

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  // The admin account (every privilege) over TCP, no default schema.
  db::DbOptions AdminOptions() const;

 private:
  void Install();
  void WaitUntilAccepting();
  void Stop();

  std::string log_dir_;
  std::string dir_;  // temporary directory: data/, the socket, the pid file
  int port_ = 0;
  pid_t pid_ = 0;
  std::string admin_password_;
};

}  // namespace bloodgrid::testing

#endif  // BLOODGRID_TESTS_SUPPORT_TEST_MARIADB_H_
