#include "common/call_context.h"

#include <grpcpp/server_context.h>

#include <algorithm>

#include "absl/time/clock.h"

namespace bloodgrid {

absl::Time CallDeadline(const grpc::ServerContextBase& context, absl::Duration cap) {
  const absl::Time capped = absl::Now() + cap;
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return capped;
  return std::min(capped, absl::FromChrono(deadline));
}

}  // namespace bloodgrid
