#include "common/call_context.h"

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"

namespace bloodgrid {

bool IsValidActor(absl::string_view actor) {
  if (actor.empty() || actor.size() > kMaxActorLength) return false;
  return std::all_of(actor.begin(), actor.end(),
                     [](char c) { return absl::ascii_isgraph(static_cast<unsigned char>(c)); });
}

std::string ActorFromMetadata(std::optional<absl::string_view> value) {
  if (value.has_value() && IsValidActor(*value)) return std::string(*value);
  return kUnknownActor;
}

absl::Time CallDeadline(const grpc::ServerContextBase& context, absl::Duration cap) {
  const absl::Time capped = absl::Now() + cap;
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return capped;
  return std::min(capped, absl::FromChrono(deadline));
}

CallContext CallContext::WithRequestId(absl::string_view id) const {
  CallContext copy = *this;
  copy.request_id = std::string(id);
  return copy;
}

CallContext CallContextFromServer(const grpc::ServerContextBase& context, const Clock& clock,
                                  absl::TimeZone time_zone, absl::Duration deadline_cap) {
  CallContext call;
  std::optional<absl::string_view> actor;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find(kActorMetadataKey); it != metadata.end()) {
    actor = absl::string_view(it->second.data(), it->second.size());
  }
  call.actor = ActorFromMetadata(actor);
  call.now = clock.Now();
  call.today = absl::ToCivilDay(call.now, time_zone);
  call.deadline = CallDeadline(context, deadline_cap);
  return call;
}

CallContext JobCallContext(absl::string_view job, const Clock& clock, absl::TimeZone time_zone,
                           absl::Time deadline) {
  CallContext call;
  call.actor = std::string("system:").append(job.data(), job.size());
  call.now = clock.Now();
  call.today = absl::ToCivilDay(call.now, time_zone);
  call.deadline = deadline;
  return call;
}

void PrepareOutgoingCall(grpc::ClientContext& context, absl::string_view actor, absl::Time deadline,
                         absl::Duration cap) {
  context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + cap)));
  context.AddMetadata(kActorMetadataKey, std::string(actor));
}

}  // namespace bloodgrid
