#include "common/donation_rules.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy.h"
#include "common/proto_time.h"
#include "common/status.h"

namespace bloodgrid {
namespace {

absl::Status ValidateVolume(v1::DonationType type, int32_t volume_ml,
                            const v1::PolicyProfile& policy) {
  if (type == v1::DONATION_TYPE_WHOLE_BLOOD) {
    const auto& allowed = policy.eligibility().whole_blood_volumes_ml();
    if (std::find(allowed.begin(), allowed.end(), volume_ml) == allowed.end()) {
      return InvalidField(
          "volume_ml",
          absl::StrCat(volume_ml, " mL is not a whole-blood volume of ", policy.name(), "@",
                       policy.version(), " (", absl::StrJoin(allowed, ", "), " mL)"));
    }
    return absl::OkStatus();
  }
  if (volume_ml < kApheresisMinVolumeMl || volume_ml > kApheresisMaxVolumeMl) {
    return InvalidField(
        "volume_ml", absl::StrCat(volume_ml, " mL is outside ", kApheresisMinVolumeMl, "-",
                                  kApheresisMaxVolumeMl, " mL for ", v1::DonationType_Name(type)));
  }
  return absl::OkStatus();
}

absl::Status ValidateStation(absl::string_view station_id) {
  if (station_id.empty()) return InvalidField("station_id", "is required");
  if (station_id.size() > 32) return InvalidField("station_id", "longer than 32 characters");
  for (char c : station_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return InvalidField("station_id", "only the characters A-Z a-z 0-9 _ - are allowed");
    }
  }
  return absl::OkStatus();
}

}  // namespace

v1::Component CollectedComponent(v1::DonationType type) {
  switch (type) {
    case v1::DONATION_TYPE_WHOLE_BLOOD:
      return v1::COMPONENT_WHOLE_BLOOD;
    case v1::DONATION_TYPE_APHERESIS_PLATELETS:
      return v1::COMPONENT_PLATELETS;
    case v1::DONATION_TYPE_APHERESIS_PLASMA:
      return v1::COMPONENT_PLASMA;
    default:
      return v1::COMPONENT_UNSPECIFIED;
  }
}

absl::Status ValidateDonationContent(const DonationContent& donation,
                                     const v1::PolicyProfile& policy, absl::Time now) {
  if (donation.donation_type == v1::DONATION_TYPE_UNSPECIFIED) {
    return InvalidField("donation_type", "is required");
  }
  if (!v1::DonationType_IsValid(donation.donation_type)) {
    return InvalidField("donation_type", "unknown donation type");
  }
  BG_RETURN_IF_ERROR(ValidateVolume(donation.donation_type, donation.volume_ml, policy));
  BG_RETURN_IF_ERROR(ValidateStation(donation.station_id));
  if (donation.collected_at == nullptr) return InvalidField("collected_at", "is required");
  BG_ASSIGN_OR_RETURN(absl::Time collected_at,
                      ParseTimestamp("collected_at", *donation.collected_at));
  if (collected_at > now + kCollectedAtClockSkew) {
    return InvalidField("collected_at", absl::StrCat("is in the future (more than ",
                                                     absl::FormatDuration(kCollectedAtClockSkew),
                                                     " ahead of the server's clock)"));
  }
  if (!v1::PolicyProfile::Anticoagulant_IsValid(donation.anticoagulant)) {
    return InvalidField("anticoagulant", "unknown anticoagulant");
  }
  const v1::Component component = CollectedComponent(donation.donation_type);
  if (!ShelfLife(policy, component, donation.anticoagulant).ok()) {
    return InvalidField(
        "anticoagulant",
        absl::StrCat("the policy profile has no shelf life for ", v1::Component_Name(component),
                     " with ", v1::PolicyProfile::Anticoagulant_Name(donation.anticoagulant)));
  }
  if (donation.product_code.size() > 16) {
    return InvalidField("product_code", "must be at most 16 characters");
  }
  for (char c : donation.product_code) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return InvalidField("product_code", "only letters and digits are allowed");
    }
  }
  return absl::OkStatus();
}

bool IsUnitRefusal(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

}  // namespace bloodgrid
