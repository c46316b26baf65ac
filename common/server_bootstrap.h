// Server bootstrap shared by the four BloodGrid binaries (TF Serving's shape: main parses
// flags into Options and calls BuildAndStart; nothing else lives in main).
//
// A ServiceServer:
//  - listens on listen_address:port (port 0 picks a free port; port() tells which);
//  - registers the given gRPC services, the standard health service (grpc.health.v1) and
//    server reflection;
//  - reports NOT_SERVING, for "" and every name in health_service_names, until the readiness
//    probe (e.g. "the database answers") first succeeds, and again whenever it fails; a
//    background thread re-runs the probe every health_probe_interval;
//  - with a per-name probe, reports each name it answers for SERVING only while both the
//    readiness probe and that name's own status are OK (the gateway: one public API stays
//    SERVING while a backend only another API needs is down);
//  - reports the health name "liveness" SERVING from start to shutdown whatever the probe says,
//    so an orchestrator's liveness check restarts a wedged process, not one whose database is
//    down (readiness covers that);
//  - answers a request that cannot be parsed (a string field that is not UTF-8) with
//    INVALID_ARGUMENT, not gRPC's INTERNAL: the caller sent it;
//  - closes client connections after max_connection_age (with a grace period), so clients
//    re-resolve DNS and spread over replicas added since they connected;
//  - on Shutdown(): NOT_SERVING first, then stops accepting calls and lets in-flight calls finish
//    until drain_timeout, then cancels what is left.
// Thread-safe.
#ifndef BLOODGRID_COMMON_SERVER_BOOTSTRAP_H_
#define BLOODGRID_COMMON_SERVER_BOOTSTRAP_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace bloodgrid {

struct ServerOptions {
  // Process name for logs ("donor_service").
  std::string name;
  std::string listen_address = "0.0.0.0";
  int port = 0;
  // How long in-flight calls may run after SIGTERM before they are cancelled.
  absl::Duration drain_timeout = absl::Seconds(20);
  absl::Duration health_probe_interval = absl::Seconds(2);
  // Largest request accepted (bigger ones fail with RESOURCE_EXHAUSTED before any handler).
  int max_receive_message_bytes = 4 << 20;
  // Upper bound of threads the synchronous server may use, its own polling threads included:
  // it must exceed the expected number of concurrent calls, or a burst is answered with
  // RESOURCE_EXHAUSTED. Idle threads cost little (their stacks are mostly untouched).
  int max_threads = 256;
  // Connections are closed (gracefully) after this age so clients re-resolve and rebalance.
  absl::Duration max_connection_age = absl::Minutes(5);
};

// Health name that reports whether the process is alive (not whether it is ready).
inline constexpr char kLivenessHealthName[] = "liveness";

// The status of each health name, probed together (one round of backend checks serves all
// names). A name it leaves out follows the readiness probe alone.
using NamedHealthProbe = std::function<std::map<std::string, absl::Status>()>;

class ServiceServer {
 public:
  // Returns a running server. INVALID_ARGUMENT for bad options, UNAVAILABLE when the port
  // cannot be bound. `readiness_probe` may be empty (always ready).
  static absl::StatusOr<std::unique_ptr<ServiceServer>> BuildAndStart(
      const ServerOptions& options, const std::vector<grpc::Service*>& services,
      std::vector<std::string> health_service_names, std::function<absl::Status()> readiness_probe,
      NamedHealthProbe named_probe = nullptr);
  ~ServiceServer();

  int port() const { return port_; }
  grpc::Server* grpc_server() { return server_.get(); }

  // True while the last readiness probe succeeded and the server is not shutting down.
  bool serving() const;

  // Runs the readiness probe now and updates health (also done periodically).
  void ProbeNow();

  // NOT_SERVING, stop accepting, drain until drain_timeout. Idempotent; blocks until done.
  void Shutdown();

 private:
  ServiceServer() = default;
  void SetServing(bool serving, const std::map<std::string, absl::Status>& named = {});
  void ProbeLoop();

  ServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::vector<std::string> health_names_;
  std::function<absl::Status()> probe_;
  NamedHealthProbe named_probe_;
  std::thread probe_thread_;
  absl::Notification stop_;
  mutable absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, bool> name_serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// Turns SIGTERM/SIGINT (stop) and SIGHUP (reload) into ordinary calls. Create it first thing in
// main, before any other thread exists: it blocks those signals in the calling thread so every
// thread started later inherits the mask, and one watcher thread receives them with sigwait.
class SignalWatcher {
 public:
  SignalWatcher();
  // Blocks until SIGTERM or SIGINT arrives; runs `on_hangup` (if set) for each SIGHUP meanwhile.
  // Returns the terminating signal number.
  int WaitForTermination(const std::function<void()>& on_hangup = nullptr);
};

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_SERVER_BOOTSTRAP_H_
