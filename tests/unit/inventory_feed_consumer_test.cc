// Which errors the donor service's inventory feed consumer retries without advancing its cursor
// and which ones it logs and passes (donor_service/inventory_feed_consumer.h).
#include "donor_service/inventory_feed_consumer.h"

#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace bloodgrid::donor {
namespace {

TEST(IsTransientFeedErrorTest, RetriesOnlyWhatMaySucceedLater) {
  struct Case {
    absl::StatusCode code;
    bool transient;
  };
  const Case cases[] = {
      {absl::StatusCode::kUnavailable, true},
      {absl::StatusCode::kDeadlineExceeded, true},
      {absl::StatusCode::kAborted, true},
      {absl::StatusCode::kResourceExhausted, true},
      {absl::StatusCode::kCancelled, true},
      {absl::StatusCode::kNotFound, false},
      {absl::StatusCode::kInvalidArgument, false},
      {absl::StatusCode::kFailedPrecondition, false},
      {absl::StatusCode::kAlreadyExists, false},
      {absl::StatusCode::kPermissionDenied, false},
      {absl::StatusCode::kOutOfRange, false},
      {absl::StatusCode::kInternal, false},
      {absl::StatusCode::kUnknown, false},
      {absl::StatusCode::kUnimplemented, false},
      {absl::StatusCode::kOk, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsTransientFeedError(c.code), c.transient) << absl::StatusCodeToString(c.code);
  }
}

}  // namespace
}  // namespace bloodgrid::donor
