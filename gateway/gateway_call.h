// What every gateway handler does first and last: authenticate and authorise the caller, and
// strip donor identity from what a non-admin caller receives.
#ifndef BLOODGRID_GATEWAY_GATEWAY_CALL_H_
#define BLOODGRID_GATEWAY_GATEWAY_CALL_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/auth.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace bloodgrid::gateway {

// Reads `authorization` from the call's metadata, authenticates it against `tokens` and checks
// the role against `allowed`. UNAUTHENTICATED / PERMISSION_DENIED naming `rpc`.
absl::StatusOr<Principal> AuthorizeCall(const TokenStore& tokens,
                                        const grpc::ServerContextBase& context, RoleSet allowed,
                                        absl::string_view rpc);

// Clears every field named donor_id (at any depth, in repeated and map values too) unless
// the principal is an admin: donor identity never reaches a hospital or a dispatcher.
void MaskDonorIdentity(const Principal& principal, google::protobuf::Message& message);

}  // namespace bloodgrid::gateway

#endif  // BLOODGRID_GATEWAY_GATEWAY_CALL_H_
