// Failure through the public API, with real processes:
//  - request_service SIGKILLed while orders are in flight, then restarted: every client
//    retrying with its request_id ends with exactly one order, no unit in two orders;
//  - a retried RecordDonation returns the same donation and unit;
//  - the gateway is NOT_SERVING while a backend is down and recovers on its own;
//  - WatchStock relays inventory events and ends cleanly when the client goes; resumed
//    through the gateway with the last resume_token, it misses nothing and repeats nothing;
//  - request_service SIGKILLed, stock committed meanwhile: restarted, its stock consumer
//    resumes from its cursor and fills the back-order;
//  - an oversized request is refused before any handler runs, changing nothing;
//  - automated dispatch carries out the planner's transfer on schedule; a dry run only logs.
#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/e2e/region.h"
#include "tests/e2e/scenario.h"

namespace bloodgrid::e2e {
namespace {

class ResilienceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = std::make_unique<Region>("resilience");
    SetUpTopology(*region_);
  }
  void TearDown() override { region_.reset(); }

  grpc::health::v1::HealthCheckResponse::ServingStatus GatewayHealth() {
    auto stub = grpc::health::v1::Health::NewStub(region_->channel());
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckRequest request;
    // AdminApi needs every backend (the gateway's own "" stays SERVING while it runs).
    request.set_service("bloodgrid.v1.AdminApi");
    grpc::health::v1::HealthCheckResponse response;
    if (!stub->Check(&context, request, &response).ok()) {
      return grpc::health::v1::HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  bool WaitForGatewayHealth(grpc::health::v1::HealthCheckResponse::ServingStatus want,
                            absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      if (GatewayHealth() == want) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  std::unique_ptr<Region> region_;
};

// Calls `rpc` until it succeeds, retrying what a client should retry (UNAVAILABLE, ABORTED,
// DEADLINE_EXCEEDED) with the same request; counts the failed attempts in `failures`.
template <typename Rpc>
grpc::Status RetryUntilDone(Rpc rpc, std::atomic<int>& failures) {
  const absl::Time give_up = absl::Now() + absl::Seconds(90);
  grpc::Status status;
  while (absl::Now() < give_up) {
    status = rpc();
    if (status.ok()) return status;
    const grpc::StatusCode code = status.error_code();
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::ABORTED &&
        code != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return status;  // not retryable: the test fails on it
    }
    ++failures;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return status;
}

TEST_F(ResilienceE2eTest, RequestServiceKilledMidOrderRetriesEndWithExactlyOneOrderEach) {
  const v1::BloodType o_pos = Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE);
  constexpr int kBags = 5;
  for (int i = 0; i < kBags; ++i) StockUp(*region_, o_pos);  // 5 bags of 2 U

  // Eight hospital clients place orders one after another, each retried with its request_id
  // until it succeeds, while request_service is SIGKILLed and restarted under them.
  constexpr int kClients = 8;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  absl::Mutex mu;
  std::map<std::string, std::string> order_of_request;  // request_id -> order_id
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        // 2 U: a bag is never split, so orders match the 2 U bags exactly.
        const v1::PlaceOrderRequest request = RedCellOrder(o_pos, 2, v1::PRIORITY_URGENT);
        v1::Order order;
        grpc::Status status = RetryUntilDone(
            [&] {
              return region_->hospital().PlaceOrder(
                  Region::Context(kHospital1Token, absl::Seconds(5)).get(), request, &order);
            },
            failures);
        ASSERT_TRUE(status.ok()) << status.error_message();
        absl::MutexLock lock(&mu);
        order_of_request[request.request_id()] = order.order_id();
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  region_->Kill("request");
  absl::SleepFor(absl::Milliseconds(300));
  region_->Start("request");
  absl::SleepFor(absl::Milliseconds(500));
  stop = true;
  for (auto& t : clients) t.join();

  EXPECT_GT(failures.load(), 0) << "the kill landed while orders were in flight";
  std::set<std::string> distinct;
  for (const auto& [request_id, order_id] : order_of_request) distinct.insert(order_id);
  EXPECT_EQ(distinct.size(), order_of_request.size()) << "one order per request_id";
  EXPECT_EQ(region_->CountRows("request", "orders"), static_cast<int64_t>(distinct.size()))
      << "no order without its client, none twice";

  // No unit is in two orders, no order holds more than it asked for, none is left RECEIVED.
  std::map<std::string, std::string> unit_owner;
  for (const std::string& id : distinct) {
    v1::GetOrderRequest get;
    get.set_order_id(id);
    v1::Order order;
    grpc::Status status = RetryUntilDone(
        [&] { return region_->hospital().GetOrder(HospitalContext(1).get(), get, &order); },
        failures);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_NE(order.status(), v1::ORDER_STATUS_RECEIVED) << "reconciled: " << id;
    for (const v1::OrderLine& line : order.lines()) {
      EXPECT_LE(line.allocated_quantity(), line.quantity());
      for (const v1::OrderUnit& unit : line.units()) {
        auto [it, inserted] = unit_owner.emplace(unit.unit_id(), id);
        EXPECT_TRUE(inserted) << unit.din() << " is in " << it->second << " and " << id;
      }
    }
  }
  EXPECT_LE(unit_owner.size(), static_cast<size_t>(kBags));
}

TEST_F(ResilienceE2eTest, ARetriedRecordDonationReturnsTheSameDonationAndUnit) {
  const std::string donor_id = RegisterDonor(*region_, Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE));
  const v1::RecordDonationRequest request = DonationRequest(donor_id, absl::Hours(1));
  v1::AdminRecordDonationResponse first, second;
  grpc::Status status = region_->admin().RecordDonation(AdminContext().get(), request, &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = region_->admin().RecordDonation(AdminContext().get(), request, &second);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(second.donation().donation_id(), first.donation().donation_id());
  EXPECT_EQ(second.unit().unit_id(), first.unit().unit_id());
  EXPECT_EQ(region_->CountRows("inventory", "units"), 1);
}

TEST_F(ResilienceE2eTest, AdminApiIsNotServingWhileABackendIsDownAndRecovers) {
  ASSERT_TRUE(
      WaitForGatewayHealth(grpc::health::v1::HealthCheckResponse::SERVING, absl::Seconds(10)));
  region_->Kill("donor");
  EXPECT_TRUE(
      WaitForGatewayHealth(grpc::health::v1::HealthCheckResponse::NOT_SERVING, absl::Seconds(15)));
  v1::GetDonorRequest get;
  get.set_donor_id("D-1");
  v1::Donor donor;
  EXPECT_EQ(region_->admin().GetDonor(AdminContext().get(), get, &donor).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "UNAVAILABLE so that clients retry";
  region_->Start("donor");
  EXPECT_TRUE(
      WaitForGatewayHealth(grpc::health::v1::HealthCheckResponse::SERVING, absl::Seconds(15)));
  EXPECT_NE(region_->admin().GetDonor(AdminContext().get(), get, &donor).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ResilienceE2eTest, WatchStockRelaysEventsAndEndsWhenTheClientGoes) {
  auto context = DispatcherContext();
  v1::WatchStockRequest request;
  request.set_include_snapshot(true);
  std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader =
      region_->dispatch().WatchStock(context.get(), request);
  // Stock arrives while we watch: a level change for S1 must come through the relay.
  std::thread stock([&] { StockUp(*region_, Type(v1::ABO_GROUP_B, v1::RH_D_NEGATIVE)); });
  bool saw_level_change = false;
  v1::StockEvent event;
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  while (absl::Now() < give_up && reader->Read(&event)) {
    if (!event.snapshot() && event.has_level() && event.level().station_id() == "S1") {
      saw_level_change = true;
      break;
    }
  }
  stock.join();
  EXPECT_TRUE(saw_level_change);
  const absl::Time cancelled_at = absl::Now();
  context->TryCancel();
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5)) << "the stream ends promptly";
  // The gateway is unaffected and a new watcher works.
  auto again_context = DispatcherContext();
  auto again = region_->dispatch().WatchStock(again_context.get(), request);
  EXPECT_TRUE(again->Read(&event));
  again_context->TryCancel();
  while (again->Read(&event)) {
  }
  again->Finish();
}

// A dispatcher's stream ends; stock changes while nobody watches; re-subscribed through the
// gateway with the last token received, it gets what it missed and nothing it already had.
TEST_F(ResilienceE2eTest, WatchStockResumesThroughTheGatewayWithNothingLostOrRepeated) {
  const auto open = [&](grpc::ClientContext* context, const std::string& token) {
    v1::WatchStockRequest request;
    request.set_station_id("S1");
    request.set_resume_token(token);
    std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader =
        region_->dispatch().WatchStock(context, request);
    reader->WaitForInitialMetadata();  // subscribed (the gateway relays the moment)
    return reader;
  };
  const auto level_of = [](const v1::StockEvent& event, v1::AboGroup abo) {
    return event.has_level() && event.level().blood_type().abo() == abo;
  };
  std::set<std::string> seen;
  std::string last;
  {
    auto context = DispatcherContext();
    auto reader = open(context.get(), "");
    StockUp(*region_, Type(v1::ABO_GROUP_A, v1::RH_D_NEGATIVE));
    v1::StockEvent event;
    while (reader->Read(&event)) {
      ASSERT_FALSE(event.resume_token().empty());
      seen.insert(event.resume_token());
      last = event.resume_token();
      if (level_of(event, v1::ABO_GROUP_A)) break;
    }
    context->TryCancel();
    while (reader->Read(&event)) {
    }
    reader->Finish();
  }
  ASSERT_FALSE(last.empty());
  StockUp(*region_, Type(v1::ABO_GROUP_AB, v1::RH_D_NEGATIVE));  // nobody watching

  auto context = DispatcherContext();
  auto reader = open(context.get(), last);
  v1::StockEvent event;
  bool missed_change = false;
  uint64_t previous_feed_sequence = 0;
  while (!missed_change && reader->Read(&event)) {
    EXPECT_FALSE(event.snapshot());
    EXPECT_EQ(seen.count(event.resume_token()), 0u) << "repeated " << event.resume_token();
    EXPECT_GE(event.feed_sequence(), previous_feed_sequence);
    previous_feed_sequence = event.feed_sequence();
    missed_change = level_of(event, v1::ABO_GROUP_AB);
  }
  EXPECT_TRUE(missed_change);
  context->TryCancel();
  while (reader->Read(&event)) {
  }
  reader->Finish();

  // A token the inventory did not make is refused through the gateway, naming the field.
  auto bad_context = DispatcherContext();
  v1::WatchStockRequest bad;
  bad.set_resume_token("f1.nope.1");
  auto refused = region_->dispatch().WatchStock(bad_context.get(), bad);
  while (refused->Read(&event)) {
  }
  const grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("resume_token"));
}

// request_service SIGKILLed while it holds the stock consumer's lease; stock arrives while it
// is dead; once restarted (and the dead holder's lease lapsed) it resumes from its saved cursor
// and fills the back-order from the events it missed. The back-order sweep is an hour away.
TEST(StockConsumerE2eTest, AKilledRequestServiceFillsTheBackOrderFromTheEventsItMissed) {
  RegionOptions options;
  options.service_flags["request"] = {"--backorder_sweep_seconds=3600"};
  Region region("stock_consumer", options);
  SetUpTopology(region);
  const v1::BloodType b_pos = Type(v1::ABO_GROUP_B, v1::RH_D_POSITIVE);
  v1::Order order;
  grpc::Status status = region.hospital().PlaceOrder(
      HospitalContext(1).get(), RedCellOrder(b_pos, 2, v1::PRIORITY_URGENT), &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(order.status(), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  // Some stock change, so the consumer has a cursor to resume from.
  StockUp(region, Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE));
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (region.CountRows("request", "feed_cursors") == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(region.CountRows("request", "feed_cursors"), 1);

  region.Kill("request");
  StockUp(region, b_pos);  // 2 U at S1, H1's serving station
  region.Start("request");

  v1::GetOrderRequest get;
  get.set_order_id(order.order_id());
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  v1::Order now;
  while (absl::Now() < deadline) {
    if (region.hospital().GetOrder(HospitalContext(1).get(), get, &now).ok() &&
        now.status() == v1::ORDER_STATUS_ALLOCATED) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(now.status(), v1::ORDER_STATUS_ALLOCATED) << now.DebugString();
  // The restarted process resumed from a saved cursor (the first one started with none).
  std::ifstream log(region.LogPath("request"));
  bool resumed = false;
  for (std::string line; std::getline(log, line);) {
    if (absl::StrContains(line, "event=stock_consumer_subscribed") &&
        !absl::StrContains(line, "cursor=0")) {
      resumed = true;
    }
  }
  EXPECT_TRUE(resumed);
}

TEST_F(ResilienceE2eTest, OversizedRequestIsRefusedAndChangesNothing) {
  const std::map<std::string, int64_t> before = region_->AllRowCounts();
  v1::PlaceOrderRequest request =
      RedCellOrder(Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE), 2, v1::PRIORITY_ROUTINE);
  request.set_indication(std::string(2 << 20, 'x'));  // 2 MiB, over the 1 MiB limit
  v1::Order order;
  grpc::Status status = region_->hospital().PlaceOrder(HospitalContext(1).get(), request, &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(region_->AllRowCounts(), before);
}

// Automated dispatch: the gateway runs the planner every second and carries out its proposals.
void SetUpShortageAtS2(Region& region) {
  SetUpTopology(region);
  MakeOPosShortageAtS2(region);
}

TEST(AutoDispatchE2eTest, CarriesOutThePlannersTransfersOnSchedule) {
  Region region("autodispatch", {"--auto_dispatch_interval_s=1"});
  SetUpShortageAtS2(region);
  std::vector<v1::Transfer> transfers;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up && (transfers = Transfers(region)).empty()) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_FALSE(transfers.empty()) << "no transfer within 30 s";
  EXPECT_EQ(transfers[0].from_station_id(), "S1");
  EXPECT_EQ(transfers[0].to_station_id(), "S2");
  EXPECT_EQ(transfers[0].status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  EXPECT_THAT(transfers[0].created_by(), ::testing::HasSubstr("auto-dispatch"));
  EXPECT_THAT(transfers[0].reason(), ::testing::HasSubstr("automated dispatch"));
  // Later rounds see the stock in transit and do not send it again.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(Transfers(region).size(), transfers.size());
}

TEST(AutoDispatchE2eTest, ADryRunLogsProposalsAndMovesNothing) {
  Region region("autodispatch-dry",
                {"--auto_dispatch_interval_s=1", "--auto_dispatch_dry_run=true"});
  SetUpShortageAtS2(region);
  bool logged = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up && !logged) {
    std::ifstream log(region.LogPath("gateway"));
    std::string line;
    while (std::getline(log, line)) {
      logged |= line.find("event=auto_dispatch_proposal") != std::string::npos &&
                line.find("from=S1 to=S2") != std::string::npos;
    }
    if (!logged) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(logged) << "the dry run logs the proposal";
  EXPECT_TRUE(Transfers(region).empty());
}

}  // namespace
}  // namespace bloodgrid::e2e
