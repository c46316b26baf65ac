#include "donor_service/donor_operations.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/din.h"
#include "common/donation_rules.h"
#include "common/idempotency.h"
#include "common/page_token.h"
#include "common/policy.h"
#include "common/proto_time.h"
#include "common/status.h"

namespace bloodgrid::donor {
namespace {

// How long an appeal stays open when the request does not say (CreateAppealRequest.closes_at).
constexpr absl::Duration kDefaultAppealDuration = absl::Hours(72);
// Contract limits (donor.proto).
constexpr int kMaxAppealCandidates = 200;
constexpr int kMaxAppealDonors = 500;

absl::StatusOr<PageQuery> PageFrom(int32_t page_size, const std::string& token,
                                   uint64_t filter_hash) {
  BG_ASSIGN_OR_RETURN(int size, EffectivePageSize(page_size));
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(token, filter_hash));
  PageQuery query;
  query.page_size = size;
  if (!token.empty()) query.after = cursor;
  return query;
}

std::string NextPageToken(const std::optional<v1::PageCursor>& next, uint64_t filter_hash) {
  if (!next) return "";
  v1::PageCursor cursor = *next;
  cursor.set_filter_hash(filter_hash);
  return EncodePageToken(cursor);
}

absl::StatusOr<std::string> CanonicalDin(const std::string& text, absl::string_view field) {
  absl::StatusOr<Din> din = ParseDin(text);
  if (!din.ok()) {
    // ParseDin's messages start with "din: "; name the request's own field.
    absl::string_view message = din.status().message();
    absl::ConsumePrefix(&message, "din: ");
    return InvalidField(field, message);
  }
  return din->ToString();
}

absl::StatusOr<v1::DonationType> DonationTypeOrDefault(v1::DonationType type,
                                                       absl::string_view field) {
  if (!v1::DonationType_IsValid(type)) return InvalidField(field, "unknown donation type");
  return type == v1::DONATION_TYPE_UNSPECIFIED ? v1::DONATION_TYPE_WHOLE_BLOOD : type;
}

absl::Status RequireDonationType(v1::DonationType type, absl::string_view field) {
  if (!v1::DonationType_IsValid(type) || type == v1::DONATION_TYPE_UNSPECIFIED) {
    return InvalidField(field, "must be specified");
  }
  return absl::OkStatus();
}

absl::Status ValidateOptionalText(const std::string& text, absl::string_view field,
                                  size_t max_chars) {
  return ValidateText(text, field, 0, max_chars);
}

// The eligibility engine's view of a stored donor. Stored birth dates are valid; a donor whose
// record cannot be read is reported rather than guessed.
absl::StatusOr<DonorFacts> FactsOf(const v1::Donor& donor, bool repeat_donor) {
  DonorFacts facts;
  facts.sex = donor.sex();
  BG_ASSIGN_OR_RETURN(facts.birth_date, ParseDate(donor.birth_date(), "donor.birth_date"));
  facts.repeat_donor = repeat_donor;
  facts.adverse_reaction_history = donor.had_adverse_reaction();
  return facts;
}

std::vector<ActiveDeferral> EngineDeferrals(const std::vector<DeferralInForce>& deferrals) {
  std::vector<ActiveDeferral> out;
  out.reserve(deferrals.size());
  for (const DeferralInForce& d : deferrals) out.push_back(d.deferral);
  return out;
}

}  // namespace

DonorOperations::DonorOperations(const v1::PolicyProfile& policy, DonorStore* store,
                                 absl::TimeZone time_zone)
    : policy_(policy), store_(store), time_zone_(time_zone) {}

absl::StatusOr<absl::CivilDay> DonorOperations::DayOrToday(const std::string& text,
                                                           const std::string& field,
                                                           const CallContext& call) const {
  if (text.empty()) return call.today;
  return ParseDate(text, field);
}

// ---------------------------------------------------------------------------------------------
// Registry

absl::StatusOr<v1::Donor> DonorOperations::RegisterDonor(const CallContext& context,
                                                         const v1::RegisterDonorRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("RegisterDonor", context.actor, request.request_id(), request));
  const CallContext call = context.WithRequestId(request.request_id());
  if (!request.has_donor()) return InvalidField("donor", "is required");
  v1::Donor donor = request.donor();
  BG_RETURN_IF_ERROR(NormalizeDonorInput(&donor, "donor", call.today));
  return store_->RegisterDonor(call, key, donor);
}

absl::StatusOr<v1::Donor> DonorOperations::GetDonor(const CallContext& call,
                                                    const v1::GetDonorRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  return store_->GetDonor(call, request.donor_id());
}

absl::StatusOr<v1::Donor> DonorOperations::UpdateDonor(const CallContext& context,
                                                       const v1::UpdateDonorRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("UpdateDonor", context.actor, request.request_id(), request));
  const CallContext call = context.WithRequestId(request.request_id());
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor().donor_id(), "donor.donor_id", true));
  BG_RETURN_IF_ERROR(ValidateDonorUpdateMask(request.update_mask()));
  // Check the new values before touching the store: applied to a valid stand-in record, only
  // the fields the mask names can fail.
  v1::Donor stand_in;
  stand_in.set_national_id("X");
  stand_in.set_name("X");
  stand_in.set_sex(v1::SEX_FEMALE);
  stand_in.set_birth_date("1990-01-01");
  BG_RETURN_IF_ERROR(
      ApplyDonorUpdate(stand_in, request.donor(), request.update_mask(), call.today).status());
  std::optional<int64_t> expected;
  if (request.has_expected_version()) expected = request.expected_version();
  return store_->UpdateDonor(
      call, key, request.donor().donor_id(), expected, [&](const v1::Donor& current) {
        return ApplyDonorUpdate(current, request.donor(), request.update_mask(), call.today);
      });
}

absl::StatusOr<v1::SearchDonorsResponse> DonorOperations::SearchDonors(
    const CallContext& call, const v1::SearchDonorsRequest& request) {
  DonorFilter filter;
  if (!request.national_id().empty()) {
    BG_ASSIGN_OR_RETURN(filter.national_id,
                        NormalizeNationalId(request.national_id(), "national_id", call.today));
  }
  filter.name_prefix = std::string(absl::StripAsciiWhitespace(request.name_prefix()));
  BG_RETURN_IF_ERROR(ValidateOptionalText(filter.name_prefix, "name_prefix", 100));
  BG_ASSIGN_OR_RETURN(filter.phone, NormalizePhone(request.phone(), "phone"));
  if (request.has_blood_type() && (request.blood_type().abo() != v1::ABO_GROUP_UNSPECIFIED ||
                                   request.blood_type().rhd() != v1::RH_D_UNSPECIFIED)) {
    BG_ASSIGN_OR_RETURN(filter.blood_type,
                        RequireKnownBloodType(request.blood_type(), "blood_type"));
  }
  if (!v1::DonorPanel_IsValid(request.panel())) return InvalidField("panel", "unknown panel");
  filter.panel = request.panel();
  BG_RETURN_IF_ERROR(ValidateRecordId(request.home_station_id(), "home_station_id", false));
  filter.home_station_id = request.home_station_id();

  const std::string abo = filter.blood_type ? std::to_string(filter.blood_type->abo) : "";
  const std::string rhd = filter.blood_type ? std::to_string(filter.blood_type->rhd) : "";
  const std::string panel = std::to_string(filter.panel);
  const uint64_t filter_hash = FilterHash({"SearchDonors", filter.national_id, filter.name_prefix,
                                           filter.phone, abo, rhd, panel, filter.home_station_id});
  BG_ASSIGN_OR_RETURN(PageQuery page,
                      PageFrom(request.page_size(), request.page_token(), filter_hash));
  BG_ASSIGN_OR_RETURN(Page<v1::Donor> found, store_->SearchDonors(call, filter, page));
  v1::SearchDonorsResponse response;
  for (v1::Donor& donor : found.items) *response.add_donors() = std::move(donor);
  response.set_next_page_token(NextPageToken(found.next, filter_hash));
  return response;
}

// ---------------------------------------------------------------------------------------------
// Blood typing

absl::StatusOr<v1::RecordBloodTypingResponse> DonorOperations::RecordBloodTyping(
    const CallContext& context, const v1::RecordBloodTypingRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("RecordBloodTyping", context.actor, request.request_id(), request));
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  BG_ASSIGN_OR_RETURN(BloodType typed, RequireKnownBloodType(request.blood_type(), "blood_type"));
  BG_ASSIGN_OR_RETURN(std::string din, CanonicalDin(request.din(), "din"));
  std::optional<absl::Time> typed_at;
  if (request.has_typed_at()) {
    BG_ASSIGN_OR_RETURN(typed_at, ParseTimestamp("typed_at", request.typed_at()));
  }
  return store_->RecordBloodTyping(
      context.WithRequestId(request.request_id()), key, request.donor_id(), din, typed_at,
      [&](const v1::Donor& current) { return DecideTypingChange(current, typed); });
}

absl::StatusOr<v1::ListBloodTypeConflictsResponse> DonorOperations::ListBloodTypeConflicts(
    const CallContext& call, const v1::ListBloodTypeConflictsRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", false));
  const uint64_t filter_hash = FilterHash(
      {"ListBloodTypeConflicts", request.donor_id(), request.open_only() ? "open" : "all"});
  BG_ASSIGN_OR_RETURN(PageQuery page,
                      PageFrom(request.page_size(), request.page_token(), filter_hash));
  BG_ASSIGN_OR_RETURN(
      Page<v1::BloodTypeConflict> found,
      store_->ListBloodTypeConflicts(call, request.donor_id(), request.open_only(), page));
  v1::ListBloodTypeConflictsResponse response;
  for (auto& conflict : found.items) *response.add_conflicts() = std::move(conflict);
  response.set_next_page_token(NextPageToken(found.next, filter_hash));
  return response;
}

absl::StatusOr<v1::BloodTypeConflict> DonorOperations::ResolveBloodTypeConflict(
    const CallContext& context, const v1::ResolveBloodTypeConflictRequest& request) {
  BG_ASSIGN_OR_RETURN(db::IdempotencyKey key,
                      db::MakeIdempotencyKey("ResolveBloodTypeConflict", context.actor,
                                             request.request_id(), request));
  BG_RETURN_IF_ERROR(ValidateRecordId(request.conflict_id(), "conflict_id", true));
  BG_ASSIGN_OR_RETURN(BloodType resolved,
                      RequireKnownBloodType(request.resolved_blood_type(), "resolved_blood_type"));
  BG_RETURN_IF_ERROR(ValidateText(request.resolved_by(), "resolved_by", 1, 100));
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.note(), "note", 1000));
  return store_->ResolveBloodTypeConflict(context.WithRequestId(request.request_id()), key,
                                          request.conflict_id(), resolved, request.resolved_by(),
                                          request.note());
}

// ---------------------------------------------------------------------------------------------
// Eligibility

absl::StatusOr<v1::CheckEligibilityResponse> DonorOperations::CheckEligibility(
    const CallContext& call, const v1::CheckEligibilityRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  BG_RETURN_IF_ERROR(RequireDonationType(request.donation_type(), "donation_type"));
  BG_ASSIGN_OR_RETURN(absl::CivilDay on_date, DayOrToday(request.on_date(), "on_date", call));
  BG_ASSIGN_OR_RETURN(Screening screening, ScreeningFromProto(request.screening()));
  if (request.has_volume_ml() && request.volume_ml() <= 0) {
    return InvalidField("volume_ml", "must be > 0");
  }
  BG_ASSIGN_OR_RETURN(EligibilityInputs inputs,
                      store_->LoadEligibilityInputs(call, request.donor_id(), on_date));
  BG_ASSIGN_OR_RETURN(DonorFacts facts, FactsOf(inputs.donor, /*repeat_donor=*/false));
  if (on_date < facts.birth_date)
    return InvalidField("on_date", "is before the donor's birth date");
  EligibilityQuery query;
  query.donor = facts;
  query.history = std::move(inputs.history);
  query.deferrals = EngineDeferrals(inputs.deferrals);
  query.screening = screening;
  query.donation_type = request.donation_type();
  if (request.has_volume_ml()) query.volume_ml = request.volume_ml();
  query.on_date = on_date;
  query.kind = CheckKind::kPreCheck;
  BG_ASSIGN_OR_RETURN(EligibilityResult result, bloodgrid::donor::CheckEligibility(query, policy_));
  return EligibilityResponse(result, inputs.deferrals,
                             MissingScreeningFields(request.screening(), request.donation_type()),
                             policy_);
}

// ---------------------------------------------------------------------------------------------
// Deferrals

absl::StatusOr<v1::Deferral> DonorOperations::DeferDonor(const CallContext& context,
                                                         const v1::DeferDonorRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("DeferDonor", context.actor, request.request_id(), request));
  const CallContext call = context.WithRequestId(request.request_id());
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  const v1::PolicyProfile::DeferralReason* entry =
      FindDeferralReason(policy_, request.reason_code());
  if (entry == nullptr) {
    return InvalidField("reason_code", absl::StrCat("'", request.reason_code(),
                                                    "' is not in the deferral catalogue of ",
                                                    PolicyLabel(policy_)));
  }
  if (!v1::DeferralKind_IsValid(request.kind())) return InvalidField("kind", "unknown kind");
  DeferralDraft draft;
  draft.donor_id = request.donor_id();
  draft.reason_code = entry->code();
  draft.kind = request.kind();
  if (draft.kind == v1::DEFERRAL_KIND_UNSPECIFIED) {
    draft.kind = entry->permanent() ? v1::DEFERRAL_KIND_PERMANENT : v1::DEFERRAL_KIND_TEMPORARY;
  }
  if (draft.kind == v1::DEFERRAL_KIND_TEMPORARY && entry->permanent()) {
    return InvalidField("kind", absl::StrCat(entry->code(), " is a permanent deferral"));
  }
  BG_ASSIGN_OR_RETURN(draft.start_date, DayOrToday(request.start_date(), "start_date", call));
  if (draft.kind == v1::DEFERRAL_KIND_PERMANENT) {
    if (request.has_ends_on())
      return InvalidField("ends_on", "must be absent for a permanent deferral");
  } else if (request.has_ends_on()) {
    BG_ASSIGN_OR_RETURN(absl::CivilDay ends_on, ParseDate(request.ends_on(), "ends_on"));
    if (ends_on <= draft.start_date) return InvalidField("ends_on", "must be after start_date");
    draft.ends_on = ends_on;
  } else {
    draft.ends_on = AddPeriod(draft.start_date, entry->duration());
  }
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.note(), "note", 1000));
  draft.note = request.note();
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.deferred_by(), "deferred_by", 100));
  draft.deferred_by = request.deferred_by().empty() ? call.actor : request.deferred_by();
  return store_->DeferDonor(call, key, draft);
}

absl::StatusOr<v1::Deferral> DonorOperations::VoidDeferral(const CallContext& context,
                                                           const v1::VoidDeferralRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("VoidDeferral", context.actor, request.request_id(), request));
  BG_RETURN_IF_ERROR(ValidateRecordId(request.deferral_id(), "deferral_id", true));
  BG_RETURN_IF_ERROR(ValidateText(request.voided_by(), "voided_by", 1, 100));
  BG_RETURN_IF_ERROR(ValidateText(request.reason(), "reason", 1, 1000));
  return store_->VoidDeferral(context.WithRequestId(request.request_id()), key,
                              request.deferral_id(), request.voided_by(), request.reason());
}

absl::StatusOr<v1::ListDeferralsResponse> DonorOperations::ListDeferrals(
    const CallContext& call, const v1::ListDeferralsRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  const uint64_t filter_hash =
      FilterHash({"ListDeferrals", request.donor_id(), request.active_only() ? "active" : "all"});
  BG_ASSIGN_OR_RETURN(PageQuery page,
                      PageFrom(request.page_size(), request.page_token(), filter_hash));
  BG_ASSIGN_OR_RETURN(Page<v1::Deferral> found,
                      store_->ListDeferrals(call, request.donor_id(), request.active_only(), page));
  v1::ListDeferralsResponse response;
  for (auto& deferral : found.items) *response.add_deferrals() = std::move(deferral);
  response.set_next_page_token(NextPageToken(found.next, filter_hash));
  return response;
}

// ---------------------------------------------------------------------------------------------
// Donations

absl::StatusOr<v1::RecordDonationResponse> DonorOperations::RecordDonation(
    const CallContext& context, const v1::RecordDonationRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("RecordDonation", context.actor, request.request_id(), request));
  const CallContext call = context.WithRequestId(request.request_id());
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  BG_ASSIGN_OR_RETURN(std::string din, CanonicalDin(request.din(), "din"));
  // The inventory registers the unit under the same rules (common/donation_rules.h): what is
  // recorded here is never refused there for its content.
  BG_RETURN_IF_ERROR(ValidateDonationContent(DonationContentOf(request), policy_, call.now));
  const absl::Time collected_at = FromTimestamp(request.collected_at());
  const std::vector<std::string> missing =
      MissingScreeningFields(request.screening(), request.donation_type());
  if (!missing.empty()) {
    return InvalidField(missing.front(),
                        absl::StrCat("is required to record a ",
                                     v1::DonationType_Name(request.donation_type()), " donation"));
  }
  BG_ASSIGN_OR_RETURN(Screening screening, ScreeningFromProto(request.screening()));
  const absl::CivilDay collection_day = absl::ToCivilDay(collected_at, time_zone_);

  DonationDraft draft;
  v1::Donation& donation = draft.donation;
  donation.set_donor_id(request.donor_id());
  donation.set_din(din);
  donation.set_donation_type(request.donation_type());
  donation.set_volume_ml(request.volume_ml());
  donation.set_station_id(request.station_id());
  *donation.mutable_collected_at() = ToTimestamp(collected_at);
  donation.set_collection_date(FormatDate(collection_day));
  *donation.mutable_screening() = request.screening();
  donation.set_adverse_reaction(request.adverse_reaction());
  donation.set_anticoagulant(request.anticoagulant());
  draft.product_code = request.product_code();
  if (policy_.has_reimbursement()) {
    draft.credit_ml =
        CountedVolumeMl(policy_.reimbursement(), request.donation_type(), request.volume_ml());
  }
  draft.policy_label = PolicyLabel(policy_);

  BG_ASSIGN_OR_RETURN(
      v1::RecordDonationResponse recorded,
      store_->RecordDonation(
          call, key, draft,
          [&](const EligibilityInputs& inputs) -> absl::StatusOr<v1::CheckEligibilityResponse> {
            BG_ASSIGN_OR_RETURN(DonorFacts facts, FactsOf(inputs.donor, /*repeat_donor=*/false));
            if (collection_day < facts.birth_date) {
              return InvalidField("collected_at", "is before the donor's birth date");
            }
            // Re-run eligibility at collection time: a full check, every input present.
            EligibilityQuery query;
            query.donor = facts;
            query.history = inputs.history;
            query.deferrals = EngineDeferrals(inputs.deferrals);
            query.screening = screening;
            query.donation_type = request.donation_type();
            query.volume_ml = request.volume_ml();
            query.on_date = collection_day;
            query.kind = CheckKind::kFullCheck;
            BG_ASSIGN_OR_RETURN(EligibilityResult result,
                                bloodgrid::donor::CheckEligibility(query, policy_));
            v1::CheckEligibilityResponse response =
                EligibilityResponse(result, inputs.deferrals, {}, policy_);
            BG_RETURN_IF_ERROR(IneligibleStatus(request.donor_id(), response));
            return response;
          }));
  // A retry of the request_id replays the stored answer, though the donation may have been voided
  // since (its unit refused): the replay must not let the caller go on to register a unit for it.
  BG_ASSIGN_OR_RETURN(v1::Donation current, store_->GetDonation(call, din));
  if (current.voided()) return VoidedDinStatus(current);
  return recorded;
}

absl::StatusOr<v1::Donation> DonorOperations::VoidDonation(const CallContext& context,
                                                           const v1::VoidDonationRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("VoidDonation", context.actor, request.request_id(), request));
  BG_ASSIGN_OR_RETURN(std::string din, CanonicalDin(request.din(), "din"));
  BG_RETURN_IF_ERROR(ValidateText(request.reason(), "reason", 1, 1000));
  return store_->VoidDonation(context.WithRequestId(request.request_id()), key, din,
                              request.reason());
}

absl::StatusOr<v1::ListDonationsResponse> DonorOperations::ListDonations(
    const CallContext& call, const v1::ListDonationsRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  const uint64_t filter_hash = FilterHash({"ListDonations", request.donor_id()});
  BG_ASSIGN_OR_RETURN(PageQuery page,
                      PageFrom(request.page_size(), request.page_token(), filter_hash));
  BG_ASSIGN_OR_RETURN(Page<v1::Donation> found,
                      store_->ListDonations(call, request.donor_id(), page));
  v1::ListDonationsResponse response;
  for (auto& donation : found.items) *response.add_donations() = std::move(donation);
  response.set_next_page_token(NextPageToken(found.next, filter_hash));
  return response;
}

absl::StatusOr<v1::MarkDonorReactiveResponse> DonorOperations::MarkDonorReactive(
    const CallContext& context, const v1::MarkDonorReactiveRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("MarkDonorReactive", context.actor, request.request_id(), request));
  const CallContext call = context.WithRequestId(request.request_id());
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  BG_ASSIGN_OR_RETURN(std::string din, CanonicalDin(request.din(), "din"));
  if (!v1::ScreeningTest_IsValid(request.test()) ||
      request.test() == v1::SCREENING_TEST_UNSPECIFIED) {
    return InvalidField("test", "must be specified");
  }
  if (request.test() == v1::SCREENING_TEST_ABO_RHD) {
    return InvalidField("test", "ABO/RhD typing is not a reactive screen: use RecordBloodTyping");
  }
  absl::CivilDay start = call.today;
  if (request.has_tested_at()) {
    BG_ASSIGN_OR_RETURN(absl::Time tested_at, ParseTimestamp("tested_at", request.tested_at()));
    if (tested_at > call.now + kCollectedAtClockSkew) {
      return InvalidField("tested_at", "must not be in the future");
    }
    start = absl::ToCivilDay(tested_at, time_zone_);
  }
  const v1::PolicyProfile::DeferralReason* entry = DeferralForReactiveTest(policy_, request.test());
  if (entry == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("the deferral catalogue of ",
                                                      PolicyLabel(policy_), " has no entry for ",
                                                      v1::ScreeningTest_Name(request.test())));
  }
  // DOMAIN.md section 5: a reactive result defers the donor, for as long as the catalogue
  // entry says (permanent for the infectious markers).
  DeferralDraft draft;
  draft.donor_id = request.donor_id();
  draft.kind = entry->permanent() ? v1::DEFERRAL_KIND_PERMANENT : v1::DEFERRAL_KIND_TEMPORARY;
  draft.reason_code = entry->code();
  draft.note = absl::StrCat(v1::ScreeningTest_Name(request.test()), " reactive on donation ", din);
  draft.start_date = start;
  if (!entry->permanent()) draft.ends_on = AddPeriod(start, entry->duration());
  draft.reactive_test = request.test();
  draft.din = din;
  draft.deferred_by = call.actor;
  return store_->MarkDonorReactive(call, key, draft);
}

// ---------------------------------------------------------------------------------------------
// Appeals

absl::StatusOr<v1::FindAppealCandidatesResponse> DonorOperations::FindAppealCandidates(
    const CallContext& call, const v1::FindAppealCandidatesRequest& request) {
  BG_ASSIGN_OR_RETURN(BloodType type, RequireKnownBloodType(request.blood_type(), "blood_type"));
  BG_RETURN_IF_ERROR(ValidateRecordId(request.station_id(), "station_id", true));
  if (request.limit() < 1 || request.limit() > kMaxAppealCandidates) {
    return InvalidField("limit", absl::StrCat("must be 1-", kMaxAppealCandidates));
  }
  BG_ASSIGN_OR_RETURN(absl::CivilDay on_date, DayOrToday(request.on_date(), "on_date", call));
  BG_ASSIGN_OR_RETURN(v1::DonationType donation_type,
                      DonationTypeOrDefault(request.donation_type(), "donation_type"));
  const absl::CivilDay history_from = on_date - HistoryLookbackDays(policy_);
  BG_ASSIGN_OR_RETURN(std::vector<AppealPoolEntry> pool,
                      store_->LoadAppealPool(call, type, on_date, history_from));

  std::vector<AppealRankFacts> ranked;
  std::map<std::string, const AppealPoolEntry*> by_id;
  for (const AppealPoolEntry& entry : pool) {
    absl::StatusOr<DonorFacts> facts = FactsOf(entry.donor, entry.donor.donation_count() > 0);
    if (!facts.ok() || facts->birth_date > on_date) continue;
    EligibilityQuery query;
    query.donor = *facts;
    query.history = entry.history;
    query.deferrals = EngineDeferrals(entry.deferrals);
    query.donation_type = donation_type;
    query.on_date = on_date;
    query.kind = CheckKind::kPreCheck;
    absl::StatusOr<EligibilityResult> result = bloodgrid::donor::CheckEligibility(query, policy_);
    // Never a deferred or ineligible donor (nor one whose record the engine refuses).
    if (!result.ok() || !result->eligible) continue;

    AppealRankFacts rank;
    rank.donor_id = entry.donor.donor_id();
    for (int panel : entry.donor.panels()) {
      if (panel == v1::DONOR_PANEL_EMERGENCY || panel == v1::DONOR_PANEL_RARE_TYPE) {
        rank.priority_panel = true;
      }
    }
    rank.home_station_match = entry.donor.home_station_id() == request.station_id();
    // The last donation on or before on_date: the history covers the look-back window, the
    // donor's record anything older.
    for (const PastDonation& donation : entry.history) {
      if (donation.date <= on_date &&
          (!rank.last_donation || donation.date > *rank.last_donation)) {
        rank.last_donation = donation.date;
      }
    }
    if (!rank.last_donation && !entry.donor.last_donation_date().empty()) {
      absl::StatusOr<absl::CivilDay> last = ParseDate(entry.donor.last_donation_date(), "");
      if (last.ok() && *last <= on_date) rank.last_donation = *last;
    }
    by_id[rank.donor_id] = &entry;
    ranked.push_back(std::move(rank));
  }
  RankAppealCandidates(ranked);

  v1::FindAppealCandidatesResponse response;
  for (size_t i = 0; i < ranked.size() && static_cast<int>(i) < request.limit(); ++i) {
    const v1::Donor& donor = by_id[ranked[i].donor_id]->donor;
    v1::AppealCandidate* candidate = response.add_candidates();
    candidate->set_donor_id(donor.donor_id());
    candidate->set_name(donor.name());
    candidate->set_phone(donor.contact().phone());
    *candidate->mutable_blood_type() = donor.blood_type();
    *candidate->mutable_panels() = donor.panels();
    candidate->set_home_station_id(donor.home_station_id());
    if (ranked[i].last_donation) {
      candidate->set_last_donation_date(FormatDate(*ranked[i].last_donation));
    }
    candidate->set_days_since_last_donation(
        DaysSinceLastDonation(ranked[i].last_donation, on_date));
    candidate->set_rank(static_cast<int32_t>(i) + 1);
  }
  return response;
}

absl::StatusOr<v1::Appeal> DonorOperations::CreateAppeal(const CallContext& context,
                                                         const v1::CreateAppealRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("CreateAppeal", context.actor, request.request_id(), request));
  const CallContext call = context.WithRequestId(request.request_id());
  BG_RETURN_IF_ERROR(ValidateRecordId(request.station_id(), "station_id", true));
  BG_ASSIGN_OR_RETURN(BloodType type, RequireKnownBloodType(request.blood_type(), "blood_type"));
  BG_ASSIGN_OR_RETURN(v1::DonationType donation_type,
                      DonationTypeOrDefault(request.donation_type(), "donation_type"));
  if (request.donations_needed() < 0) return InvalidField("donations_needed", "must be >= 0");
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.reason(), "reason", 1000));
  if (request.donor_ids_size() > kMaxAppealDonors) {
    return InvalidField("donor_ids", absl::StrCat("at most ", kMaxAppealDonors, " donors"));
  }
  std::vector<std::string> donor_ids;
  std::set<std::string> seen;
  for (int i = 0; i < request.donor_ids_size(); ++i) {
    const std::string field = absl::StrCat("donor_ids[", i, "]");
    BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_ids(i), field, true));
    if (!seen.insert(request.donor_ids(i)).second) return InvalidField(field, "listed twice");
    donor_ids.push_back(request.donor_ids(i));
  }
  absl::Time closes_at = call.now + kDefaultAppealDuration;
  if (request.has_closes_at()) {
    BG_ASSIGN_OR_RETURN(closes_at, ParseTimestamp("closes_at", request.closes_at()));
    if (closes_at <= call.now) return InvalidField("closes_at", "must be in the future");
  }
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.created_by(), "created_by", 100));

  v1::Appeal appeal;
  appeal.set_station_id(request.station_id());
  *appeal.mutable_blood_type() = type.ToProto();
  appeal.set_donation_type(donation_type);
  appeal.set_donations_needed(request.donations_needed());
  appeal.set_reason(request.reason());
  appeal.set_created_by(request.created_by().empty() ? call.actor : request.created_by());
  *appeal.mutable_closes_at() = ToTimestamp(closes_at);
  return store_->CreateAppeal(call, key, appeal, donor_ids);
}

absl::StatusOr<v1::Appeal> DonorOperations::RecordAppealResponse(
    const CallContext& context, const v1::RecordAppealResponseRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("RecordAppealResponse", context.actor, request.request_id(), request));
  BG_RETURN_IF_ERROR(ValidateRecordId(request.appeal_id(), "appeal_id", true));
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  if (!v1::AppealResponse_IsValid(request.response()) ||
      request.response() == v1::APPEAL_RESPONSE_UNSPECIFIED ||
      request.response() == v1::APPEAL_RESPONSE_PENDING) {
    return InvalidField("response", "must be CONTACTED, ACCEPTED, DECLINED or DONATED");
  }
  std::string din;
  if (request.response() == v1::APPEAL_RESPONSE_DONATED) {
    if (request.din().empty())
      return InvalidField("din", "is required for APPEAL_RESPONSE_DONATED");
    BG_ASSIGN_OR_RETURN(din, CanonicalDin(request.din(), "din"));
  } else if (!request.din().empty()) {
    return InvalidField("din", "is only given with APPEAL_RESPONSE_DONATED");
  }
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.note(), "note", 1000));
  return store_->RecordAppealResponse(context.WithRequestId(request.request_id()), key,
                                      request.appeal_id(), request.donor_id(), request.response(),
                                      din, request.note());
}

absl::StatusOr<v1::Appeal> DonorOperations::GetAppeal(const CallContext& call,
                                                      const v1::GetAppealRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.appeal_id(), "appeal_id", true));
  return store_->GetAppeal(call, request.appeal_id());
}

absl::StatusOr<v1::ListAppealsResponse> DonorOperations::ListAppeals(
    const CallContext& call, const v1::ListAppealsRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.station_id(), "station_id", false));
  const uint64_t filter_hash =
      FilterHash({"ListAppeals", request.station_id(), request.open_only() ? "open" : "all"});
  BG_ASSIGN_OR_RETURN(PageQuery page,
                      PageFrom(request.page_size(), request.page_token(), filter_hash));
  BG_ASSIGN_OR_RETURN(Page<v1::Appeal> found,
                      store_->ListAppeals(call, request.station_id(), request.open_only(), page));
  v1::ListAppealsResponse response;
  for (auto& appeal : found.items) *response.add_appeals() = std::move(appeal);
  response.set_next_page_token(NextPageToken(found.next, filter_hash));
  return response;
}

// ---------------------------------------------------------------------------------------------
// Reimbursement

absl::StatusOr<v1::ReimbursementBalance> DonorOperations::GetReimbursementBalance(
    const CallContext& call, const v1::GetReimbursementBalanceRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  BG_ASSIGN_OR_RETURN(absl::CivilDay on_date, DayOrToday(request.on_date(), "on_date", call));
  BG_ASSIGN_OR_RETURN(LedgerState state, store_->LoadLedgerState(call, request.donor_id()));
  if (!policy_.has_reimbursement()) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy profile ", PolicyLabel(policy_), " has no reimbursement rule set"));
  }
  BG_ASSIGN_OR_RETURN(BalanceFigures balance,
                      ComputeBalance(policy_.reimbursement(), state.credits, state.self_claimed_ml,
                                     state.relatives_claimed_ml, on_date));
  return BalanceToProto(balance, request.donor_id(), policy_);
}

absl::StatusOr<v1::ClaimReimbursementResponse> DonorOperations::ClaimReimbursement(
    const CallContext& context, const v1::ClaimReimbursementRequest& request) {
  BG_ASSIGN_OR_RETURN(
      db::IdempotencyKey key,
      db::MakeIdempotencyKey("ClaimReimbursement", context.actor, request.request_id(), request));
  const CallContext call = context.WithRequestId(request.request_id());
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  if (!v1::ClaimantRelation_IsValid(request.claimant_relation()) ||
      request.claimant_relation() == v1::CLAIMANT_RELATION_UNSPECIFIED) {
    return InvalidField("claimant_relation", "must be SELF, SPOUSE, PARENT or CHILD");
  }
  if (request.volume_ml() <= 0) return InvalidField("volume_ml", "must be > 0");
  BG_ASSIGN_OR_RETURN(std::string invoice_no,
                      NormalizeInvoiceNo(request.invoice_no(), "invoice_no"));
  if (request.blood_fee() < 0) return InvalidField("blood_fee", "must be >= 0");
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.recipient_name(), "recipient_name", 100));
  BG_RETURN_IF_ERROR(ValidateOptionalText(request.hospital_name(), "hospital_name", 200));
  BG_ASSIGN_OR_RETURN(absl::CivilDay invoice_date,
                      DayOrToday(request.invoice_date(), "invoice_date", call));
  if (invoice_date > call.today) return InvalidField("invoice_date", "must not be in the future");
  if (!policy_.has_reimbursement()) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy profile ", PolicyLabel(policy_), " has no reimbursement rule set"));
  }

  ClaimDraft claim;
  claim.donor_id = request.donor_id();
  claim.relation = request.claimant_relation();
  claim.volume_ml = request.volume_ml();
  claim.invoice_no = invoice_no;
  claim.blood_fee = request.blood_fee();
  claim.recipient_name = request.recipient_name();
  claim.hospital_name = request.hospital_name();
  claim.invoice_date = invoice_date;
  return store_->ClaimReimbursement(
      call, key, claim, [&](const LedgerState& state) -> absl::StatusOr<ClaimOutcome> {
        // The balance as of the invoice day: the tier in force when the blood was used.
        BG_ASSIGN_OR_RETURN(
            BalanceFigures balance,
            ComputeBalance(policy_.reimbursement(), state.credits, state.self_claimed_ml,
                           state.relatives_claimed_ml, invoice_date));
        BG_ASSIGN_OR_RETURN(ClaimDecision decision,
                            DecideClaim(balance, claim.relation, claim.volume_ml, claim.blood_fee));
        ClaimOutcome outcome;
        outcome.decision = decision;
        outcome.balance_after =
            BalanceToProto(AfterClaim(balance, claim.relation, decision.covered_volume_ml),
                           claim.donor_id, policy_);
        return outcome;
      });
}

absl::StatusOr<v1::ListReimbursementLedgerResponse> DonorOperations::ListReimbursementLedger(
    const CallContext& call, const v1::ListReimbursementLedgerRequest& request) {
  BG_RETURN_IF_ERROR(ValidateRecordId(request.donor_id(), "donor_id", true));
  const uint64_t filter_hash = FilterHash({"ListReimbursementLedger", request.donor_id()});
  BG_ASSIGN_OR_RETURN(PageQuery page,
                      PageFrom(request.page_size(), request.page_token(), filter_hash));
  BG_ASSIGN_OR_RETURN(Page<v1::LedgerEntry> found,
                      store_->ListLedger(call, request.donor_id(), page));
  v1::ListReimbursementLedgerResponse response;
  for (auto& entry : found.items) *response.add_entries() = std::move(entry);
  response.set_next_page_token(NextPageToken(found.next, filter_hash));
  return response;
}

}  // namespace bloodgrid::donor
