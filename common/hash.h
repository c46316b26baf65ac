// A small, stable, non-cryptographic hash for fingerprints that are stored or sent (migration
// checksums, request fingerprints, page-token filters, derived keys): the same input gives the
// same value in every process and version. Not for secrets.
#ifndef BLOODGRID_COMMON_HASH_H_
#define BLOODGRID_COMMON_HASH_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace bloodgrid {

inline constexpr uint64_t kFnv1aOffsetBasis = 14695981039346656037ull;

// 64-bit FNV-1a of `data`, continuing from `hash` (so several parts can be chained).
uint64_t Fnv1a64(absl::string_view data, uint64_t hash = kFnv1aOffsetBasis);

// The same as 16 lower-case hex digits.
std::string Fnv1a64Hex(absl::string_view data);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_HASH_H_
