// MariaDB SIGKILLed mid-load and restarted under a region of real processes running on a MariaDB
// of the test's own (tests/support/test_mariadb.h; the shared test server is never touched).
// Hospital clients keep placing orders, and cancelling some, through the gateway; every call has a
// 5 s deadline and is retried with the same request_id until it succeeds. Asserted:
//  - every failed call is UNAVAILABLE or DEADLINE_EXCEEDED (never UNKNOWN, INTERNAL, ...), and
//    none took longer than its deadline plus a little slack;
//  - orders succeed again within 30 s of the database accepting connections, with no service
//    restarted (a liveness bound; the measured time is printed);
//  - every order answered OK still exists afterwards with the units it was answered with (or is
//    CANCELLED when its client cancelled it), and every request_id maps to exactly one order;
//  - once the reservation hold and the sweeper have had their time, bench/invariants.h finds
//    no violation.
//
// The short form (one kill) runs in the test command. scripts/fault_suite runs the long form by
// setting BLOODGRID_FAULT_CYCLES (kill/restart cycles, default 1), BLOODGRID_FAULT_CLIENTS
// (hospital clients, 4), BLOODGRID_FAULT_LOAD_S (seconds of load before each kill and after the
// last recovery, 3), BLOODGRID_FAULT_DOWN_S (seconds the database stays down, 3) and
// BLOODGRID_FAULT_BAGS (red-cell bags in stock at the start, 24).
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/invariants.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/e2e/region.h"
#include "tests/e2e/scenario.h"
#include "tests/support/test_mariadb.h"

namespace bloodgrid::e2e {
namespace {

constexpr absl::Duration kCallDeadline = absl::Seconds(5);
// Scheduling noise on a shared 2-core machine, on top of the deadline.
constexpr absl::Duration kDeadlineSlack = absl::Seconds(1);
constexpr absl::Duration kRecoveryBound = absl::Seconds(30);
// Service settings that make holds lapse and get swept quickly.
constexpr int kHoldSeconds = 10;
constexpr int kSweepSeconds = 1;
constexpr absl::Duration kOrphanGrace = absl::Seconds(5);

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int parsed = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &parsed) || parsed < 1) return fallback;
  return parsed;
}

// One attempt of one call, as the client saw it.
struct Attempt {
  std::string rpc;
  absl::Time started;
  absl::Duration took;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
};

// An order as its PlaceOrder call was answered.
struct Answered {
  int hospital = 1;
  std::string request_id;
  std::string order_id;
  std::set<std::string> unit_ids;
  bool cancelled = false;
};

// gRPC and Abseil number their status codes alike.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

class FaultE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<testing::TestMariaDb>(
        absl::StrCat(BLOODGRID_BINARY_DIR, "/e2e-runs/fault-db-", absl::ToUnixMillis(absl::Now())));
    ASSERT_FALSE(HasFatalFailure());
    RegionOptions options;
    options.db = db_.get();
    options.service_flags["request"] = {absl::StrCat("--reservation_hold_seconds=", kHoldSeconds),
                                        "--reconcile_interval_seconds=2"};
    options.service_flags["inventory"] = {
        absl::StrCat("--reservation_sweep_seconds=", kSweepSeconds)};
    region_ = std::make_unique<Region>("fault", options);
    ASSERT_FALSE(HasFatalFailure());
    SetUpTopology(*region_);
    ASSERT_FALSE(HasFatalFailure());
    const int bags = EnvInt("BLOODGRID_FAULT_BAGS", 24);
    for (int i = 0; i < bags; ++i) StockUp(*region_, Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE));
  }

  void TearDown() override {
    region_.reset();
    db_.reset();
  }

  static const char* Token(int hospital) {
    return hospital == 1 ? kHospital1Token : kHospital2Token;
  }

  // Runs `rpc` until it succeeds, retrying what a client retries (UNAVAILABLE,
  // DEADLINE_EXCEEDED, ABORTED) with the same request; records every attempt.
  template <typename Rpc>
  grpc::Status CallUntilDone(const std::string& name, int hospital, Rpc rpc) {
    const absl::Time give_up = absl::Now() + absl::Seconds(120);
    while (true) {
      std::unique_ptr<grpc::ClientContext> context =
          Region::Context(Token(hospital), kCallDeadline);
      const absl::Time started = absl::Now();
      const grpc::Status status = rpc(context.get());
      Record({name, started, absl::Now() - started, status.error_code(), status.error_message()});
      const grpc::StatusCode code = status.error_code();
      const bool retry = code == grpc::StatusCode::UNAVAILABLE ||
                         code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                         code == grpc::StatusCode::ABORTED;
      if (status.ok() || !retry || absl::Now() > give_up) return status;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  void Record(Attempt attempt) {
    absl::MutexLock lock(&mu_);
    attempts_.push_back(std::move(attempt));
  }

  // Calls that had started and not yet ended at `at`.
  int InFlightAt(absl::Time at) {
    absl::MutexLock lock(&mu_);
    int in_flight = 0;
    for (const Attempt& a : attempts_) {
      if (a.started <= at && a.started + a.took > at) ++in_flight;
    }
    return in_flight;
  }

  // When the first PlaceOrder that ended after `after` succeeded, if one has.
  std::optional<absl::Time> FirstOrderSucceededAfter(absl::Time after) {
    absl::MutexLock lock(&mu_);
    std::optional<absl::Time> first;
    for (const Attempt& a : attempts_) {
      const absl::Time ended = a.started + a.took;
      if (a.rpc == "PlaceOrder" && a.code == grpc::StatusCode::OK && ended >= after &&
          (!first.has_value() || ended < *first)) {
        first = ended;
      }
    }
    return first;
  }

  // One hospital client: orders of 2 U one after another; every third order it cancels its
  // oldest live one, which sends bags back to stock for the back-orders.
  void RunClient(int client) {
    const int hospital = 1 + client % 2;
    std::vector<std::string> live;
    int placed = 0;
    while (!stop_.load()) {
      const v1::PlaceOrderRequest request =
          RedCellOrder(Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE), 2, v1::PRIORITY_URGENT);
      v1::Order order;
      grpc::Status status = CallUntilDone("PlaceOrder", hospital, [&](grpc::ClientContext* c) {
        return region_->hospital().PlaceOrder(c, request, &order);
      });
      if (!status.ok()) {
        ADD_FAILURE() << "PlaceOrder " << request.request_id() << " ended "
                      << CodeName(status.error_code()) << ": " << status.error_message();
        return;
      }
      Answered answered{hospital, request.request_id(), order.order_id(), {}, false};
      for (const v1::OrderLine& line : order.lines()) {
        for (const v1::OrderUnit& unit : line.units()) answered.unit_ids.insert(unit.unit_id());
      }
      {
        absl::MutexLock lock(&mu_);
        answered_[order.order_id()] = std::move(answered);
      }
      live.push_back(order.order_id());
      if (++placed % 3 == 0) {
        v1::CancelOrderRequest cancel;
        cancel.set_request_id(NextRequestId());
        cancel.set_order_id(live.front());
        cancel.set_reason("patient stabilised");
        v1::Order cancelled;
        status = CallUntilDone("CancelOrder", hospital, [&](grpc::ClientContext* c) {
          return region_->hospital().CancelOrder(c, cancel, &cancelled);
        });
        if (!status.ok()) {
          ADD_FAILURE() << "CancelOrder " << live.front() << " ended "
                        << CodeName(status.error_code()) << ": " << status.error_message();
          return;
        }
        absl::MutexLock lock(&mu_);
        answered_[live.front()].cancelled = true;
        live.erase(live.begin());
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // True once the gateway's AdminApi (which needs every backend) says SERVING, within `timeout`.
  bool GatewayServingWithin(absl::Duration timeout) {
    auto stub = grpc::health::v1::Health::NewStub(region_->channel());
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
      grpc::health::v1::HealthCheckRequest request;
      request.set_service("bloodgrid.v1.AdminApi");
      grpc::health::v1::HealthCheckResponse response;
      if (stub->Check(&context, request, &response).ok() &&
          response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  // Every order of a hospital, through the gateway, by request_id.
  std::map<std::string, std::vector<v1::Order>> OrdersByRequestId(int hospital) {
    std::map<std::string, std::vector<v1::Order>> orders;
    v1::ListOrdersRequest request;
    request.set_page_size(100);
    while (true) {
      v1::ListOrdersResponse page;
      grpc::Status status = CallUntilDone("ListOrders", hospital, [&](grpc::ClientContext* c) {
        return region_->hospital().ListOrders(c, request, &page);
      });
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const v1::Order& order : page.orders()) orders[order.request_id()].push_back(order);
      if (page.next_page_token().empty()) break;
      request.set_page_token(page.next_page_token());
    }
    return orders;
  }

  std::unique_ptr<testing::TestMariaDb> db_;
  std::unique_ptr<Region> region_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::vector<Attempt> attempts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Answered> answered_ ABSL_GUARDED_BY(mu_);  // by order_id
};

TEST_F(FaultE2eTest, MariaDbKilledMidLoadRecoversLosesNothingAndKeepsTheInvariants) {
  const int cycles = EnvInt("BLOODGRID_FAULT_CYCLES", 1);
  const int client_count = EnvInt("BLOODGRID_FAULT_CLIENTS", 4);
  const absl::Duration load = absl::Seconds(EnvInt("BLOODGRID_FAULT_LOAD_S", 3));
  const absl::Duration down = absl::Seconds(EnvInt("BLOODGRID_FAULT_DOWN_S", 3));

  std::vector<std::thread> clients;
  for (int c = 0; c < client_count; ++c) clients.emplace_back([this, c] { RunClient(c); });
  auto stop_clients = [&] {
    stop_ = true;
    for (std::thread& t : clients) {
      if (t.joinable()) t.join();
    }
  };

  std::vector<absl::Duration> recoveries;
  std::vector<absl::Duration> outages;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    absl::SleepFor(load);  // the load runs
    const absl::Time killed_at = absl::Now();
    db_->Kill();
    absl::SleepFor(down);
    db_->Start();
    if (HasFatalFailure()) {
      stop_clients();
      return;
    }
    const absl::Time ready_at = absl::Now();
    std::optional<absl::Time> succeeded;
    while (!(succeeded = FirstOrderSucceededAfter(ready_at)).has_value() &&
           absl::Now() < ready_at + kRecoveryBound) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (!succeeded.has_value()) {
      ADD_FAILURE() << "cycle " << cycle << ": no order succeeded within " << kRecoveryBound
                    << " of the database accepting connections (logs in " << region_->dir() << ")";
      stop_clients();
      return;
    }
    recoveries.push_back(*succeeded - ready_at);
    outages.push_back(*succeeded - killed_at);
    std::printf(
        "cycle %d: %d calls in flight at the kill; database down %.1f s; first order OK "
        "%.2f s after it accepted connections (%.2f s after the kill)\n",
        cycle, InFlightAt(killed_at), absl::ToDoubleSeconds(ready_at - killed_at),
        absl::ToDoubleSeconds(recoveries.back()), absl::ToDoubleSeconds(outages.back()));
    std::fflush(stdout);
  }
  absl::SleepFor(load);
  stop_clients();
  const absl::Time load_ended = absl::Now();
  EXPECT_TRUE(GatewayServingWithin(kRecoveryBound)) << "the region reports itself healthy again";

  // Calls: failures only UNAVAILABLE or DEADLINE_EXCEEDED, never past the deadline.
  std::map<std::string, std::map<std::string, int>> by_rpc_and_code;
  int failures = 0;
  absl::Duration slowest;
  std::vector<std::string> wrong;
  {
    absl::MutexLock lock(&mu_);
    for (const Attempt& a : attempts_) {
      ++by_rpc_and_code[a.rpc][CodeName(a.code)];
      slowest = std::max(slowest, a.took);
      if (a.code == grpc::StatusCode::OK) continue;
      ++failures;
      if (a.code != grpc::StatusCode::UNAVAILABLE &&
          a.code != grpc::StatusCode::DEADLINE_EXCEEDED && wrong.size() < 10) {
        wrong.push_back(absl::StrCat(a.rpc, " ", CodeName(a.code), ": ", a.message));
      }
      EXPECT_LE(a.took, kCallDeadline + kDeadlineSlack)
          << a.rpc << " took " << a.took << " (" << CodeName(a.code) << ")";
    }
  }
  EXPECT_TRUE(wrong.empty()) << "failed calls must be UNAVAILABLE or DEADLINE_EXCEEDED:\n"
                             << absl::StrJoin(wrong, "\n");
  EXPECT_GT(failures, 0) << "the kill landed while calls were in flight";

  // Orders: each answered order exists with its units; one order per request_id, no other.
  std::map<std::string, Answered> answered;
  {
    absl::MutexLock lock(&mu_);
    answered = answered_;
  }
  std::map<std::string, std::vector<v1::Order>> listed = OrdersByRequestId(1);
  for (auto& [request_id, orders] : OrdersByRequestId(2)) {
    listed[request_id].insert(listed[request_id].end(), orders.begin(), orders.end());
  }
  size_t listed_count = 0;
  for (const auto& [request_id, orders] : listed) listed_count += orders.size();
  EXPECT_EQ(listed_count, answered.size()) << "an order nobody was answered with, or one lost";
  int cancelled = 0;
  int with_units = 0;
  for (const auto& [order_id, a] : answered) {
    auto it = listed.find(a.request_id);
    if (it == listed.end()) {
      ADD_FAILURE() << "order " << order_id << " (request " << a.request_id << ") was lost";
      continue;
    }
    ASSERT_EQ(it->second.size(), 1u) << "request " << a.request_id << " has several orders";
    const v1::Order& order = it->second.front();
    EXPECT_EQ(order.order_id(), order_id) << "request " << a.request_id;
    std::set<std::string> units;
    for (const v1::OrderLine& line : order.lines()) {
      for (const v1::OrderUnit& unit : line.units()) units.insert(unit.unit_id());
    }
    if (a.cancelled) {
      ++cancelled;
      EXPECT_EQ(order.status(), v1::ORDER_STATUS_CANCELLED) << order_id;
      continue;
    }
    if (!a.unit_ids.empty()) ++with_units;
    for (const std::string& unit : a.unit_ids) {
      EXPECT_EQ(units.count(unit), 1u) << "order " << order_id << " lost unit " << unit;
    }
  }

  // Invariants, once every hold placed under load has lapsed and been swept.
  const absl::Time settled_at =
      load_ended + absl::Seconds(kHoldSeconds + kSweepSeconds) + kOrphanGrace + absl::Seconds(1);
  const absl::Time give_up = settled_at + absl::Seconds(90);
  absl::StatusOr<bench::InvariantReport> report;
  while (true) {
    if (absl::Now() >= settled_at) {
      report = bench::CheckInvariants(AuditTarget(*region_, kOrphanGrace));
      if ((report.ok() && report->ok()) || absl::Now() > give_up) break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  const absl::Duration settle = absl::Now() - load_ended;

  std::printf(
      "fault suite: %d cycle(s), %d clients, %zu orders answered (%d with units, %d "
      "cancelled), slowest call %.2f s\n",
      cycles, client_count, answered.size(), with_units, cancelled, absl::ToDoubleSeconds(slowest));
  for (const auto& [rpc, codes] : by_rpc_and_code) {
    std::vector<std::string> parts;
    int calls = 0;
    for (const auto& [code, count] : codes) {
      parts.push_back(absl::StrCat(code, " ", count));
      calls += count;
    }
    std::printf("  %-12s %5d calls: %s\n", rpc.c_str(), calls, absl::StrJoin(parts, ", ").c_str());
  }
  absl::Duration worst;
  for (absl::Duration r : recoveries) worst = std::max(worst, r);
  std::printf(
      "  recovery after the database accepted connections: worst %.2f s over %zu cycle(s)\n",
      absl::ToDoubleSeconds(worst), recoveries.size());
  std::printf("  invariants held %.1f s after the load ended:\n%s", absl::ToDoubleSeconds(settle),
              report->Summary().c_str());
}

}  // namespace
}  // namespace bloodgrid::e2e
