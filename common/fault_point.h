// Fault points: named places in the code where a test makes a process die as if its machine lost
// power, to check that a workflow cut short there still completes.
//
// The environment variable BLOODGRID_FAULT_POINTS lists the points armed in this process,
// separated by commas: `name` dies at the first hit of that point, `name@N` at its N-th hit
// (N >= 1). Surrounding spaces of an entry are ignored; spaces inside a name are part of it.
// At an armed point the process writes one ERROR log line naming the point
// (event=fault_point_hit point=<name> hit=<n>) and then SIGKILLs itself: no destructor, no
// atexit handler, no graceful drain runs. Everywhere else a fault point does nothing.
//
// The variable is read once, at the first fault point reached; a value that does not parse
// arms nothing and is logged once (event=fault_points_invalid) with the reason. The points and
// what each interrupts are listed in docs/workflows.md ("Fault points").
#ifndef BLOODGRID_COMMON_FAULT_POINT_H_
#define BLOODGRID_COMMON_FAULT_POINT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bloodgrid {

inline constexpr char kFaultPointsEnv[] = "BLOODGRID_FAULT_POINTS";

// One entry of BLOODGRID_FAULT_POINTS.
struct FaultPointSpec {
  std::string name;
  int hit = 1;  // die at this hit of the point (1 = the first)
  bool operator==(const FaultPointSpec& other) const {
    return name == other.name && hit == other.hit;
  }
};

// Parses a BLOODGRID_FAULT_POINTS value. Empty entries are skipped; an entry with an empty name,
// or an `@` not followed by a positive decimal count, is INVALID_ARGUMENT naming the entry.
absl::StatusOr<std::vector<FaultPointSpec>> ParseFaultPoints(absl::string_view value);

// True when BLOODGRID_FAULT_POINTS arms at least one point in this process. Cheap after the
// first call: callers that must build a name may test this first.
bool FaultPointsArmed();

// The fault point `name`: counts the hit and, when this hit is the armed one, logs and SIGKILLs
// the process.
void FaultPoint(absl::string_view name);
// The fault point named `prefix` + `detail` (e.g. "db.commit.before:" + the transaction's name);
// the name is only built when some point is armed.
void FaultPoint(absl::string_view prefix, absl::string_view detail);

}  // namespace bloodgrid

#define BG_FAULT_POINT(name) ::bloodgrid::FaultPoint(name)

#endif  // BLOODGRID_COMMON_FAULT_POINT_H_
