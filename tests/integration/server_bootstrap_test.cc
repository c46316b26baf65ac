// The shared server bootstrap: health follows the readiness probe (a real database ping),
// shutdown goes NOT_SERVING and stops the server, an unparsable request is INVALID_ARGUMENT;
// and the one status conversion.
#include "common/server_bootstrap.h"

#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/mysql_pool.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_db.h"

namespace bloodgrid {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

struct HealthAnswer {
  grpc::StatusCode code;
  HealthCheckResponse::ServingStatus serving;
};

HealthAnswer CheckHealth(int port, const std::string& service) {
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto stub = Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&ctx, request, &response);
  return {status.error_code(), response.status()};
}

ServerOptions TestOptions() {
  ServerOptions options;
  options.name = "bootstrap_test";
  options.listen_address = "127.0.0.1";
  options.port = 0;
  options.drain_timeout = absl::Seconds(2);
  options.health_probe_interval = absl::Milliseconds(50);
  return options;
}

TEST(ServerBootstrapTest, HealthIsNotServingUntilTheDatabaseAnswers) {
  // First a pool pointing nowhere: the probe fails, health says NOT_SERVING.
  db::DbOptions dead = testing::AdminDbOptions();
  dead.port = 1;
  dead.connect_timeout = absl::Seconds(1);
  auto dead_pool = db::ConnectionPool::Create(dead);
  auto live_pool = db::ConnectionPool::Create(testing::AdminDbOptions());
  std::atomic<db::ConnectionPool*> pool{dead_pool.get()};

  auto server = ServiceServer::BuildAndStart(TestOptions(), {}, {"bloodgrid.v1.TestService"}, [&] {
    return pool.load()->Ping(absl::Now() + absl::Seconds(2));
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(CheckHealth(port, "").serving, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckHealth(port, "bloodgrid.v1.TestService").serving,
            HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE((*server)->serving());
  EXPECT_EQ(CheckHealth(port, kLivenessHealthName).serving, HealthCheckResponse::SERVING)
      << "alive even while not ready";

  // The database comes back: the next probe turns health SERVING.
  pool = live_pool.get();
  (*server)->ProbeNow();
  EXPECT_EQ(CheckHealth(port, "").serving, HealthCheckResponse::SERVING);
  EXPECT_EQ(CheckHealth(port, "bloodgrid.v1.TestService").serving, HealthCheckResponse::SERVING);
  EXPECT_EQ(CheckHealth(port, "no.such.Service").code, grpc::StatusCode::NOT_FOUND);

  // ... and goes away again: the periodic probe notices without being asked.
  pool = dead_pool.get();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while ((*server)->serving() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(CheckHealth(port, "").serving, HealthCheckResponse::NOT_SERVING);
}

TEST(ServerBootstrapTest, ShutdownStopsServingAndIsIdempotent) {
  auto server = ServiceServer::BuildAndStart(TestOptions(), {}, {}, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  EXPECT_EQ(CheckHealth(port, "").serving, HealthCheckResponse::SERVING);
  const absl::Time start = absl::Now();
  (*server)->Shutdown();
  (*server)->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "an idle server drains at once";
  EXPECT_FALSE((*server)->serving());
  EXPECT_EQ(CheckHealth(port, "").code, grpc::StatusCode::UNAVAILABLE);
}

// Lists services through grpc.reflection.v1alpha with a raw generic call (a second copy of the
// reflection proto would clash with the one grpc++_reflection links). The request is
// ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
std::string ReflectionListServices(int port) {
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    return cq.Next(&tag, &ok) && ok && reinterpret_cast<intptr_t>(tag) == expected;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return "";
  const std::string request_bytes("\x3a\x00", 2);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  if (!step(2)) return "";
  call->WritesDone(reinterpret_cast<void*>(3));
  if (!step(3)) return "";
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  std::string text;
  if (step(4)) {
    std::vector<grpc::Slice> slices;
    if (response.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        text.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return text;
}

TEST(ServerBootstrapTest, ServesReflection) {
  auto server = ServiceServer::BuildAndStart(TestOptions(), {}, {}, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string listed = ReflectionListServices((*server)->port());
  EXPECT_NE(listed.find("grpc.health.v1.Health"), std::string::npos) << listed;
  EXPECT_NE(listed.find("grpc.reflection.v1alpha.ServerReflection"), std::string::npos);
}

TEST(ServerBootstrapTest, AnUnparsableRequestIsInvalidArgument) {
  auto server = ServiceServer::BuildAndStart(TestOptions(), {}, {}, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  // A proto3 string that is not UTF-8: the client sends it (logging an error), the server
  // cannot parse it. gRPC alone would answer INTERNAL.
  const HealthAnswer answer = CheckHealth((*server)->port(), "caf\xC3");
  EXPECT_EQ(answer.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CheckHealth((*server)->port(), "").code, grpc::StatusCode::OK)
      << "a request that parses is answered as before";
}

TEST(ServerBootstrapTest, RejectsBadOptions) {
  ServerOptions options = TestOptions();
  options.port = 70000;
  EXPECT_EQ(ServiceServer::BuildAndStart(options, {}, {}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ServerBootstrapTest, PortInUseIsUnavailable) {
  auto first = ServiceServer::BuildAndStart(TestOptions(), {}, {}, nullptr);
  ASSERT_TRUE(first.ok());
  ServerOptions options = TestOptions();
  options.port = (*first)->port();
  EXPECT_EQ(ServiceServer::BuildAndStart(options, {}, {}, nullptr).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(GrpcStatusTest, ConvertsCodesAndHidesInternalDetails) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  grpc::Status invalid = ToGrpcStatus(absl::InvalidArgumentError("din: bad check character"));
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(invalid.error_message(), "din: bad check character");
  grpc::Status internal = ToGrpcStatus(absl::InternalError("SELECT * FROM donors failed"));
  EXPECT_EQ(internal.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(internal.error_message(), "internal error");
  EXPECT_EQ(ToGrpcStatus(absl::UnknownError("x")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("db down")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // A message echoing 1 MB of input would not fit gRPC's metadata limit: it is cut, at a
  // character boundary.
  grpc::Status echoed = ToGrpcStatus(
      absl::InvalidArgumentError(absl::StrCat("reason_code: '", std::string(1000000, 'X'), "'")));
  EXPECT_EQ(echoed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(echoed.error_message().size(), 1024u + 3);
  EXPECT_EQ(echoed.error_message().substr(0, 15), "reason_code: 'X");
  std::string accents;
  for (int i = 0; i < 600; ++i) accents += "\xC3\xA9";  // "é", 2 bytes
  grpc::Status cut = ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("x", accents)));
  EXPECT_EQ(cut.error_message(), absl::StrCat("x", accents.substr(0, 1022), "..."));
  absl::Status back = FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "order o1"));
  EXPECT_EQ(back.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(back.message(), "order o1");
}

}  // namespace
}  // namespace bloodgrid
