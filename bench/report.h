// What bloodgrid_bench prints after a run: a table per phase, the ratios against their targets
// (docs/performance.md), and the same as JSON.
#ifndef BLOODGRID_BENCH_REPORT_H_
#define BLOODGRID_BENCH_REPORT_H_

#include <string>
#include <vector>

#include "bench/phases.h"
#include "bench/workload.h"

namespace bloodgrid::bench {

// Prints the phase's operations (calls, ok/s, latency percentiles, outcomes), order statuses,
// peak RSS, database work per call, units and the invariant audit to stdout.
void PrintPhase(const PhaseResult& phase);

// One headline figure of a run against its target.
struct Ratio {
  std::string name;
  double value;
  std::string target;
  bool met;
};

// The run's headline ratios (gateway vs raw DB and vs direct, allocation latency at scale, peak
// RSS per service), each with its target and whether it was met.
std::vector<Ratio> Ratios(const Run& run);
// Prints the ratios against their targets to stdout (nothing when there is none).
void PrintTargets(const std::vector<Ratio>& ratios);
// The phases, the ratios and whether the run failed, as a JSON document.
std::string ToJson(const Run& run, const std::vector<Ratio>& ratios);

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_REPORT_H_
