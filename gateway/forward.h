// Forwarding one public call to one internal RPC (included by the api_*.cc files only).
#ifndef BLOODGRID_GATEWAY_FORWARD_H_
#define BLOODGRID_GATEWAY_FORWARD_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "common/call_context.h"
#include "common/grpc_status.h"
#include "gateway/backends.h"
#include "gateway/gateway_call.h"

namespace bloodgrid::gateway {

// Calls `method` on `stub` for `principal` within the caller's deadline, maps the status
// (MapDownstreamStatus) and masks donor identity in the reply for non-admin callers.
template <typename Stub, typename Request, typename Response>
grpc::Status Forward(Backends& backends, const grpc::ServerContext& server_context,
                     const Principal& principal, Stub& stub,
                     grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                     const Request& request, Response* response) {
  grpc::ClientContext context;
  backends.Prepare(context, principal, CallDeadline(server_context));
  grpc::Status status = (stub.*method)(&context, request, response);
  if (!status.ok()) {
    response->Clear();
    return MapDownstreamStatus(status);
  }
  MaskDonorIdentity(principal, *response);
  return grpc::Status::OK;
}

}  // namespace bloodgrid::gateway

// Authenticates and authorises the call; on failure returns its status from the handler.
// `principal` is the name the macro declares, so it cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define BG_GATEWAY_AUTHORIZE(principal, tokens, context, roles, rpc)                   \
  absl::StatusOr<::bloodgrid::gateway::Principal> principal##_or =                     \
      ::bloodgrid::gateway::AuthorizeCall(tokens, *(context), roles, rpc);             \
  if (!principal##_or.ok()) return ::bloodgrid::ToGrpcStatus(principal##_or.status()); \
  const ::bloodgrid::gateway::Principal& principal = *principal##_or
// NOLINTEND(bugprone-macro-parentheses)

#endif  // BLOODGRID_GATEWAY_FORWARD_H_
