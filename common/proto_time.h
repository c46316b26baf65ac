// The one conversion between google.protobuf.Timestamp (the API's instants) and absl::Time
// (everything inside BloodGrid). Instants are kept to the microsecond, as every schema stores
// them. Pure and thread-safe.
#ifndef BLOODGRID_COMMON_PROTO_TIME_H_
#define BLOODGRID_COMMON_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace bloodgrid {

// True when `ts` lies in google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z, nanos in 0..999999999.
bool IsValidTimestamp(const google::protobuf::Timestamp& ts);

// The instant `ts` denotes; INVALID_ARGUMENT "<field>: is not a valid timestamp" outside the
// range above.
absl::StatusOr<absl::Time> ParseTimestamp(absl::string_view field,
                                          const google::protobuf::Timestamp& ts);

// The instant of a Timestamp already known to be valid (a stored or validated one).
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

// `t` truncated to the microsecond (towards the past), as a Timestamp.
google::protobuf::Timestamp ToTimestamp(absl::Time t);
void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_PROTO_TIME_H_
