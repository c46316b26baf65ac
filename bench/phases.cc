#include "bench/phases.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/report.h"
#include "common/policy.h"

namespace bloodgrid::bench {
namespace {

// Runs `clients` threads calling `once(client, measure)` until warm-up plus duration have
// passed; only calls started after the warm-up are measured.
void RunClients(const BenchOptions& options, PhaseResult& result, db::ConnectionPool& db,
                const std::function<std::function<void(bool)>(int)>& make_client,
                const std::function<std::string()>& progress) {
  const int clients = options.clients;
  const absl::Duration warmup = absl::Seconds(options.warmup_s);
  const absl::Duration duration = absl::Seconds(options.duration_s);
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
  if (run.region->options->check_invariants) {
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
               run.region->options->clients, run.region->options->warmup_s,
               run.region->options->duration_s);
  return result;
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

}  // namespace

void PlaceOrderPhase(Run& run, const std::string& name, bool direct) {
  PhaseResult& result = StartPhase(run, name, "place-order");
  absl::Mutex mu;
  const absl::Time started = absl::Now();
  std::vector<std::unique_ptr<OrderClient>> clients;
  for (int c = 0; c < run.region->options->clients; ++c) {
    clients.push_back(std::make_unique<OrderClient>(*run.region, c, direct, result, mu));
  }
  RunClients(
      *run.region->options, result, *run.region->inventory_db,
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
      *run.region->options, result, *run.region->inventory_db,
      [&](int c) -> std::function<void(bool)> {
        auto reserver = std::make_shared<RawReserver>(region.inventory_db.get(),
                                                      NextRequestId(absl::StrCat("bench-raw-", c)));
        auto rng = std::make_shared<std::mt19937_64>(region.options->seed * 104729 + c);
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

void MixedPhase(Run& run) {
  PhaseResult& result = StartPhase(run, "mixed", "place-order");
  absl::Mutex mu;
  const absl::Time started = absl::Now();
  // Donor national ids and DINs come from numbers below 9 million (NationalId's range): five
  // disjoint blocks chosen by the clock, so runs against one database rarely meet, each block
  // split evenly between the clients.
  const int64_t id_base = (absl::ToUnixSeconds(absl::Now()) / 10 % 5) * 1'700'000;
  const int64_t stride = 1'700'000 / run.region->options->clients;
  std::vector<std::unique_ptr<MixedClient>> clients;
  for (int c = 0; c < run.region->options->clients; ++c) {
    clients.push_back(
        std::make_unique<MixedClient>(*run.region, c, result, mu, id_base + c * stride));
  }
  RunClients(
      *run.region->options, result, *run.region->inventory_db,
      [&](int c) {
        return [client = clients[c].get()](bool measure) { client->RunOnce(measure); };
      },
      [&] { return ProgressText(result, mu, started); });
  FinishPhase(run, result);
}

int RunBenchmark(const BenchOptions& options) {
  const std::string scenario = options.scenario;
  const bool known = scenario == "compare" || scenario == "place-order" || scenario == "mixed" ||
                     scenario == "baseline" || scenario == "scale";
  if (!known) return Fail(absl::InvalidArgumentError("--scenario: unknown scenario"));
  if (options.clients < 1 || options.clients > 512) {
    return Fail(absl::InvalidArgumentError("--clients: 1..512"));
  }
  if (options.duration_s < 1) {
    return Fail(absl::InvalidArgumentError("--duration_s: at least 1"));
  }
  if (options.stations < 1 || options.stations > 99) {
    return Fail(absl::InvalidArgumentError("--stations: 1..99"));
  }
  const bool needs_direct =
      scenario == "compare" || scenario == "scale" || (scenario == "place-order" && options.direct);
  if (needs_direct && options.request.empty()) {
    return Fail(absl::InvalidArgumentError("--request: needed for this scenario"));
  }

  Region region;
  region.options = &options;
  region.call_timeout = absl::Milliseconds(options.call_timeout_ms);
  absl::StatusOr<Tokens> tokens = ReadTokensFile(options.tokens_file);
  if (!tokens.ok()) return Fail(tokens.status());
  region.tokens = *tokens;
  absl::StatusOr<std::vector<TypeShare>> mix = ParseTypeMix(options.type_mix);
  if (!mix.ok()) return Fail(mix.status());
  region.mix = *mix;
  absl::StatusOr<v1::PolicyProfile> policy = LoadPolicyFile(options.policy_file);
  if (!policy.ok()) return Fail(policy.status());
  region.policy = &*policy;
  absl::StatusOr<std::string> password = ReadPassword(options.db_password_file);
  if (!password.ok()) return Fail(password.status());

  db::DbOptions db_options;
  db_options.host = options.db_host;
  db_options.port = options.db_port;
  db_options.user = options.db_user;
  db_options.password = *password;
  db_options.schema = options.inventory_schema;
  db_options.pool_size = options.clients + 2;
  db_options.read_timeout = absl::Minutes(5);
  db_options.write_timeout = absl::Minutes(5);
  region.inventory_db = db::ConnectionPool::Create(db_options);
  if (absl::Status ping = region.inventory_db->Ping(absl::Now() + absl::Seconds(10)); !ping.ok()) {
    return Fail(ping);
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  region.gateway =
      grpc::CreateCustomChannel(options.gateway, grpc::InsecureChannelCredentials(), args);
  region.hospital_api = v1::HospitalApi::NewStub(region.gateway);
  region.admin_api = v1::AdminApi::NewStub(region.gateway);
  region.dispatch_api = v1::DispatchApi::NewStub(region.gateway);
  if (!options.request.empty()) {
    region.request =
        grpc::CreateCustomChannel(options.request, grpc::InsecureChannelCredentials(), args);
    region.request_service = v1::RequestService::NewStub(region.request);
  }

  if (absl::Status status = WaitServing(region.gateway, absl::Seconds(90)); !status.ok()) {
    return Fail(status);
  }
  if (absl::Status status = SetUpRegion(region, options.stations); !status.ok()) {
    return Fail(status);
  }

  SeedPlan plan;
  plan.station_ids = region.stations;
  plan.mix = region.mix;
  plan.policy = region.policy;
  plan.seed = options.seed;
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
  if (absl::Status status = seed_to(options.units); !status.ok()) return Fail(status);

  Run run;
  run.region = &region;
  run.invariants.host = db_options.host;
  run.invariants.port = db_options.port;
  run.invariants.user = db_options.user;
  run.invariants.password = db_options.password;
  run.invariants.inventory_schema = options.inventory_schema;
  run.invariants.request_schema = options.request_schema;
  run.invariants.donor_schema = options.donor_schema;
  run.invariants.orphan_grace = absl::Seconds(options.orphan_grace_s);
  absl::StatusOr<std::map<std::string, pid_t>> pids = ParsePids(options.pids);
  if (!pids.ok()) return Fail(pids.status());
  if (!pids->empty()) run.rss = std::make_unique<RssSampler>(*pids, absl::Milliseconds(250));

  if (scenario == "compare") {
    BaselinePhase(run);
    PlaceOrderPhase(run, "direct", true);
    PlaceOrderPhase(run, "gateway", false);
  } else if (scenario == "place-order") {
    PlaceOrderPhase(run, options.direct ? "direct" : "gateway", options.direct);
  } else if (scenario == "baseline") {
    BaselinePhase(run);
  } else if (scenario == "mixed") {
    MixedPhase(run);
  } else {
    PlaceOrderPhase(run, absl::StrCat("scale-", options.units), true);
    if (absl::Status status = seed_to(options.scale_units); !status.ok()) {
      return Fail(status);
    }
    PlaceOrderPhase(run, absl::StrCat("scale-", options.scale_units), true);
  }

  for (const auto& phase : run.phases) PrintPhase(*phase);
  const std::vector<Ratio> ratios = Ratios(run);
  PrintTargets(ratios);
  const std::string json_path = options.json;
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

}  // namespace bloodgrid::bench
