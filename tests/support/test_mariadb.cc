#include "tests/support/test_mariadb.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace bloodgrid::testing {
namespace {

// argv[0] as a path: itself when it has a slash, else the first match in PATH (and in the
// sbin directories, where Debian puts mariadbd and which a user's PATH may lack).
std::string ResolveExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs = absl::StrSplit(
      path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin", ':', absl::SkipEmpty());
  dirs.insert(dirs.end(), {"/usr/local/sbin", "/usr/sbin", "/sbin"});
  for (const std::string& dir : dirs) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string UserName() {
  const passwd* pw = getpwuid(geteuid());
  return pw != nullptr ? pw->pw_name : "root";
}

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::ostringstream out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i) {
    out << all[i] << "\n";
  }
  return out.str();
}

// True when something accepts connections on the Unix socket `path` (a stale socket file left
// by a killed server refuses them).
bool SocketAccepts(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool accepted = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return accepted;
}

}  // namespace

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) {
    errno = EINVAL;
    return -1;
  }
  const std::string executable = ResolveExecutable(argv[0]);
  if (executable.empty()) {
    errno = ENOENT;
    return -1;
  }
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // The child: only async-signal-safe calls from here to exec.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent is already gone
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) close(fd);
  }
  execv(executable.c_str(), raw.data());
  _exit(127);
}

TestMariaDb::TestMariaDb(const std::string& log_dir) : log_dir_(log_dir) { Install(); }

void TestMariaDb::Install() {
  std::filesystem::create_directories(log_dir_);
  char dir[] = "/tmp/bloodgrid-db-XXXXXX";  // short: a socket path has at most 107 bytes
  ASSERT_NE(mkdtemp(dir), nullptr) << std::strerror(errno);
  dir_ = dir;
  port_ = PickFreePort();
  std::random_device rd;
  admin_password_ = absl::StrFormat("pw%08x%08x", rd(), rd());

  const std::string install_log = absl::StrCat(log_dir_, "/mariadb-install.log");
  const pid_t install =
      SpawnProcess({"mariadb-install-db", "--no-defaults",
                    absl::StrCat("--datadir=", dir_, "/data"), absl::StrCat("--user=", UserName()),
                    "--auth-root-authentication-method=normal", "--skip-test-db"},
                   install_log);
  ASSERT_GT(install, 0) << "cannot run mariadb-install-db: " << std::strerror(errno);
  int status = 0;
  waitpid(install, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "mariadb-install-db failed:\n"
                                                             << Tail(install_log, 20);

  Start();
  if (::testing::Test::HasFatalFailure()) return;
  db::DbOptions root;
  root.unix_socket = absl::StrCat(dir_, "/mysqld.sock");
  root.user = "root";
  root.pool_size = 1;
  auto pool = db::ConnectionPool::Create(root);
  absl::Status created = db::RunTransaction(
      *pool, "create admin account", absl::Now() + absl::Seconds(30), [&](db::Connection& conn) {
        conn.Execute(absl::StrCat("CREATE USER 'bloodgrid_admin'@'127.0.0.1' IDENTIFIED BY '",
                                  admin_password_, "'"));
        conn.Execute(
            "GRANT ALL PRIVILEGES ON *.* TO 'bloodgrid_admin'@'127.0.0.1' WITH GRANT OPTION");
        return absl::OkStatus();
      });
  ASSERT_TRUE(created.ok()) << created;
}

TestMariaDb::~TestMariaDb() {
  Stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void TestMariaDb::Start() {
  ASSERT_EQ(pid_, 0) << "mariadbd is already running";
  pid_ = SpawnProcess(
      {"mariadbd", "--no-defaults", absl::StrCat("--datadir=", dir_, "/data"),
       absl::StrCat("--socket=", dir_, "/mysqld.sock"), absl::StrCat("--port=", port_),
       "--bind-address=127.0.0.1", absl::StrCat("--pid-file=", dir_, "/mysqld.pid"),
       absl::StrCat("--log-error=", log_dir_, "/mariadb-err.log"),
       absl::StrCat("--user=", UserName()), "--skip-name-resolve", "--innodb-buffer-pool-size=256M",
       "--max-connections=400", "--innodb-flush-log-at-trx-commit=1"},
      absl::StrCat(log_dir_, "/mariadbd.out"));
  if (pid_ <= 0) {
    pid_ = 0;
    FAIL() << "cannot start mariadbd: " << std::strerror(errno);
  }
  WaitUntilAccepting();
}

void TestMariaDb::WaitUntilAccepting() {
  db::DbOptions root;
  root.unix_socket = absl::StrCat(dir_, "/mysqld.sock");
  root.user = "root";
  root.pool_size = 1;
  root.connect_timeout = absl::Seconds(1);
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      FAIL() << "mariadbd exited during start-up:\n"
             << Tail(absl::StrCat(log_dir_, "/mariadb-err.log"), 20);
    }
    // The server listens once crash recovery is done; only then is a login worth trying.
    if (SocketAccepts(root.unix_socket)) {
      auto pool = db::ConnectionPool::Create(root);
      if (pool->Ping(absl::Now() + absl::Seconds(2)).ok()) return;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  FAIL() << "mariadbd not accepting connections within 60 s:\n"
         << Tail(absl::StrCat(log_dir_, "/mariadb-err.log"), 20);
}

void TestMariaDb::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = 0;
}

void TestMariaDb::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  pid_ = 0;
}

db::DbOptions TestMariaDb::AdminOptions() const {
  db::DbOptions options;
  options.host = "127.0.0.1";
  options.port = port_;
  options.user = "bloodgrid_admin";
  options.password = admin_password_;
  return options;
}

}  // namespace bloodgrid::testing
