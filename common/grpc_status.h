// The one conversion between absl::Status (used everywhere in BloodGrid) and grpc::Status
// (only at the edge: handlers and clients).
#ifndef BLOODGRID_COMMON_GRPC_STATUS_H_
#define BLOODGRID_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace bloodgrid {

// Same code, same message, cut to its first 1024 bytes (followed by "...") when longer: a
// message may echo the caller's input. An INTERNAL or UNKNOWN status keeps only a generic
// message: its details were logged where it arose and never reach a client.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A downstream call's status as absl::Status, code and message kept.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_GRPC_STATUS_H_
