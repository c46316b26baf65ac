// What every BloodGrid call carries through the layers: who acts, under which client request
// id, at which instant and calendar day, and until when. Built once per call, by the one actor
// rule below, from the server context (handlers) or for the service's own jobs; passed by
// const reference to operations and stores.
//
// Outgoing calls (the gateway to the services, the request service to the inventory) are
// prepared by PrepareOutgoingCall, so the actor and the deadline travel the same way on every
// link.
#ifndef BLOODGRID_COMMON_CALL_CONTEXT_H_
#define BLOODGRID_COMMON_CALL_CONTEXT_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace grpc {
class ClientContext;
class ServerContextBase;
}  // namespace grpc

namespace bloodgrid {

// The metadata key naming the principal a call is made for ("<role>:<subject>").
inline constexpr char kActorMetadataKey[] = "x-bloodgrid-actor";
// Recorded when a call names no acceptable actor.
inline constexpr char kUnknownActor[] = "system:unknown";
// Longest actor kept: every schema's actor columns hold at least this many characters.
inline constexpr size_t kMaxActorLength = 128;

// The one actor rule: 1 to kMaxActorLength printable ASCII characters without spaces.
bool IsValidActor(absl::string_view actor);

// The actor of a call whose x-bloodgrid-actor metadata is `value` (nullopt when absent):
// the value itself when IsValidActor, otherwise kUnknownActor.
std::string ActorFromMetadata(std::optional<absl::string_view> value);

// The caller's deadline, capped at now + `cap` (a call without a deadline gets the cap), so
// no handler works unbounded. Real time: deadlines are never on the injected clock.
absl::Time CallDeadline(const grpc::ServerContextBase& context,
                        absl::Duration cap = absl::Seconds(30));

struct CallContext {
  // "<role>:<subject>" of the principal ("hospital:H1", "admin:console"), "system:<job>" for
  // the service's own work, kUnknownActor when the call named none.
  std::string actor = kUnknownActor;
  // The client's request_id of a mutating call (its idempotency key); empty for reads.
  std::string request_id;
  // "Now" for the whole call, read once from the service's injected clock.
  absl::Time now = absl::UnixEpoch();
  // The calendar day of `now` in the region's time zone.
  absl::CivilDay today;
  // Real-time deadline of the call's work; database and downstream work stops there.
  absl::Time deadline = absl::InfiniteFuture();

  // A copy naming the mutating call's request_id.
  CallContext WithRequestId(absl::string_view id) const;
};

// The context of an incoming call: actor by ActorFromMetadata, now and today from `clock` in
// `time_zone`, deadline by CallDeadline(context, deadline_cap).
CallContext CallContextFromServer(const grpc::ServerContextBase& context, const Clock& clock,
                                  absl::TimeZone time_zone,
                                  absl::Duration deadline_cap = absl::Seconds(30));

// The context of work a service starts on its own: actor "system:<job>", deadline `deadline`.
CallContext JobCallContext(absl::string_view job, const Clock& clock, absl::TimeZone time_zone,
                           absl::Time deadline);

// Prepares an outgoing call made for `actor`: deadline = min(`deadline`, now + `cap`), and the
// x-bloodgrid-actor metadata. Call once per ClientContext, before the call starts.
void PrepareOutgoingCall(grpc::ClientContext& context, absl::string_view actor, absl::Time deadline,
                         absl::Duration cap);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_CALL_CONTEXT_H_
