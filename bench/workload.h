// The load bloodgrid_bench puts on a region: the region's stubs and layout, the order mix, and
// the clients of the place-order and mixed scenarios, which record every call into the
// PhaseResult of the phase they run in (bench/phases.h runs them).
#ifndef BLOODGRID_BENCH_WORKLOAD_H_
#define BLOODGRID_BENCH_WORKLOAD_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/bench_db.h"
#include "bench/bench_options.h"
#include "bench/bench_support.h"
#include "bench/invariants.h"
#include "bloodgrid/v1/admin_api.grpc.pb.h"
#include "bloodgrid/v1/dispatch_api.grpc.pb.h"
#include "bloodgrid/v1/hospital_api.grpc.pb.h"
#include "bloodgrid/v1/request.grpc.pb.h"
#include "common/mysql_pool.h"

namespace bloodgrid::bench {

// What one phase measured.
struct PhaseResult {
  std::string name;
  std::string primary;  // the operation whose throughput and latency are the headline
  absl::Duration measured;
  std::map<std::string, std::unique_ptr<OpStats>> ops;
  std::map<std::string, int64_t> order_statuses;
  std::map<std::string, int64_t> rss_peak_kib;
  int64_t units_before = 0;
  int64_t units_after = 0;
  std::map<std::string, int64_t> db_status_before;
  std::map<std::string, int64_t> db_delta;  // growth of the server's counters over the phase
  std::optional<InvariantReport> invariants;
  std::string invariant_error;

  OpStats& Op(const std::string& op) {
    std::unique_ptr<OpStats>& slot = ops[op];
    if (!slot) slot = std::make_unique<OpStats>();
    return *slot;
  }
  double Throughput(const std::string& op) const {
    auto it = ops.find(op);
    if (it == ops.end() || measured <= absl::ZeroDuration()) return 0;
    return static_cast<double>(it->second->ok_count()) / absl::ToDoubleSeconds(measured);
  }
  const OpStats* Find(const std::string& op) const {
    auto it = ops.find(op);
    return it == ops.end() ? nullptr : it->second.get();
  }
};

// "OK", "UNAVAILABLE", ...: gRPC's code numbers are absl's.
std::string CodeName(grpc::StatusCode code);
// "ALLOCATED" for ORDER_STATUS_ALLOCATED.
std::string StatusName(v1::OrderStatus status);
google::protobuf::Timestamp ToProto(absl::Time t);
// A unique, valid request id per call.
std::string NextRequestId(const std::string& prefix);

// The region the bench drives: stubs, tokens and the layout it set up.
struct Region {
  const BenchOptions* options = nullptr;  // the run's settings; outlive the Region
  Tokens tokens;
  std::shared_ptr<grpc::Channel> gateway;
  std::shared_ptr<grpc::Channel> request;
  std::unique_ptr<v1::HospitalApi::Stub> hospital_api;
  std::unique_ptr<v1::AdminApi::Stub> admin_api;
  std::unique_ptr<v1::DispatchApi::Stub> dispatch_api;
  std::unique_ptr<v1::RequestService::Stub> request_service;
  std::vector<std::string> stations;
  std::map<std::string, std::string> serving_station;  // hospital -> station
  std::vector<TypeShare> mix;
  const v1::PolicyProfile* policy = nullptr;
  std::unique_ptr<db::ConnectionPool> inventory_db;
  absl::Duration call_timeout;
};

// A call's context through the gateway with `token`, or direct to a service as `actor`; both
// with the region's call deadline.
std::unique_ptr<grpc::ClientContext> Context(const Region& region, const std::string& token);
std::unique_ptr<grpc::ClientContext> DirectContext(const Region& region, const std::string& actor);

// The gRPC status as an absl::Status, its message prefixed with `what`.
absl::Status Check(const grpc::Status& status, absl::string_view what);

// Waits until the gateway reports bloodgrid.v1.AdminApi SERVING (every backend reachable);
// UNAVAILABLE after `timeout`.
absl::Status WaitServing(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout);

// Upserts stations BS01.. (BS01 central) and the tokens' hospitals, each served by one station
// with up to two fallbacks; fills region.stations and region.serving_station.
absl::Status SetUpRegion(Region& region, int station_count);

// The order mix: mostly 1-4 U red cells, some plasma and platelets; shares of URGENT and
// EMERGENCY from the options; the patient's type from the regional mix.
struct OrderMix {
  std::discrete_distribution<int> component{75, 15, 10};
  std::discrete_distribution<int> red_units{30, 40, 15, 15};
  std::uniform_int_distribution<int> plasma_bags{1, 4};
  std::discrete_distribution<int> type;
  std::uniform_real_distribution<double> unit{0.0, 1.0};

  explicit OrderMix(const std::vector<TypeShare>& mix);
};

struct OrderShape {
  v1::Component component;
  int32_t quantity;
  BloodType type;
  v1::Priority priority;
};

OrderShape NextShape(OrderMix& mix, const Region& region, std::mt19937_64& rng);
// A valid order of that shape, approvals and indication included.
v1::PlaceOrderRequest OrderRequest(const OrderShape& shape);

// One client of the place-order scenario: places an order, then dispatches it or cancels it so
// the stock does not run dry. `direct` calls request_service instead of the gateway. Records
// into `result` under `result_mu`; one thread per client.
class OrderClient {
 public:
  OrderClient(const Region& region, int index, bool direct, PhaseResult& result,
              absl::Mutex& result_mu);

  // One order and its clean-up; `measure` says whether the latencies count.
  void RunOnce(bool measure);

 private:
  void Record(const std::string& op, absl::Duration latency, grpc::StatusCode code);
  void CountStatus(v1::OrderStatus status);
  void CleanUp(const v1::Order& order, bool measure);

  const Region& region_;
  const bool direct_;
  const std::pair<std::string, std::string> hospital_;
  std::mt19937_64 rng_;
  OrderMix mix_;
  PhaseResult& result_;
  absl::Mutex& result_mu_;
};

// One client of the mixed scenario (through the gateway). Donor national ids and DINs are made
// from numbers counting up from `id_base`.
class MixedClient {
 public:
  MixedClient(Region& region, int index, PhaseResult& result, absl::Mutex& mu, int64_t id_base);

  // Ratio per 100 operations: 55 orders, 15 availability, 5 stock summaries, 10 donations,
  // 10 test results with processing, 5 transfers.
  void RunOnce(bool measure);

 private:
  void Record(const std::string& op, absl::Time start, const grpc::Status& status, bool measure);
  void Availability(bool measure);
  void StockSummary(bool measure);
  void Donation(bool measure);
  void TestAndProcess(bool measure);
  void Transfer(bool measure);

  Region& region_;
  OrderClient orders_;
  const std::pair<std::string, std::string> hospital_;
  std::mt19937_64 rng_;
  OrderMix mix_;
  PhaseResult& result_;
  absl::Mutex& mu_;
  const int64_t id_base_;
  int64_t donations_ = 0;
  std::vector<std::pair<std::string, BloodType>> pending_;
};

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_WORKLOAD_H_
