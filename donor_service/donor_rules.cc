#include "donor_service/donor_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy.h"
#include "common/status.h"

namespace bloodgrid::donor {
namespace {

using v1::PolicyProfile;

std::string Path(absl::string_view prefix, absl::string_view field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}

// Counts the code points of valid UTF-8 without control characters; nullopt otherwise.
std::optional<size_t> CountPrintableCodePoints(absl::string_view text) {
  size_t count = 0;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    int extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      code = c;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= text.size()) return std::nullopt;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      code = (code << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values beyond Unicode are not valid UTF-8.
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMinForLength[extra] || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) {
      return std::nullopt;
    }
    if (code < 0x20 || (code >= 0x7F && code < 0xA0)) return std::nullopt;
    i += extra + 1;
    ++count;
  }
  return count;
}

bool IsDigits(absl::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); });
}

PolicyProfile::Period YearsPeriod(int32_t years) {
  PolicyProfile::Period period;
  period.set_years(years);
  return period;
}

int PeriodDaysUpperBound(const PolicyProfile::Period& period) {
  switch (period.length_case()) {
    case PolicyProfile::Period::kHours:
      return period.hours() / 24 + 1;
    case PolicyProfile::Period::kDays:
      return period.days();
    case PolicyProfile::Period::kWeeks:
      return period.weeks() * 7;
    case PolicyProfile::Period::kMonths:
      return period.months() * 31 + 1;
    case PolicyProfile::Period::kYears:
      return period.years() * 366 + 1;
    case PolicyProfile::Period::LENGTH_NOT_SET:
      return 0;
  }
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Dates, text, ids

absl::StatusOr<absl::CivilDay> ParseDate(absl::string_view text, absl::string_view field) {
  if (text.empty()) return InvalidField(field, "is required (YYYY-MM-DD)");
  int year = 0, month = 0, day = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !IsDigits(text.substr(0, 4)) ||
      !IsDigits(text.substr(5, 2)) || !IsDigits(text.substr(8, 2)) ||
      !absl::SimpleAtoi(text.substr(0, 4), &year) || !absl::SimpleAtoi(text.substr(5, 2), &month) ||
      !absl::SimpleAtoi(text.substr(8, 2), &day)) {
    return InvalidField(field, absl::StrCat("'", text, "' is not a date (YYYY-MM-DD)"));
  }
  const absl::CivilDay parsed(year, month, day);
  // CivilDay normalises 2023-02-29 to 2023-03-01: a changed field means the date does not exist.
  if (parsed.year() != year || parsed.month() != month || parsed.day() != day) {
    return InvalidField(field, absl::StrCat("'", text, "' is not a real date"));
  }
  return parsed;
}

std::string FormatDate(absl::CivilDay day) { return absl::FormatCivilTime(day); }

absl::Status ValidateText(absl::string_view text, absl::string_view field, size_t min_chars,
                          size_t max_chars) {
  const std::optional<size_t> count = CountPrintableCodePoints(text);
  if (!count.has_value()) {
    return InvalidField(field, "must be UTF-8 text without control characters");
  }
  if (*count < min_chars) {
    return InvalidField(field, min_chars == 1
                                   ? std::string("is required")
                                   : absl::StrCat("must be at least ", min_chars, " characters"));
  }
  if (*count > max_chars) {
    return InvalidField(field, absl::StrCat("must be at most ", max_chars, " characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRecordId(absl::string_view id, absl::string_view field, bool required) {
  if (id.empty()) {
    return required ? InvalidField(field, "is required") : absl::OkStatus();
  }
  if (id.size() > 64) return InvalidField(field, "must be at most 64 characters");
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return InvalidField(field, "only the characters A-Z a-z 0-9 . _ : - are allowed");
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Identity and contact

absl::StatusOr<std::string> NormalizeNationalId(absl::string_view raw, absl::string_view field,
                                                absl::CivilDay today) {
  std::string id(absl::StripAsciiWhitespace(raw));
  if (id.empty()) return InvalidField(field, "is required");
  if (id.size() > 32) return InvalidField(field, "must be at most 32 characters");
  if (absl::ascii_isalpha(static_cast<unsigned char>(id.back()))) {
    id.back() = absl::ascii_toupper(static_cast<unsigned char>(id.back()));
  }
  if (id.size() == 18 && IsDigits(absl::string_view(id).substr(0, 17))) {
    // A PRC resident identity number: 6-digit region, 8-digit birth date, 3-digit sequence,
    // check character.
    const char last = id.back();
    if (!absl::ascii_isdigit(static_cast<unsigned char>(last)) && last != 'X') {
      return InvalidField(field,
                          "the 18th character of a resident identity number must be 0-9 or X");
    }
    const std::string birth =
        absl::StrCat(id.substr(6, 4), "-", id.substr(10, 2), "-", id.substr(12, 2));
    absl::StatusOr<absl::CivilDay> born = ParseDate(birth, field);
    if (!born.ok() || *born > today) {
      return InvalidField(field,
                          "characters 7-14 of a resident identity number must be a real "
                          "birth date (YYYYMMDD) not in the future");
    }
    if (ChineseIdCheckCharacter(absl::string_view(id).substr(0, 17)) != last) {
      return InvalidField(field,
                          "check character does not match (ISO 7064 MOD 11-2, GB 11643-1999)");
    }
    return id;
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '(' && c != ')' &&
        c != '/') {
      return InvalidField(field, "only letters, digits and - ( ) / are allowed");
    }
  }
  return id;
}

absl::StatusOr<std::string> NormalizePhone(absl::string_view raw, absl::string_view field) {
  std::string phone;
  for (char c : raw) {
    if (c == ' ' || c == '-') continue;
    phone += c;
  }
  if (phone.empty()) return phone;
  absl::string_view digits = phone;
  if (digits.front() == '+') digits.remove_prefix(1);
  if (!IsDigits(digits) || digits.size() < 6 || digits.size() > 20) {
    return InvalidField(field, "must be an optional '+' and 6-20 digits (spaces and '-' allowed)");
  }
  return phone;
}

absl::Status ValidateEmail(absl::string_view email, absl::string_view field) {
  if (email.empty()) return absl::OkStatus();
  BG_RETURN_IF_ERROR(ValidateText(email, field, 1, 254));
  const size_t at = email.find('@');
  if (at == absl::string_view::npos || at == 0 ||
      email.find('@', at + 1) != absl::string_view::npos) {
    return InvalidField(field, "must be an address like name@example.org");
  }
  const absl::string_view domain = email.substr(at + 1);
  if (domain.size() < 3 || domain.find('.') == absl::string_view::npos || domain.front() == '.' ||
      domain.back() == '.') {
    return InvalidField(field, "must be an address like name@example.org");
  }
  for (char c : email) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return InvalidField(field, "must not contain spaces");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePanels(const google::protobuf::RepeatedField<int>& panels,
                            absl::string_view field) {
  std::set<int> seen;
  for (int i = 0; i < panels.size(); ++i) {
    const int panel = panels.Get(i);
    const std::string path = absl::StrCat(field, "[", i, "]");
    if (!v1::DonorPanel_IsValid(panel)) return InvalidField(path, "unknown panel");
    if (panel == v1::DONOR_PANEL_UNSPECIFIED) {
      return InvalidField(path, "DONOR_PANEL_UNSPECIFIED is not a panel");
    }
    if (!seen.insert(panel).second) return InvalidField(path, "listed twice");
  }
  return absl::OkStatus();
}

absl::Status NormalizeDonorInput(v1::Donor* donor, absl::string_view prefix, absl::CivilDay today) {
  BG_ASSIGN_OR_RETURN(
      std::string national_id,
      NormalizeNationalId(donor->national_id(), Path(prefix, "national_id"), today));
  donor->set_national_id(std::move(national_id));

  donor->set_name(std::string(absl::StripAsciiWhitespace(donor->name())));
  BG_RETURN_IF_ERROR(ValidateText(donor->name(), Path(prefix, "name"), 1, 100));

  if (donor->sex() != v1::SEX_MALE && donor->sex() != v1::SEX_FEMALE) {
    return InvalidField(Path(prefix, "sex"), "must be SEX_MALE or SEX_FEMALE");
  }
  BG_ASSIGN_OR_RETURN(absl::CivilDay birth,
                      ParseDate(donor->birth_date(), Path(prefix, "birth_date")));
  if (birth > today) return InvalidField(Path(prefix, "birth_date"), "must not be in the future");
  if (birth.year() < 1900) return InvalidField(Path(prefix, "birth_date"), "must be after 1900");

  if (donor->has_blood_type()) {
    absl::StatusOr<BloodType> type = BloodType::FromProto(donor->blood_type());
    if (!type.ok() || !(type->IsKnown() || type->IsUnknown())) {
      return InvalidField(Path(prefix, "blood_type"),
                          "must be fully specified (abo and rhd) or left unspecified");
    }
  }

  v1::DonorContact* contact = donor->mutable_contact();
  BG_ASSIGN_OR_RETURN(std::string phone,
                      NormalizePhone(contact->phone(), Path(prefix, "contact.phone")));
  contact->set_phone(std::move(phone));
  contact->set_email(std::string(absl::StripAsciiWhitespace(contact->email())));
  BG_RETURN_IF_ERROR(ValidateEmail(contact->email(), Path(prefix, "contact.email")));
  contact->set_address(std::string(absl::StripAsciiWhitespace(contact->address())));
  BG_RETURN_IF_ERROR(ValidateText(contact->address(), Path(prefix, "contact.address"), 0, 300));

  BG_RETURN_IF_ERROR(
      ValidateRecordId(donor->home_station_id(), Path(prefix, "home_station_id"), false));
  BG_RETURN_IF_ERROR(ValidatePanels(donor->panels(), Path(prefix, "panels")));
  std::sort(donor->mutable_panels()->begin(), donor->mutable_panels()->end());

  donor->clear_donor_id();
  donor->clear_blood_type_confirmed();
  donor->clear_donation_count();
  donor->clear_last_donation_date();
  donor->clear_deferred();
  donor->clear_permanently_deferred();
  donor->clear_has_open_blood_type_conflict();
  donor->clear_had_adverse_reaction();
  donor->clear_version();
  donor->clear_created_at();
  donor->clear_updated_at();
  return absl::OkStatus();
}

absl::Status ValidateDonorUpdateMask(const google::protobuf::FieldMask& mask) {
  static constexpr absl::string_view kUpdatable[] = {
      "national_id",     "name",          "sex",           "birth_date",
      "contact",         "contact.phone", "contact.email", "contact.address",
      "home_station_id", "panels"};
  if (mask.paths_size() == 0) return InvalidField("update_mask", "must name at least one field");
  for (int i = 0; i < mask.paths_size(); ++i) {
    const std::string& path = mask.paths(i);
    if (std::find(std::begin(kUpdatable), std::end(kUpdatable), path) != std::end(kUpdatable)) {
      continue;
    }
    if (path == "blood_type") {
      return InvalidField(absl::StrCat("update_mask.paths[", i, "]"),
                          "blood_type cannot be updated: use RecordBloodTyping or "
                          "ResolveBloodTypeConflict");
    }
    return InvalidField(absl::StrCat("update_mask.paths[", i, "]"),
                        absl::StrCat("'", path, "' cannot be updated"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Donor> ApplyDonorUpdate(const v1::Donor& current, const v1::Donor& update,
                                           const google::protobuf::FieldMask& mask,
                                           absl::CivilDay today) {
  BG_RETURN_IF_ERROR(ValidateDonorUpdateMask(mask));
  v1::Donor next = current;
  for (int i = 0; i < mask.paths_size(); ++i) {
    const std::string& path = mask.paths(i);
    if (path == "national_id") {
      next.set_national_id(update.national_id());
    } else if (path == "name") {
      next.set_name(update.name());
    } else if (path == "sex") {
      next.set_sex(update.sex());
    } else if (path == "birth_date") {
      next.set_birth_date(update.birth_date());
    } else if (path == "contact") {
      *next.mutable_contact() = update.contact();
    } else if (path == "contact.phone") {
      next.mutable_contact()->set_phone(update.contact().phone());
    } else if (path == "contact.email") {
      next.mutable_contact()->set_email(update.contact().email());
    } else if (path == "contact.address") {
      next.mutable_contact()->set_address(update.contact().address());
    } else if (path == "home_station_id") {
      next.set_home_station_id(update.home_station_id());
    } else if (path == "panels") {
      *next.mutable_panels() = update.panels();
    }
  }
  v1::Donor normalized = next;
  BG_RETURN_IF_ERROR(NormalizeDonorInput(&normalized, "donor", today));
  // Keep the record's own and output-only fields.
  normalized.set_donor_id(current.donor_id());
  *normalized.mutable_blood_type() = current.blood_type();
  normalized.set_blood_type_confirmed(current.blood_type_confirmed());
  normalized.set_donation_count(current.donation_count());
  normalized.set_last_donation_date(current.last_donation_date());
  normalized.set_deferred(current.deferred());
  normalized.set_permanently_deferred(current.permanently_deferred());
  normalized.set_has_open_blood_type_conflict(current.has_open_blood_type_conflict());
  normalized.set_had_adverse_reaction(current.had_adverse_reaction());
  normalized.set_version(current.version());
  *normalized.mutable_created_at() = current.created_at();
  *normalized.mutable_updated_at() = current.updated_at();
  return normalized;
}

std::vector<std::string> ChangedDonorFields(const v1::Donor& before, const v1::Donor& after) {
  std::vector<std::string> changed;
  if (before.national_id() != after.national_id()) changed.push_back("national_id");
  if (before.name() != after.name()) changed.push_back("name");
  if (before.sex() != after.sex()) changed.push_back("sex");
  if (before.birth_date() != after.birth_date()) changed.push_back("birth_date");
  if (before.contact().phone() != after.contact().phone()) changed.push_back("contact.phone");
  if (before.contact().email() != after.contact().email()) changed.push_back("contact.email");
  if (before.contact().address() != after.contact().address()) {
    changed.push_back("contact.address");
  }
  if (before.home_station_id() != after.home_station_id()) changed.push_back("home_station_id");
  if (!std::equal(before.panels().begin(), before.panels().end(), after.panels().begin(),
                  after.panels().end())) {
    changed.push_back("panels");
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// Blood typing

TypingOutcome DecideTyping(BloodType recorded, BloodType typed) {
  if (!recorded.IsKnown()) return TypingOutcome::kAssigned;
  return recorded == typed ? TypingOutcome::kConfirmed : TypingOutcome::kConflict;
}

TypingChange DecideTypingChange(const v1::Donor& current, BloodType typed) {
  TypingChange change;
  absl::StatusOr<BloodType> recorded = BloodType::FromProto(current.blood_type());
  change.recorded = recorded.ok() ? *recorded : BloodType::Unknown();
  change.typed = typed;
  change.outcome = DecideTyping(change.recorded, typed);
  switch (change.outcome) {
    case TypingOutcome::kAssigned:
      change.set_blood_type = true;
      break;
    case TypingOutcome::kConfirmed:
      change.set_blood_type = !current.blood_type_confirmed();
      break;
    case TypingOutcome::kConflict:
      change.open_conflict = true;
      break;
  }
  return change;
}

absl::StatusOr<BloodType> RequireKnownBloodType(const v1::BloodType& proto,
                                                absl::string_view field) {
  absl::StatusOr<BloodType> type = BloodType::FromProto(proto);
  if (!type.ok() || !type->IsKnown()) {
    return InvalidField(field, "must be fully specified (abo and rhd)");
  }
  return *type;
}

// ---------------------------------------------------------------------------------------------
// Deferrals in force

bool DeferralInForceOn(const DeferralSpan& deferral, absl::CivilDay day) {
  return !deferral.voided && deferral.start_date <= day &&
         (!deferral.ends_on || day < *deferral.ends_on);
}

bool IsPermanentDeferral(v1::DeferralKind kind) { return kind == v1::DEFERRAL_KIND_PERMANENT; }

bool PermanentDeferralInForceOn(v1::DeferralKind kind, const DeferralSpan& deferral,
                                absl::CivilDay day) {
  return IsPermanentDeferral(kind) && DeferralInForceOn(deferral, day);
}

// ---------------------------------------------------------------------------------------------
// Eligibility in the contract's terms

v1::EligibilityReasonCode ToProtoReasonCode(ReasonCode code) {
  switch (code) {
    case ReasonCode::kAgeBelowMin:
      return v1::ELIGIBILITY_REASON_AGE_BELOW_MIN;
    case ReasonCode::kAgeAboveMax:
      return v1::ELIGIBILITY_REASON_AGE_ABOVE_MAX;
    case ReasonCode::kDeferredTemporary:
      return v1::ELIGIBILITY_REASON_DEFERRED_TEMPORARY;
    case ReasonCode::kDeferredPermanent:
      return v1::ELIGIBILITY_REASON_DEFERRED_PERMANENT;
    case ReasonCode::kIntervalNotElapsed:
      return v1::ELIGIBILITY_REASON_INTERVAL_NOT_ELAPSED;
    case ReasonCode::kDonationCountCap:
      return v1::ELIGIBILITY_REASON_DONATION_COUNT_CAP;
    case ReasonCode::kCollectedVolumeCap:
      return v1::ELIGIBILITY_REASON_DONATION_VOLUME_CAP;
    case ReasonCode::kVolumeNotAllowed:
      return v1::ELIGIBILITY_REASON_VOLUME_NOT_ALLOWED;
    case ReasonCode::kWeightBelowMin:
      return v1::ELIGIBILITY_REASON_WEIGHT_LOW;
    case ReasonCode::kHemoglobinBelowMin:
      return v1::ELIGIBILITY_REASON_HEMOGLOBIN_LOW;
    case ReasonCode::kSystolicOutOfRange:
      return v1::ELIGIBILITY_REASON_SYSTOLIC_OUT_OF_RANGE;
    case ReasonCode::kDiastolicOutOfRange:
      return v1::ELIGIBILITY_REASON_DIASTOLIC_OUT_OF_RANGE;
    case ReasonCode::kPulseOutOfRange:
      return v1::ELIGIBILITY_REASON_PULSE_OUT_OF_RANGE;
    case ReasonCode::kPulsePressureBelowMin:
      return v1::ELIGIBILITY_REASON_PULSE_PRESSURE_LOW;
    case ReasonCode::kHematocritBelowMin:
      return v1::ELIGIBILITY_REASON_HEMATOCRIT_LOW;
    case ReasonCode::kPlateletCountOutOfRange:
      return v1::ELIGIBILITY_REASON_PLATELET_COUNT_OUT_OF_RANGE;
    case ReasonCode::kMissingInput:
      return v1::ELIGIBILITY_REASON_UNSPECIFIED;
  }
  return v1::ELIGIBILITY_REASON_UNSPECIFIED;
}

absl::StatusOr<Screening> ScreeningFromProto(const v1::DonorScreening& proto) {
  auto positive = [](double value) { return std::isfinite(value) && value > 0; };
  Screening s;
  if (proto.has_weight_kg()) {
    if (!positive(proto.weight_kg())) return InvalidField("screening.weight_kg", "must be > 0");
    s.weight_kg = proto.weight_kg();
  }
  if (proto.has_hemoglobin_g_l()) {
    if (!positive(proto.hemoglobin_g_l())) {
      return InvalidField("screening.hemoglobin_g_l", "must be > 0");
    }
    s.hemoglobin_g_l = proto.hemoglobin_g_l();
  }
  if (proto.has_systolic_mmhg()) {
    if (proto.systolic_mmhg() <= 0) return InvalidField("screening.systolic_mmhg", "must be > 0");
    s.systolic_mmhg = proto.systolic_mmhg();
  }
  if (proto.has_diastolic_mmhg()) {
    if (proto.diastolic_mmhg() <= 0) return InvalidField("screening.diastolic_mmhg", "must be > 0");
    s.diastolic_mmhg = proto.diastolic_mmhg();
  }
  if (proto.has_pulse_bpm()) {
    if (proto.pulse_bpm() <= 0) return InvalidField("screening.pulse_bpm", "must be > 0");
    s.pulse_bpm = proto.pulse_bpm();
  }
  if (proto.has_hematocrit()) {
    if (!positive(proto.hematocrit()) || proto.hematocrit() > 1) {
      return InvalidField("screening.hematocrit", "must be a fraction in (0, 1] (0.40, not 40)");
    }
    s.hematocrit = proto.hematocrit();
  }
  if (proto.has_platelet_count_e9_l()) {
    if (proto.platelet_count_e9_l() <= 0) {
      return InvalidField("screening.platelet_count_e9_l", "must be > 0");
    }
    s.platelet_count_e9_l = proto.platelet_count_e9_l();
  }
  return s;
}

std::vector<std::string> MissingScreeningFields(const v1::DonorScreening& proto,
                                                v1::DonationType type) {
  std::vector<std::string> missing;
  if (!proto.has_weight_kg()) missing.push_back("screening.weight_kg");
  if (!proto.has_hemoglobin_g_l()) missing.push_back("screening.hemoglobin_g_l");
  if (!proto.has_systolic_mmhg()) missing.push_back("screening.systolic_mmhg");
  if (!proto.has_diastolic_mmhg()) missing.push_back("screening.diastolic_mmhg");
  if (!proto.has_pulse_bpm()) missing.push_back("screening.pulse_bpm");
  if (type == v1::DONATION_TYPE_APHERESIS_PLATELETS) {
    if (!proto.has_hematocrit()) missing.push_back("screening.hematocrit");
    if (!proto.has_platelet_count_e9_l()) missing.push_back("screening.platelet_count_e9_l");
  }
  return missing;
}

v1::CheckEligibilityResponse EligibilityResponse(const EligibilityResult& result,
                                                 const std::vector<DeferralInForce>& deferrals,
                                                 std::vector<std::string> unchecked,
                                                 const v1::PolicyProfile& policy) {
  v1::CheckEligibilityResponse response;
  response.set_eligible(result.eligible);
  // The engine reports deferral reasons in the order of its input: match them to their ids in
  // that order (the same code may be deferred twice).
  std::vector<bool> used(deferrals.size(), false);
  for (const Reason& reason : result.reasons) {
    v1::EligibilityReason* out = response.add_reasons();
    out->set_code(ToProtoReasonCode(reason.code));
    out->set_message(reason.text);
    if (reason.until) out->set_clears_on(FormatDate(*reason.until));
    if (reason.code == ReasonCode::kDeferredTemporary ||
        reason.code == ReasonCode::kDeferredPermanent) {
      for (size_t i = 0; i < deferrals.size(); ++i) {
        const ActiveDeferral& d = deferrals[i].deferral;
        if (!used[i] && d.code == reason.detail && d.until == reason.until) {
          used[i] = true;
          out->set_deferral_id(deferrals[i].deferral_id);
          break;
        }
      }
    }
  }
  if (result.calendar_eligible_date) {
    response.set_next_eligible_date(FormatDate(*result.calendar_eligible_date));
  }
  for (std::string& field : unchecked) response.add_unchecked(std::move(field));
  response.set_policy_profile(PolicyLabel(policy));
  return response;
}

absl::Status IneligibleStatus(absl::string_view donor_id,
                              const v1::CheckEligibilityResponse& response) {
  if (response.eligible()) return absl::OkStatus();
  std::vector<std::string> codes;
  for (const v1::EligibilityReason& reason : response.reasons()) {
    std::string name = v1::EligibilityReasonCode_Name(reason.code());
    if (std::find(codes.begin(), codes.end(), name) == codes.end()) codes.push_back(name);
  }
  return absl::FailedPreconditionError(
      absl::StrCat("donor ", donor_id, " not eligible: ", absl::StrJoin(codes, ", ")));
}

std::string PolicyLabel(const v1::PolicyProfile& policy) {
  return absl::StrCat(policy.name(), "@", policy.version());
}

absl::Status DonationNotFound(absl::string_view din) {
  return absl::NotFoundError(absl::StrCat("donation with din ", din, " not found"));
}

absl::Status VoidedDinStatus(const v1::Donation& voided) {
  return absl::FailedPreconditionError(absl::StrCat("din: ", voided.din(), " was voided (",
                                                    voided.void_reason(),
                                                    "); a new collection needs a new DIN"));
}

int HistoryLookbackDays(const v1::PolicyProfile& policy) {
  int days = 1;
  for (const auto& rule : policy.intervals().rules()) {
    days = std::max(days, PeriodDaysUpperBound(rule.min_interval()));
  }
  for (const auto& cap : policy.intervals().caps()) {
    days = std::max(days, PeriodDaysUpperBound(cap.window()));
  }
  return days + 1;
}

// ---------------------------------------------------------------------------------------------
// Appeal ranking

bool AppealOpenAt(absl::Time closes_at, absl::Time now) { return now < closes_at; }

bool AppealRanksBefore(const AppealRankFacts& a, const AppealRankFacts& b) {
  if (a.priority_panel != b.priority_panel) return a.priority_panel;
  if (a.home_station_match != b.home_station_match) return a.home_station_match;
  if (a.last_donation != b.last_donation) {
    if (!a.last_donation) return true;  // never donated: the longest since
    if (!b.last_donation) return false;
    return *a.last_donation < *b.last_donation;
  }
  return a.donor_id < b.donor_id;
}

void RankAppealCandidates(std::vector<AppealRankFacts>& candidates) {
  std::sort(candidates.begin(), candidates.end(), AppealRanksBefore);
}

int32_t DaysSinceLastDonation(const std::optional<absl::CivilDay>& last, absl::CivilDay on_date) {
  if (!last) return -1;
  return static_cast<int32_t>(on_date - *last);
}

// ---------------------------------------------------------------------------------------------
// Reimbursement ledger arithmetic

int32_t CountedVolumeMl(const v1::PolicyProfile::Reimbursement& rules, v1::DonationType type,
                        int32_t volume_ml) {
  // DOMAIN.md section 6: one apheresis platelet donation counts as a fixed whole-blood volume.
  if (type == v1::DONATION_TYPE_APHERESIS_PLATELETS)
    return rules.apheresis_platelets_ml_equivalent();
  return volume_ml;
}

absl::StatusOr<BalanceFigures> ComputeBalance(const v1::PolicyProfile::Reimbursement& rules,
                                              const std::vector<CreditInput>& credits,
                                              int64_t self_claimed_ml, int64_t relatives_claimed_ml,
                                              absl::CivilDay as_of) {
  if (self_claimed_ml < 0) return InvalidField("self_claimed_ml", "must be >= 0");
  if (relatives_claimed_ml < 0) return InvalidField("relatives_claimed_ml", "must be >= 0");
  BalanceFigures out;
  out.as_of = as_of;
  out.self_claimed_ml = self_claimed_ml;
  out.relatives_claimed_ml = relatives_claimed_ml;
  int64_t counted_total = 0;
  for (size_t i = 0; i < credits.size(); ++i) {
    const CreditInput& credit = credits[i];
    if (credit.counted_volume_ml < 0) {
      return InvalidField(absl::StrCat("credits[", i, "].counted_volume_ml"), "must be >= 0");
    }
    if (credit.donation_date > as_of) continue;
    const int years_since = AgeInYears(credit.donation_date, as_of);
    CreditFigure figure;
    figure.credit = credit;
    for (const auto& tier : rules.donor_tiers()) {
      if (tier.has_within_years() && years_since >= tier.within_years()) continue;
      figure.multiplier = tier.multiplier();
      if (tier.has_within_years()) {
        figure.tier_ends_on = AddPeriod(credit.donation_date, YearsPeriod(tier.within_years()));
      }
      break;
    }
    counted_total += credit.counted_volume_ml;
    out.self_entitlement_ml +=
        static_cast<int64_t>(std::floor(credit.counted_volume_ml * figure.multiplier + 1e-9));
    out.credits.push_back(std::move(figure));
  }
  out.cumulative_donated_ml = counted_total;
  out.lifetime_free =
      rules.lifetime_free_threshold_ml() > 0 && counted_total >= rules.lifetime_free_threshold_ml();
  out.relatives_entitlement_ml =
      static_cast<int64_t>(std::floor(counted_total * rules.relatives_multiplier() + 1e-9));
  out.self_available_ml = std::max<int64_t>(0, out.self_entitlement_ml - self_claimed_ml);
  out.relatives_available_ml =
      std::max<int64_t>(0, out.relatives_entitlement_ml - relatives_claimed_ml);
  return out;
}

bool IsRelative(v1::ClaimantRelation relation) {
  return relation == v1::CLAIMANT_RELATION_SPOUSE || relation == v1::CLAIMANT_RELATION_PARENT ||
         relation == v1::CLAIMANT_RELATION_CHILD;
}

absl::StatusOr<ClaimDecision> DecideClaim(const BalanceFigures& balance,
                                          v1::ClaimantRelation relation, int32_t volume_ml,
                                          int64_t blood_fee) {
  if (relation != v1::CLAIMANT_RELATION_SELF && !IsRelative(relation)) {
    return InvalidField("claimant_relation", "must be SELF, SPOUSE, PARENT or CHILD");
  }
  if (volume_ml <= 0) return InvalidField("volume_ml", "must be > 0");
  if (blood_fee < 0) return InvalidField("blood_fee", "must be >= 0");
  int64_t available = 0;
  if (relation == v1::CLAIMANT_RELATION_SELF) {
    available = balance.lifetime_free ? volume_ml : balance.self_available_ml;
  } else {
    available = balance.relatives_available_ml;
  }
  ClaimDecision decision;
  decision.covered_volume_ml = static_cast<int32_t>(std::min<int64_t>(volume_ml, available));
  if (decision.covered_volume_ml <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("nothing left to claim for ",
                     relation == v1::CLAIMANT_RELATION_SELF ? "the donor" : "the donor's relatives",
                     ": available balance is 0 mL on ", FormatDate(balance.as_of)));
  }
  // Proportional share of the fee, rounded down; 128-bit so a large fee cannot overflow.
  const __int128 share = static_cast<__int128>(blood_fee) * decision.covered_volume_ml / volume_ml;
  decision.reimbursed_amount = static_cast<int64_t>(share);
  return decision;
}

BalanceFigures AfterClaim(const BalanceFigures& balance, v1::ClaimantRelation relation,
                          int32_t covered_ml) {
  BalanceFigures after = balance;
  if (relation == v1::CLAIMANT_RELATION_SELF) {
    after.self_claimed_ml += covered_ml;
  } else {
    after.relatives_claimed_ml += covered_ml;
  }
  after.self_available_ml = std::max<int64_t>(0, after.self_entitlement_ml - after.self_claimed_ml);
  after.relatives_available_ml =
      std::max<int64_t>(0, after.relatives_entitlement_ml - after.relatives_claimed_ml);
  return after;
}

v1::ReimbursementBalance BalanceToProto(const BalanceFigures& balance, absl::string_view donor_id,
                                        const v1::PolicyProfile& policy) {
  v1::ReimbursementBalance out;
  out.set_donor_id(std::string(donor_id));
  out.set_as_of_date(FormatDate(balance.as_of));
  out.set_cumulative_donated_ml(static_cast<int32_t>(
      std::min<int64_t>(balance.cumulative_donated_ml, std::numeric_limits<int32_t>::max())));
  out.set_lifetime_free(balance.lifetime_free);
  out.set_self_available_ml(balance.self_available_ml);
  out.set_relatives_available_ml(balance.relatives_available_ml);
  out.set_self_claimed_ml(balance.self_claimed_ml);
  out.set_relatives_claimed_ml(balance.relatives_claimed_ml);
  for (const CreditFigure& figure : balance.credits) {
    v1::DonationCredit* credit = out.add_credits();
    credit->set_din(figure.credit.din);
    credit->set_donation_date(FormatDate(figure.credit.donation_date));
    credit->set_counted_volume_ml(figure.credit.counted_volume_ml);
    credit->set_multiplier(figure.multiplier);
    if (figure.tier_ends_on) credit->set_tier_ends_on(FormatDate(*figure.tier_ends_on));
  }
  out.set_policy_profile(PolicyLabel(policy));
  return out;
}

absl::StatusOr<std::string> NormalizeInvoiceNo(absl::string_view raw, absl::string_view field) {
  std::string invoice = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(raw));
  BG_RETURN_IF_ERROR(ValidateText(invoice, field, 1, 64));
  return invoice;
}

absl::Status CheckExpectedVersion(const v1::Donor& current, std::optional<int64_t> expected) {
  if (!expected || *expected == current.version()) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("donor ", current.donor_id(), " is at version ",
                                         current.version(), ", not the expected ", *expected,
                                         "; re-read and retry"));
}

}  // namespace bloodgrid::donor
