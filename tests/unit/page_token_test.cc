// Page tokens round-trip, are bound to their filter, and reject garbage.
#include "common/page_token.h"

#include <gtest/gtest.h>

namespace bloodgrid {
namespace {

TEST(PageTokenTest, RoundTripsACursor) {
  const uint64_t filter = FilterHash({"station=S1", "status=AVAILABLE"});
  v1::PageCursor cursor;
  cursor.set_after_key(1700000000123456);
  cursor.set_after_id("unit-42");
  cursor.set_filter_hash(filter);
  absl::StatusOr<v1::PageCursor> back = DecodePageToken(EncodePageToken(cursor), filter);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->after_key(), 1700000000123456);
  EXPECT_EQ(back->after_id(), "unit-42");
}

TEST(PageTokenTest, EmptyTokenIsTheFirstPage) {
  absl::StatusOr<v1::PageCursor> first = DecodePageToken("", 7);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->after_key(), 0);
  EXPECT_TRUE(first->after_id().empty());
}

TEST(PageTokenTest, RejectsForeignAndGarbageTokens) {
  v1::PageCursor cursor;
  cursor.set_filter_hash(FilterHash({"a"}));
  const std::string token = EncodePageToken(cursor);
  absl::Status other = DecodePageToken(token, FilterHash({"b"})).status();
  EXPECT_EQ(other.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.message().rfind("page_token:", 0), 0u) << other;
  for (const char* bad : {"!!!", "not base64 at all", "AAAA####"}) {
    EXPECT_EQ(DecodePageToken(bad, 1).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(DecodePageToken(std::string(600, 'A'), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PageTokenTest, PageSizeIsDefaultedAndClamped) {
  EXPECT_EQ(*EffectivePageSize(0), kDefaultPageSize);
  EXPECT_EQ(*EffectivePageSize(10), 10);
  EXPECT_EQ(*EffectivePageSize(100000), kMaxPageSize);
  EXPECT_EQ(EffectivePageSize(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PageTokenTest, FilterHashSeparatesParts) {
  EXPECT_NE(FilterHash({"ab", "c"}), FilterHash({"a", "bc"}));
  EXPECT_EQ(FilterHash({"x", "y"}), FilterHash({"x", "y"}));
}

}  // namespace
}  // namespace bloodgrid
