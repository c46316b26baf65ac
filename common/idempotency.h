// request_id idempotency for mutating RPCs (DESIGN.md: "repeating it returns the first result
// and changes nothing more"), inside the same transaction as the change itself.
//
// Each service schema has the table (in its first migration):
//   CREATE TABLE idempotency_keys (
//     scope VARCHAR(64) NOT NULL, request_id VARCHAR(128) NOT NULL,
//     request_hash CHAR(16) NOT NULL, response MEDIUMBLOB NULL,
//     created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
//     PRIMARY KEY (scope, request_id));
//
// Use, inside RunTransaction's body:
//   BG_ASSIGN_OR_RETURN(bool replayed, ClaimOrReplay(conn, key, &response));
//   if (replayed) return absl::OkStatus();        // `response` holds the first result
//   ... make the change, fill `response` ...
//   CompleteIdempotent(conn, key, response);      // same transaction
//
// Two concurrent calls with one key: the second blocks on the first's claim row; if the first
// commits, the second's claim fails with a duplicate key and ClaimOrReplay returns
// RetryTransactionStatus, so RunTransaction re-runs it and it replays the stored response. If
// the first rolls back, the second proceeds as the first. A failed call records nothing, so a
// retry after an error runs again.
#ifndef BLOODGRID_COMMON_IDEMPOTENCY_H_
#define BLOODGRID_COMMON_IDEMPOTENCY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace bloodgrid::db {

class Connection;

struct IdempotencyKey {
  // The operation ("RegisterDonor"), so one request_id may serve different RPCs.
  std::string scope;
  std::string request_id;
  // Fingerprint of the request (RequestFingerprint); a reused request_id with another request
  // is refused (INVALID_ARGUMENT).
  std::string request_hash;
};

// The one scope format of request_id keys, which are scoped by RPC and caller (common.proto
// "Idempotency"): "<rpc>|<actor>", or "<rpc>|#<16 hex digits of FilterHash({actor})>" when that
// would not fit the 64-character scope column.
std::string IdempotencyScope(absl::string_view rpc, absl::string_view actor);

// The key of a mutating call: IdempotencyScope(rpc, actor), the request_id, and the request's
// fingerprint. INVALID_ARGUMENT "request_id: ..." when the request_id is malformed.
absl::StatusOr<IdempotencyKey> MakeIdempotencyKey(absl::string_view rpc, absl::string_view actor,
                                                  absl::string_view request_id,
                                                  const google::protobuf::Message& request);

// Checks the shape of a client's request_id: 1-128 characters from [A-Za-z0-9._:-].
// INVALID_ARGUMENT "request_id: ..." otherwise.
absl::Status ValidateRequestId(absl::string_view request_id);

// A stable fingerprint of a request message (deterministic serialisation, FNV-1a, hex).
std::string RequestFingerprint(const google::protobuf::Message& request);

// True (and `response` filled) when the key was completed before; false when this transaction
// now holds the claim. INVALID_ARGUMENT when the request_id was used for a different request.
// May throw sql::SQLException (call inside RunTransaction).
absl::StatusOr<bool> ClaimOrReplay(Connection& conn, const IdempotencyKey& key,
                                   google::protobuf::Message* response);

// Stores the response for the claimed key. May throw sql::SQLException.
void CompleteIdempotent(Connection& conn, const IdempotencyKey& key,
                        const google::protobuf::Message& response);

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_IDEMPOTENCY_H_
