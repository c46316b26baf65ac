#include "tests/e2e/region.h"

#include <cppconn/connection.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <grpcpp/channel.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/mysql_pool.h"
#include "common/service_channel.h"
#include "gateway/auth.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_db.h"
#include "tests/support/test_mariadb.h"

namespace bloodgrid::e2e {
namespace {

void RunAdminSql(const db::DbOptions& admin, const std::vector<std::string>& statements) {
  auto pool = db::ConnectionPool::Create(admin);
  absl::Status status = db::RunTransaction(*pool, "e2e admin", absl::Now() + absl::Seconds(30),
                                           [&](db::Connection& conn) {
                                             for (const std::string& s : statements)
                                               conn.Execute(s);
                                             return absl::OkStatus();
                                           });
  ASSERT_TRUE(status.ok()) << status;
}

const char* const kServices[] = {"donor", "inventory", "request"};
// In start order: a service starts after those it calls.
const char* const kProcesses[] = {"donor", "inventory", "request", "gateway"};

bool TakenPort(const std::map<std::string, std::vector<int>>& ports, int port) {
  for (const auto& [service, taken] : ports) {
    if (std::find(taken.begin(), taken.end(), port) != taken.end()) return true;
  }
  return false;
}

RegionOptions WithGatewayFlags(std::vector<std::string> gateway_flags) {
  RegionOptions options;
  options.service_flags["gateway"] = std::move(gateway_flags);
  return options;
}

}  // namespace

Region::Region(const std::string& name, std::vector<std::string> gateway_flags)
    : Region(name, WithGatewayFlags(std::move(gateway_flags))) {}

Region::Region(const std::string& name, RegionOptions options)
    : name_(name), options_(std::move(options)) {
  admin_db_ = options_.db != nullptr ? options_.db->AdminOptions() : testing::AdminDbOptions();
  std::random_device rd;
  const std::string tag = absl::StrCat("e", rd() % 100000000);
  dir_ = absl::StrCat(BLOODGRID_BINARY_DIR, "/e2e-runs/", name, "-", tag);
  std::filesystem::create_directories(dir_);
  const std::string db_password = absl::StrCat("pw", rd());
  std::vector<std::string> sql;
  for (const char* service : kServices) {
    const std::string schema = absl::StrCat(tag, "_", service);
    schemas_[service] = schema;
    sql.push_back(
        absl::StrCat("CREATE DATABASE `", schema, "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"));
    sql.push_back(
        absl::StrCat("CREATE USER '", schema, "'@'127.0.0.1' IDENTIFIED BY '", db_password, "'"));
    sql.push_back(
        absl::StrCat("GRANT ALL PRIVILEGES ON `", schema, "`.* TO '", schema, "'@'127.0.0.1'"));
  }
  RunAdminSql(admin_db_, sql);
  std::ofstream(dir_ + "/db_password") << db_password << "\n";
  std::ofstream(dir_ + "/tokens") << gateway::Sha256Hex(kAdminToken) << " admin console\n"
                                  << gateway::Sha256Hex(kDispatchToken) << " dispatcher dispatch\n"
                                  << gateway::Sha256Hex(kHospital1Token) << " hospital H1\n"
                                  << gateway::Sha256Hex(kHospital2Token) << " hospital H2\n";
  for (const char* service : kProcesses) {
    const int count =
        std::string_view(service) == "gateway" ? options_.gateways : options_.replicas;
    if (count < 1) {
      ADD_FAILURE() << service << ": at least one process";
      return;
    }
    for (int r = 0; r < count; ++r) {
      // A port is free again once picked: keep asking until it is not one this region took.
      int port = testing::PickFreePort();
      while (TakenPort(ports_, port)) port = testing::PickFreePort();
      ports_[service].push_back(port);
    }
    pids_[service].assign(count, 0);
  }
  channel_ = CreateServiceChannel(Target("gateway"));
  hospital_ = v1::HospitalApi::NewStub(channel_);
  admin_ = v1::AdminApi::NewStub(channel_);
  dispatch_ = v1::DispatchApi::NewStub(channel_);
  for (int port : ports_["gateway"]) {
    GatewayStubs& stubs = gateways_.emplace_back();
    stubs.channel = CreateServiceChannel(absl::StrCat("127.0.0.1:", port));
    stubs.hospital = v1::HospitalApi::NewStub(stubs.channel);
    stubs.admin = v1::AdminApi::NewStub(stubs.channel);
    stubs.dispatch = v1::DispatchApi::NewStub(stubs.channel);
  }
  for (const char* service : kProcesses) {
    for (int r = 0; r < replicas(service); ++r) {
      Start(service, r);
      if (::testing::Test::HasFatalFailure()) return;  // the logs say why
    }
  }
}

Region::~Region() {
  for (auto& [service, pids] : pids_) {
    for (pid_t pid : pids) {
      if (pid > 0) kill(pid, SIGTERM);
    }
  }
  for (auto& [service, pids] : pids_) {
    for (pid_t pid : pids) {
      if (pid > 0) AwaitTerminated(service, pid);
    }
  }
  if (options_.db != nullptr) return;  // the test's own server goes with its schemas
  std::vector<std::string> sql;
  for (const auto& [service, schema] : schemas_) {
    sql.push_back(absl::StrCat("DROP DATABASE IF EXISTS `", schema, "`"));
    sql.push_back(absl::StrCat("DROP USER IF EXISTS '", schema, "'@'127.0.0.1'"));
  }
  RunAdminSql(admin_db_, sql);
}

void Region::AwaitTerminated(const std::string& service, pid_t pid) {
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << service << " did not stop within 15 s of SIGTERM";
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::string Region::Target(const std::string& service) const {
  const std::vector<int>& ports = ports_.at(service);
  if (ports.size() == 1) return absl::StrCat("127.0.0.1:", ports[0]);
  std::vector<std::string> addresses;
  for (int port : ports) addresses.push_back(absl::StrCat("127.0.0.1:", port));
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

std::string Region::LogPath(const std::string& service, int replica) const {
  if (replica == 0) return absl::StrCat(dir_, "/", service, ".log");
  return absl::StrCat(dir_, "/", service, "-", replica, ".log");
}

void Region::Start(const std::string& service, int replica, const ProcessEnv& env) {
  const db::DbOptions& admin = admin_db_;
  ASSERT_TRUE(ports_.count(service) == 1 && replica >= 0 && replica < replicas(service))
      << "no process " << service << " #" << replica;
  pid_t& running = pids_[service][replica];
  // A process that ended on its own (e.g. at a fault point) is reaped here.
  int ended = 0;
  if (running > 0 && waitpid(running, &ended, WNOHANG) == running) running = 0;
  ASSERT_EQ(running, 0) << service << " #" << replica << " is running";
  const std::string binary_name = service == "gateway" ? "gateway" : service + "_service";
  const std::string binary = absl::StrCat(BLOODGRID_BINARY_DIR, "/", binary_name, "/", binary_name);
  std::vector<std::string> args;
  if (!env.empty()) {
    // env(1) sets the variables and execs the binary: the pid stays that of the service.
    args.push_back("env");
    for (const auto& [name, value] : env) args.push_back(absl::StrCat(name, "=", value));
  }
  args.insert(args.end(), {binary, absl::StrCat("--port=", port(service, replica)),
                           "--listen_address=127.0.0.1", "--drain_seconds=2"});
  if (service == "gateway") {
    args.push_back(absl::StrCat("--tokens_file=", dir_, "/tokens"));
    args.push_back(absl::StrCat("--donor_target=", Target("donor")));
    args.push_back(absl::StrCat("--inventory_target=", Target("inventory")));
    args.push_back(absl::StrCat("--request_target=", Target("request")));
  } else {
    args.push_back(absl::StrCat("--db_host=", admin.host));
    args.push_back(absl::StrCat("--db_port=", admin.port));
    args.push_back(absl::StrCat("--db_name=", schemas_[service]));
    args.push_back(absl::StrCat("--db_user=", schemas_[service]));
    args.push_back(absl::StrCat("--db_password_file=", dir_, "/db_password"));
    args.push_back(absl::StrCat("--policy_file=", BLOODGRID_SOURCE_DIR,
                                "/config/policies/cn-gb18467-2011.textproto"));
    if (service == "request" || service == "donor") {
      args.push_back(absl::StrCat("--inventory_target=", Target("inventory")));
    }
  }
  if (auto extra = options_.service_flags.find(service); extra != options_.service_flags.end()) {
    args.insert(args.end(), extra->second.begin(), extra->second.end());
  }
  const pid_t pid = testing::SpawnProcess(args, LogPath(service, replica));
  ASSERT_GT(pid, 0) << "cannot start " << binary << ": " << std::strerror(errno);
  pids_[service][replica] = pid;
  WaitServing(port(service, replica), absl::Seconds(60));
}

void Region::Kill(const std::string& service, int replica) {
  pid_t& pid = pids_.at(service).at(replica);
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  pid = 0;
}

void Region::Restart(const std::string& service, int replica, const ProcessEnv& env) {
  Kill(service, replica);
  Start(service, replica, env);
}

std::optional<int> Region::WaitForExit(const std::string& service, int replica,
                                       absl::Duration timeout) {
  pid_t& pid = pids_.at(service).at(replica);
  if (pid <= 0) return std::nullopt;
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t ended = waitpid(pid, &status, WNOHANG);
    if (ended == pid) {
      pid = 0;
      return status;
    }
    if (ended < 0 || absl::Now() > give_up) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void Region::WaitServing(int port, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    // A fresh channel per attempt: one that met a refused connection (the process was not
    // listening yet) would sit out gRPC's reconnect backoff.
    auto stub =
        grpc::health::v1::Health::NewStub(CreateServiceChannel(absl::StrCat("127.0.0.1:", port)));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    if (stub->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  FAIL() << "port " << port << " not SERVING within " << timeout << " (logs in " << dir_ << ")";
}

std::unique_ptr<grpc::ClientContext> Region::Context(const std::string& token,
                                                     absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

int64_t Region::CountRows(const std::string& service, const std::string& table) {
  db::DbOptions options = admin_db_;
  options.schema = schemas_.at(service);
  auto pool = db::ConnectionPool::Create(options);
  int64_t count = -1;
  absl::Status status = db::RunTransaction(
      *pool, "count", absl::Now() + absl::Seconds(30), [&](db::Connection& conn) {
        std::unique_ptr<sql::Statement> stmt(conn.raw().createStatement());
        std::unique_ptr<sql::ResultSet> rs(
            stmt->executeQuery(absl::StrCat("SELECT COUNT(*) FROM `", table, "`")));
        if (rs->next()) count = rs->getInt64(1);
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
  return count;
}

bool Region::FeedConsumersCaughtUp(db::ConnectionPool& pool) {
  const std::string& inventory = schemas_.at("inventory");
  const std::string query = absl::StrCat(
      "SELECT (SELECT COALESCE(MAX(last_sequence), 0) FROM `", inventory,
      "`.change_feed_head), (SELECT COALESCE(MAX(sequence), 0) FROM `", inventory,
      "`.change_feed WHERE kind = 'stock'), (SELECT COALESCE(MAX(after_sequence), 0) FROM `",
      schemas_.at("donor"),
      "`.feed_cursors WHERE feed = 'inventory'), (SELECT "
      "COALESCE(MAX(after_sequence), 0) FROM `",
      schemas_.at("request"), "`.feed_cursors WHERE feed = 'inventory.stock')");
  bool caught_up = false;
  absl::Status status = db::RunTransaction(
      pool, "feed consumers", absl::Now() + absl::Seconds(10), [&](db::Connection& conn) {
        std::unique_ptr<sql::Statement> stmt(conn.raw().createStatement());
        std::unique_ptr<sql::ResultSet> rs(stmt->executeQuery(query));
        if (rs->next()) {
          caught_up = rs->getInt64(3) >= rs->getInt64(1) && rs->getInt64(4) >= rs->getInt64(2);
        }
        return absl::OkStatus();
      });
  return status.ok() && caught_up;
}

std::map<std::string, int64_t> Region::AllRowCounts() {
  std::map<std::string, int64_t> counts;
  auto pool = db::ConnectionPool::Create(admin_db_);
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  while (!FeedConsumersCaughtUp(*pool)) {
    if (absl::Now() >= give_up) {
      std::fprintf(stderr, "[region] feed consumers not caught up after 15 s; counting anyway\n");
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  for (const auto& [service, schema] : schemas_) {
    absl::Status status = db::RunTransaction(
        *pool, "count all", absl::Now() + absl::Seconds(30), [&](db::Connection& conn) {
          std::vector<std::string> tables;
          {
            std::unique_ptr<sql::Statement> stmt(conn.raw().createStatement());
            std::unique_ptr<sql::ResultSet> rs(stmt->executeQuery(absl::StrCat(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '", schema,
                "' AND table_type = 'BASE TABLE'")));
            while (rs->next()) tables.push_back(rs->getString(1));
          }
          for (const std::string& table : tables) {
            std::unique_ptr<sql::Statement> stmt(conn.raw().createStatement());
            std::unique_ptr<sql::ResultSet> rs(stmt->executeQuery(
                absl::StrCat("SELECT COUNT(*) FROM `", schema, "`.`", table, "`")));
            if (rs->next()) counts[absl::StrCat(service, ".", table)] = rs->getInt64(1);
          }
          return absl::OkStatus();
        });
    EXPECT_TRUE(status.ok()) << status;
  }
  return counts;
}

}  // namespace bloodgrid::e2e
