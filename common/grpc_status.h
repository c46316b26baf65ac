// The one conversion between absl::Status (used everywhere in BloodGrid) and grpc::Status
// (only at the edge: handlers and clients).
#ifndef BLOODGRID_COMMON_GRPC_STATUS_H_
#define BLOODGRID_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace bloodgrid {

// Same code, same message, cut to its first 1024 bytes (followed by "...") when longer: a
// message may echo the caller's input. An INTERNAL or UNKNOWN status keeps only a generic
// message: its details were logged where it arose and never reach a client.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A downstream call's status as absl::Status, code and message kept.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The one handler adapter: an operation's result becomes the handler's reply and status.
template <typename Response>
grpc::Status Respond(absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_GRPC_STATUS_H_
