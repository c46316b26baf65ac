// The donor service's pure rules: national id normalisation and the GB 11643-1999 check
// character, field validation, update masks, the blood-typing decision, the eligibility answer
// in the contract's terms, appeal ranking, and the reimbursement ledger arithmetic
// (DOMAIN.md section 6) under the cn-gb18467-2011 rule set.
#include "donor_service/donor_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/policy.h"

namespace bloodgrid::donor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::CivilDay kToday(2026, 11, 22);

v1::PolicyProfile LoadPolicy(const std::string& name) {
  absl::StatusOr<v1::PolicyProfile> policy =
      LoadPolicyFile(absl::StrCat(BLOODGRID_POLICY_DIR, "/", name, ".textproto"));
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : v1::PolicyProfile();
}

const v1::PolicyProfile& Cn() {
  static const v1::PolicyProfile* const policy =
      new v1::PolicyProfile(LoadPolicy("cn-gb18467-2011"));
  return *policy;
}

void ExpectInvalid(const absl::Status& status, absl::string_view field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith(absl::StrCat(field, ": "))) << status;
}

// ---------------------------------------------------------------------------------------------
// National id

TEST(ChineseIdCheckCharacterTest, MatchesGb11643Examples) {
  EXPECT_EQ(ChineseIdCheckCharacter("11010519491231002"), 'X');
  EXPECT_EQ(ChineseIdCheckCharacter("44052418800101001"), '4');
  EXPECT_EQ(ChineseIdCheckCharacter("11010119800101001"), '0');
}

TEST(NormalizeNationalIdTest, TrimsAndUpperCasesTheCheckLetter) {
  absl::StatusOr<std::string> id =
      NormalizeNationalId("  11010519491231002x \t", "national_id", kToday);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "11010519491231002X");
  EXPECT_EQ(*NormalizeNationalId("440524188001010014", "national_id", kToday),
            "440524188001010014");
}

TEST(NormalizeNationalIdTest, RejectsAWrongCheckCharacter) {
  absl::Status status =
      NormalizeNationalId("110105194912310021", "donor.national_id", kToday).status();
  ExpectInvalid(status, "donor.national_id");
  EXPECT_THAT(std::string(status.message()), HasSubstr("check character"));
  ExpectInvalid(NormalizeNationalId("440524188001010015", "national_id", kToday).status(),
                "national_id");
}

TEST(NormalizeNationalIdTest, RejectsAnImpossibleOrFutureBirthDate) {
  // 1949-02-31 does not exist; check character computed for the wrong date.
  const std::string bad_date =
      std::string("11010519490231002") + ChineseIdCheckCharacter("11010519490231002");
  ExpectInvalid(NormalizeNationalId(bad_date, "national_id", kToday).status(), "national_id");
  const std::string future =
      std::string("11010520300101002") + ChineseIdCheckCharacter("11010520300101002");
  ExpectInvalid(NormalizeNationalId(future, "national_id", kToday).status(), "national_id");
  // 2000-02-29 exists.
  EXPECT_TRUE(NormalizeNationalId("11010120000229123X", "national_id", kToday).ok());
}

TEST(NormalizeNationalIdTest, SeventeenDigitsNeedADigitOrXLast) {
  ExpectInvalid(NormalizeNationalId("11010519491231002A", "national_id", kToday).status(),
                "national_id");
}

TEST(NormalizeNationalIdTest, OtherFormatsAreAllowedWithinLimits) {
  EXPECT_EQ(*NormalizeNationalId("E12345678", "national_id", kToday), "E12345678");
  EXPECT_EQ(*NormalizeNationalId("g1234567a", "national_id", kToday), "g1234567A");
  EXPECT_EQ(*NormalizeNationalId("A123456(7)", "national_id", kToday), "A123456(7)");
  EXPECT_EQ(*NormalizeNationalId("110105491231002", "national_id", kToday), "110105491231002");
  ExpectInvalid(NormalizeNationalId("", "national_id", kToday).status(), "national_id");
  ExpectInvalid(NormalizeNationalId("   ", "national_id", kToday).status(), "national_id");
  ExpectInvalid(NormalizeNationalId("AB 12", "national_id", kToday).status(), "national_id");
  ExpectInvalid(NormalizeNationalId("X'; DROP TABLE", "national_id", kToday).status(),
                "national_id");
  ExpectInvalid(NormalizeNationalId(std::string(33, '1'), "national_id", kToday).status(),
                "national_id");
  EXPECT_TRUE(NormalizeNationalId(std::string(32, '1'), "national_id", kToday).ok());
}

// ---------------------------------------------------------------------------------------------
// Field validation

TEST(ParseDateTest, RealDatesOnly) {
  EXPECT_EQ(*ParseDate("2024-02-29", "d"), absl::CivilDay(2024, 2, 29));
  ExpectInvalid(ParseDate("2023-02-29", "birth_date").status(), "birth_date");
  ExpectInvalid(ParseDate("2024-2-01", "birth_date").status(), "birth_date");
  ExpectInvalid(ParseDate("2024-13-01", "birth_date").status(), "birth_date");
  ExpectInvalid(ParseDate("2024-04-31", "birth_date").status(), "birth_date");
  ExpectInvalid(ParseDate("", "birth_date").status(), "birth_date");
  ExpectInvalid(ParseDate("20240101", "birth_date").status(), "birth_date");
  EXPECT_EQ(FormatDate(absl::CivilDay(2024, 3, 1)), "2024-03-01");
}

TEST(NormalizePhoneTest, StripsSeparatorsAndChecksDigits) {
  EXPECT_EQ(*NormalizePhone("+86 138-0013-8000", "phone"), "+8613800138000");
  EXPECT_EQ(*NormalizePhone("010 6512 3456", "phone"), "01065123456");
  EXPECT_EQ(*NormalizePhone("", "phone"), "");
  EXPECT_EQ(*NormalizePhone("123456", "phone"), "123456");
  ExpectInvalid(NormalizePhone("12345", "contact.phone").status(), "contact.phone");
  ExpectInvalid(NormalizePhone(std::string(21, '1'), "contact.phone").status(), "contact.phone");
  ExpectInvalid(NormalizePhone("138OO138000", "contact.phone").status(), "contact.phone");
  ExpectInvalid(NormalizePhone("86+13800138000", "contact.phone").status(), "contact.phone");
  ExpectInvalid(NormalizePhone("+", "contact.phone").status(), "contact.phone");
}

TEST(ValidateEmailTest, Shapes) {
  EXPECT_TRUE(ValidateEmail("", "email").ok());
  EXPECT_TRUE(ValidateEmail("li.wei@example.cn", "email").ok());
  ExpectInvalid(ValidateEmail("li.wei", "contact.email"), "contact.email");
  ExpectInvalid(ValidateEmail("@example.cn", "contact.email"), "contact.email");
  ExpectInvalid(ValidateEmail("a@b@example.cn", "contact.email"), "contact.email");
  ExpectInvalid(ValidateEmail("a@localhost", "contact.email"), "contact.email");
  ExpectInvalid(ValidateEmail("a b@example.cn", "contact.email"), "contact.email");
  ExpectInvalid(ValidateEmail(std::string(250, 'a') + "@x.cn", "contact.email"), "contact.email");
}

TEST(ValidateTextTest, CountsCharactersNotBytes) {
  std::string hundred;
  for (int i = 0; i < 100; ++i) hundred += "\xE7\x8E\x8B";  // 王
  EXPECT_TRUE(ValidateText(hundred, "name", 1, 100).ok());
  ExpectInvalid(ValidateText(hundred + "\xE7\x8E\x8B", "name", 1, 100), "name");
  ExpectInvalid(ValidateText("", "name", 1, 100), "name");
  ExpectInvalid(ValidateText("a\nb", "name", 1, 100), "name");
  ExpectInvalid(ValidateText("\xC3", "name", 1, 100), "name");          // truncated sequence
  ExpectInvalid(ValidateText("\xC0\xAF", "name", 1, 100), "name");      // overlong '/'
  ExpectInvalid(ValidateText("\xED\xA0\x80", "name", 1, 100), "name");  // surrogate
  EXPECT_TRUE(ValidateText("", "note", 0, 10).ok());
}

TEST(ValidateRecordIdTest, Shapes) {
  EXPECT_TRUE(ValidateRecordId("ST-01", "station_id", true).ok());
  EXPECT_TRUE(ValidateRecordId("", "home_station_id", false).ok());
  ExpectInvalid(ValidateRecordId("", "station_id", true), "station_id");
  ExpectInvalid(ValidateRecordId("a b", "station_id", true), "station_id");
  ExpectInvalid(ValidateRecordId(std::string(65, 'a'), "station_id", true), "station_id");
}

v1::Donor ValidDonor() {
  v1::Donor donor;
  donor.set_national_id(" 11010519491231002x ");
  donor.set_name("  Wang Fang ");
  donor.set_sex(v1::SEX_FEMALE);
  donor.set_birth_date("1990-05-17");
  donor.mutable_contact()->set_phone("138 0013 8000");
  donor.add_panels(v1::DONOR_PANEL_RARE_TYPE);
  donor.add_panels(v1::DONOR_PANEL_REGULAR);
  donor.set_home_station_id("ST-01");
  return donor;
}

TEST(NormalizeDonorInputTest, NormalisesAndClearsOutputOnlyFields) {
  v1::Donor donor = ValidDonor();
  donor.set_donor_id("client-chosen");
  donor.set_version(99);
  donor.set_donation_count(7);
  donor.set_blood_type_confirmed(true);
  ASSERT_TRUE(NormalizeDonorInput(&donor, "donor", kToday).ok());
  EXPECT_EQ(donor.national_id(), "11010519491231002X");
  EXPECT_EQ(donor.name(), "Wang Fang");
  EXPECT_EQ(donor.contact().phone(), "13800138000");
  EXPECT_THAT(donor.panels(), ElementsAre(v1::DONOR_PANEL_REGULAR, v1::DONOR_PANEL_RARE_TYPE));
  EXPECT_EQ(donor.donor_id(), "");
  EXPECT_EQ(donor.version(), 0);
  EXPECT_EQ(donor.donation_count(), 0);
  EXPECT_FALSE(donor.blood_type_confirmed());
}

TEST(NormalizeDonorInputTest, NamesTheBadField) {
  struct Case {
    const char* field;
    void (*spoil)(v1::Donor&);
  };
  const Case cases[] = {
      {"donor.national_id", [](v1::Donor& d) { d.set_national_id(""); }},
      {"donor.name", [](v1::Donor& d) { d.set_name("   "); }},
      {"donor.name", [](v1::Donor& d) { d.set_name(std::string(101, 'a')); }},
      {"donor.sex", [](v1::Donor& d) { d.set_sex(v1::SEX_UNSPECIFIED); }},
      {"donor.birth_date", [](v1::Donor& d) { d.set_birth_date("2027-01-01"); }},
      {"donor.birth_date", [](v1::Donor& d) { d.set_birth_date("1990-02-30"); }},
      {"donor.blood_type", [](v1::Donor& d) { d.mutable_blood_type()->set_abo(v1::ABO_GROUP_A); }},
      {"donor.contact.phone", [](v1::Donor& d) { d.mutable_contact()->set_phone("12"); }},
      {"donor.contact.email", [](v1::Donor& d) { d.mutable_contact()->set_email("nope"); }},
      {"donor.contact.address",
       [](v1::Donor& d) { d.mutable_contact()->set_address(std::string(301, 'a')); }},
      {"donor.home_station_id", [](v1::Donor& d) { d.set_home_station_id("no spaces"); }},
      {"donor.panels[2]", [](v1::Donor& d) { d.add_panels(v1::DONOR_PANEL_REGULAR); }},
      {"donor.panels[2]", [](v1::Donor& d) { d.add_panels(v1::DONOR_PANEL_UNSPECIFIED); }},
  };
  for (const Case& c : cases) {
    v1::Donor donor = ValidDonor();
    c.spoil(donor);
    ExpectInvalid(NormalizeDonorInput(&donor, "donor", kToday), c.field);
  }
}

TEST(NormalizeDonorInputTest, ABirthdayTodayIsNotInTheFuture) {
  v1::Donor donor = ValidDonor();
  donor.set_birth_date("2026-11-22");
  EXPECT_TRUE(NormalizeDonorInput(&donor, "donor", kToday).ok());
}

google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
  google::protobuf::FieldMask mask;
  for (const char* p : paths) mask.add_paths(p);
  return mask;
}

TEST(ApplyDonorUpdateTest, ChangesOnlyTheNamedFields) {
  v1::Donor current = ValidDonor();
  ASSERT_TRUE(NormalizeDonorInput(&current, "donor", kToday).ok());
  current.set_donor_id("D1");
  current.set_version(3);
  current.set_donation_count(2);
  current.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
  current.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
  v1::Donor update;
  update.set_name("Wang Fang-Li");
  update.mutable_contact()->set_phone("+86 139 0000 0000");
  update.mutable_contact()->set_email("ignored@example.cn");  // not in the mask
  update.mutable_blood_type()->set_abo(v1::ABO_GROUP_A);      // never from UpdateDonor
  absl::StatusOr<v1::Donor> next =
      ApplyDonorUpdate(current, update, Mask({"name", "contact.phone"}), kToday);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->name(), "Wang Fang-Li");
  EXPECT_EQ(next->contact().phone(), "+8613900000000");
  EXPECT_EQ(next->contact().email(), "");
  EXPECT_EQ(next->donor_id(), "D1");
  EXPECT_EQ(next->version(), 3);
  EXPECT_EQ(next->donation_count(), 2);
  EXPECT_EQ(next->blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_THAT(ChangedDonorFields(current, *next), ElementsAre("name", "contact.phone"));
}

TEST(ApplyDonorUpdateTest, RefusesBadMasksAndValues) {
  v1::Donor current = ValidDonor();
  ASSERT_TRUE(NormalizeDonorInput(&current, "donor", kToday).ok());
  v1::Donor update;
  ExpectInvalid(ApplyDonorUpdate(current, update, Mask({}), kToday).status(), "update_mask");
  ExpectInvalid(ApplyDonorUpdate(current, update, Mask({"blood_type"}), kToday).status(),
                "update_mask.paths[0]");
  ExpectInvalid(ApplyDonorUpdate(current, update, Mask({"name", "donor_id"}), kToday).status(),
                "update_mask.paths[1]");
  ExpectInvalid(ApplyDonorUpdate(current, update, Mask({"version"}), kToday).status(),
                "update_mask.paths[0]");
  ExpectInvalid(ApplyDonorUpdate(current, update, Mask({"name"}), kToday).status(), "donor.name");
  update.set_sex(v1::SEX_UNSPECIFIED);
  ExpectInvalid(ApplyDonorUpdate(current, update, Mask({"sex"}), kToday).status(), "donor.sex");
}

// ---------------------------------------------------------------------------------------------
// Blood typing

TEST(DecideTypingTest, AssignConfirmOrConflict) {
  const BloodType o_neg{v1::ABO_GROUP_O, v1::RH_D_NEGATIVE};
  const BloodType a_pos{v1::ABO_GROUP_A, v1::RH_D_POSITIVE};
  EXPECT_EQ(DecideTyping(BloodType::Unknown(), o_neg), TypingOutcome::kAssigned);
  EXPECT_EQ(DecideTyping(o_neg, o_neg), TypingOutcome::kConfirmed);
  EXPECT_EQ(DecideTyping(o_neg, a_pos), TypingOutcome::kConflict);
  EXPECT_EQ(DecideTyping(BloodType{v1::ABO_GROUP_O, v1::RH_D_POSITIVE}, o_neg),
            TypingOutcome::kConflict);
}

// DecideTypingChange: one row per (record, confirmed, typed) case.
TEST(DecideTypingChangeTest, Table) {
  const BloodType o_neg{v1::ABO_GROUP_O, v1::RH_D_NEGATIVE};
  const BloodType a_pos{v1::ABO_GROUP_A, v1::RH_D_POSITIVE};
  v1::BloodType partial;
  partial.set_abo(v1::ABO_GROUP_B);
  struct Row {
    const char* name;
    v1::BloodType recorded;
    bool confirmed;
    BloodType typed;
    TypingOutcome outcome;
    bool set_blood_type;
    bool open_conflict;
  };
  const Row rows[] = {
      {"no type on record", v1::BloodType(), false, o_neg, TypingOutcome::kAssigned, true, false},
      {"partial type on record", partial, false, o_neg, TypingOutcome::kAssigned, true, false},
      {"agrees, unconfirmed", o_neg.ToProto(), false, o_neg, TypingOutcome::kConfirmed, true,
       false},
      {"agrees, confirmed", o_neg.ToProto(), true, o_neg, TypingOutcome::kConfirmed, false, false},
      {"disagrees, unconfirmed", o_neg.ToProto(), false, a_pos, TypingOutcome::kConflict, false,
       true},
      {"disagrees, confirmed", o_neg.ToProto(), true, a_pos, TypingOutcome::kConflict, false, true},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    v1::Donor donor;
    *donor.mutable_blood_type() = row.recorded;
    donor.set_blood_type_confirmed(row.confirmed);
    const TypingChange change = DecideTypingChange(donor, row.typed);
    EXPECT_EQ(change.outcome, row.outcome);
    EXPECT_EQ(change.set_blood_type, row.set_blood_type);
    EXPECT_EQ(change.open_conflict, row.open_conflict);
    EXPECT_EQ(change.typed, row.typed);
    absl::StatusOr<BloodType> recorded = BloodType::FromProto(row.recorded);
    EXPECT_EQ(change.recorded, recorded.ok() ? *recorded : BloodType::Unknown());
  }
}

TEST(RequireKnownBloodTypeTest, BothPartsNeeded) {
  v1::BloodType proto;
  ExpectInvalid(RequireKnownBloodType(proto, "blood_type").status(), "blood_type");
  proto.set_abo(v1::ABO_GROUP_B);
  ExpectInvalid(RequireKnownBloodType(proto, "blood_type").status(), "blood_type");
  proto.set_rhd(v1::RH_D_POSITIVE);
  EXPECT_TRUE(RequireKnownBloodType(proto, "blood_type").ok());
}

// ---------------------------------------------------------------------------------------------
// Deferrals in force

TEST(DeferralInForceOnTest, Table) {
  const absl::CivilDay start(2026, 3, 10);
  const absl::CivilDay end(2026, 4, 10);
  struct Row {
    const char* name;
    bool voided;
    std::optional<absl::CivilDay> ends_on;
    absl::CivilDay day;
    bool in_force;
  };
  const Row rows[] = {
      {"before the start", false, end, start - 1, false},
      {"on the start day", false, end, start, true},
      {"the day before the end", false, end, end - 1, true},
      {"on the end day (exclusive)", false, end, end, false},
      {"after the end", false, end, end + 1, false},
      {"no end, long after", false, std::nullopt, start + 10000, true},
      {"no end, before the start", false, std::nullopt, start - 1, false},
      {"voided, within the span", true, end, start, false},
      {"voided, no end", true, std::nullopt, start + 1, false},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const DeferralSpan span{row.voided, start, row.ends_on};
    EXPECT_EQ(DeferralInForceOn(span, row.day), row.in_force);
    EXPECT_EQ(PermanentDeferralInForceOn(v1::DEFERRAL_KIND_PERMANENT, span, row.day), row.in_force);
    EXPECT_FALSE(PermanentDeferralInForceOn(v1::DEFERRAL_KIND_TEMPORARY, span, row.day));
  }
  EXPECT_TRUE(IsPermanentDeferral(v1::DEFERRAL_KIND_PERMANENT));
  EXPECT_FALSE(IsPermanentDeferral(v1::DEFERRAL_KIND_TEMPORARY));
  EXPECT_FALSE(IsPermanentDeferral(v1::DEFERRAL_KIND_UNSPECIFIED));
}

// ---------------------------------------------------------------------------------------------
// Eligibility in the contract's terms

TEST(EligibilityResponseTest, ScreeningReasonsDoNotMoveTheNextDate) {
  EligibilityQuery query;
  query.donor = {v1::SEX_FEMALE, absl::CivilDay(1990, 1, 1), true, false};
  query.history = {{absl::CivilDay(2026, 9, 1), v1::DONATION_TYPE_WHOLE_BLOOD, 400}};
  query.deferrals = {{"TATTOO", absl::CivilDay(2027, 1, 10)}};
  query.screening.hemoglobin_g_l = 100;  // below 115 for a woman
  query.donation_type = v1::DONATION_TYPE_WHOLE_BLOOD;
  query.on_date = kToday;
  absl::StatusOr<EligibilityResult> result = CheckEligibility(query, Cn());
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<DeferralInForce> deferrals = {{"17", query.deferrals[0]}};
  v1::CheckEligibilityResponse response =
      EligibilityResponse(*result, deferrals, {"screening.weight_kg"}, Cn());
  EXPECT_FALSE(response.eligible());
  // Interval: 2026-09-01 + 6 months = 2027-03-01, later than the deferral's end.
  EXPECT_EQ(response.next_eligible_date(), "2027-03-01");
  std::vector<v1::EligibilityReasonCode> codes;
  for (const auto& reason : response.reasons()) {
    codes.push_back(reason.code());
    if (reason.code() == v1::ELIGIBILITY_REASON_DEFERRED_TEMPORARY) {
      EXPECT_EQ(reason.deferral_id(), "17");
      EXPECT_EQ(reason.clears_on(), "2027-01-10");
    }
  }
  EXPECT_THAT(codes, ElementsAre(v1::ELIGIBILITY_REASON_DEFERRED_TEMPORARY,
                                 v1::ELIGIBILITY_REASON_INTERVAL_NOT_ELAPSED,
                                 v1::ELIGIBILITY_REASON_HEMOGLOBIN_LOW));
  EXPECT_THAT(response.unchecked(), ElementsAre("screening.weight_kg"));
  EXPECT_EQ(response.policy_profile(), "cn-gb18467-2011@1");
  absl::Status refusal = IneligibleStatus("D42", response);
  EXPECT_EQ(refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refusal.message(),
            "donor D42 not eligible: ELIGIBILITY_REASON_DEFERRED_TEMPORARY, "
            "ELIGIBILITY_REASON_INTERVAL_NOT_ELAPSED, ELIGIBILITY_REASON_HEMOGLOBIN_LOW");
}

TEST(EligibilityResponseTest, PermanentDeferralHasNoNextDate) {
  EligibilityQuery query;
  query.donor = {v1::SEX_MALE, absl::CivilDay(1990, 1, 1), false, false};
  query.deferrals = {{"HIV_REACTIVE", std::nullopt}};
  query.donation_type = v1::DONATION_TYPE_WHOLE_BLOOD;
  query.on_date = kToday;
  absl::StatusOr<EligibilityResult> result = CheckEligibility(query, Cn());
  ASSERT_TRUE(result.ok());
  v1::CheckEligibilityResponse response =
      EligibilityResponse(*result, {{"5", query.deferrals[0]}}, {}, Cn());
  EXPECT_EQ(response.next_eligible_date(), "");
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), v1::ELIGIBILITY_REASON_DEFERRED_PERMANENT);
  EXPECT_EQ(response.reasons(0).deferral_id(), "5");
  EXPECT_TRUE(IneligibleStatus("D1", EligibilityResponse(
                                         EligibilityResult{true, {}, kToday, kToday}, {}, {}, Cn()))
                  .ok());
}

TEST(ScreeningFromProtoTest, ValidatesAndConverts) {
  v1::DonorScreening proto;
  proto.set_weight_kg(60);
  proto.set_hematocrit(0.4);
  absl::StatusOr<Screening> s = ScreeningFromProto(proto);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->weight_kg, 60);
  EXPECT_FALSE(s->pulse_bpm.has_value());
  proto.set_hematocrit(40);
  ExpectInvalid(ScreeningFromProto(proto).status(), "screening.hematocrit");
  proto.set_hematocrit(0.4);
  proto.set_pulse_bpm(0);
  ExpectInvalid(ScreeningFromProto(proto).status(), "screening.pulse_bpm");
  v1::DonorScreening empty;
  EXPECT_THAT(
      MissingScreeningFields(empty, v1::DONATION_TYPE_WHOLE_BLOOD),
      ElementsAre("screening.weight_kg", "screening.hemoglobin_g_l", "screening.systolic_mmhg",
                  "screening.diastolic_mmhg", "screening.pulse_bpm"));
  EXPECT_EQ(MissingScreeningFields(empty, v1::DONATION_TYPE_APHERESIS_PLATELETS).size(), 7u);
}

TEST(HistoryLookbackDaysTest, CoversTheLongestRule) {
  // 365-day caps and 6-month intervals under the CN profile.
  EXPECT_GE(HistoryLookbackDays(Cn()), 366);
  EXPECT_LE(HistoryLookbackDays(Cn()), 400);
}

// ---------------------------------------------------------------------------------------------
// Appeal ranking

TEST(AppealRankingTest, PanelsThenHomeStationThenLongestSinceThenId) {
  std::vector<AppealRankFacts> candidates = {
      {"D07", false, true, absl::CivilDay(2025, 1, 1)},  // home, donated long ago
      {"D01", false, false, std::nullopt},               // never donated, elsewhere
      {"D05", true, false, absl::CivilDay(2026, 3, 1)},  // emergency/rare, recent
      {"D03", true, true, absl::CivilDay(2026, 3, 1)},   // emergency/rare + home
      {"D04", true, false, absl::CivilDay(2025, 6, 1)},  // emergency/rare, older
      {"D02", false, true, std::nullopt},                // home, never donated
      {"D06", false, true, absl::CivilDay(2025, 1, 1)},  // ties D07: by id
      {"D08", true, false, std::nullopt},                // emergency/rare, never donated
  };
  RankAppealCandidates(candidates);
  std::vector<std::string> order;
  for (const auto& c : candidates) order.push_back(c.donor_id);
  EXPECT_THAT(order, ElementsAre("D03", "D08", "D04", "D05", "D02", "D06", "D07", "D01"));
}

TEST(AppealOpenAtTest, OpenUntilClosesAtExclusive) {
  const absl::Time closes_at = absl::FromUnixSeconds(1800000000);
  EXPECT_TRUE(AppealOpenAt(closes_at, closes_at - absl::Microseconds(1)));
  EXPECT_FALSE(AppealOpenAt(closes_at, closes_at));
  EXPECT_FALSE(AppealOpenAt(closes_at, closes_at + absl::Seconds(1)));
}

TEST(AppealRankingTest, DaysSinceLastDonation) {
  EXPECT_EQ(DaysSinceLastDonation(std::nullopt, kToday), -1);
  EXPECT_EQ(DaysSinceLastDonation(absl::CivilDay(2026, 11, 1), kToday), 21);
  EXPECT_EQ(DaysSinceLastDonation(kToday, kToday), 0);
}

// ---------------------------------------------------------------------------------------------
// Reimbursement ledger arithmetic (cn-gb18467-2011: 3x within 5 years, then 1x; free for life
// from 1000 mL; relatives 1x; apheresis platelets count as 400 mL)

const v1::PolicyProfile::Reimbursement& Rules() { return Cn().reimbursement(); }

TEST(LedgerTest, CountedVolume) {
  EXPECT_EQ(CountedVolumeMl(Rules(), v1::DONATION_TYPE_WHOLE_BLOOD, 300), 300);
  EXPECT_EQ(CountedVolumeMl(Rules(), v1::DONATION_TYPE_APHERESIS_PLATELETS, 250), 400);
  EXPECT_EQ(CountedVolumeMl(Rules(), v1::DONATION_TYPE_APHERESIS_PLASMA, 600), 600);
}

TEST(LedgerTest, TierMultiplierChangesOnTheFifthAnniversary) {
  const std::vector<CreditInput> credits = {{"A999921123456", absl::CivilDay(2020, 6, 15), 400}};
  // The day before the fifth anniversary: 3x.
  absl::StatusOr<BalanceFigures> before =
      ComputeBalance(Rules(), credits, 0, 0, absl::CivilDay(2025, 6, 14));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->self_entitlement_ml, 1200);
  EXPECT_EQ(before->self_available_ml, 1200);
  ASSERT_EQ(before->credits.size(), 1u);
  EXPECT_EQ(before->credits[0].multiplier, 3);
  EXPECT_EQ(before->credits[0].tier_ends_on, absl::CivilDay(2025, 6, 15));
  // On it: 1x, last tier (no end).
  absl::StatusOr<BalanceFigures> on =
      ComputeBalance(Rules(), credits, 0, 0, absl::CivilDay(2025, 6, 15));
  ASSERT_TRUE(on.ok());
  EXPECT_EQ(on->self_entitlement_ml, 400);
  EXPECT_EQ(on->credits[0].multiplier, 1);
  EXPECT_FALSE(on->credits[0].tier_ends_on.has_value());
}

TEST(LedgerTest, LeapDayDonationTierEndsOnTheFirstOfMarch) {
  const std::vector<CreditInput> credits = {{"A999921123456", absl::CivilDay(2020, 2, 29), 200}};
  absl::StatusOr<BalanceFigures> b =
      ComputeBalance(Rules(), credits, 0, 0, absl::CivilDay(2025, 2, 28));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->credits[0].multiplier, 3);
  EXPECT_EQ(b->credits[0].tier_ends_on, absl::CivilDay(2025, 3, 1));
  b = ComputeBalance(Rules(), credits, 0, 0, absl::CivilDay(2025, 3, 1));
  EXPECT_EQ(b->credits[0].multiplier, 1);
}

TEST(LedgerTest, LifetimeThresholdAndRelativesPool) {
  std::vector<CreditInput> credits = {
      {"A", absl::CivilDay(2015, 1, 1), 400},  // 1x by now
      {"B", absl::CivilDay(2024, 1, 1), 400},  // 3x
      {"C", absl::CivilDay(2026, 1, 1), 100},
  };
  absl::StatusOr<BalanceFigures> b = ComputeBalance(Rules(), credits, 100, 250, kToday);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->cumulative_donated_ml, 900);
  EXPECT_FALSE(b->lifetime_free);
  EXPECT_EQ(b->self_entitlement_ml, 400 + 1200 + 300);
  EXPECT_EQ(b->self_available_ml, 1900 - 100);
  EXPECT_EQ(b->relatives_entitlement_ml, 900);
  EXPECT_EQ(b->relatives_available_ml, 650);
  credits.push_back({"D", absl::CivilDay(2026, 6, 1), 100});  // exactly 1000 mL
  b = ComputeBalance(Rules(), credits, 0, 0, kToday);
  EXPECT_TRUE(b->lifetime_free);
  // A credit dated after the balance day does not count yet.
  credits.push_back({"E", absl::CivilDay(2026, 12, 1), 400});
  b = ComputeBalance(Rules(), credits, 0, 0, kToday);
  EXPECT_EQ(b->cumulative_donated_ml, 1000);
  EXPECT_EQ(b->credits.size(), 4u);
}

TEST(LedgerTest, ApheresisCountsAsItsEquivalent) {
  const std::vector<CreditInput> credits = {
      {"P", absl::CivilDay(2026, 1, 1),
       CountedVolumeMl(Rules(), v1::DONATION_TYPE_APHERESIS_PLATELETS, 250)}};
  absl::StatusOr<BalanceFigures> b = ComputeBalance(Rules(), credits, 0, 0, kToday);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->self_available_ml, 1200);
  EXPECT_EQ(b->relatives_available_ml, 400);
}

TEST(LedgerTest, AnEntitlementBelowWhatWasClaimedLeavesZeroNotNegative) {
  const std::vector<CreditInput> credits = {{"A", absl::CivilDay(2020, 1, 1), 400}};
  // 1000 mL were claimed while the 3x tier applied; now only 400 mL are due.
  absl::StatusOr<BalanceFigures> b = ComputeBalance(Rules(), credits, 1000, 0, kToday);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->self_available_ml, 0);
  EXPECT_EQ(DecideClaim(*b, v1::CLAIMANT_RELATION_SELF, 100, 5000).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ComputeBalance(Rules(), credits, -1, 0, kToday).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LedgerTest, ClaimsNeverExceedTheFeeOrTheBalance) {
  const std::vector<CreditInput> credits = {{"A", absl::CivilDay(2026, 1, 1), 200}};
  absl::StatusOr<BalanceFigures> b = ComputeBalance(Rules(), credits, 0, 0, kToday);
  ASSERT_TRUE(b.ok());  // self 600, relatives 200
  // Whole invoice covered: the whole fee.
  absl::StatusOr<ClaimDecision> d = DecideClaim(*b, v1::CLAIMANT_RELATION_SELF, 400, 90000);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->covered_volume_ml, 400);
  EXPECT_EQ(d->reimbursed_amount, 90000);
  // Relatives: 200 of 300 mL covered, fee share rounded down (10001 * 2/3 = 6667.33).
  d = DecideClaim(*b, v1::CLAIMANT_RELATION_PARENT, 300, 10001);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->covered_volume_ml, 200);
  EXPECT_EQ(d->reimbursed_amount, 6667);
  EXPECT_LE(d->reimbursed_amount, 10001);
  // A huge fee cannot overflow.
  d = DecideClaim(*b, v1::CLAIMANT_RELATION_SELF, 600, INT64_MAX);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->reimbursed_amount, INT64_MAX);
  // Zero fee: nothing reimbursed but the volume is still covered.
  d = DecideClaim(*b, v1::CLAIMANT_RELATION_SELF, 100, 0);
  EXPECT_EQ(d->reimbursed_amount, 0);
  // After a claim the pool shrinks; spouse, parents and children share one pool.
  BalanceFigures after = AfterClaim(*b, v1::CLAIMANT_RELATION_CHILD, 150);
  EXPECT_EQ(after.relatives_available_ml, 50);
  EXPECT_EQ(after.self_available_ml, 600);
  d = DecideClaim(after, v1::CLAIMANT_RELATION_SPOUSE, 400, 1000);
  EXPECT_EQ(d->covered_volume_ml, 50);
  after = AfterClaim(after, v1::CLAIMANT_RELATION_SPOUSE, 50);
  EXPECT_EQ(DecideClaim(after, v1::CLAIMANT_RELATION_PARENT, 1, 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LedgerTest, LifetimeFreeDonorsOwnClaimIsCoveredWhole) {
  const std::vector<CreditInput> credits = {{"A", absl::CivilDay(2010, 1, 1), 1000}};
  absl::StatusOr<BalanceFigures> b = ComputeBalance(Rules(), credits, 5000, 0, kToday);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->lifetime_free);
  EXPECT_EQ(b->self_available_ml, 0);
  absl::StatusOr<ClaimDecision> d = DecideClaim(*b, v1::CLAIMANT_RELATION_SELF, 800, 4000);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->covered_volume_ml, 800);
  EXPECT_EQ(d->reimbursed_amount, 4000);
  // Relatives are not free for life: their pool is the equal volume.
  d = DecideClaim(*b, v1::CLAIMANT_RELATION_SPOUSE, 1200, 6000);
  EXPECT_EQ(d->covered_volume_ml, 1000);
  EXPECT_EQ(d->reimbursed_amount, 5000);
}

TEST(LedgerTest, ClaimInputValidation) {
  BalanceFigures b;
  b.relatives_available_ml = 100;
  ExpectInvalid(DecideClaim(b, v1::CLAIMANT_RELATION_UNSPECIFIED, 1, 1).status(),
                "claimant_relation");
  ExpectInvalid(DecideClaim(b, v1::CLAIMANT_RELATION_SPOUSE, 0, 1).status(), "volume_ml");
  ExpectInvalid(DecideClaim(b, v1::CLAIMANT_RELATION_SPOUSE, 1, -1).status(), "blood_fee");
}

TEST(LedgerTest, BalanceToProto) {
  const std::vector<CreditInput> credits = {{"A999921123456", absl::CivilDay(2026, 1, 1), 400}};
  absl::StatusOr<BalanceFigures> b = ComputeBalance(Rules(), credits, 100, 0, kToday);
  ASSERT_TRUE(b.ok());
  v1::ReimbursementBalance proto = BalanceToProto(*b, "D9", Cn());
  EXPECT_EQ(proto.donor_id(), "D9");
  EXPECT_EQ(proto.as_of_date(), "2026-11-22");
  EXPECT_EQ(proto.self_available_ml(), 1100);
  EXPECT_EQ(proto.self_claimed_ml(), 100);
  EXPECT_EQ(proto.relatives_available_ml(), 400);
  ASSERT_EQ(proto.credits_size(), 1);
  EXPECT_EQ(proto.credits(0).tier_ends_on(), "2031-01-01");
  EXPECT_EQ(proto.policy_profile(), "cn-gb18467-2011@1");
}

TEST(NormalizeInvoiceNoTest, TrimsAndUpperCases) {
  EXPECT_EQ(*NormalizeInvoiceNo("  inv-2026/001 ", "invoice_no"), "INV-2026/001");
  ExpectInvalid(NormalizeInvoiceNo("   ", "invoice_no").status(), "invoice_no");
  ExpectInvalid(NormalizeInvoiceNo(std::string(65, 'a'), "invoice_no").status(), "invoice_no");
}

}  // namespace
}  // namespace bloodgrid::donor
