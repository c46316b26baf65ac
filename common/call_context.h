// Helpers for gRPC handlers: the deadline a call's work must respect.
#ifndef BLOODGRID_COMMON_CALL_CONTEXT_H_
#define BLOODGRID_COMMON_CALL_CONTEXT_H_

#include "absl/time/time.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace bloodgrid {

// The caller's deadline, capped at now + `cap` (a call without a deadline gets the cap), so
// no handler works unbounded.
absl::Time CallDeadline(const grpc::ServerContextBase& context,
                        absl::Duration cap = absl::Seconds(30));

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_CALL_CONTEXT_H_
