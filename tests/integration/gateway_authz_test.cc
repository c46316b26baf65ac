// The gateway's authentication and authorisation for EVERY public RPC, driven from the service
// descriptors so a new RPC cannot slip through unchecked: no token or an unknown one is
// UNAUTHENTICATED, a role not allowed is PERMISSION_DENIED, an allowed role gets past the gate
// (here to backends that are down: UNAVAILABLE, never a leak of anything else). Also: every
// public API's health is NOT_SERVING while backends are down, tokens reload, a hospital cannot
// act for another.
#include <google/protobuf/descriptor.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "absl/strings/str_cat.h"
#include "bloodgrid/v1/admin_api.grpc.pb.h"
#include "bloodgrid/v1/dispatch_api.grpc.pb.h"
#include "bloodgrid/v1/hospital_api.grpc.pb.h"
#include "gateway/auth.h"
#include "gateway/gateway_server.h"
#include "gateway/workflows.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace bloodgrid::gateway {
namespace {

constexpr char kAdminToken[] = "test-admin-token";
constexpr char kDispatchToken[] = "test-dispatch-token";
constexpr char kHospitalToken[] = "test-h1-token";

class GatewayAuthzTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tokens_path_ = new std::string(
        (std::filesystem::temp_directory_path() / absl::StrCat("gw_tokens_", getpid())).string());
    WriteTokens(absl::StrCat(Sha256Hex(kAdminToken), " admin console\n", Sha256Hex(kDispatchToken),
                             " dispatcher dispatch\n", Sha256Hex(kHospitalToken),
                             " hospital H1\n"));
    GatewayOptions options;
    options.server.name = "gateway_test";
    options.server.listen_address = "127.0.0.1";
    options.server.port = 0;
    options.server.drain_timeout = absl::Seconds(1);
    options.server.health_probe_interval = absl::Milliseconds(200);
    // Nothing listens on port 1: every backend is down.
    options.backends.donor_target = "127.0.0.1:1";
    options.backends.inventory_target = "127.0.0.1:1";
    options.backends.request_target = "127.0.0.1:1";
    options.backends.call_timeout_cap = absl::Seconds(2);
    options.tokens_file = *tokens_path_;
    auto server = GatewayServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    channel_ = new std::shared_ptr<grpc::Channel>(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete channel_;
    std::filesystem::remove(*tokens_path_);
    delete tokens_path_;
  }
  static void WriteTokens(const std::string& text) { std::ofstream(*tokens_path_) << text; }

  // Calls `method` ("/bloodgrid.v1.AdminApi/GetDonor") with an empty request and `token`.
  static grpc::Status Call(const std::string& method, const std::string& token,
                           const std::string& request_bytes = "") {
    grpc::GenericStub stub(*channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    grpc::Slice slice(request_bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  static inline GatewayServer* server_ = nullptr;
  static inline std::shared_ptr<grpc::Channel>* channel_ = nullptr;
  static inline std::string* tokens_path_ = nullptr;
};

struct ServiceRoles {
  const google::protobuf::ServiceDescriptor* service;
  bool hospital, admin, dispatcher;
};

TEST_F(GatewayAuthzTest, EveryRpcAuthenticatesAndAuthorises) {
  const ServiceRoles services[] = {
      {google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
           "bloodgrid.v1.HospitalApi"),
       true, true, false},
      {google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
           "bloodgrid.v1.AdminApi"),
       false, true, false},
      {google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
           "bloodgrid.v1.DispatchApi"),
       false, true, true},
  };
  int checked = 0;
  for (const ServiceRoles& s : services) {
    ASSERT_NE(s.service, nullptr);
    for (int i = 0; i < s.service->method_count(); ++i) {
      const std::string method =
          absl::StrCat("/", s.service->full_name(), "/", s.service->method(i)->name());
      SCOPED_TRACE(method);
      EXPECT_EQ(Call(method, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(Call(method, "not-a-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
      const std::pair<const char*, bool> roles[] = {
          {kHospitalToken, s.hospital}, {kAdminToken, s.admin}, {kDispatchToken, s.dispatcher}};
      for (const auto& [token, allowed] : roles) {
        grpc::Status status = Call(method, token);
        if (allowed) {
          EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
          EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
              << token << ": " << status.error_message();
          EXPECT_NE(status.error_code(), grpc::StatusCode::INTERNAL) << token;
          EXPECT_NE(status.error_code(), grpc::StatusCode::UNKNOWN) << token;
        } else {
          EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << token;
        }
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 7 + 20 + 6) << "every RPC DESIGN.md names is served";
}

TEST_F(GatewayAuthzTest, AllowedCallsToADownBackendAreUnavailable) {
  EXPECT_EQ(Call("/bloodgrid.v1.HospitalApi/GetAvailability", kHospitalToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call("/bloodgrid.v1.AdminApi/GetDonor", kAdminToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GatewayAuthzTest, AHospitalActsOnlyForItself) {
  v1::GetOrderRequest request;
  request.set_order_id("O-1");
  request.set_hospital_id("H2");
  grpc::Status status =
      Call("/bloodgrid.v1.HospitalApi/GetOrder", kHospitalToken, request.SerializeAsString());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  // An admin placing an order must say for which hospital.
  v1::PlaceOrderRequest order;
  order.set_request_id("r1");
  status = Call("/bloodgrid.v1.HospitalApi/PlaceOrder", kAdminToken, order.SerializeAsString());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("hospital_id", 0), 0u) << status.error_message();
}

TEST_F(GatewayAuthzTest, ClientsCannotSetAReservationKeyOnTransfers) {
  v1::CreateTransferRequest request;
  request.set_request_id("t1");
  request.set_reservation_key("O-1/1/1");
  grpc::Status status =
      Call("/bloodgrid.v1.DispatchApi/CreateTransfer", kDispatchToken, request.SerializeAsString());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GatewayAuthzTest, EveryPublicApiIsNotServingWhileBackendsAreDown) {
  auto stub = grpc::health::v1::Health::NewStub(*channel_);
  auto check = [&](const std::string& name) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_TRUE(stub->Check(&context, request, &response).ok()) << name;
    return response.status();
  };
  // The gateway itself is up (readiness): only the APIs that need the backends are down.
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::SERVING);
  for (const char* api : {kHospitalApiHealthName, kDispatchApiHealthName, kAdminApiHealthName}) {
    EXPECT_EQ(check(api), grpc::health::v1::HealthCheckResponse::NOT_SERVING) << api;
  }
}

TEST_F(GatewayAuthzTest, ReloadedTokensTakeEffectAndABadFileChangesNothing) {
  const std::string original =
      absl::StrCat(Sha256Hex(kAdminToken), " admin console\n", Sha256Hex(kDispatchToken),
                   " dispatcher dispatch\n", Sha256Hex(kHospitalToken), " hospital H1\n");
  WriteTokens(original + Sha256Hex("rotated-admin") + " admin console2\n");
  ASSERT_TRUE(server_->ReloadTokens().ok());
  EXPECT_EQ(Call("/bloodgrid.v1.AdminApi/GetDonor", "rotated-admin").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  WriteTokens("not a tokens file\n");
  EXPECT_FALSE(server_->ReloadTokens().ok());
  EXPECT_EQ(Call("/bloodgrid.v1.AdminApi/GetDonor", "rotated-admin").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  WriteTokens(original);
  ASSERT_TRUE(server_->ReloadTokens().ok());
  EXPECT_EQ(Call("/bloodgrid.v1.AdminApi/GetDonor", "rotated-admin").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(GatewayStartupTest, MissingTokensFileStopsStartUp) {
  GatewayOptions options;
  options.server.listen_address = "127.0.0.1";
  options.backends.donor_target = options.backends.inventory_target =
      options.backends.request_target = "127.0.0.1:1";
  options.tokens_file = "/nonexistent/tokens";
  auto server = GatewayServer::BuildAndStart(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  options.tokens_file = "";
  options.backends.request_target = "";
  EXPECT_EQ(GatewayServer::BuildAndStart(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AvailabilityTest, SumsAvailableStockOverStationsWithZeroRows) {
  v1::GetStockSummaryResponse stock;
  for (const char* station : {"S1", "S2"}) {
    v1::StockLevel& level = *stock.add_levels();
    level.set_station_id(station);
    level.set_component(v1::COMPONENT_RED_CELLS);
    level.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
    level.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
    level.mutable_available()->set_units(3);
    level.mutable_available()->set_quantity(6);
    level.mutable_reserved()->set_units(10);
  }
  v1::GetAvailabilityResponse all = AvailabilityFromStock(stock, std::nullopt);
  EXPECT_EQ(all.counts_size(), 5 * 8);
  v1::GetAvailabilityResponse red = AvailabilityFromStock(stock, v1::COMPONENT_RED_CELLS);
  ASSERT_EQ(red.counts_size(), 8);
  // Ordered O+, O-, A+, A-, B+, B-, AB+, AB- (enum order).
  EXPECT_EQ(red.counts(0).blood_type().rhd(), v1::RH_D_POSITIVE);
  EXPECT_EQ(red.counts(0).units(), 0);
  EXPECT_EQ(red.counts(1).blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(red.counts(1).blood_type().rhd(), v1::RH_D_NEGATIVE);
  EXPECT_EQ(red.counts(1).units(), 6) << "reserved stock is not available";
  EXPECT_EQ(red.counts(1).quantity(), 12);
}

}  // namespace
}  // namespace bloodgrid::gateway
