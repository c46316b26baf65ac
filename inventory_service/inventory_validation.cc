// Request shape checks (inventory_rules.h "Request shape checks").
#include <cmath>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/din.h"
#include "common/donation_rules.h"
#include "common/status.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::inventory {
namespace {

size_t CharCount(absl::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool IsIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

absl::Status ValidateOpaqueId(absl::string_view field, absl::string_view id, bool required) {
  if (id.empty()) {
    return required ? InvalidField(field, "is required") : absl::OkStatus();
  }
  if (id.size() > 64) return InvalidField(field, "longer than 64 characters");
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return InvalidField(field, "only printable ASCII characters without spaces are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateComponentRequired(absl::string_view field, v1::Component component) {
  if (component == v1::COMPONENT_UNSPECIFIED) return InvalidField(field, "is required");
  if (!v1::Component_IsValid(component)) return InvalidField(field, "unknown component");
  return absl::OkStatus();
}

absl::Status ValidateNotFuture(absl::string_view field, const google::protobuf::Timestamp& ts,
                               absl::Time now) {
  if (ts.seconds() < 0 || ts.nanos() < 0 || ts.nanos() > 999999999) {
    return InvalidField(field, "not a valid instant");
  }
  if (FromTimestamp(ts) > now) return InvalidField(field, "is in the future");
  return absl::OkStatus();
}

absl::Status ValidateDin(absl::string_view field, absl::string_view din) {
  absl::StatusOr<Din> parsed = ParseDin(din);
  if (parsed.ok()) return absl::OkStatus();
  // ParseDin names "din"; report the field as the request names it.
  absl::string_view message = parsed.status().message();
  absl::ConsumePrefix(&message, "din: ");
  return InvalidField(field, message);
}

BloodType FromProtoType(const v1::BloodType& type) { return BloodType{type.abo(), type.rhd()}; }

}  // namespace

// ---------------------------------------------------------------------------------------------

absl::Status ValidateStationId(absl::string_view field, absl::string_view station_id) {
  if (station_id.empty()) return InvalidField(field, "is required");
  if (station_id.size() > 32) return InvalidField(field, "longer than 32 characters");
  for (char c : station_id) {
    if (!IsIdChar(c)) return InvalidField(field, "only the characters A-Z a-z 0-9 _ - are allowed");
  }
  return absl::OkStatus();
}

absl::Status ValidateReservationKey(absl::string_view field, absl::string_view key) {
  if (key.empty()) return InvalidField(field, "is required");
  if (key.size() > 128) return InvalidField(field, "longer than 128 characters");
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '/' && c != '-') {
      return InvalidField(field, "only the characters A-Z a-z 0-9 . _ : / - are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateKnownBloodType(absl::string_view field, const v1::BloodType& type) {
  const BloodType value = FromProtoType(type);
  if (!value.IsKnown()) {
    return InvalidField(field,
                        absl::StrCat("abo and rhd must both be specified; got ", value.ToString()));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t max_chars,
                          bool required) {
  if (required && absl::StripAsciiWhitespace(text).empty())
    return InvalidField(field, "is required");
  if (CharCount(text) > max_chars) {
    return InvalidField(field, absl::StrCat("longer than ", max_chars, " characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateStation(const v1::Station& station) {
  BG_RETURN_IF_ERROR(ValidateStationId("station.station_id", station.station_id()));
  BG_RETURN_IF_ERROR(ValidateText("station.name", station.name(), 100, true));
  if (station.kind() == v1::STATION_KIND_UNSPECIFIED)
    return InvalidField("station.kind", "is required");
  if (!v1::StationKind_IsValid(station.kind())) return InvalidField("station.kind", "unknown kind");
  if (station.has_location()) {
    const double lat = station.location().latitude();
    const double lon = station.location().longitude();
    if (!std::isfinite(lat) || lat < -90 || lat > 90) {
      return InvalidField("station.location.latitude", "must be -90..90");
    }
    if (!std::isfinite(lon) || lon < -180 || lon > 180) {
      return InvalidField("station.location.longitude", "must be -180..180");
    }
  }
  return ValidateText("station.address", station.address(), 300, false);
}

absl::Status ValidateSetParLevel(const v1::SetParLevelRequest& request) {
  BG_RETURN_IF_ERROR(ValidateStationId("station_id", request.station_id()));
  BG_RETURN_IF_ERROR(ValidateComponentRequired("component", request.component()));
  BG_RETURN_IF_ERROR(ValidateKnownBloodType("blood_type", request.blood_type()));
  if (request.minimum() < 0) return InvalidField("minimum", "must be >= 0");
  if (request.target() < request.minimum()) return InvalidField("target", "must be >= minimum");
  return absl::OkStatus();
}

absl::Status ValidateRegisterCollection(const v1::RegisterCollectionRequest& request,
                                        const v1::PolicyProfile& policy, absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
  BG_RETURN_IF_ERROR(ValidateOpaqueId("donor_id", request.donor_id(), true));
  // The donor service records a donation under the same rules (common/donation_rules.h): a
  // donation it accepts is never refused here for its content.
  BG_RETURN_IF_ERROR(ValidateDonationContent(DonationContentOf(request), policy, now));
  if (!BloodType::FromProto(request.blood_type()).ok()) {
    return InvalidField("blood_type", "abo and rhd must both be set, or both unspecified");
  }
  if (request.has_quantity() && request.quantity() <= 0)
    return InvalidField("quantity", "must be > 0");
  return absl::OkStatus();
}

absl::Status ValidateRecordTestResults(const v1::RecordTestResultsRequest& request,
                                       absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
  if (request.results().empty()) return InvalidField("results", "at least one result is required");
  std::set<int> seen;
  for (int i = 0; i < request.results_size(); ++i) {
    const v1::TestResultInput& result = request.results(i);
    const std::string field = absl::StrCat("results[", i, "]");
    if (result.test() == v1::SCREENING_TEST_UNSPECIFIED) {
      return InvalidField(absl::StrCat(field, ".test"), "is required");
    }
    if (!v1::ScreeningTest_IsValid(result.test())) {
      return InvalidField(absl::StrCat(field, ".test"), "unknown test");
    }
    if (!seen.insert(result.test()).second) {
      return InvalidField(absl::StrCat(field, ".test"), "given twice in one call");
    }
    if (result.test() == v1::SCREENING_TEST_ABO_RHD) {
      BG_RETURN_IF_ERROR(
          ValidateKnownBloodType(absl::StrCat(field, ".blood_type"), result.blood_type()));
    }
    if (result.has_tested_at()) {
      BG_RETURN_IF_ERROR(
          ValidateNotFuture(absl::StrCat(field, ".tested_at"), result.tested_at(), now));
    }
    BG_RETURN_IF_ERROR(ValidateText(absl::StrCat(field, ".correction_reason"),
                                    result.correction_reason(), 1000, false));
  }
  return absl::OkStatus();
}

absl::Status ValidateProcessDonation(const v1::ProcessDonationRequest& request, absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
  if (request.components().empty()) return InvalidField("components", "at least one is required");
  if (request.components_size() > 16) return InvalidField("components", "at most 16");
  for (int i = 0; i < request.components_size(); ++i) {
    const v1::ComponentSpec& spec = request.components(i);
    const std::string field = absl::StrCat("components[", i, "]");
    BG_RETURN_IF_ERROR(
        ValidateComponentRequired(absl::StrCat(field, ".component"), spec.component()));
    if (spec.component() == v1::COMPONENT_WHOLE_BLOOD) {
      return InvalidField(absl::StrCat(field, ".component"),
                          "whole blood is not a component to make");
    }
    if (spec.component() == v1::COMPONENT_PLASMA && !spec.has_volume_ml()) {
      return InvalidField(absl::StrCat(field, ".volume_ml"), "is required for plasma");
    }
    if (spec.has_volume_ml() && spec.volume_ml() <= 0) {
      return InvalidField(absl::StrCat(field, ".volume_ml"), "must be > 0");
    }
    if (spec.has_quantity() && spec.quantity() <= 0) {
      return InvalidField(absl::StrCat(field, ".quantity"), "must be > 0");
    }
    const auto prep = spec.preparation();
    if (!v1::PolicyProfile::Preparation_IsValid(prep)) {
      return InvalidField(absl::StrCat(field, ".preparation"), "unknown preparation");
    }
    const bool fits = prep == v1::PolicyProfile::PREPARATION_UNSPECIFIED ||
                      (prep == v1::PolicyProfile::PREPARATION_WASHED &&
                       spec.component() == v1::COMPONENT_RED_CELLS) ||
                      (prep == v1::PolicyProfile::PREPARATION_FROZEN_PLASMA &&
                       spec.component() == v1::COMPONENT_PLASMA) ||
                      (prep == v1::PolicyProfile::PREPARATION_NOT_AGITATED &&
                       spec.component() == v1::COMPONENT_PLATELETS);
    if (!fits) {
      return InvalidField(absl::StrCat(field, ".preparation"), "does not apply to this component");
    }
    if (spec.product_code().size() > 16) {
      return InvalidField(absl::StrCat(field, ".product_code"), "longer than 16 characters");
    }
  }
  if (request.has_processed_at()) {
    BG_RETURN_IF_ERROR(ValidateNotFuture("processed_at", request.processed_at(), now));
  }
  return absl::OkStatus();
}

absl::Status ValidateReserve(const v1::ReserveRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  if (request.station_ids().empty())
    return InvalidField("station_ids", "at least one station is required");
  if (request.station_ids_size() > 64) return InvalidField("station_ids", "at most 64 stations");
  absl::flat_hash_set<std::string> stations;
  for (int i = 0; i < request.station_ids_size(); ++i) {
    const std::string field = absl::StrCat("station_ids[", i, "]");
    BG_RETURN_IF_ERROR(ValidateStationId(field, request.station_ids(i)));
    if (!stations.insert(request.station_ids(i)).second) return InvalidField(field, "listed twice");
  }
  BG_RETURN_IF_ERROR(ValidateComponentRequired("component", request.component()));
  if (request.quantity() <= 0) return InvalidField("quantity", "must be > 0");
  if (request.candidates().empty())
    return InvalidField("candidates", "at least one blood type is required");
  absl::flat_hash_set<BloodType> types;
  int previous_tier = 0;
  for (int i = 0; i < request.candidates_size(); ++i) {
    const v1::CandidateBloodType& candidate = request.candidates(i);
    const std::string field = absl::StrCat("candidates[", i, "]");
    BG_RETURN_IF_ERROR(
        ValidateKnownBloodType(absl::StrCat(field, ".blood_type"), candidate.blood_type()));
    if (!types.insert(FromProtoType(candidate.blood_type())).second) {
      return InvalidField(absl::StrCat(field, ".blood_type"), "listed twice");
    }
    if (candidate.tier() < 0) return InvalidField(absl::StrCat(field, ".tier"), "must be >= 0");
    if (candidate.tier() < previous_tier) {
      return InvalidField(absl::StrCat(field, ".tier"), "tiers must not decrease along the list");
    }
    previous_tier = candidate.tier();
  }
  if (request.priority() == v1::PRIORITY_UNSPECIFIED)
    return InvalidField("priority", "is required");
  if (!v1::Priority_IsValid(request.priority()))
    return InvalidField("priority", "unknown priority");
  if (!request.has_expiry_floor()) return InvalidField("expiry_floor", "is required");
  if (request.hold_seconds() < 0 || request.hold_seconds() > 3600) {
    return InvalidField("hold_seconds", "must be 0-3600");
  }
  BG_RETURN_IF_ERROR(ValidateOpaqueId("order_id", request.order_id(), false));
  return ValidateOpaqueId("hospital_id", request.hospital_id(), false);
}

namespace {
absl::Status ValidateUnitIdList(const google::protobuf::RepeatedPtrField<std::string>& ids,
                                absl::string_view name) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < ids.size(); ++i) {
    const std::string field = absl::StrCat(name, "[", i, "]");
    BG_RETURN_IF_ERROR(ValidateOpaqueId(field, ids.Get(i), true));
    if (!seen.insert(ids.Get(i)).second) return InvalidField(field, "listed twice");
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ValidateRelease(const v1::ReleaseRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  BG_RETURN_IF_ERROR(ValidateUnitIdList(request.unit_ids(), "unit_ids"));
  return ValidateText("reason", request.reason(), 200, false);
}

absl::Status ValidateIssue(const v1::IssueRequest& request) {
  BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  BG_RETURN_IF_ERROR(ValidateUnitIdList(request.unit_ids(), "unit_ids"));
  BG_RETURN_IF_ERROR(ValidateOpaqueId("hospital_id", request.hospital_id(), true));
  return ValidateOpaqueId("order_id", request.order_id(), true);
}

absl::Status ValidateRecordOutcome(const v1::RecordOutcomeRequest& request, absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("unit_id", request.unit_id(), true));
  if (request.outcome() == v1::TRANSFUSION_OUTCOME_UNSPECIFIED)
    return InvalidField("outcome", "is required");
  if (!v1::TransfusionOutcome_IsValid(request.outcome()))
    return InvalidField("outcome", "unknown outcome");
  if (request.outcome() == v1::TRANSFUSION_OUTCOME_RETURNED && !request.has_cold_chain_ok()) {
    return InvalidField("cold_chain_ok", "is required for a returned unit");
  }
  if (!request.return_station_id().empty()) {
    BG_RETURN_IF_ERROR(ValidateStationId("return_station_id", request.return_station_id()));
  }
  BG_RETURN_IF_ERROR(ValidateOpaqueId("order_id", request.order_id(), true));
  if (request.has_occurred_at()) {
    BG_RETURN_IF_ERROR(ValidateNotFuture("occurred_at", request.occurred_at(), now));
  }
  return ValidateText("note", request.note(), 1000, false);
}

absl::Status ValidateCreateTransfer(const v1::CreateTransferRequest& request) {
  BG_RETURN_IF_ERROR(ValidateStationId("from_station_id", request.from_station_id()));
  BG_RETURN_IF_ERROR(ValidateStationId("to_station_id", request.to_station_id()));
  if (request.from_station_id() == request.to_station_id()) {
    return InvalidField("to_station_id", "must differ from from_station_id");
  }
  if (request.items().empty()) return InvalidField("items", "at least one item is required");
  if (request.items_size() > 500) return InvalidField("items", "at most 500 items");
  absl::flat_hash_set<std::string> units;
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::TransferItem& item = request.items(i);
    const std::string field = absl::StrCat("items[", i, "]");
    if (item.has_lot()) {
      if (!request.reservation_key().empty()) {
        return InvalidField(field, "a reservation-bound transfer moves named units only");
      }
      BG_RETURN_IF_ERROR(
          ValidateComponentRequired(absl::StrCat(field, ".lot.component"), item.lot().component()));
      BG_RETURN_IF_ERROR(
          ValidateKnownBloodType(absl::StrCat(field, ".lot.blood_type"), item.lot().blood_type()));
      if (item.lot().quantity() <= 0)
        return InvalidField(absl::StrCat(field, ".lot.quantity"), "must be > 0");
    } else if (item.item_case() == v1::TransferItem::kUnitId) {
      BG_RETURN_IF_ERROR(ValidateOpaqueId(absl::StrCat(field, ".unit_id"), item.unit_id(), true));
      if (!units.insert(item.unit_id()).second) {
        return InvalidField(absl::StrCat(field, ".unit_id"), "the same unit twice");
      }
    } else {
      return InvalidField(field, "set unit_id or lot");
    }
  }
  BG_RETURN_IF_ERROR(ValidateText("reason", request.reason(), 1000, false));
  if (!request.reservation_key().empty()) {
    BG_RETURN_IF_ERROR(ValidateReservationKey("reservation_key", request.reservation_key()));
  }
  return absl::OkStatus();
}

absl::Status ValidateReceiveTransfer(const v1::ReceiveTransferRequest& request, absl::Time now) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("transfer_id", request.transfer_id(), true));
  BG_RETURN_IF_ERROR(ValidateUnitIdList(request.rejected_unit_ids(), "rejected_unit_ids"));
  if (request.has_received_at()) {
    BG_RETURN_IF_ERROR(ValidateNotFuture("received_at", request.received_at(), now));
  }
  return ValidateText("note", request.note(), 1000, false);
}

absl::Status ValidateDiscardUnit(const v1::DiscardUnitRequest& request) {
  switch (request.unit_case()) {
    case v1::DiscardUnitRequest::kUnitId:
      BG_RETURN_IF_ERROR(ValidateOpaqueId("unit_id", request.unit_id(), true));
      break;
    case v1::DiscardUnitRequest::kDin:
      BG_RETURN_IF_ERROR(ValidateDin("din", request.din()));
      break;
    default:
      return InvalidField("unit_id", "set unit_id or din");
  }
  if (request.reason() == v1::DISCARD_REASON_UNSPECIFIED)
    return InvalidField("reason", "is required");
  if (!v1::DiscardReason_IsValid(request.reason())) return InvalidField("reason", "unknown reason");
  return ValidateText("note", request.note(), 1000, request.reason() == v1::DISCARD_REASON_OTHER);
}

absl::Status ValidateQuarantineByDonor(const v1::QuarantineByDonorRequest& request) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("donor_id", request.donor_id(), true));
  BG_RETURN_IF_ERROR(ValidateDin("reactive_din", request.reactive_din()));
  if (request.has_since() && (request.since().seconds() < 0 || request.since().nanos() < 0)) {
    return InvalidField("since", "not a valid instant");
  }
  return ValidateText("reason", request.reason(), 1000, false);
}

absl::Status ValidateListLookbacks(const v1::ListLookbacksRequest& request) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("donor_id", request.donor_id(), false));
  if (!v1::LookbackStatus_IsValid(request.status()))
    return InvalidField("status", "unknown status");
  return absl::OkStatus();
}

absl::Status ValidateGetLookback(const v1::GetLookbackRequest& request) {
  return ValidateOpaqueId("lookback_id", request.lookback_id(), true);
}

absl::Status ValidateListRecalls(const v1::ListRecallsRequest& request) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("hospital_id", request.hospital_id(), true));
  if (!v1::RecallStatus_IsValid(request.status())) return InvalidField("status", "unknown status");
  return absl::OkStatus();
}

absl::Status ValidateAcknowledgeRecall(const v1::AcknowledgeRecallRequest& request) {
  BG_RETURN_IF_ERROR(ValidateOpaqueId("recall_id", request.recall_id(), true));
  BG_RETURN_IF_ERROR(ValidateOpaqueId("hospital_id", request.hospital_id(), true));
  return ValidateText("note", request.note(), 1000, false);
}

}  // namespace bloodgrid::inventory
