// bloodgrid_rebalance_sim: compares no balancing, a threshold rule and the rebalance planner on
// a simulated region (bench/rebalance_simulation.h). Results go to stdout; the seed is printed
// so a run can be repeated exactly.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "bench/rebalance_simulation.h"
#include "common/policy.h"

ABSL_FLAG(int, stations, 7, "stations in the region, 5..10 (the first is the central one)");
ABSL_FLAG(int, days, 60, "simulated days, 30..90");
ABSL_FLAG(uint64_t, seed, 1, "random seed (collections, requests, the region's layout)");
ABSL_FLAG(std::string, policy_file, "config/policies/cn-gb18467-2011.textproto",
          "policy profile (text format) giving the shelf lives");
ABSL_FLAG(bool, json, false, "print one JSON object instead of tables");
ABSL_FLAG(int, horizon_hours, 48, "planner horizon for shortages, hours (1..336)");
ABSL_FLAG(int, lookahead_hours, 120,
          "horizon of the planner's inputs and of its outdate projection, hours (>= horizon)");
ABSL_FLAG(double, min_days_of_cover, -1.0,
          "planner: days of cover to keep, every component (default: each component's par days)");
ABSL_FLAG(double, cover_safety_factor, 1.0,
          "planner: safety stock on top of the cover, in standard deviations of its demand");
ABSL_FLAG(int, solver_nodes, 50, "planner: branch-and-bound nodes per solve");
ABSL_FLAG(int, safety_margin_hours, 12,
          "units expiring before arrival + this margin never move (all strategies)");

int main(int argc, char** argv) {
  // --help lists the flags of this file (the binary's name differs from the file's).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "bench/rebalance_sim.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "Simulates a region of blood stations and compares no balancing, a threshold rule and "
      "the rebalance planner on the same random streams.\n"
      "Example: bloodgrid_rebalance_sim --stations 7 --days 60 --seed 3");
  absl::ParseCommandLine(argc, argv);

  absl::StatusOr<bloodgrid::v1::PolicyProfile> policy =
      bloodgrid::LoadPolicyFile(absl::GetFlag(FLAGS_policy_file));
  if (!policy.ok()) {
    std::fprintf(stderr, "--policy_file: %s\n", std::string(policy.status().message()).c_str());
    return 2;
  }
  bloodgrid::bench::SimulationOptions options;
  options.stations = absl::GetFlag(FLAGS_stations);
  options.days = absl::GetFlag(FLAGS_days);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.horizon_hours = absl::GetFlag(FLAGS_horizon_hours);
  options.lookahead_hours = absl::GetFlag(FLAGS_lookahead_hours);
  options.planner.expiry_safety_margin = absl::Hours(absl::GetFlag(FLAGS_safety_margin_hours));
  options.planner.cover_safety_factor = absl::GetFlag(FLAGS_cover_safety_factor);
  options.planner.max_solver_nodes = absl::GetFlag(FLAGS_solver_nodes);
  const double cover = absl::GetFlag(FLAGS_min_days_of_cover);
  if (cover >= 0.0) {
    for (bloodgrid::v1::Component c :
         {bloodgrid::v1::COMPONENT_RED_CELLS, bloodgrid::v1::COMPONENT_PLATELETS,
          bloodgrid::v1::COMPONENT_PLASMA}) {
      options.planner.min_days_of_cover_by_component[c] = cover;
    }
  }
  absl::StatusOr<bloodgrid::bench::SimulationResult> result =
      bloodgrid::bench::RunRebalanceSimulation(options, *policy);
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", std::string(result.status().message()).c_str());
    return result.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  const std::string text = absl::GetFlag(FLAGS_json) ? bloodgrid::bench::FormatJson(*result)
                                                     : bloodgrid::bench::FormatTable(*result);
  std::fputs(text.c_str(), stdout);
  return 0;
}
