// The one validation of a donation's content, shared by every service that stores a donation
// or its unit: the donor service's RecordDonation and the inventory's RegisterCollection call
// ValidateDonationContent with the same policy profile, so the two refuse and accept exactly
// the same donations and a donation the donor service records never has its unit refused for
// what it says. Pure and thread-safe.
#ifndef BLOODGRID_COMMON_DONATION_RULES_H_
#define BLOODGRID_COMMON_DONATION_RULES_H_

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/policy.pb.h"

namespace bloodgrid {

// How far a collection may be stamped ahead of the validating service's clock: the clock skew
// allowed between the collection device and the servers.
inline constexpr absl::Duration kCollectedAtClockSkew = absl::Minutes(1);

// Volume limits of the donation types DOMAIN.md gives no volumes for (apheresis platelets and
// plasma), mL, inclusive: the bag's range the inventory has always accepted.
inline constexpr int32_t kApheresisMinVolumeMl = 1;
inline constexpr int32_t kApheresisMaxVolumeMl = 1000;

// The content of a donation as both requests carry it (field names as in
// RecordDonationRequest and RegisterCollectionRequest).
struct DonationContent {
  v1::DonationType donation_type = v1::DONATION_TYPE_UNSPECIFIED;
  int32_t volume_ml = 0;
  // nullptr: not given.
  const google::protobuf::Timestamp* collected_at = nullptr;
  std::string station_id;
  v1::PolicyProfile::Anticoagulant anticoagulant = v1::PolicyProfile::ANTICOAGULANT_UNSPECIFIED;
  std::string product_code;
};

// The content of `request`, a RecordDonationRequest or a RegisterCollectionRequest (any message
// with those field names); it points into `request`, which must outlive it.
template <typename Request>
DonationContent DonationContentOf(const Request& request) {
  DonationContent content;
  content.donation_type = request.donation_type();
  content.volume_ml = request.volume_ml();
  if (request.has_collected_at()) content.collected_at = &request.collected_at();
  content.station_id = request.station_id();
  content.anticoagulant = request.anticoagulant();
  content.product_code = request.product_code();
  return content;
}

// The component a donation of `type` is stored as: whole blood, platelets or plasma;
// COMPONENT_UNSPECIFIED for an unspecified or unknown type.
v1::Component CollectedComponent(v1::DonationType type);

// OK, or INVALID_ARGUMENT "<field>: <problem>" for the first offending field, checked in this
// order:
//  - donation_type: required, a known type;
//  - volume_ml: whole blood one of the profile's whole_blood_volumes_ml (DOMAIN.md section 4,
//    GB 18467-2011: 200, 300 or 400 mL), apheresis kApheresisMinVolumeMl..kApheresisMaxVolumeMl;
//  - station_id: required, at most 32 characters of A-Z a-z 0-9 _ - (the inventory's station
//    ids);
//  - collected_at: required, a valid timestamp, not after now + kCollectedAtClockSkew (there
//    is no lower bound: a late entry of an old collection is allowed);
//  - anticoagulant: a known value for which the profile has a shelf life of the collected
//    component;
//  - product_code: at most 16 letters and digits (ISBT 128 product code).
absl::Status ValidateDonationContent(const DonationContent& donation,
                                     const v1::PolicyProfile& policy, absl::Time now);

// True when the inventory's answer `code` to RegisterCollection is a refusal no retry changes
// (the content, or the state of the station or the DIN, refuses the unit): INVALID_ARGUMENT,
// FAILED_PRECONDITION, ALREADY_EXISTS, NOT_FOUND, OUT_OF_RANGE. The donation is then voided;
// any other failure is retried. (gRPC and absl status codes have the same numbers.)
bool IsUnitRefusal(absl::StatusCode code);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_DONATION_RULES_H_
