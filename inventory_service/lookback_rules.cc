// Lookback cases and recall notices (inventory_rules.h "Lookback cases").
#include <string>

#include "absl/strings/str_cat.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::inventory {

std::string LookbackIdFor(absl::string_view din) { return absl::StrCat("LB-", din); }

std::string MarkerName(v1::ScreeningTest test) {
  switch (test) {
    case v1::SCREENING_TEST_ALT:
      return "ALT";
    case v1::SCREENING_TEST_HBSAG:
      return "HBsAg";
    case v1::SCREENING_TEST_ANTI_HCV:
      return "anti-HCV";
    case v1::SCREENING_TEST_ANTI_HIV:
      return "anti-HIV-1/2";
    case v1::SCREENING_TEST_SYPHILIS:
      return "syphilis";
    case v1::SCREENING_TEST_NAT:
      return "NAT";
    case v1::SCREENING_TEST_ABO_RHD:
      return "ABO/RhD";
    default:
      return "an unspecified test";
  }
}

std::string MarkerList(absl::Span<const v1::ScreeningTest> markers) {
  std::string out;
  for (size_t i = 0; i < markers.size(); ++i) {
    if (i > 0) absl::StrAppend(&out, i + 1 == markers.size() ? " and " : ", ");
    absl::StrAppend(&out, MarkerName(markers[i]));
  }
  return out.empty() ? "a mandatory screen" : out;
}

std::string LookbackReason(absl::string_view reactive_din,
                           absl::Span<const v1::ScreeningTest> markers) {
  return absl::StrCat("lookback: donor reactive for ", MarkerList(markers), " on ", reactive_din);
}

bool HeldWhenCaseOpens(const StoredUnit& unit, absl::Time now) {
  return !IsFinalStatus(unit.unit.status()) && FromTimestamp(unit.unit.expires_at()) > now;
}

bool NotifiedWhenCaseOpens(const v1::Unit& unit) {
  return unit.has_issued_at() && !unit.hospital_id().empty() &&
         unit.status() != v1::UNIT_STATUS_AVAILABLE && unit.status() != v1::UNIT_STATUS_RESERVED &&
         unit.status() != v1::UNIT_STATUS_QUARANTINED &&
         unit.status() != v1::UNIT_STATUS_IN_TRANSIT;
}

RecallText RecallTextFor(const v1::Unit& unit, absl::Span<const v1::ScreeningTest> markers,
                         bool own_donation) {
  RecallText text;
  text.reason = own_donation ? absl::StrCat("a corrected result of this donation is reactive for ",
                                            MarkerList(markers))
                             : absl::StrCat("the donor tested reactive for ", MarkerList(markers),
                                            " on a later donation");
  if (unit.status() == v1::UNIT_STATUS_ISSUED) {
    text.action =
        "do not transfuse: quarantine the unit and return it to the blood centre; if it has "
        "been transfused, inform the patient's clinician for follow-up testing";
  } else {
    text.action =
        "the unit was transfused or is no longer in use: inform the patient's clinician for "
        "follow-up testing of the recipient";
  }
  return text;
}

v1::LookbackStatus CaseStatusFor(int open_notices) {
  return open_notices > 0 ? v1::LOOKBACK_STATUS_OPEN : v1::LOOKBACK_STATUS_ACKNOWLEDGED;
}

bool RecallToAcknowledge(const v1::RecallNotice& notice) {
  return notice.status() != v1::RECALL_STATUS_ACKNOWLEDGED;
}

}  // namespace bloodgrid::inventory
