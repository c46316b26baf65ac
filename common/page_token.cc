#include "common/page_token.h"

#include "absl/strings/escaping.h"
#include "common/hash.h"
#include "common/status.h"

namespace bloodgrid {

std::string EncodePageToken(const v1::PageCursor& cursor) {
  return absl::WebSafeBase64Escape(cursor.SerializeAsString());
}

absl::StatusOr<v1::PageCursor> DecodePageToken(absl::string_view token, uint64_t filter_hash) {
  v1::PageCursor cursor;
  if (token.empty()) {
    cursor.set_filter_hash(filter_hash);
    return cursor;
  }
  std::string bytes;
  if (token.size() > 512 || !absl::WebSafeBase64Unescape(token, &bytes) ||
      !cursor.ParseFromString(bytes)) {
    return InvalidField("page_token", "not a token returned by this service");
  }
  if (cursor.filter_hash() != filter_hash) {
    return InvalidField("page_token", "was issued for a different filter");
  }
  return cursor;
}

absl::StatusOr<int> EffectivePageSize(int32_t requested) {
  if (requested < 0) return InvalidField("page_size", "must not be negative");
  if (requested == 0) return kDefaultPageSize;
  return requested > kMaxPageSize ? kMaxPageSize : requested;
}

uint64_t FilterHash(std::initializer_list<absl::string_view> parts) {
  uint64_t hash = kFnv1aOffsetBasis;
  for (absl::string_view part : parts) {
    hash = Fnv1a64(part, hash);
    hash = Fnv1a64("\xff", hash);  // separator, so ("ab","c") differs from ("a","bc")
  }
  return hash;
}

}  // namespace bloodgrid
