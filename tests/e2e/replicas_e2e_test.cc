// A region with two replicas of every service and two gateways, real processes, every client
// of a service reaching all its replicas round-robin (tests/e2e/region.h). One region serves
// every case of this file:
//  - automated dispatch runs in both gateways and a planned transfer is created once;
//  - a hospital orders while every donor replica is down (HospitalApi stays SERVING);
//  - a WatchStock subscriber sees every change once and in order across a kill of the
//    inventory replica it is connected to and a resume with its last token (disabled until
//    WatchStock is served from the change feed; see the test).
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "common/call_context.h"
#include "common/service_channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/e2e/region.h"
#include "tests/e2e/scenario.h"

namespace bloodgrid::e2e {
namespace {

using grpc::health::v1::HealthCheckResponse;

constexpr int kAutoDispatchIntervalS = 2;

class ReplicasE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RegionOptions options;
    options.replicas = 2;
    options.gateways = 2;
    options.service_flags["gateway"] = {
        absl::StrCat("--auto_dispatch_interval_s=", kAutoDispatchIntervalS)};
    region_ = new Region("replicas", options);
    if (::testing::Test::HasFailure()) return;
    SetUpTopology(*region_);
  }
  static void TearDownTestSuite() {
    delete region_;
    region_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(region_, nullptr);
    for (const char* process : {"donor", "inventory", "request", "gateway"}) {
      ASSERT_EQ(region_->replicas(process), 2) << process;
    }
  }

  static HealthCheckResponse::ServingStatus Health(int gateway, const std::string& api) {
    auto stub = grpc::health::v1::Health::NewStub(region_->gateway_channel(gateway));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(api);
    HealthCheckResponse response;
    if (!stub->Check(&context, request, &response).ok()) return HealthCheckResponse::UNKNOWN;
    return response.status();
  }

  // Polls until every gateway reports `want` for `api`.
  static bool WaitForHealth(const std::string& api, HealthCheckResponse::ServingStatus want) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (absl::Now() < give_up) {
      if (Health(0, api) == want && Health(1, api) == want) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  static Region* region_;
};

Region* ReplicasE2eTest::region_ = nullptr;

// Lines of a log that contain `needle`.
int CountLogLines(const std::string& path, const std::string& needle) {
  std::ifstream log(path);
  std::string line;
  int count = 0;
  while (std::getline(log, line)) count += line.find(needle) != std::string::npos ? 1 : 0;
  return count;
}

TEST_F(ReplicasE2eTest, AutoDispatchInBothGatewaysCreatesAPlannedTransferOnce) {
  // O+ is short at S2 (par 4..8, none in stock) and S1 has three bags: the planner proposes
  // S1 -> S2 in both gateways' rounds.
  MakeOPosShortageAtS2(*region_);

  std::vector<v1::Transfer> transfers;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up && (transfers = Transfers(*region_)).empty()) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(transfers.size(), 1u) << "one transfer within 30 s";
  // Both gateways go on planning for several rounds: none sends the stock again.
  absl::SleepFor(absl::Seconds(3 * kAutoDispatchIntervalS));
  transfers = Transfers(*region_);
  ASSERT_EQ(transfers.size(), 1u);
  EXPECT_EQ(transfers[0].from_station_id(), "S1");
  EXPECT_EQ(transfers[0].to_station_id(), "S2");
  EXPECT_EQ(transfers[0].status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  EXPECT_EQ(region_->CountRows("inventory", "transfers"), 1);
  for (int g = 0; g < 2; ++g) {
    EXPECT_GT(CountLogLines(region_->LogPath("gateway", g), "event=auto_dispatch_started"), 0)
        << "gateway " << g << " runs automated dispatch";
  }
}

TEST_F(ReplicasE2eTest, AHospitalOrdersWhileEveryDonorReplicaIsDown) {
  const v1::BloodType a_pos = Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE);
  for (int i = 0; i < 2; ++i) StockUp(*region_, a_pos);
  region_->Kill("donor", 0);
  region_->Kill("donor", 1);
  // Both gateways see the donor service gone (the admin console needs it) ...
  ASSERT_TRUE(WaitForHealth("bloodgrid.v1.AdminApi", HealthCheckResponse::NOT_SERVING));
  // ... and keep serving hospitals, which do not.
  EXPECT_EQ(Health(0, "bloodgrid.v1.HospitalApi"), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(1, "bloodgrid.v1.HospitalApi"), HealthCheckResponse::SERVING);
  for (int g = 0; g < 2; ++g) {
    v1::Order order;
    grpc::Status status = region_->hospital(g).PlaceOrder(
        HospitalContext(1).get(), RedCellOrder(a_pos, 2, v1::PRIORITY_URGENT), &order);
    ASSERT_TRUE(status.ok()) << "gateway " << g << ": " << status.error_message();
    EXPECT_EQ(order.status(), v1::ORDER_STATUS_ALLOCATED) << "gateway " << g;
  }
  // Through the round-robin channel too, while the donors are still down.
  v1::GetAvailabilityRequest availability;
  v1::GetAvailabilityResponse available;
  grpc::Status status =
      region_->hospital().GetAvailability(HospitalContext(1).get(), availability, &available);
  EXPECT_TRUE(status.ok()) << status.error_message();

  region_->Start("donor", 0);
  region_->Start("donor", 1);
  EXPECT_TRUE(WaitForHealth("bloodgrid.v1.AdminApi", HealthCheckResponse::SERVING));
}

// A level event as the subscriber saw it, or a touched row as the feed recorded it.
using RowChange = std::tuple<uint64_t, std::string, int, int, int>;  // seq, station, comp, abo, rhd

RowChange LevelChange(uint64_t sequence, const v1::StockLevel& level) {
  return {sequence, level.station_id(), level.component(), level.blood_type().abo(),
          level.blood_type().rhd()};
}

// Collects a WatchStock stream from one inventory replica on a thread of its own.
class Subscriber {
 public:
  Subscriber(int port, v1::WatchStockRequest request)
      : stub_(
            v1::InventoryService::NewStub(CreateServiceChannel(absl::StrCat("127.0.0.1:", port)))) {
    PrepareOutgoingCall(context_, "dispatcher:e2e", absl::Now() + absl::Minutes(5),
                        absl::Minutes(5));
    thread_ = std::thread([this, request] {
      std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader =
          stub_->WatchStock(&context_, request);
      v1::StockEvent event;
      while (reader->Read(&event)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(event);
      }
      grpc::Status status = reader->Finish();
      absl::MutexLock lock(&mu_);
      finished_ = status;
      done_ = true;
    });
  }
  ~Subscriber() {
    context_.TryCancel();
    thread_.join();
  }

  // Waits until the stream carried `count` live level events of feed events after `after` (a
  // feed event touching several rows is several events with one feed_sequence).
  bool WaitForLevelEvents(uint64_t after, size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, after, count] {
      mu_.AssertHeld();
      return done_ || LiveLevelEvents(events_, after) >= count;
    };
    mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
    return LiveLevelEvents(events_, after) >= count;
  }
  static size_t LiveLevelEvents(const std::vector<v1::StockEvent>& events, uint64_t after) {
    size_t live = 0;
    for (const v1::StockEvent& event : events) {
      live += !event.snapshot() && event.has_level() && event.feed_sequence() > after;
    }
    return live;
  }
  // Waits for the stream to end; its status.
  grpc::Status WaitFinished(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
    return done_ ? finished_ : grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "still open");
  }
  std::vector<v1::StockEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  std::unique_ptr<v1::InventoryService::Stub> stub_;
  grpc::ClientContext context_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<v1::StockEvent> events_;
  bool done_ = false;
  grpc::Status finished_;
};

// The inventory's change feed after `after` (read from replica `replica`): every row each
// stock change touched, in commit order.
std::vector<RowChange> FeedRowChanges(Region& region, int replica, uint64_t after, uint64_t* head) {
  auto stub = v1::InventoryService::NewStub(
      CreateServiceChannel(absl::StrCat("127.0.0.1:", region.port("inventory", replica))));
  std::vector<RowChange> changes;
  while (true) {
    grpc::ClientContext context;
    PrepareOutgoingCall(context, "dispatcher:e2e", absl::Now() + absl::Seconds(10),
                        absl::Seconds(10));
    v1::ReadChangeFeedRequest request;
    request.set_after_sequence(after);
    request.set_limit(1000);
    v1::ReadChangeFeedResponse response;
    grpc::Status status = stub->ReadChangeFeed(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) return changes;
    *head = response.head_sequence();
    for (const v1::ChangeEvent& event : response.events()) {
      after = event.sequence();
      if (!event.has_stock()) continue;
      for (const v1::StockRowKey& row : event.stock().rows()) {
        changes.emplace_back(event.sequence(), row.station_id(), row.component(),
                             row.blood_type().abo(), row.blood_type().rhd());
      }
    }
    if (response.events().empty() || after >= response.head_sequence()) return changes;
  }
}

// WatchStock is served from the change feed (inventory.proto WatchStockRequest.resume_token,
// StockEvent.resume_token and feed_sequence), so a stream resumed on another replica carries
// the changes committed through either replica, including those made while it was away.
TEST_F(ReplicasE2eTest, WatchStockSeesEveryChangeOnceInOrderAcrossAKillAndAResume) {
  const v1::BloodType b_neg = Type(v1::ABO_GROUP_B, v1::RH_D_NEGATIVE);
  uint64_t start = 0;
  FeedRowChanges(*region_, 1, 0, &start);

  v1::WatchStockRequest first_request;
  first_request.set_include_snapshot(true);
  auto first = std::make_unique<Subscriber>(region_->port("inventory", 0), first_request);
  // Changes while connected to replica 0, written through both gateways (and so through both
  // inventory replicas).
  StockUp(*region_, b_neg);
  uint64_t head = 0;
  const size_t before_kill = FeedRowChanges(*region_, 1, start, &head).size();
  ASSERT_GT(head, start);
  ASSERT_TRUE(first->WaitForLevelEvents(start, before_kill, absl::Seconds(20)));

  region_->Kill("inventory", 0);
  EXPECT_EQ(first->WaitFinished(absl::Seconds(20)).error_code(), grpc::StatusCode::UNAVAILABLE);
  std::vector<v1::StockEvent> seen = first->events();
  first.reset();
  std::string token;
  for (const v1::StockEvent& event : seen) {
    if (!event.resume_token().empty()) token = event.resume_token();
  }
  ASSERT_FALSE(token.empty()) << "live events carry a resume token";

  // Changes while nobody watches, through the replica left.
  StockUp(*region_, b_neg);
  region_->Start("inventory", 0);
  v1::WatchStockRequest resume;
  resume.set_resume_token(token);
  Subscriber second(region_->port("inventory", 1), resume);
  StockUp(*region_, b_neg);  // and changes after the resume
  std::vector<RowChange> expected = FeedRowChanges(*region_, 1, start, &head);
  const size_t seen_before = Subscriber::LiveLevelEvents(seen, start);
  ASSERT_LE(seen_before, expected.size());
  ASSERT_TRUE(second.WaitForLevelEvents(start, expected.size() - seen_before, absl::Seconds(20)));
  for (const v1::StockEvent& event : second.events()) seen.push_back(event);

  std::vector<RowChange> got;
  uint64_t last_sequence = 0;
  for (const v1::StockEvent& event : seen) {
    if (event.snapshot()) continue;
    EXPECT_GE(event.feed_sequence(), last_sequence) << "in commit order";
    last_sequence = event.feed_sequence();
    if (event.has_level() && event.feed_sequence() > start) {
      got.push_back(LevelChange(event.feed_sequence(), event.level()));
    }
  }
  EXPECT_EQ(got, expected) << "every touched row once, in order, none twice";
}

}  // namespace
}  // namespace bloodgrid::e2e
