#include "common/server_bootstrap.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace bloodgrid {
namespace {

// gRPC answers a request it cannot parse (a proto3 string field that is not UTF-8, say) with
// INTERNAL and an empty message before any handler runs; the caller sent it, so it is
// INVALID_ARGUMENT (DESIGN.md "Errors"). A unary or server-streaming call reads its one request
// before the handler: POST_RECV_MESSAGE without a message means the request did not parse.
class UnparsableRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsable_ = true;
    }
    if (unparsable_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "request: not a valid message (string fields must be UTF-8)"));
    }
    methods->Proceed();
  }

 private:
  bool unparsable_ = false;
};

class UnparsableRequestInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // A client stream ends with a read that has no message: not a parse failure.
    using Type = grpc::experimental::ServerRpcInfo::Type;
    if (info->type() != Type::UNARY && info->type() != Type::SERVER_STREAMING) return nullptr;
    return new UnparsableRequestInterceptor();
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceServer>> ServiceServer::BuildAndStart(
    const ServerOptions& options, const std::vector<grpc::Service*>& services,
    std::vector<std::string> health_service_names, std::function<absl::Status()> readiness_probe,
    NamedHealthProbe named_probe) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port: ", options.port, " is not a TCP port"));
  }
  if (options.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drain_timeout: must not be negative");
  }
  std::unique_ptr<ServiceServer> server(new ServiceServer());
  server->options_ = options;
  server->health_names_ = std::move(health_service_names);
  server->probe_ = std::move(readiness_probe);
  server->named_probe_ = std::move(named_probe);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(options.listen_address, ":", options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // gRPC sets SO_REUSEPORT by default: a second process on the same port would silently share
  // its traffic. One port, one server.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_age)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30000);
  grpc::ResourceQuota quota(absl::StrCat(options.name, "_quota"));
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<UnparsableRequestInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (grpc::Service* service : services) builder.RegisterService(service);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  server->SetServing(false);
  server->ProbeNow();
  server->probe_thread_ = std::thread([s = server.get()] { s->ProbeLoop(); });
  LogInfo("server_started",
          {{"address", absl::StrCat(options.listen_address, ":", server->port_)}});
  return server;
}

ServiceServer::~ServiceServer() { Shutdown(); }

bool ServiceServer::serving() const {
  absl::MutexLock lock(&mu_);
  return serving_;
}

void ServiceServer::SetServing(bool serving, const std::map<std::string, absl::Status>& named) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) serving = false;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  if (serving != serving_) {
    LogInfo("health_changed", {{"serving", serving ? "true" : "false"}});
  }
  serving_ = serving;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kLivenessHealthName, !shut_down_);
  for (const std::string& name : health_names_) {
    auto it = named.find(name);
    const bool name_serving = serving && (it == named.end() || it->second.ok());
    auto [was, inserted] = name_serving_.emplace(name, name_serving);
    if (!inserted && was->second != name_serving) {
      LogInfo("health_changed",
              {{"name", name},
               {"serving", name_serving ? "true" : "false"},
               {"why", it == named.end() || it->second.ok() ? "" : it->second.ToString()}});
      was->second = name_serving;
    }
    health->SetServingStatus(name, name_serving);
  }
}

void ServiceServer::ProbeNow() {
  absl::Status status = probe_ ? probe_() : absl::OkStatus();
  if (!status.ok() && serving()) {
    LogWarning("readiness_probe_failed", {{"status", status.ToString()}});
  }
  std::map<std::string, absl::Status> named;
  if (named_probe_) named = named_probe_();
  SetServing(status.ok(), named);
}

void ServiceServer::ProbeLoop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.health_probe_interval)) ProbeNow();
}

void ServiceServer::Shutdown() {
  if (server_ == nullptr) return;  // never started
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
  }
  SetServing(false);
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
  }
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (probe_thread_.joinable()) probe_thread_.join();
  LogInfo("server_draining", {{"deadline", absl::FormatDuration(options_.drain_timeout)}});
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.drain_timeout));
  server_->Wait();
  LogInfo("server_stopped");
}

namespace {
sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

SignalWatcher::SignalWatcher() {
  sigset_t set = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int SignalWatcher::WaitForTermination(const std::function<void()>& on_hangup) {
  sigset_t set = WatchedSignals();
  while (true) {
    int signal_number = 0;
    if (sigwait(&set, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      LogInfo("signal", {{"name", "SIGHUP"}});
      if (on_hangup) on_hangup();
      continue;
    }
    LogInfo("signal", {{"name", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
    return signal_number;
  }
}

}  // namespace bloodgrid
