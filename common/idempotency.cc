#include "common/idempotency.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <istream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/hash.h"
#include "common/mysql_pool.h"
#include "common/page_token.h"
#include "common/sql_error.h"
#include "common/status.h"

namespace bloodgrid::db {
namespace {

constexpr char kSelectKey[] =
    "SELECT request_hash, response FROM idempotency_keys WHERE scope = ? AND request_id = ? "
    "FOR UPDATE";
constexpr char kClaimKey[] =
    "INSERT INTO idempotency_keys (scope, request_id, request_hash) VALUES (?, ?, ?)";
constexpr char kCompleteKey[] =
    "UPDATE idempotency_keys SET response = ? WHERE scope = ? AND request_id = ?";

}  // namespace

// The scope column (idempotency_keys.scope) is VARCHAR(64).
constexpr size_t kMaxScopeLength = 64;

std::string IdempotencyScope(absl::string_view rpc, absl::string_view actor) {
  std::string scope = absl::StrCat(rpc, "|", actor);
  if (scope.size() <= kMaxScopeLength) return scope;
  return absl::StrCat(rpc, "|#", absl::StrFormat("%016x", FilterHash({actor})));
}

absl::StatusOr<IdempotencyKey> MakeIdempotencyKey(absl::string_view rpc, absl::string_view actor,
                                                  absl::string_view request_id,
                                                  const google::protobuf::Message& request) {
  BG_RETURN_IF_ERROR(ValidateRequestId(request_id));
  return IdempotencyKey{IdempotencyScope(rpc, actor), std::string(request_id),
                        RequestFingerprint(request)};
}

absl::Status ValidateRequestId(absl::string_view request_id) {
  if (request_id.empty()) return InvalidField("request_id", "is required");
  if (request_id.size() > 128) return InvalidField("request_id", "longer than 128 characters");
  for (char c : request_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return InvalidField("request_id", "only the characters A-Z a-z 0-9 . _ : - are allowed");
    }
  }
  return absl::OkStatus();
}

std::string RequestFingerprint(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&out);
  }
  return Fnv1a64Hex(bytes);
}

absl::StatusOr<bool> ClaimOrReplay(Connection& conn, const IdempotencyKey& key,
                                   google::protobuf::Message* response) {
  sql::PreparedStatement& select = conn.Prepare(kSelectKey);
  select.setString(1, key.scope);
  select.setString(2, key.request_id);
  std::unique_ptr<sql::ResultSet> rs(select.executeQuery());
  if (rs->next()) {
    if (std::string(rs->getString(1)) != key.request_hash) {
      return InvalidField("request_id",
                          absl::StrCat("'", key.request_id, "' was already used for a different ",
                                       key.scope, " request"));
    }
    if (rs->isNull(2)) {
      // Claimed in this very transaction's snapshot but not completed: cannot happen across
      // transactions (the claim and the response commit together); treat as a lost race.
      return RetryTransactionStatus("idempotency key claimed concurrently");
    }
    std::unique_ptr<std::istream> blob(rs->getBlob(2));
    std::stringstream bytes;
    bytes << blob->rdbuf();
    if (!response->ParseFromString(bytes.str())) {
      return absl::InternalError("stored response of request_id cannot be parsed");
    }
    return true;
  }
  try {
    sql::PreparedStatement& claim = conn.Prepare(kClaimKey);
    claim.setString(1, key.scope);
    claim.setString(2, key.request_id);
    claim.setString(3, key.request_hash);
    claim.executeUpdate();
  } catch (const sql::SQLException& e) {
    if (e.getErrorCode() == kErrDuplicateKey) {
      // A concurrent call with the same key committed first: run again and replay its result.
      return RetryTransactionStatus("lost the race for an idempotency key");
    }
    throw;
  }
  return false;
}

void CompleteIdempotent(Connection& conn, const IdempotencyKey& key,
                        const google::protobuf::Message& response) {
  std::string bytes = response.SerializeAsString();
  std::istringstream stream(bytes);
  sql::PreparedStatement& update = conn.Prepare(kCompleteKey);
  update.setBlob(1, &stream);
  update.setString(2, key.scope);
  update.setString(3, key.request_id);
  update.executeUpdate();
}

}  // namespace bloodgrid::db
