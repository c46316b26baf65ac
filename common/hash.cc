#include "common/hash.h"

#include "absl/strings/str_format.h"

namespace bloodgrid {

uint64_t Fnv1a64(absl::string_view data, uint64_t hash) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string Fnv1a64Hex(absl::string_view data) { return absl::StrFormat("%016x", Fnv1a64(data)); }

}  // namespace bloodgrid
