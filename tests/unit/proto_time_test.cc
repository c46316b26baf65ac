// The one Timestamp <-> absl::Time conversion: range checks, microsecond truncation towards
// the past, and round trips.
#include "common/proto_time.h"

#include <cstdint>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace bloodgrid {
namespace {

using ::bloodgrid::testing::IsOk;
using ::bloodgrid::testing::StatusIs;
using ::testing::HasSubstr;

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

TEST(ProtoTimeTest, ValidRangeIsTimestampsOwn) {
  struct Case {
    int64_t seconds;
    int32_t nanos;
    bool valid;
  };
  const Case cases[] = {
      {0, 0, true},
      {-62135596800, 0, true},           // 0001-01-01T00:00:00Z
      {-62135596801, 999999999, false},  // one second earlier
      {253402300799, 999999999, true},   // 9999-12-31T23:59:59.999999999Z
      {253402300800, 0, false},          // 10000-01-01
      {1, -1, false},
      {1, 1000000000, false},
      {-1, 500000000, true},  // 1969-12-31T23:59:59.5Z
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.seconds) + "s " + ::testing::PrintToString(c.nanos));
    EXPECT_EQ(IsValidTimestamp(Ts(c.seconds, c.nanos)), c.valid);
    if (c.valid) {
      EXPECT_THAT(ParseTimestamp("collected_at", Ts(c.seconds, c.nanos)), IsOk());
    } else {
      EXPECT_THAT(ParseTimestamp("collected_at", Ts(c.seconds, c.nanos)),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           HasSubstr("collected_at: is not a valid timestamp")));
    }
  }
}

TEST(ProtoTimeTest, ToTimestampTruncatesToTheMicrosecondTowardsThePast) {
  struct Case {
    absl::Time t;
    int64_t seconds;
    int32_t nanos;
  };
  const Case cases[] = {
      {absl::UnixEpoch(), 0, 0},
      {absl::FromUnixNanos(1'500'000'999), 1, 500'000'000},
      {absl::FromUnixMicros(-1), -1, 999'999'000},
      {absl::FromUnixNanos(-1), -1, 999'999'000},
      {absl::FromUnixMicros(-1'000'000), -1, 0},
      {absl::FromUnixMicros(1'700'000'000'123'456), 1'700'000'000, 123'456'000},
  };
  for (const Case& c : cases) {
    const google::protobuf::Timestamp ts = ToTimestamp(c.t);
    EXPECT_EQ(ts.seconds(), c.seconds) << absl::FormatTime(c.t);
    EXPECT_EQ(ts.nanos(), c.nanos) << absl::FormatTime(c.t);
    google::protobuf::Timestamp into;
    ToTimestamp(c.t, &into);
    EXPECT_EQ(into.SerializeAsString(), ts.SerializeAsString());
  }
}

TEST(ProtoTimeTest, MicrosecondInstantsRoundTrip) {
  for (int64_t micros : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{1'700'000'000'123'456},
                         int64_t{-62'135'596'800'000'000}}) {
    const absl::Time t = absl::FromUnixMicros(micros);
    EXPECT_EQ(FromTimestamp(ToTimestamp(t)), t) << micros;
  }
}

}  // namespace
}  // namespace bloodgrid
