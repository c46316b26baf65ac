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

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
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
  for (const char* service : {"donor", "inventory", "request", "gateway"}) {
    ports_[service] = testing::PickFreePort();
  }
  for (const char* service : {"donor", "inventory", "request", "gateway"}) Start(service);
  channel_ = CreateServiceChannel(absl::StrCat("127.0.0.1:", ports_["gateway"]));
  hospital_ = v1::HospitalApi::NewStub(channel_);
  admin_ = v1::AdminApi::NewStub(channel_);
  dispatch_ = v1::DispatchApi::NewStub(channel_);
}

Region::~Region() {
  for (auto& [service, pid] : pids_) {
    if (pid > 0) kill(pid, SIGTERM);
  }
  for (auto& [service, pid] : pids_) {
    if (pid <= 0) continue;
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
  if (options_.db != nullptr) return;  // the test's own server goes with its schemas
  std::vector<std::string> sql;
  for (const auto& [service, schema] : schemas_) {
    sql.push_back(absl::StrCat("DROP DATABASE IF EXISTS `", schema, "`"));
    sql.push_back(absl::StrCat("DROP USER IF EXISTS '", schema, "'@'127.0.0.1'"));
  }
  RunAdminSql(admin_db_, sql);
}

void Region::Start(const std::string& service) {
  const db::DbOptions& admin = admin_db_;
  const std::string binary_name = service == "gateway" ? "gateway" : service + "_service";
  const std::string binary = absl::StrCat(BLOODGRID_BINARY_DIR, "/", binary_name, "/", binary_name);
  std::vector<std::string> args = {binary, absl::StrCat("--port=", ports_[service]),
                                   "--listen_address=127.0.0.1", "--drain_seconds=2"};
  if (service == "gateway") {
    args.push_back(absl::StrCat("--tokens_file=", dir_, "/tokens"));
    args.push_back(absl::StrCat("--donor_target=127.0.0.1:", ports_["donor"]));
    args.push_back(absl::StrCat("--inventory_target=127.0.0.1:", ports_["inventory"]));
    args.push_back(absl::StrCat("--request_target=127.0.0.1:", ports_["request"]));
  } else {
    args.push_back(absl::StrCat("--db_host=", admin.host));
    args.push_back(absl::StrCat("--db_port=", admin.port));
    args.push_back(absl::StrCat("--db_name=", schemas_[service]));
    args.push_back(absl::StrCat("--db_user=", schemas_[service]));
    args.push_back(absl::StrCat("--db_password_file=", dir_, "/db_password"));
    args.push_back(absl::StrCat("--policy_file=", BLOODGRID_SOURCE_DIR,
                                "/config/policies/cn-gb18467-2011.textproto"));
    if (service == "request" || service == "donor") {
      args.push_back(absl::StrCat("--inventory_target=127.0.0.1:", ports_["inventory"]));
    }
  }
  if (auto extra = options_.service_flags.find(service); extra != options_.service_flags.end()) {
    args.insert(args.end(), extra->second.begin(), extra->second.end());
  }
  const pid_t pid = testing::SpawnProcess(args, absl::StrCat(dir_, "/", service, ".log"));
  ASSERT_GT(pid, 0) << "cannot start " << binary << ": " << std::strerror(errno);
  pids_[service] = pid;
  WaitServing(ports_[service], absl::Seconds(60));
}

void Region::Kill(const std::string& service) {
  pid_t pid = pids_[service];
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  pids_[service] = 0;
}

void Region::Restart(const std::string& service) {
  Kill(service);
  Start(service);
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

std::map<std::string, int64_t> Region::AllRowCounts() {
  std::map<std::string, int64_t> counts;
  auto pool = db::ConnectionPool::Create(admin_db_);
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
