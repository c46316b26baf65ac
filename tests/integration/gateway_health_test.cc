// The gateway degrades per public API: with the donor service down, HospitalApi (inventory +
// request) stays SERVING and a hospital's order goes through, while AdminApi (all three
// backends) is NOT_SERVING; the gateway's own readiness ("") stays SERVING. Inventory and
// request run in-process on MariaDB; nothing listens where the donor service should be.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/hospital_api.grpc.pb.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "bloodgrid/v1/request.grpc.pb.h"
#include "common/blood.h"
#include "common/proto_time.h"
#include "gateway/auth.h"
#include "gateway/gateway_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inventory_service/inventory_server.h"
#include "request_service/request_server.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::gateway {
namespace {

using grpc::health::v1::HealthCheckResponse;

constexpr char kPolicy[] = BLOODGRID_POLICY_DIR "/cn-gb18467-2011.textproto";
constexpr char kHospitalToken[] = "health-test-h1-token";

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

class GatewayHealthTest : public ::testing::Test {
 protected:
  GatewayHealthTest() : inventory_db_("gwh_inv"), request_db_("gwh_req") {}

  void SetUp() override {
    inventory::InventoryServer::Options inventory_options;
    inventory_options.server.name = "inventory_gateway_health_test";
    inventory_options.server.listen_address = "127.0.0.1";
    inventory_options.server.drain_timeout = absl::Milliseconds(200);
    inventory_options.server.health_probe_interval = absl::Milliseconds(100);
    inventory_options.db = inventory_db_.options(4);
    inventory_options.policy_file = kPolicy;
    inventory_options.wait_for_database = absl::Seconds(10);
    inventory_options.reservation_sweep_interval = absl::ZeroDuration();
    inventory_options.expiry_sweep_interval = absl::ZeroDuration();
    auto inventory = inventory::InventoryServer::BuildAndStart(inventory_options);
    ASSERT_TRUE(inventory.ok()) << inventory.status();
    inventory_ = *std::move(inventory);

    request::RequestServerOptions request_options;
    request_options.server.name = "request_gateway_health_test";
    request_options.server.listen_address = "127.0.0.1";
    request_options.server.drain_timeout = absl::Milliseconds(200);
    request_options.server.health_probe_interval = absl::Milliseconds(100);
    request_options.db = request_db_.options(4);
    request_options.policy_file = kPolicy;
    request_options.inventory_target = absl::StrCat("127.0.0.1:", inventory_->port());
    request_options.run_jobs = false;
    request_options.wait_for_database = absl::Seconds(10);
    auto request = request::RequestServer::BuildAndStart(request_options);
    ASSERT_TRUE(request.ok()) << request.status();
    request_ = *std::move(request);

    tokens_path_ =
        (std::filesystem::temp_directory_path() / absl::StrCat("gw_health_tokens_", getpid()))
            .string();
    std::ofstream(tokens_path_) << Sha256Hex(kHospitalToken) << " hospital H1\n";
    GatewayOptions options;
    options.server.name = "gateway_health_test";
    options.server.listen_address = "127.0.0.1";
    options.server.drain_timeout = absl::Milliseconds(200);
    options.server.health_probe_interval = absl::Milliseconds(100);
    options.backends.donor_target = "127.0.0.1:1";  // the donor service is down
    options.backends.inventory_target = absl::StrCat("127.0.0.1:", inventory_->port());
    options.backends.request_target = absl::StrCat("127.0.0.1:", request_->port());
    options.tokens_file = tokens_path_;
    auto gateway = GatewayServer::BuildAndStart(options);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = *std::move(gateway);
  }

  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Shutdown();
    if (request_ != nullptr) request_->Shutdown();
    if (inventory_ != nullptr) inventory_->Shutdown();
    std::filesystem::remove(tokens_path_);
  }

  HealthCheckResponse::ServingStatus Health(const std::string& name) {
    auto stub = grpc::health::v1::Health::NewStub(Channel(gateway_->port()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return response.status();
  }

  // Polls until `name` reports `want` (the probe runs every 100 ms) or 20 s pass.
  bool Eventually(const std::string& name, HealthCheckResponse::ServingStatus want) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (absl::Now() < give_up) {
      if (Health(name) == want) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return Health(name) == want;
  }

  template <typename Call>
  grpc::Status Internal(Call&& call) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    context.AddMetadata("x-bloodgrid-actor", "admin:test");
    return call(&context);
  }

  void AddStationAndHospital() {
    auto inventory = v1::InventoryService::NewStub(Channel(inventory_->port()));
    v1::UpsertStationRequest station;
    station.set_request_id("station-S1");
    station.mutable_station()->set_station_id("S1");
    station.mutable_station()->set_name("S1");
    station.mutable_station()->set_kind(v1::STATION_KIND_CENTRAL);
    station.mutable_station()->set_active(true);
    v1::Station upserted_station;
    ASSERT_TRUE(Internal([&](grpc::ClientContext* c) {
                  return inventory->UpsertStation(c, station, &upserted_station);
                }).ok());
    auto request = v1::RequestService::NewStub(Channel(request_->port()));
    v1::UpsertHospitalRequest hospital;
    hospital.set_request_id("hospital-H1");
    hospital.mutable_hospital()->set_hospital_id("H1");
    hospital.mutable_hospital()->set_name("Hospital H1");
    hospital.mutable_hospital()->set_serving_station_id("S1");
    hospital.mutable_hospital()->set_active(true);
    v1::Hospital upserted_hospital;
    grpc::Status status = Internal([&](grpc::ClientContext* c) {
      return request->UpsertHospital(c, hospital, &upserted_hospital);
    });
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  testing::TestSchema inventory_db_;
  testing::TestSchema request_db_;
  std::unique_ptr<inventory::InventoryServer> inventory_;
  std::unique_ptr<request::RequestServer> request_;
  std::unique_ptr<GatewayServer> gateway_;
  std::string tokens_path_;
};

TEST_F(GatewayHealthTest, ADonorOutageLeavesTheHospitalsOrdering) {
  EXPECT_TRUE(Eventually(kHospitalApiHealthName, HealthCheckResponse::SERVING));
  EXPECT_TRUE(Eventually(kDispatchApiHealthName, HealthCheckResponse::SERVING));
  EXPECT_EQ(Health(kAdminApiHealthName), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health(""), HealthCheckResponse::SERVING) << "readiness is the gateway itself";
  EXPECT_EQ(Health(kLivenessHealthName), HealthCheckResponse::SERVING);

  AddStationAndHospital();
  auto hospital_api = v1::HospitalApi::NewStub(Channel(gateway_->port()));
  v1::PlaceOrderRequest order;
  order.set_request_id("order-1");
  order.set_hospital_id("H1");
  v1::Patient* patient = order.mutable_patient();
  patient->set_patient_ref("MRN-1");
  *patient->mutable_blood_type() = ParseBloodType("O+")->ToProto();
  patient->set_sex(v1::SEX_MALE);
  patient->set_age_years(40);
  patient->set_hemoglobin_g_l(62);
  patient->set_bleeding(true);
  v1::OrderLineRequest* line = order.add_lines();
  line->set_component(v1::COMPONENT_RED_CELLS);
  line->set_quantity(2);
  order.set_priority(v1::PRIORITY_URGENT);
  order.set_indication("acute GI bleeding");
  ToTimestamp(absl::Now() + absl::Hours(4), order.mutable_needed_by());
  order.mutable_approvals()->set_physician("dr-li");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kHospitalToken));
  v1::Order placed;
  grpc::Status status = hospital_api->PlaceOrder(&context, order, &placed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(placed.order_id().empty());
  EXPECT_EQ(placed.hospital_id(), "H1");
}

TEST_F(GatewayHealthTest, AnApiGoesDownWithABackendItNeedsAndTheGatewayStaysReady) {
  ASSERT_TRUE(Eventually(kHospitalApiHealthName, HealthCheckResponse::SERVING));
  request_->Shutdown();
  EXPECT_TRUE(Eventually(kHospitalApiHealthName, HealthCheckResponse::NOT_SERVING));
  EXPECT_TRUE(Eventually(kDispatchApiHealthName, HealthCheckResponse::NOT_SERVING));
  EXPECT_EQ(Health(""), HealthCheckResponse::SERVING);
}

TEST(PublicApiHealthTest, EachApiNeedsItsOwnBackends) {
  const absl::Status up = absl::OkStatus();
  const absl::Status down = absl::UnavailableError("x is not serving");
  struct Case {
    BackendHealth backends;
    bool hospital, dispatch, admin;
  };
  const Case cases[] = {
      {{up, up, up}, true, true, true},          {{down, up, up}, true, true, false},
      {{up, down, up}, false, false, false},     {{up, up, down}, false, false, false},
      {{down, down, down}, false, false, false},
  };
  for (const Case& c : cases) {
    std::map<std::string, absl::Status> health = PublicApiHealth(c.backends);
    ASSERT_EQ(health.size(), 3u);
    EXPECT_EQ(health[kHospitalApiHealthName].ok(), c.hospital);
    EXPECT_EQ(health[kDispatchApiHealthName].ok(), c.dispatch);
    EXPECT_EQ(health[kAdminApiHealthName].ok(), c.admin);
  }
  EXPECT_EQ(PublicApiHealth({down, up, up})[kAdminApiHealthName], down)
      << "the status names the missing backend";
}

}  // namespace
}  // namespace bloodgrid::gateway
