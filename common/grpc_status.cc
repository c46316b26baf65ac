#include "common/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace bloodgrid {
namespace {

// A message may echo the caller's input (an unknown code, a malformed date). A status travels in
// HTTP/2 headers, and gRPC refuses received metadata over 8 KiB by default: a longer message
// would reach the caller as RESOURCE_EXHAUSTED instead of the status, and a gateway's channel to
// the service could fail calls that follow.
constexpr size_t kMaxMessageBytes = 1024;

std::string BoundedMessage(absl::string_view message) {
  if (message.size() <= kMaxMessageBytes) return std::string(message);
  size_t end = kMaxMessageBytes;
  // Cut before a UTF-8 continuation byte, never inside a character.
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0) == 0x80) --end;
  return absl::StrCat(message.substr(0, end), "...");
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  if (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
  }
  return grpc::Status(code, BoundedMessage(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace bloodgrid
