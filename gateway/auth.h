// Gateway authentication and authorisation (DESIGN.md "Authentication").
//
// Tokens file: one token per line, `<sha256 hex of the token> <role> <subject>`; blank lines
// and lines starting with '#' are ignored. Roles: hospital (subject = the hospital id), admin,
// dispatcher. The file never holds a token itself, only its digest.
//
// A presented token is hashed and compared with every entry in constant time (the comparison
// does not stop at the first match or the first differing byte), so timing tells nothing about
// which tokens exist.
#ifndef BLOODGRID_GATEWAY_AUTH_H_
#define BLOODGRID_GATEWAY_AUTH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace bloodgrid::gateway {

enum class Role : uint8_t { kHospital = 1, kAdmin = 2, kDispatcher = 4 };

// A set of roles, as a bit mask of Role values.
using RoleSet = uint8_t;
inline constexpr RoleSet RoleBit(Role r) { return static_cast<RoleSet>(r); }
// HospitalApi: hospitals, and admins acting for one.
inline constexpr RoleSet kHospitalApiRoles = RoleBit(Role::kHospital) | RoleBit(Role::kAdmin);
// AdminApi: the blood centre's staff only.
inline constexpr RoleSet kAdminApiRoles = RoleBit(Role::kAdmin);
// DispatchApi: automated dispatch, and admins.
inline constexpr RoleSet kDispatchApiRoles = RoleBit(Role::kDispatcher) | RoleBit(Role::kAdmin);

absl::string_view RoleName(Role role);
absl::StatusOr<Role> ParseRole(absl::string_view name);

// Who is calling.
struct Principal {
  Role role = Role::kHospital;
  std::string subject;
  // "role:subject", as sent to internal services in the x-bloodgrid-actor metadata.
  std::string Actor() const;
};

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// An immutable parsed tokens file.
class TokenTable {
 public:
  // INVALID_ARGUMENT "<source>:<line>: ..." for a malformed line (bad digest, unknown role,
  // missing subject, duplicate digest). An empty table is valid.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text, absl::string_view source);

  // The principal whose digest matches sha256(token), if any. Constant time in the table size.
  std::optional<Principal> Lookup(absl::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> digest;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

// The tokens file behind a lock; Reload() swaps in a new table (on SIGHUP). Thread-safe.
class TokenStore {
 public:
  // Reads and parses `path`. NOT_FOUND / FAILED_PRECONDITION / INVALID_ARGUMENT with the path.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Load(const std::string& path);

  // Re-reads the file. On error the current table stays in force and the error is returned.
  absl::Status Reload();

  // The caller behind an `authorization` metadata value ("Bearer <token>"). UNAUTHENTICATED
  // when the value is missing, not a bearer token, or unknown.
  absl::StatusOr<Principal> Authenticate(std::optional<absl::string_view> authorization) const;

  size_t size() const;

 private:
  explicit TokenStore(std::string path) : path_(std::move(path)) {}
  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
};

// PERMISSION_DENIED naming the RPC when the principal's role is not in `allowed`.
absl::Status RequireRole(const Principal& principal, RoleSet allowed, absl::string_view rpc);

// The hospital an order call acts for. A hospital principal acts for itself: `requested` must
// be empty or its own id (another id is PERMISSION_DENIED). An admin acts for `requested`;
// when `required` and it is empty, INVALID_ARGUMENT "hospital_id: ...". Any other role is
// PERMISSION_DENIED.
absl::StatusOr<std::string> ActingHospital(const Principal& principal, absl::string_view requested,
                                           bool required);

}  // namespace bloodgrid::gateway

#endif  // BLOODGRID_GATEWAY_AUTH_H_
