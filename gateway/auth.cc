#include "gateway/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"

namespace bloodgrid::gateway {
namespace {

std::array<uint8_t, 32> Sha256(absl::string_view data) {
  std::array<uint8_t, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

bool ParseDigest(absl::string_view hex, std::array<uint8_t, 32>& out) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  const std::string bytes = absl::HexStringToBytes(absl::AsciiStrToLower(hex));
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return true;
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kHospital:
      return "hospital";
    case Role::kAdmin:
      return "admin";
    case Role::kDispatcher:
      return "dispatcher";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  if (name == "hospital") return Role::kHospital;
  if (name == "admin") return Role::kAdmin;
  if (name == "dispatcher") return Role::kDispatcher;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", name, "' (hospital, admin or dispatcher)"));
}

std::string Principal::Actor() const { return absl::StrCat(RoleName(role), ":", subject); }

std::string Sha256Hex(absl::string_view data) {
  const std::array<uint8_t, 32> digest = Sha256(data);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text, absl::string_view source) {
  TokenTable table;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto fail = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_no, ": ", problem));
    };
    if (parts.size() != 3) return fail("expected '<sha256 hex> <role> <subject>'");
    Entry entry;
    if (!ParseDigest(parts[0], entry.digest)) return fail("first field is not a sha256 hex digest");
    absl::StatusOr<Role> role = ParseRole(parts[1]);
    if (!role.ok()) return fail(role.status().message());
    entry.principal.role = *role;
    entry.principal.subject = std::string(parts[2]);
    if (entry.principal.subject.size() > 64) return fail("subject longer than 64 characters");
    for (const Entry& other : table.entries_) {
      if (other.digest == entry.digest) return fail("the same token digest appears twice");
    }
    table.entries_.push_back(std::move(entry));
  }
  return table;
}

std::optional<Principal> TokenTable::Lookup(absl::string_view token) const {
  const std::array<uint8_t, 32> digest = Sha256(token);
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    // CRYPTO_memcmp takes the same time whatever the contents; every entry is compared.
    const bool equal = CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (equal && match == nullptr) match = &entry;
  }
  if (match == nullptr) return std::nullopt;
  return match->principal;
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Load(const std::string& path) {
  std::unique_ptr<TokenStore> store(new TokenStore(path));
  BG_RETURN_IF_ERROR(store->Reload());
  return store;
}

absl::Status TokenStore::Reload() {
  std::ifstream in(path_);
  if (!in) return absl::NotFoundError(absl::StrCat("tokens file ", path_, " cannot be opened"));
  std::stringstream text;
  text << in.rdbuf();
  BG_ASSIGN_OR_RETURN(TokenTable table, TokenTable::Parse(text.str(), path_));
  auto shared = std::make_shared<const TokenTable>(std::move(table));
  absl::MutexLock lock(&mu_);
  table_ = std::move(shared);
  return absl::OkStatus();
}

size_t TokenStore::size() const {
  absl::MutexLock lock(&mu_);
  return table_ == nullptr ? 0 : table_->size();
}

absl::StatusOr<Principal> TokenStore::Authenticate(
    std::optional<absl::string_view> authorization) const {
  if (!authorization.has_value() || authorization->empty()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  absl::string_view value = absl::StripAsciiWhitespace(*authorization);
  if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata is not a Bearer token");
  }
  value = absl::StripAsciiWhitespace(value);
  if (value.empty() || value.size() > 512) return absl::UnauthenticatedError("invalid token");
  std::shared_ptr<const TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  std::optional<Principal> principal = table->Lookup(value);
  if (!principal.has_value()) return absl::UnauthenticatedError("unknown token");
  return *principal;
}

absl::Status RequireRole(const Principal& principal, RoleSet allowed, absl::string_view rpc) {
  if ((RoleBit(principal.role) & allowed) != 0) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("role ", RoleName(principal.role), " may not call ", rpc));
}

absl::StatusOr<std::string> ActingHospital(const Principal& principal, absl::string_view requested,
                                           bool required) {
  switch (principal.role) {
    case Role::kHospital:
      if (!requested.empty() && requested != principal.subject) {
        return absl::PermissionDeniedError("hospital_id: a hospital acts only for itself");
      }
      return principal.subject;
    case Role::kAdmin:
      if (requested.empty() && required) return InvalidField("hospital_id", "is required");
      return std::string(requested);
    case Role::kDispatcher:
      break;
  }
  return absl::PermissionDeniedError("only hospitals and admins act for a hospital");
}

}  // namespace bloodgrid::gateway
