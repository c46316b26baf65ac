// Opaque page tokens for List*/Search* RPCs: the web-safe base64 of a bloodgrid.v1.PageCursor
// (keyset pagination: the sort key and id of the last row returned, plus a fingerprint of the
// filter so a token cannot be replayed against another query).
#ifndef BLOODGRID_COMMON_PAGE_TOKEN_H_
#define BLOODGRID_COMMON_PAGE_TOKEN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bloodgrid/v1/common.pb.h"

namespace bloodgrid {

// Largest page any List RPC returns; a bigger page_size is clamped to it.
inline constexpr int kMaxPageSize = 500;
// Page size used when a request leaves page_size at 0.
inline constexpr int kDefaultPageSize = 50;

std::string EncodePageToken(const v1::PageCursor& cursor);

// An empty token is the first page (a default cursor). INVALID_ARGUMENT "page_token: ..." when the
// token is not one of ours or was made for another filter.
absl::StatusOr<v1::PageCursor> DecodePageToken(absl::string_view token, uint64_t filter_hash);

// page_size from a request: 0 -> kDefaultPageSize, above kMaxPageSize -> kMaxPageSize, negative
// -> INVALID_ARGUMENT.
absl::StatusOr<int> EffectivePageSize(int32_t requested);

// A stable fingerprint of a filter's fields (FNV-1a over the given parts, separated).
uint64_t FilterHash(std::initializer_list<absl::string_view> parts);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_PAGE_TOKEN_H_
