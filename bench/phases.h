// The phases of a bloodgrid_bench run and the scenarios made of them. A phase runs
// BenchOptions::clients threads for a warm-up and a measured period, then records the units in
// stock, the database's counters, peak RSS and (with check_invariants) the invariant audit of
// bench/invariants.h; a violation, or units that vanished, marks the run failed.
#ifndef BLOODGRID_BENCH_PHASES_H_
#define BLOODGRID_BENCH_PHASES_H_

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_options.h"
#include "bench/bench_support.h"
#include "bench/invariants.h"
#include "bench/workload.h"

namespace bloodgrid::bench {

// A run: what every phase shares, and the phases measured so far.
struct Run {
  Region* region;
  InvariantTarget invariants;
  std::unique_ptr<RssSampler> rss;
  std::vector<std::unique_ptr<PhaseResult>> phases;
  bool failed = false;
};

// Hospitals placing orders, through the gateway or (`direct`) to request_service.
void PlaceOrderPhase(Run& run, const std::string& name, bool direct);
// The raw reservation transaction on the inventory database, and its release ("raw-db").
void BaselinePhase(Run& run);
// Orders, availability and stock queries, donations, test results with processing, and
// transfers, through the gateway ("mixed").
void MixedPhase(Run& run);

// The whole run: checks the options, connects, sets up the stations and hospitals, seeds stock,
// runs the scenario's phases and prints the report (and JSON with options.json). Returns the
// exit code: 0 when every invariant held, 1 when one was violated or units went missing, 2 on
// bad options or a failed set-up (the reason on stderr).
int RunBenchmark(const BenchOptions& options);

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_PHASES_H_
