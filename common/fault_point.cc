#include "common/fault_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"

namespace bloodgrid {
namespace {

struct ArmedPoint {
  FaultPointSpec spec;
  std::atomic<int> hits{0};
};

// The armed points, parsed from the environment once. Never destroyed: a fault point may be
// reached while the process is exiting.
const std::vector<std::unique_ptr<ArmedPoint>>& Armed() {
  static const auto* const armed = [] {
    auto* points = new std::vector<std::unique_ptr<ArmedPoint>>();
    const char* value = std::getenv(kFaultPointsEnv);
    if (value == nullptr || *value == '\0') return points;
    absl::StatusOr<std::vector<FaultPointSpec>> specs = ParseFaultPoints(value);
    if (!specs.ok()) {
      LogError("fault_points_invalid", {{"value", value}, {"error", specs.status().ToString()}});
      return points;
    }
    for (FaultPointSpec& spec : *specs) {
      auto point = std::make_unique<ArmedPoint>();
      point->spec = std::move(spec);
      points->push_back(std::move(point));
    }
    return points;
  }();
  return *armed;
}

void Hit(absl::string_view name) {
  for (const auto& point : Armed()) {
    if (point->spec.name != name) continue;
    const int hit = point->hits.fetch_add(1) + 1;
    if (hit != point->spec.hit) continue;
    // Log writes the whole line with one write(2) to stderr: it is out before the kill.
    LogError("fault_point_hit", {{"point", std::string(name)}, {"hit", std::to_string(hit)}});
    kill(getpid(), SIGKILL);
    // SIGKILL cannot be caught or blocked; this is never reached.
    std::abort();
  }
}

}  // namespace

absl::StatusOr<std::vector<FaultPointSpec>> ParseFaultPoints(absl::string_view value) {
  std::vector<FaultPointSpec> specs;
  for (absl::string_view entry : absl::StrSplit(value, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    FaultPointSpec spec;
    const size_t at = entry.rfind('@');
    absl::string_view name = entry.substr(0, at);
    if (at != absl::string_view::npos) {
      absl::string_view count = entry.substr(at + 1);
      const bool digits = !count.empty() && count.find_first_not_of("0123456789") == count.npos;
      if (!digits || !absl::SimpleAtoi(count, &spec.hit) || spec.hit < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(kFaultPointsEnv, ": \"", entry, "\": the hit after '@' must be >= 1"));
      }
    }
    name = absl::StripAsciiWhitespace(name);
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kFaultPointsEnv, ": \"", entry, "\": the point has no name"));
    }
    spec.name = std::string(name);
    specs.push_back(std::move(spec));
  }
  return specs;
}

bool FaultPointsArmed() { return !Armed().empty(); }

void FaultPoint(absl::string_view name) {
  if (!FaultPointsArmed()) return;
  Hit(name);
}

void FaultPoint(absl::string_view prefix, absl::string_view detail) {
  if (!FaultPointsArmed()) return;
  Hit(absl::StrCat(prefix, detail));
}

}  // namespace bloodgrid
