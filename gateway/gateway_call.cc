#include "gateway/gateway_call.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>
#include <grpcpp/server_context.h>

#include <optional>

#include "common/log.h"
#include "common/status.h"

namespace bloodgrid::gateway {
namespace {

void ClearDonorIds(google::protobuf::Message& message) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (field->name() == "donor_id" &&
        field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      reflection->ClearField(&message, field);
      continue;
    }
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(message, field);
      for (int j = 0; j < n; ++j) {
        ClearDonorIds(*reflection->MutableRepeatedMessage(&message, field, j));
      }
    } else if (reflection->HasField(message, field)) {
      ClearDonorIds(*reflection->MutableMessage(&message, field));
    }
  }
}

}  // namespace

absl::StatusOr<Principal> AuthorizeCall(const TokenStore& tokens,
                                        const grpc::ServerContextBase& context, RoleSet allowed,
                                        absl::string_view rpc) {
  std::optional<absl::string_view> authorization;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) authorization = absl::string_view(it->second.data(), it->second.size());
  absl::StatusOr<Principal> principal = tokens.Authenticate(authorization);
  if (!principal.ok()) {
    LogInfo("auth_rejected",
            {{"rpc", std::string(rpc)}, {"reason", std::string(principal.status().message())}});
    return principal.status();
  }
  BG_RETURN_IF_ERROR(RequireRole(*principal, allowed, rpc));
  return principal;
}

void MaskDonorIdentity(const Principal& principal, google::protobuf::Message& message) {
  if (principal.role == Role::kAdmin) return;
  ClearDonorIds(message);
}

}  // namespace bloodgrid::gateway
