// Conversions between google.protobuf.Timestamp and absl::Time for the request service.
// Pure and thread-safe.
#ifndef BLOODGRID_REQUEST_SERVICE_PROTO_TIME_H_
#define BLOODGRID_REQUEST_SERVICE_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace bloodgrid::request {

// The instant `ts` denotes; INVALID_ARGUMENT "<field>: is not a valid timestamp" outside the
// Timestamp range (years 1-9999, nanos 0..999999999).
absl::StatusOr<absl::Time> ParseTimestamp(absl::string_view field,
                                          const google::protobuf::Timestamp& ts);

// The instant of a Timestamp already known to be valid (a stored or validated one).
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

// Writes `t` into `out` (microsecond precision, as stored).
void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out);

// Microseconds since the Unix epoch (how instants are stored) and back.
int64_t ToMicros(absl::Time t);
absl::Time FromMicros(int64_t micros);

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_PROTO_TIME_H_
