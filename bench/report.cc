#include "bench/report.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace bloodgrid::bench {
namespace {

std::string Kib(int64_t kib) { return absl::StrFormat("%.1f MB", static_cast<double>(kib) / 1024); }

const PhaseResult* FindPhase(const Run& run, const std::string& name) {
  for (const auto& phase : run.phases) {
    if (phase->name == name) return phase.get();
  }
  return nullptr;
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

}  // namespace

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

void PrintTargets(const std::vector<Ratio>& ratios) {
  if (!ratios.empty()) {
    std::printf("\n== targets\n");
    for (const Ratio& ratio : ratios) {
      std::printf("  %-44s %8.2f   target %-8s %s\n", ratio.name.c_str(), ratio.value,
                  ratio.target.c_str(), ratio.met ? "met" : "MISSED");
    }
  }
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

}  // namespace bloodgrid::bench
