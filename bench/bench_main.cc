// bloodgrid_bench: load, latency and scaling figures for a running BloodGrid region, with the
// databases audited after every phase (bench/invariants.h). scripts/bench starts a region of
// its own and runs this tool against it; it can also be pointed at any region whose database
// it may write (the seeding inserts stock directly).
//
// Scenarios (--scenario):
//   compare      (default) raw-DB baseline, then place-order direct to request_service, then
//                place-order through the gateway, at the same concurrency; prints the ratios
//   place-order  hospitals placing orders through the gateway (--direct: request_service)
//   mixed        orders, availability and stock queries, donations, test results with
//                processing, and transfers, through the gateway
//   baseline     the raw reservation transaction only
//   scale        place-order (direct) at --units, then again after topping the stock up to
//                --scale_units; prints the allocation p50 ratio
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_db.h"
#include "bench/bench_support.h"
#include "bench/invariants.h"
#include "bloodgrid/v1/admin_api.grpc.pb.h"
#include "bloodgrid/v1/dispatch_api.grpc.pb.h"
#include "bloodgrid/v1/hospital_api.grpc.pb.h"
#include "bloodgrid/v1/request.grpc.pb.h"
#include "common/din.h"
#include "common/mysql_pool.h"
#include "common/national_id.h"
#include "common/policy.h"
#include "common/status.h"
#include "grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, scenario, "compare", "compare, place-order, mixed, baseline or scale");
ABSL_FLAG(bool, direct, false,
          "place-order: call request_service (--request) instead of the gateway");
ABSL_FLAG(std::string, gateway, "127.0.0.1:50050", "gateway address");
ABSL_FLAG(std::string, request, "", "request_service address (compare, scale, --direct)");
ABSL_FLAG(std::string, tokens_file, "", "lines 'role subject token': admin, dispatcher, hospitals");
ABSL_FLAG(std::string, db_host, "127.0.0.1", "MariaDB host (seeding, baseline, invariants)");
ABSL_FLAG(int, db_port, 3306, "MariaDB port");
ABSL_FLAG(std::string, db_user, "", "MariaDB user with rights on every BloodGrid schema");
ABSL_FLAG(std::string, db_password_file, "", "file holding that user's password");
ABSL_FLAG(std::string, inventory_schema, "inventory", "inventory service's schema");
ABSL_FLAG(std::string, request_schema, "request", "request service's schema");
ABSL_FLAG(std::string, donor_schema, "donor", "donor service's schema");
ABSL_FLAG(std::string, policy_file, "config/policies/cn-gb18467-2011.textproto",
          "policy profile giving the shelf lives of seeded stock");
ABSL_FLAG(int, clients, 16, "concurrent clients");
ABSL_FLAG(int, duration_s, 20, "measured seconds per phase");
ABSL_FLAG(int, warmup_s, 2, "unmeasured seconds at the start of each phase");
ABSL_FLAG(int, stations, 4, "stations to set up (BS01...)");
ABSL_FLAG(int64_t, units, 10000, "available seeded units before the first phase");
ABSL_FLAG(int64_t, scale_units, 1000000, "scale: seeded units of the second measurement");
ABSL_FLAG(std::string, type_mix, "O+:38,A+:27,B+:22,AB+:7,O-:2.5,A-:1.5,B-:1.5,AB-:0.5",
          "blood types of seeded stock and of patients, in percent");
ABSL_FLAG(double, emergency_share, 0.10, "share of EMERGENCY orders");
ABSL_FLAG(double, urgent_share, 0.10, "share of URGENT orders");
ABSL_FLAG(double, dispatch_share, 0.20,
          "share of allocated orders dispatched (the rest are cancelled, so stock stays)");
ABSL_FLAG(uint64_t, seed, 1, "random seed (seeding and the order mix)");
ABSL_FLAG(std::string, pids, "",
          "name:pid,... of the processes whose RSS is sampled (e.g. gateway:123,request:456)");
ABSL_FLAG(std::string, json, "", "also write the results as JSON to this file ('-' = stdout)");
ABSL_FLAG(bool, check_invariants, true, "audit the databases after every phase");
ABSL_FLAG(int, orphan_grace_s, 120, "invariants: a hold expired this long ago is orphaned");
ABSL_FLAG(int, call_timeout_ms, 10000, "deadline of every call");

namespace bloodgrid::bench {
namespace {

using Clock = absl::Time;

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
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string StatusName(v1::OrderStatus status) {
  std::string name = v1::OrderStatus_Name(status);
  absl::string_view view = name;
  absl::ConsumePrefix(&view, "ORDER_STATUS_");
  return std::string(view);
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1'000'000);
  ts.set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  return ts;
}

// A unique, valid request id per call.
std::string NextRequestId(const std::string& prefix) {
  static std::atomic<int64_t> counter{0};
  static const int64_t run = absl::ToUnixMicros(absl::Now());
  return absl::StrCat(prefix, "-", run, "-", ++counter);
}

// The region the bench drives: stubs, tokens and the layout it set up.
struct Region {
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

std::unique_ptr<grpc::ClientContext> Context(const Region& region, const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + region.call_timeout));
  context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return context;
}

std::unique_ptr<grpc::ClientContext> DirectContext(const Region& region, const std::string& actor) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + region.call_timeout));
  context->AddMetadata("x-bloodgrid-actor", actor);
  return context;
}

absl::Status Check(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

// Waits until the gateway reports SERVING (every backend reachable).
absl::Status WaitServing(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  const absl::Time give_up = absl::Now() + timeout;
  std::string last = "no answer";
  while (absl::Now() < give_up) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = status.ok() ? "NOT_SERVING" : status.error_message();
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::UnavailableError(absl::StrCat("gateway not serving: ", last));
}

absl::Status SetUpRegion(Region& region, int station_count) {
  for (int i = 1; i <= station_count; ++i) {
    v1::UpsertStationRequest request;
    request.set_request_id(NextRequestId("bench-station"));
    v1::Station& station = *request.mutable_station();
    station.set_station_id(absl::StrFormat("BS%02d", i));
    station.set_name(absl::StrFormat("Bench station %02d", i));
    station.set_kind(i == 1 ? v1::STATION_KIND_CENTRAL : v1::STATION_KIND_BRANCH);
    station.set_active(true);
    v1::Station reply;
    BG_RETURN_IF_ERROR(Check(region.admin_api->UpsertStation(
                                 Context(region, region.tokens.admin).get(), request, &reply),
                             "UpsertStation"));
    region.stations.push_back(station.station_id());
  }
  for (size_t h = 0; h < region.tokens.hospitals.size(); ++h) {
    const std::string& id = region.tokens.hospitals[h].first;
    v1::UpsertHospitalRequest request;
    request.set_request_id(NextRequestId("bench-hospital"));
    v1::Hospital& hospital = *request.mutable_hospital();
    hospital.set_hospital_id(id);
    hospital.set_name(absl::StrCat("Bench hospital ", id));
    const size_t serving = h % region.stations.size();
    hospital.set_serving_station_id(region.stations[serving]);
    for (size_t k = 1; k < std::min<size_t>(3, region.stations.size()); ++k) {
      hospital.add_fallback_station_ids(region.stations[(serving + k) % region.stations.size()]);
    }
    hospital.set_active(true);
    v1::Hospital reply;
    BG_RETURN_IF_ERROR(Check(region.admin_api->UpsertHospital(
                                 Context(region, region.tokens.admin).get(), request, &reply),
                             absl::StrCat("UpsertHospital ", id)));
    region.serving_station[id] = region.stations[serving];
  }
  return absl::OkStatus();
}

// The order mix: mostly 1-4 U red cells, some plasma and platelets; shares of URGENT and
// EMERGENCY from the flags; the patient's type from the regional mix.
struct OrderMix {
  std::discrete_distribution<int> component{75, 15, 10};
  std::discrete_distribution<int> red_units{30, 40, 15, 15};
  std::uniform_int_distribution<int> plasma_bags{1, 4};
  std::discrete_distribution<int> type;
  std::uniform_real_distribution<double> unit{0.0, 1.0};

  explicit OrderMix(const std::vector<TypeShare>& mix) {
    std::vector<double> weights;
    for (const TypeShare& share : mix) weights.push_back(share.percent);
    type = std::discrete_distribution<int>(weights.begin(), weights.end());
  }
};

struct OrderShape {
  v1::Component component;
  int32_t quantity;
  BloodType type;
  v1::Priority priority;
};

OrderShape NextShape(OrderMix& mix, const Region& region, std::mt19937_64& rng) {
  OrderShape shape;
  switch (mix.component(rng)) {
    case 0:
      shape.component = v1::COMPONENT_RED_CELLS;
      shape.quantity = 1 + mix.red_units(rng);
      break;
    case 1:
      shape.component = v1::COMPONENT_PLASMA;
      shape.quantity = 200 * mix.plasma_bags(rng);
      break;
    default:
      shape.component = v1::COMPONENT_PLATELETS;
      shape.quantity = 1;
      break;
  }
  shape.type = region.mix[mix.type(rng)].type;
  const double p = mix.unit(rng);
  const double emergency = absl::GetFlag(FLAGS_emergency_share);
  shape.priority = p < emergency                                       ? v1::PRIORITY_EMERGENCY
                   : p < emergency + absl::GetFlag(FLAGS_urgent_share) ? v1::PRIORITY_URGENT
                                                                       : v1::PRIORITY_ROUTINE;
  return shape;
}

v1::PlaceOrderRequest OrderRequest(const OrderShape& shape) {
  v1::PlaceOrderRequest request;
  request.set_request_id(NextRequestId("bench-order"));
  v1::Patient& patient = *request.mutable_patient();
  patient.set_patient_ref(NextRequestId("MRN"));
  *patient.mutable_blood_type() = shape.type.ToProto();
  patient.set_sex(v1::SEX_MALE);
  patient.set_age_years(58);
  switch (shape.component) {
    case v1::COMPONENT_RED_CELLS:
      patient.set_hemoglobin_g_l(62);
      request.set_indication("symptomatic anaemia, Hb 62 g/L");
      break;
    case v1::COMPONENT_PLASMA:
      patient.set_inr(2.1);
      patient.set_bleeding(true);
      request.set_indication("active bleeding with INR 2.1");
      break;
    default:
      patient.set_platelet_count_e9_l(15);
      request.set_indication("platelets 15 x10^9/L before a procedure");
      break;
  }
  v1::OrderLineRequest& line = *request.add_lines();
  line.set_component(shape.component);
  line.set_quantity(shape.quantity);
  request.set_priority(shape.priority);
  request.mutable_approvals()->set_physician("Dr. Bench");
  // DOMAIN.md section 7: from 800 mL a day the department head signs too (a red-cell unit
  // counts as 200 mL).
  const int32_t volume_ml = shape.component == v1::COMPONENT_RED_CELLS ? 200 * shape.quantity
                            : shape.component == v1::COMPONENT_PLASMA  ? shape.quantity
                                                                       : 0;
  if (volume_ml >= 800) request.mutable_approvals()->set_department_head("Dr. Head");
  if (shape.priority != v1::PRIORITY_EMERGENCY) {
    *request.mutable_needed_by() = ToProto(absl::Now() + absl::Hours(6));
  }
  return request;
}

// One client of the place-order scenario: places an order, then dispatches it or cancels it so
// the stock does not run dry. `direct` calls request_service instead of the gateway.
class OrderClient {
 public:
  OrderClient(const Region& region, int index, bool direct, PhaseResult& result,
              absl::Mutex& result_mu)
      : region_(region),
        direct_(direct),
        hospital_(region.tokens.hospitals[index % region.tokens.hospitals.size()]),
        rng_(absl::GetFlag(FLAGS_seed) * 7919 + static_cast<uint64_t>(index)),
        mix_(region.mix),
        result_(result),
        result_mu_(result_mu) {}

  // One order and its clean-up; `measure` says whether the latencies count.
  void RunOnce(bool measure) {
    const OrderShape shape = NextShape(mix_, region_, rng_);
    v1::PlaceOrderRequest request = OrderRequest(shape);
    v1::Order order;
    const absl::Time start = absl::Now();
    grpc::Status status;
    if (direct_) {
      request.set_hospital_id(hospital_.first);
      status = region_.request_service->PlaceOrder(
          DirectContext(region_, absl::StrCat("hospital:", hospital_.first)).get(), request,
          &order);
    } else {
      status = region_.hospital_api->PlaceOrder(Context(region_, hospital_.second).get(), request,
                                                &order);
    }
    const absl::Duration latency = absl::Now() - start;
    if (measure) Record("place-order", latency, status.error_code());
    if (!status.ok()) return;
    if (measure) CountStatus(order.status());
    CleanUp(order, measure);
  }

 private:
  void Record(const std::string& op, absl::Duration latency, grpc::StatusCode code) {
    OpStats* stats;
    {
      absl::MutexLock lock(&result_mu_);
      stats = &result_.Op(op);
    }
    stats->Record(latency, CodeName(code));
  }
  void CountStatus(v1::OrderStatus status) {
    absl::MutexLock lock(&result_mu_);
    ++result_.order_statuses[StatusName(status)];
  }

  void CleanUp(const v1::Order& order, bool measure) {
    const bool dispatch = order.status() == v1::ORDER_STATUS_ALLOCATED &&
                          mix_.unit(rng_) < absl::GetFlag(FLAGS_dispatch_share);
    if (dispatch) {
      v1::DispatchOrderRequest request;
      request.set_request_id(NextRequestId("bench-dispatch"));
      request.set_order_id(order.order_id());
      v1::Order reply;
      const absl::Time start = absl::Now();
      grpc::Status status =
          direct_ ? region_.request_service->DispatchOrder(
                        DirectContext(region_, "dispatcher:bench").get(), request, &reply)
                  : region_.dispatch_api->DispatchOrder(
                        Context(region_, region_.tokens.dispatcher).get(), request, &reply);
      if (measure) Record("dispatch-order", absl::Now() - start, status.error_code());
      if (status.ok()) return;
      // Not dispatchable after all (a unit on a transfer, say): cancel instead.
    }
    if (order.status() == v1::ORDER_STATUS_CANCELLED ||
        order.status() == v1::ORDER_STATUS_REJECTED) {
      return;
    }
    v1::CancelOrderRequest request;
    request.set_request_id(NextRequestId("bench-cancel"));
    request.set_order_id(order.order_id());
    request.set_reason("benchmark clean-up");
    v1::Order reply;
    const absl::Time start = absl::Now();
    grpc::Status status;
    if (direct_) {
      request.set_hospital_id(hospital_.first);
      status = region_.request_service->CancelOrder(
          DirectContext(region_, absl::StrCat("hospital:", hospital_.first)).get(), request,
          &reply);
    } else {
      status = region_.hospital_api->CancelOrder(Context(region_, hospital_.second).get(), request,
                                                 &reply);
    }
    if (measure) Record("cancel-order", absl::Now() - start, status.error_code());
  }

  const Region& region_;
  const bool direct_;
  const std::pair<std::string, std::string> hospital_;
  std::mt19937_64 rng_;
  OrderMix mix_;
  PhaseResult& result_;
  absl::Mutex& result_mu_;
};

// Runs `clients` threads calling `once(client, measure)` until warm-up plus duration have
// passed; only calls started after the warm-up are measured.
void RunClients(int clients, PhaseResult& result, db::ConnectionPool& db,
                const std::function<std::function<void(bool)>(int)>& make_client,
                const std::function<std::string()>& progress) {
  const absl::Duration warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup_s));
  const absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_duration_s));
  const absl::Time start = absl::Now();
  const absl::Time measure_from = start + warmup;
  const absl::Time end = measure_from + duration;
  std::vector<std::thread> threads;
  {
    ProgressLine line(progress, absl::Seconds(1));
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        std::function<void(bool)> once = make_client(c);
        for (absl::Time now = absl::Now(); now < end; now = absl::Now()) once(now >= measure_from);
      });
    }
    absl::SleepFor(measure_from - absl::Now());
    if (absl::StatusOr<std::map<std::string, int64_t>> status = GlobalStatus(db); status.ok()) {
      result.db_status_before = *status;
    }
    for (std::thread& t : threads) t.join();
  }
  result.measured = std::max(absl::ZeroDuration(), absl::Now() - measure_from);
}

std::string ProgressText(const PhaseResult& result, absl::Mutex& mu, absl::Time started) {
  absl::MutexLock lock(&mu);
  const OpStats* primary = result.Find(result.primary);
  const int64_t done = primary == nullptr ? 0 : primary->count();
  const int64_t ok = primary == nullptr ? 0 : primary->ok_count();
  return absl::StrFormat("[%s] %5.0fs  %s: %d measured, %d ok, p50 %s", result.name,
                         absl::ToDoubleSeconds(absl::Now() - started), result.primary, done, ok,
                         primary == nullptr ? "-" : FormatLatency(primary->Percentile(50)));
}

int64_t TotalUnits(db::ConnectionPool& pool) {
  absl::StatusOr<std::vector<std::pair<int, int64_t>>> counts = CountUnitsByStatus(pool);
  if (!counts.ok()) return -1;
  int64_t total = 0;
  for (const auto& [status, n] : *counts) total += n;
  return total;
}

// Options shared by every phase.
struct Run {
  Region* region;
  InvariantTarget invariants;
  std::unique_ptr<RssSampler> rss;
  std::vector<std::unique_ptr<PhaseResult>> phases;
  bool failed = false;
};

void FinishPhase(Run& run, PhaseResult& result) {
  if (run.rss) result.rss_peak_kib = run.rss->PeakKib();
  if (absl::StatusOr<std::map<std::string, int64_t>> after =
          GlobalStatus(*run.region->inventory_db);
      after.ok()) {
    for (const auto& [name, value] : *after) {
      auto before = result.db_status_before.find(name);
      if (before != result.db_status_before.end()) result.db_delta[name] = value - before->second;
    }
  }
  result.units_after = TotalUnits(*run.region->inventory_db);
  if (absl::GetFlag(FLAGS_check_invariants)) {
    absl::StatusOr<InvariantReport> report = CheckInvariants(run.invariants);
    if (report.ok()) {
      result.invariants = *report;
      if (!report->ok()) run.failed = true;
    } else {
      result.invariant_error = std::string(report.status().message());
      run.failed = true;
    }
  }
  if (result.units_before >= 0 && result.units_after >= 0 &&
      result.units_after < result.units_before) {
    run.failed = true;  // units never vanish: every bag stays in the table in some status
  }
}

PhaseResult& StartPhase(Run& run, const std::string& name, const std::string& primary) {
  run.phases.push_back(std::make_unique<PhaseResult>());
  PhaseResult& result = *run.phases.back();
  result.name = name;
  result.primary = primary;
  result.units_before = TotalUnits(*run.region->inventory_db);
  if (run.rss) run.rss->Reset();
  std::fprintf(stderr, "phase %s: %d clients, %ds warm-up + %ds\n", name.c_str(),
               absl::GetFlag(FLAGS_clients), absl::GetFlag(FLAGS_warmup_s),
               absl::GetFlag(FLAGS_duration_s));
  return result;
}

void PlaceOrderPhase(Run& run, const std::string& name, bool direct) {
  PhaseResult& result = StartPhase(run, name, "place-order");
  absl::Mutex mu;
  const absl::Time started = absl::Now();
  std::vector<std::unique_ptr<OrderClient>> clients;
  for (int c = 0; c < absl::GetFlag(FLAGS_clients); ++c) {
    clients.push_back(std::make_unique<OrderClient>(*run.region, c, direct, result, mu));
  }
  RunClients(
      absl::GetFlag(FLAGS_clients), result, *run.region->inventory_db,
      [&](int c) {
        return [client = clients[c].get()](bool measure) { client->RunOnce(measure); };
      },
      [&] { return ProgressText(result, mu, started); });
  FinishPhase(run, result);
}

void BaselinePhase(Run& run) {
  PhaseResult& result = StartPhase(run, "raw-db", "raw-reserve");
  absl::Mutex mu;
  const absl::Time started = absl::Now();
  Region& region = *run.region;
  RunClients(
      absl::GetFlag(FLAGS_clients), result, *run.region->inventory_db,
      [&](int c) -> std::function<void(bool)> {
        auto reserver = std::make_shared<RawReserver>(region.inventory_db.get(),
                                                      NextRequestId(absl::StrCat("bench-raw-", c)));
        auto rng = std::make_shared<std::mt19937_64>(absl::GetFlag(FLAGS_seed) * 104729 + c);
        auto mix = std::make_shared<OrderMix>(region.mix);
        const std::string station = region.serving_station.at(
            region.tokens.hospitals[c % region.tokens.hospitals.size()].first);
        return [&, reserver, rng, mix, station](bool measure) {
          const OrderShape shape = NextShape(*mix, region, *rng);
          const absl::Time start = absl::Now();
          absl::StatusOr<RawReserver::Result> reserved =
              reserver->Reserve(station, shape.component, shape.type, shape.quantity);
          const absl::Duration latency = absl::Now() - start;
          const std::string code =
              reserved.ok() ? "OK"
                            : std::string(absl::StatusCodeToString(reserved.status().code()));
          OpStats* reserve_stats;
          OpStats* release_stats;
          {
            absl::MutexLock lock(&mu);
            reserve_stats = &result.Op("raw-reserve");
            release_stats = &result.Op("raw-release");
          }
          if (measure) reserve_stats->Record(latency, code);
          if (!reserved.ok()) return;
          const absl::Time release_start = absl::Now();
          absl::Status released = reserver->Release(reserver->last_key(), reserved->unit_ids);
          if (measure) {
            release_stats->Record(
                absl::Now() - release_start,
                released.ok() ? "OK" : std::string(absl::StatusCodeToString(released.code())));
          }
        };
      },
      [&] { return ProgressText(result, mu, started); });
  FinishPhase(run, result);
}

// National id (GB 11643) with a valid check digit, unique per `n`.
std::string NationalId(int64_t n) {
  const absl::CivilDay birth = absl::CivilDay(1972, 1, 1) + (n / 1000) % 9000;
  return WithChineseIdCheckCharacter(absl::StrFormat("110105%04d%02d%02d%03d", birth.year(),
                                                     birth.month(), birth.day(), n % 1000));
}

// One client of the mixed scenario (through the gateway).
class MixedClient {
 public:
  MixedClient(Region& region, int index, PhaseResult& result, absl::Mutex& mu, int64_t id_base)
      : region_(region),
        orders_(region, index, false, result, mu),
        hospital_(region.tokens.hospitals[index % region.tokens.hospitals.size()]),
        rng_(absl::GetFlag(FLAGS_seed) * 15485863 + static_cast<uint64_t>(index)),
        mix_(region.mix),
        result_(result),
        mu_(mu),
        id_base_(id_base) {}

  // Ratio per 100 operations: 55 orders, 15 availability, 5 stock summaries, 10 donations,
  // 10 test results with processing, 5 transfers.
  void RunOnce(bool measure) {
    const int pick = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (pick < 55) return orders_.RunOnce(measure);
    if (pick < 70) return Availability(measure);
    if (pick < 75) return StockSummary(measure);
    if (pick < 85) return Donation(measure);
    if (pick < 95) return TestAndProcess(measure);
    return Transfer(measure);
  }

 private:
  void Record(const std::string& op, absl::Time start, const grpc::Status& status, bool measure) {
    if (!measure) return;
    OpStats* stats;
    {
      absl::MutexLock lock(&mu_);
      stats = &result_.Op(op);
    }
    stats->Record(absl::Now() - start, CodeName(status.error_code()));
  }

  void Availability(bool measure) {
    v1::GetAvailabilityRequest request;
    v1::GetAvailabilityResponse reply;
    const absl::Time start = absl::Now();
    grpc::Status status = region_.hospital_api->GetAvailability(
        Context(region_, hospital_.second).get(), request, &reply);
    Record("availability", start, status, measure);
  }

  void StockSummary(bool measure) {
    v1::GetStockSummaryRequest request;
    request.set_station_id(region_.serving_station.at(hospital_.first));
    v1::GetStockSummaryResponse reply;
    const absl::Time start = absl::Now();
    grpc::Status status = region_.admin_api->GetStockSummary(
        Context(region_, region_.tokens.admin).get(), request, &reply);
    Record("stock-summary", start, status, measure);
  }

  void Donation(bool measure) {
    const int64_t n = id_base_ + (++donations_);
    const BloodType type = region_.mix[mix_.type(rng_)].type;
    v1::RegisterDonorRequest donor_request;
    donor_request.set_request_id(NextRequestId("bench-donor"));
    v1::Donor& donor = *donor_request.mutable_donor();
    donor.set_national_id(NationalId(n));
    donor.set_name("Bench Donor");
    donor.set_sex(v1::SEX_MALE);
    donor.set_birth_date(donor.national_id().substr(6, 4) + "-" +
                         donor.national_id().substr(10, 2) + "-" +
                         donor.national_id().substr(12, 2));
    *donor.mutable_blood_type() = type.ToProto();
    donor.mutable_contact()->set_phone("13800138000");
    const std::string station = region_.serving_station.at(hospital_.first);
    donor.set_home_station_id(station);
    v1::Donor created;
    absl::Time start = absl::Now();
    grpc::Status status = region_.admin_api->RegisterDonor(
        Context(region_, region_.tokens.admin).get(), donor_request, &created);
    Record("register-donor", start, status, measure);
    if (!status.ok()) return;

    absl::StatusOr<Din> din = Din::Create(absl::StrFormat("ZC0%02d", (n / 1'000'000) % 100), 26,
                                          static_cast<int>(n % 1'000'000));
    if (!din.ok()) return;
    v1::RecordDonationRequest request;
    request.set_request_id(NextRequestId("bench-donation"));
    request.set_donor_id(created.donor_id());
    request.set_din(din->ToString());
    request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
    request.set_volume_ml(400);
    request.set_station_id(station);
    *request.mutable_collected_at() = ToProto(absl::Now() - absl::Minutes(30));
    v1::DonorScreening& screening = *request.mutable_screening();
    screening.set_weight_kg(72);
    screening.set_hemoglobin_g_l(145);
    screening.set_systolic_mmhg(118);
    screening.set_diastolic_mmhg(76);
    screening.set_pulse_bpm(72);
    v1::AdminRecordDonationResponse reply;
    start = absl::Now();
    status = region_.admin_api->RecordDonation(Context(region_, region_.tokens.admin).get(),
                                               request, &reply);
    Record("record-donation", start, status, measure);
    if (status.ok()) pending_.emplace_back(din->ToString(), type);
  }

  void TestAndProcess(bool measure) {
    if (pending_.empty()) return Donation(measure);
    const auto [din, type] = pending_.back();
    pending_.pop_back();
    v1::RecordTestResultsRequest request;
    request.set_request_id(NextRequestId("bench-tests"));
    request.set_din(din);
    for (v1::ScreeningTest test :
         {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
          v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_SYPHILIS}) {
      v1::TestResultInput& result = *request.add_results();
      result.set_test(test);
      result.set_reactive(false);
    }
    v1::TestResultInput& typing = *request.add_results();
    typing.set_test(v1::SCREENING_TEST_ABO_RHD);
    *typing.mutable_blood_type() = type.ToProto();
    v1::AdminRecordTestResultsResponse reply;
    absl::Time start = absl::Now();
    grpc::Status status = region_.admin_api->RecordTestResults(
        Context(region_, region_.tokens.admin).get(), request, &reply);
    Record("record-test-results", start, status, measure);
    if (!status.ok()) return;
    v1::ProcessDonationRequest process;
    process.set_request_id(NextRequestId("bench-process"));
    process.set_din(din);
    process.add_components()->set_component(v1::COMPONENT_RED_CELLS);
    v1::ComponentSpec& plasma = *process.add_components();
    plasma.set_component(v1::COMPONENT_PLASMA);
    plasma.set_volume_ml(200);
    v1::ProcessDonationResponse processed;
    start = absl::Now();
    status = region_.admin_api->ProcessDonation(Context(region_, region_.tokens.admin).get(),
                                                process, &processed);
    Record("process-donation", start, status, measure);
  }

  void Transfer(bool measure) {
    const std::string from = region_.serving_station.at(hospital_.first);
    const std::string to =
        region_.stations[(std::find(region_.stations.begin(), region_.stations.end(), from) -
                          region_.stations.begin() + 1) %
                         region_.stations.size()];
    if (from == to) return;
    v1::CreateTransferRequest request;
    request.set_request_id(NextRequestId("bench-transfer"));
    request.set_from_station_id(from);
    request.set_to_station_id(to);
    request.set_reason("benchmark rebalancing");
    v1::TransferLot& lot = *request.add_items()->mutable_lot();
    lot.set_component(v1::COMPONENT_RED_CELLS);
    *lot.mutable_blood_type() = region_.mix[mix_.type(rng_)].type.ToProto();
    lot.set_quantity(2);
    v1::Transfer transfer;
    absl::Time start = absl::Now();
    grpc::Status status = region_.dispatch_api->CreateTransfer(
        Context(region_, region_.tokens.dispatcher).get(), request, &transfer);
    Record("create-transfer", start, status, measure);
    if (!status.ok()) return;
    v1::ReceiveTransferRequest receive;
    receive.set_request_id(NextRequestId("bench-receive"));
    receive.set_transfer_id(transfer.transfer_id());
    v1::Transfer received;
    start = absl::Now();
    status = region_.dispatch_api->ReceiveTransfer(
        Context(region_, region_.tokens.dispatcher).get(), receive, &received);
    Record("receive-transfer", start, status, measure);
  }

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

void MixedPhase(Run& run) {
  PhaseResult& result = StartPhase(run, "mixed", "place-order");
  absl::Mutex mu;
  const absl::Time started = absl::Now();
  // Donor national ids and DINs come from numbers below 9 million (NationalId's range): five
  // disjoint blocks chosen by the clock, so runs against one database rarely meet, each block
  // split evenly between the clients.
  const int64_t id_base = (absl::ToUnixSeconds(absl::Now()) / 10 % 5) * 1'700'000;
  const int64_t stride = 1'700'000 / absl::GetFlag(FLAGS_clients);
  std::vector<std::unique_ptr<MixedClient>> clients;
  for (int c = 0; c < absl::GetFlag(FLAGS_clients); ++c) {
    clients.push_back(
        std::make_unique<MixedClient>(*run.region, c, result, mu, id_base + c * stride));
  }
  RunClients(
      absl::GetFlag(FLAGS_clients), result, *run.region->inventory_db,
      [&](int c) {
        return [client = clients[c].get()](bool measure) { client->RunOnce(measure); };
      },
      [&] { return ProgressText(result, mu, started); });
  FinishPhase(run, result);
}

// --- Reporting ---------------------------------------------------------------------------

std::string Kib(int64_t kib) { return absl::StrFormat("%.1f MB", static_cast<double>(kib) / 1024); }

void PrintPhase(const PhaseResult& phase) {
  std::printf("\n== %s (%.1f s measured)\n", phase.name.c_str(),
              absl::ToDoubleSeconds(phase.measured));
  std::printf("  %-20s %9s %9s %10s %10s %10s %10s  %s\n", "operation", "calls", "ok/s", "p50",
              "p95", "p99", "max", "outcomes");
  for (const auto& [op, stats] : phase.ops) {
    std::vector<std::string> codes;
    for (const auto& [code, n] : stats->codes()) codes.push_back(absl::StrCat(code, " ", n));
    std::printf("  %-20s %9lld %9.1f %10s %10s %10s %10s  %s\n", op.c_str(),
                static_cast<long long>(stats->count()), phase.Throughput(op),
                FormatLatency(stats->Percentile(50)).c_str(),
                FormatLatency(stats->Percentile(95)).c_str(),
                FormatLatency(stats->Percentile(99)).c_str(), FormatLatency(stats->Max()).c_str(),
                absl::StrJoin(codes, ", ").c_str());
  }
  if (!phase.order_statuses.empty()) {
    std::vector<std::string> statuses;
    for (const auto& [s, n] : phase.order_statuses) statuses.push_back(absl::StrCat(s, " ", n));
    std::printf("  orders placed: %s\n", absl::StrJoin(statuses, ", ").c_str());
  }
  if (!phase.rss_peak_kib.empty()) {
    std::vector<std::string> rss;
    for (const auto& [name, kib] : phase.rss_peak_kib)
      rss.push_back(absl::StrCat(name, " ", Kib(kib)));
    std::printf("  peak RSS: %s\n", absl::StrJoin(rss, ", ").c_str());
  }
  if (const OpStats* primary = phase.Find(phase.primary);
      primary != nullptr && primary->count() > 0 && !phase.db_delta.empty()) {
    // Counted over the measured period: each call's clean-up (cancel, dispatch, release)
    // included.
    std::vector<std::string> per_call;
    for (const auto& [name, delta] : phase.db_delta) {
      per_call.push_back(absl::StrFormat(
          "%s %.1f", name, static_cast<double>(delta) / static_cast<double>(primary->count())));
    }
    std::printf("  database per %s with its clean-up: %s\n", phase.primary.c_str(),
                absl::StrJoin(per_call, ", ").c_str());
  }
  std::printf("  units in inventory: %lld before, %lld after\n",
              static_cast<long long>(phase.units_before),
              static_cast<long long>(phase.units_after));
  if (phase.invariants.has_value()) {
    std::printf("  invariants: %s (%zu rules)\n", phase.invariants->ok() ? "hold" : "VIOLATED",
                phase.invariants->rules.size());
    if (!phase.invariants->ok()) std::printf("%s\n", phase.invariants->Summary().c_str());
  } else if (!phase.invariant_error.empty()) {
    std::printf("  invariants: could not be checked: %s\n", phase.invariant_error.c_str());
  }
}

const PhaseResult* FindPhase(const Run& run, const std::string& name) {
  for (const auto& phase : run.phases) {
    if (phase->name == name) return phase.get();
  }
  return nullptr;
}

struct Ratio {
  std::string name;
  double value;
  std::string target;
  bool met;
};

std::vector<Ratio> Ratios(const Run& run) {
  std::vector<Ratio> ratios;
  const PhaseResult* raw = FindPhase(run, "raw-db");
  const PhaseResult* direct = FindPhase(run, "direct");
  const PhaseResult* gateway = FindPhase(run, "gateway");
  auto p = [](const PhaseResult* phase, double q) {
    const OpStats* stats = phase->Find(phase->primary);
    return stats == nullptr ? 0.0 : absl::ToDoubleMicroseconds(stats->Percentile(q));
  };
  if (raw != nullptr && gateway != nullptr && raw->Throughput("raw-reserve") > 0) {
    const double t = gateway->Throughput("place-order") / raw->Throughput("raw-reserve");
    ratios.push_back({"gateway/raw-DB throughput", t, ">= 0.5", t >= 0.5});
    if (p(raw, 99) > 0) {
      const double r = p(gateway, 99) / p(raw, 99);
      ratios.push_back({"gateway/raw-DB p99", r, "<= 3.0", r <= 3.0});
    }
  }
  if (direct != nullptr && gateway != nullptr && p(direct, 50) > 0) {
    const double r = p(gateway, 50) / p(direct, 50);
    ratios.push_back({"gateway/direct p50", r, "<= 1.15", r <= 1.15});
  }
  const PhaseResult* small = nullptr;
  const PhaseResult* large = nullptr;
  for (const auto& phase : run.phases) {
    if (absl::StartsWith(phase->name, "scale-")) (small == nullptr ? small : large) = phase.get();
  }
  if (small != nullptr && large != nullptr && p(small, 50) > 0) {
    const double r = p(large, 50) / p(small, 50);
    ratios.push_back(
        {absl::StrCat(large->name, "/", small->name, " allocation p50"), r, "<= 1.5", r <= 1.5});
  }
  for (const auto& phase : run.phases) {
    for (const auto& [name, kib] : phase->rss_peak_kib) {
      if (name == "mariadb") continue;  // the database is not a BloodGrid service
      ratios.push_back({absl::StrCat(phase->name, " peak RSS ", name, " (MB)"),
                        static_cast<double>(kib) / 1024.0, "<= 256", kib <= 256 * 1024});
    }
  }
  return ratios;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out;
}

std::string ToJson(const Run& run, const std::vector<Ratio>& ratios) {
  std::string out = "{\n  \"phases\": [";
  for (size_t i = 0; i < run.phases.size(); ++i) {
    const PhaseResult& phase = *run.phases[i];
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "    {\"name\": \"", phase.name,
                    "\", \"measured_s\": ", absl::ToDoubleSeconds(phase.measured),
                    ", \"units_before\": ", phase.units_before,
                    ", \"units_after\": ", phase.units_after, ", \"ops\": {");
    bool first = true;
    for (const auto& [op, stats] : phase.ops) {
      absl::StrAppend(&out, first ? "" : ", ", "\"", op, "\": {\"calls\": ", stats->count(),
                      ", \"ok_per_s\": ", phase.Throughput(op),
                      ", \"p50_us\": ", absl::ToInt64Microseconds(stats->Percentile(50)),
                      ", \"p95_us\": ", absl::ToInt64Microseconds(stats->Percentile(95)),
                      ", \"p99_us\": ", absl::ToInt64Microseconds(stats->Percentile(99)),
                      ", \"max_us\": ", absl::ToInt64Microseconds(stats->Max()), ", \"codes\": {");
      bool first_code = true;
      for (const auto& [code, n] : stats->codes()) {
        absl::StrAppend(&out, first_code ? "" : ", ", "\"", code, "\": ", n);
        first_code = false;
      }
      absl::StrAppend(&out, "}}");
      first = false;
    }
    absl::StrAppend(&out, "}, \"rss_peak_kib\": {");
    first = true;
    for (const auto& [name, kib] : phase.rss_peak_kib) {
      absl::StrAppend(&out, first ? "" : ", ", "\"", name, "\": ", kib);
      first = false;
    }
    absl::StrAppend(&out, "}, \"invariants_ok\": ",
                    phase.invariants.has_value() && phase.invariants->ok() ? "true" : "false",
                    ", \"violations\": [");
    if (phase.invariants.has_value()) {
      for (size_t v = 0; v < phase.invariants->violations.size(); ++v) {
        absl::StrAppend(&out, v == 0 ? "" : ", ", "\"", JsonEscape(phase.invariants->violations[v]),
                        "\"");
      }
    }
    absl::StrAppend(&out, "]}");
  }
  absl::StrAppend(&out, "\n  ],\n  \"ratios\": [");
  for (size_t i = 0; i < ratios.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "    {\"name\": \"", JsonEscape(ratios[i].name),
                    "\", \"value\": ", ratios[i].value, ", \"target\": \"", ratios[i].target,
                    "\", \"met\": ", ratios[i].met ? "true" : "false", "}");
  }
  absl::StrAppend(&out, "\n  ],\n  \"failed\": ", run.failed ? "true" : "false", "\n}\n");
  return out;
}

absl::StatusOr<std::map<std::string, pid_t>> ParsePids(const std::string& text) {
  std::map<std::string, pid_t> pids;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> parts = absl::StrSplit(entry, ':');
    int pid = 0;
    if (parts.first.empty() || !absl::SimpleAtoi(parts.second, &pid) || pid <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("--pids entry '", entry, "': want name:pid"));
    }
    pids[parts.first] = pid;
  }
  return pids;
}

absl::StatusOr<std::string> ReadPassword(const std::string& path) {
  if (path.empty()) {
    const char* env = std::getenv("BLOODGRID_DB_PASSWORD");
    return env == nullptr ? std::string() : std::string(env);
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--db_password_file '", path, "' unreadable"));
  std::string password;
  std::getline(in, password);
  return std::string(absl::StripAsciiWhitespace(password));
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "bloodgrid_bench: %s\n", status.ToString().c_str());
  return 2;
}

int Main() {
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  const bool known = scenario == "compare" || scenario == "place-order" || scenario == "mixed" ||
                     scenario == "baseline" || scenario == "scale";
  if (!known) return Fail(absl::InvalidArgumentError("--scenario: unknown scenario"));
  if (absl::GetFlag(FLAGS_clients) < 1 || absl::GetFlag(FLAGS_clients) > 512) {
    return Fail(absl::InvalidArgumentError("--clients: 1..512"));
  }
  if (absl::GetFlag(FLAGS_duration_s) < 1) {
    return Fail(absl::InvalidArgumentError("--duration_s: at least 1"));
  }
  if (absl::GetFlag(FLAGS_stations) < 1 || absl::GetFlag(FLAGS_stations) > 99) {
    return Fail(absl::InvalidArgumentError("--stations: 1..99"));
  }
  const bool needs_direct = scenario == "compare" || scenario == "scale" ||
                            (scenario == "place-order" && absl::GetFlag(FLAGS_direct));
  if (needs_direct && absl::GetFlag(FLAGS_request).empty()) {
    return Fail(absl::InvalidArgumentError("--request: needed for this scenario"));
  }

  Region region;
  region.call_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_call_timeout_ms));
  absl::StatusOr<Tokens> tokens = ReadTokensFile(absl::GetFlag(FLAGS_tokens_file));
  if (!tokens.ok()) return Fail(tokens.status());
  region.tokens = *tokens;
  absl::StatusOr<std::vector<TypeShare>> mix = ParseTypeMix(absl::GetFlag(FLAGS_type_mix));
  if (!mix.ok()) return Fail(mix.status());
  region.mix = *mix;
  absl::StatusOr<v1::PolicyProfile> policy = LoadPolicyFile(absl::GetFlag(FLAGS_policy_file));
  if (!policy.ok()) return Fail(policy.status());
  region.policy = &*policy;
  absl::StatusOr<std::string> password = ReadPassword(absl::GetFlag(FLAGS_db_password_file));
  if (!password.ok()) return Fail(password.status());

  db::DbOptions options;
  options.host = absl::GetFlag(FLAGS_db_host);
  options.port = absl::GetFlag(FLAGS_db_port);
  options.user = absl::GetFlag(FLAGS_db_user);
  options.password = *password;
  options.schema = absl::GetFlag(FLAGS_inventory_schema);
  options.pool_size = absl::GetFlag(FLAGS_clients) + 2;
  options.read_timeout = absl::Minutes(5);
  options.write_timeout = absl::Minutes(5);
  region.inventory_db = db::ConnectionPool::Create(options);
  if (absl::Status ping = region.inventory_db->Ping(absl::Now() + absl::Seconds(10)); !ping.ok()) {
    return Fail(ping);
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  region.gateway = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_gateway),
                                             grpc::InsecureChannelCredentials(), args);
  region.hospital_api = v1::HospitalApi::NewStub(region.gateway);
  region.admin_api = v1::AdminApi::NewStub(region.gateway);
  region.dispatch_api = v1::DispatchApi::NewStub(region.gateway);
  if (!absl::GetFlag(FLAGS_request).empty()) {
    region.request = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_request),
                                               grpc::InsecureChannelCredentials(), args);
    region.request_service = v1::RequestService::NewStub(region.request);
  }

  if (absl::Status status = WaitServing(region.gateway, absl::Seconds(90)); !status.ok()) {
    return Fail(status);
  }
  if (absl::Status status = SetUpRegion(region, absl::GetFlag(FLAGS_stations)); !status.ok()) {
    return Fail(status);
  }

  SeedPlan plan;
  plan.station_ids = region.stations;
  plan.mix = region.mix;
  plan.policy = region.policy;
  plan.seed = absl::GetFlag(FLAGS_seed);
  auto seed_to = [&](int64_t target) -> absl::Status {
    const absl::Time start = absl::Now();
    int64_t last = 0;
    absl::StatusOr<int64_t> added = SeedUnits(*region.inventory_db, plan, target, [&](int64_t n) {
      last = n;
      if (n % 50000 == 0)
        std::fprintf(stderr, "seeding: %lld units added\n", static_cast<long long>(n));
    });
    if (!added.ok()) return added.status();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("seeded %lld units (target %lld) in %.1f s (%.0f units/s)\n",
                static_cast<long long>(*added), static_cast<long long>(target), seconds,
                seconds > 0 ? static_cast<double>(*added) / seconds : 0.0);
    (void)last;
    return absl::OkStatus();
  };
  if (absl::Status status = seed_to(absl::GetFlag(FLAGS_units)); !status.ok()) return Fail(status);

  Run run;
  run.region = &region;
  run.invariants.host = options.host;
  run.invariants.port = options.port;
  run.invariants.user = options.user;
  run.invariants.password = options.password;
  run.invariants.inventory_schema = absl::GetFlag(FLAGS_inventory_schema);
  run.invariants.request_schema = absl::GetFlag(FLAGS_request_schema);
  run.invariants.donor_schema = absl::GetFlag(FLAGS_donor_schema);
  run.invariants.orphan_grace = absl::Seconds(absl::GetFlag(FLAGS_orphan_grace_s));
  absl::StatusOr<std::map<std::string, pid_t>> pids = ParsePids(absl::GetFlag(FLAGS_pids));
  if (!pids.ok()) return Fail(pids.status());
  if (!pids->empty()) run.rss = std::make_unique<RssSampler>(*pids, absl::Milliseconds(250));

  if (scenario == "compare") {
    BaselinePhase(run);
    PlaceOrderPhase(run, "direct", true);
    PlaceOrderPhase(run, "gateway", false);
  } else if (scenario == "place-order") {
    PlaceOrderPhase(run, absl::GetFlag(FLAGS_direct) ? "direct" : "gateway",
                    absl::GetFlag(FLAGS_direct));
  } else if (scenario == "baseline") {
    BaselinePhase(run);
  } else if (scenario == "mixed") {
    MixedPhase(run);
  } else {
    PlaceOrderPhase(run, absl::StrCat("scale-", absl::GetFlag(FLAGS_units)), true);
    if (absl::Status status = seed_to(absl::GetFlag(FLAGS_scale_units)); !status.ok()) {
      return Fail(status);
    }
    PlaceOrderPhase(run, absl::StrCat("scale-", absl::GetFlag(FLAGS_scale_units)), true);
  }

  for (const auto& phase : run.phases) PrintPhase(*phase);
  const std::vector<Ratio> ratios = Ratios(run);
  if (!ratios.empty()) {
    std::printf("\n== targets\n");
    for (const Ratio& ratio : ratios) {
      std::printf("  %-44s %8.2f   target %-8s %s\n", ratio.name.c_str(), ratio.value,
                  ratio.target.c_str(), ratio.met ? "met" : "MISSED");
    }
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    const std::string json = ToJson(run, ratios);
    if (json_path == "-") {
      std::fputs(json.c_str(), stdout);
    } else {
      std::ofstream(json_path) << json;
    }
  }
  if (run.failed) {
    std::printf("\nFAILED: an invariant was violated or units went missing (see above)\n");
    return 1;
  }
  std::printf("\nall invariants held\n");
  return 0;
}

}  // namespace
}  // namespace bloodgrid::bench

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "bench/bench_main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "Measures a running BloodGrid region: throughput and latency percentiles of hospital "
      "orders through the gateway, directly to request_service and as the raw database "
      "transaction, allocation latency as stock grows, memory of the services; audits the "
      "databases after every phase.\n"
      "Usually started by scripts/bench, which runs a region of its own.\n"
      "Example: bloodgrid_bench --scenario compare --clients 16 --duration_s 20 "
      "--tokens_file tokens --db_user admin --db_password_file pw --request 127.0.0.1:50053");
  absl::ParseCommandLine(argc, argv);
  return bloodgrid::bench::Main();
}
