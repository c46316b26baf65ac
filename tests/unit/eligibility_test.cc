#include "donor_service/eligibility.h"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloodgrid::donor {

void PrintTo(ReasonCode code, std::ostream* os) { *os << ReasonCodeName(code); }

namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using v1::PolicyProfile;

constexpr char kCn[] = "cn-gb18467-2011";
constexpr char kUs[] = "us-fda";

using R = ReasonCode;
using Day = absl::CivilDay;

const PolicyProfile& Profile(const std::string& name) {
  static const PolicyRegistry* const registry = [] {
    absl::StatusOr<PolicyRegistry> loaded = PolicyRegistry::LoadDirectory(BLOODGRID_POLICY_DIR);
    if (!loaded.ok()) {
      std::fprintf(stderr, "cannot load policies: %s\n", loaded.status().ToString().c_str());
      std::abort();
    }
    return new PolicyRegistry(*std::move(loaded));
  }();
  const PolicyProfile* profile = registry->Find(name);
  if (profile == nullptr) std::abort();
  return *profile;
}

// A healthy repeat donor aged 39 asking to give the profile's largest whole-blood volume on
// 2025-03-10, with every screening value well inside both profiles' limits.
EligibilityQuery Base(const PolicyProfile& policy) {
  EligibilityQuery q;
  q.donor.sex = v1::SEX_MALE;
  q.donor.birth_date = Day(1985, 7, 20);
  q.donor.repeat_donor = true;
  q.screening.weight_kg = 70;
  q.screening.hemoglobin_g_l = 150;
  q.screening.systolic_mmhg = 120;
  q.screening.diastolic_mmhg = 80;
  q.screening.pulse_bpm = 72;
  q.screening.hematocrit = 0.42;
  q.screening.platelet_count_e9_l = 250;
  q.donation_type = v1::DONATION_TYPE_WHOLE_BLOOD;
  const auto& volumes = policy.eligibility().whole_blood_volumes_ml();
  q.volume_ml = volumes[volumes.size() - 1];
  q.on_date = Day(2025, 3, 10);
  q.kind = CheckKind::kFullCheck;
  return q;
}

void Apheresis(EligibilityQuery& q) {
  q.donation_type = v1::DONATION_TYPE_APHERESIS_PLATELETS;
  q.volume_ml = 250;
}

PastDonation WholeBlood(Day date, int32_t volume_ml = 400) {
  return {date, v1::DONATION_TYPE_WHOLE_BLOOD, volume_ml};
}

PastDonation Platelets(Day date, int32_t volume_ml = 250) {
  return {date, v1::DONATION_TYPE_APHERESIS_PLATELETS, volume_ml};
}

// `count` donations of `type` every `every_days` days from `first`.
std::vector<PastDonation> Series(v1::DonationType type, Day first, int every_days, int count,
                                 int32_t volume_ml) {
  std::vector<PastDonation> history;
  for (int i = 0; i < count; ++i) history.push_back({first + i * every_days, type, volume_ml});
  return history;
}

struct Case {
  std::string name;
  std::string profile;
  std::function<void(EligibilityQuery&)> mutate;
  // Expected reasons in order; empty: eligible (and next_eligible_date == on_date).
  std::vector<ReasonCode> reasons;
  std::optional<Day> next;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> AgeCases() {
  return {
      {"Cn_FirstTimeOn18thBirthday",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2007, 3, 10);
       },
       {},
       {}},
      {"Cn_FirstTimeDayBefore18thBirthday",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2007, 3, 11);
       },
       {R::kAgeBelowMin},
       Day(2025, 3, 11)},
      {"Cn_FirstTimeLastDayAged55",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(1969, 3, 11);
       },
       {},
       {}},
      {"Cn_FirstTimeOn56thBirthday",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(1969, 3, 10);
       },
       {R::kAgeAboveMax},
       std::nullopt},
      {"Cn_RepeatAged58", kCn, [](auto& q) { q.donor.birth_date = Day(1967, 1, 1); }, {}, {}},
      {"Cn_FirstTimeAged58",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(1967, 1, 1);
       },
       {R::kAgeAboveMax},
       std::nullopt},
      {"Cn_RepeatAged58WithAdverseReaction",
       kCn,
       [](auto& q) {
         q.donor.birth_date = Day(1967, 1, 1);
         q.donor.adverse_reaction_history = true;
       },
       {R::kAgeAboveMax},
       std::nullopt},
      {"Cn_HistoryMakesARepeatDonor",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(1967, 1, 1);
         q.history = {WholeBlood(Day(2024, 1, 1))};
       },
       {},
       {}},
      {"Cn_RepeatLastDayAged60",
       kCn,
       [](auto& q) { q.donor.birth_date = Day(1964, 3, 11); },
       {},
       {}},
      {"Cn_RepeatOn61stBirthday",
       kCn,
       [](auto& q) { q.donor.birth_date = Day(1964, 3, 10); },
       {R::kAgeAboveMax},
       std::nullopt},
      {"Cn_Feb29BirthdayDayBefore18InCommonYear",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2008, 2, 29);
         q.on_date = Day(2026, 2, 28);
       },
       {R::kAgeBelowMin},
       Day(2026, 3, 1)},
      {"Cn_Feb29BirthdayIs18OnMar1InCommonYear",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2008, 2, 29);
         q.on_date = Day(2026, 3, 1);
       },
       {},
       {}},
      {"Cn_Feb29BirthdayStill55OnFeb28OfLeapYear",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(1968, 2, 29);
         q.on_date = Day(2024, 2, 28);
       },
       {},
       {}},
      {"Cn_Feb29BirthdayIs56OnFeb29OfLeapYear",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(1968, 2, 29);
         q.on_date = Day(2024, 2, 29);
       },
       {R::kAgeAboveMax},
       std::nullopt},
      {"Cn_Feb29RepeatStill60OnFeb28OfCommonYear",
       kCn,
       [](auto& q) {
         q.donor.birth_date = Day(1964, 2, 29);
         q.on_date = Day(2025, 2, 28);
       },
       {},
       {}},
      {"Cn_Feb29RepeatIs61OnMar1OfCommonYear",
       kCn,
       [](auto& q) {
         q.donor.birth_date = Day(1964, 2, 29);
         q.on_date = Day(2025, 3, 1);
       },
       {R::kAgeAboveMax},
       std::nullopt},
      {"Cn_NoNextDateWhenUpperAgeComesFirst",
       kCn,
       [](auto& q) {
         q.donor.adverse_reaction_history = true;  // limit 55; turns 56 on 2025-05-01
         q.donor.birth_date = Day(1969, 5, 1);
         q.history = {WholeBlood(Day(2025, 1, 10))};  // next whole blood 2025-07-10
       },
       {R::kIntervalNotElapsed},
       std::nullopt},
      {"Cn_NextDateWhenStillUnderUpperAge",
       kCn,
       [](auto& q) {
         q.donor.adverse_reaction_history = true;  // turns 56 on 2025-09-01
         q.donor.birth_date = Day(1969, 9, 1);
         q.history = {WholeBlood(Day(2025, 1, 10))};
       },
       {R::kIntervalNotElapsed},
       Day(2025, 7, 10)},
      {"Us_FirstTimeOn17thBirthday",
       kUs,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2008, 3, 10);
       },
       {},
       {}},
      {"Us_FirstTimeDayBefore17thBirthday",
       kUs,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2008, 3, 11);
       },
       {R::kAgeBelowMin},
       Day(2025, 3, 11)},
      {"Us_NoUpperAgeForFirstTimeDonor",
       kUs,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(1940, 1, 1);
       },
       {},
       {}},
      {"Us_NoUpperAgeWithAdverseReaction",
       kUs,
       [](auto& q) {
         q.donor.adverse_reaction_history = true;
         q.donor.birth_date = Day(1940, 1, 1);
       },
       {},
       {}},
      {"Us_Feb29BirthdayDayBefore17InCommonYear",
       kUs,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2008, 2, 29);
         q.on_date = Day(2025, 2, 28);
       },
       {R::kAgeBelowMin},
       Day(2025, 3, 1)},
      {"Us_Feb29BirthdayIs17OnMar1InCommonYear",
       kUs,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2008, 2, 29);
         q.on_date = Day(2025, 3, 1);
       },
       {},
       {}},
  };
}

std::vector<Case> ScreeningCases() {
  auto female = [](auto& q) { q.donor.sex = v1::SEX_FEMALE; };
  return {
      {"Cn_MaleWeightAtMin", kCn, [](auto& q) { q.screening.weight_kg = 50; }, {}, {}},
      {"Cn_MaleWeightBelowMin",
       kCn,
       [](auto& q) { q.screening.weight_kg = 49.9; },
       {R::kWeightBelowMin},
       std::nullopt},
      {"Cn_FemaleWeightAtMin",
       kCn,
       [=](auto& q) {
         female(q);
         q.screening.weight_kg = 45;
       },
       {},
       {}},
      {"Cn_FemaleWeightBelowMin",
       kCn,
       [=](auto& q) {
         female(q);
         q.screening.weight_kg = 44.9;
       },
       {R::kWeightBelowMin},
       std::nullopt},
      {"Cn_MaleHemoglobinAtMin", kCn, [](auto& q) { q.screening.hemoglobin_g_l = 120; }, {}, {}},
      {"Cn_MaleHemoglobinBelowMin",
       kCn,
       [](auto& q) { q.screening.hemoglobin_g_l = 119; },
       {R::kHemoglobinBelowMin},
       std::nullopt},
      {"Cn_FemaleHemoglobinAtMin",
       kCn,
       [=](auto& q) {
         female(q);
         q.screening.hemoglobin_g_l = 115;
       },
       {},
       {}},
      {"Cn_FemaleHemoglobinBelowMin",
       kCn,
       [=](auto& q) {
         female(q);
         q.screening.hemoglobin_g_l = 114.9;
       },
       {R::kHemoglobinBelowMin},
       std::nullopt},
      {"Us_MaleWeightAtMin", kUs, [](auto& q) { q.screening.weight_kg = 50; }, {}, {}},
      {"Us_MaleWeightBelowMin",
       kUs,
       [](auto& q) { q.screening.weight_kg = 49.9; },
       {R::kWeightBelowMin},
       std::nullopt},
      {"Us_FemaleWeightAtMin",
       kUs,
       [=](auto& q) {
         female(q);
         q.screening.weight_kg = 50;
       },
       {},
       {}},
      {"Us_FemaleWeightAtCnMinIsBelow",
       kUs,
       [=](auto& q) {
         female(q);
         q.screening.weight_kg = 45;
       },
       {R::kWeightBelowMin},
       std::nullopt},
      {"Us_MaleHemoglobinAtMin", kUs, [](auto& q) { q.screening.hemoglobin_g_l = 130; }, {}, {}},
      {"Us_MaleHemoglobinBelowMin",
       kUs,
       [](auto& q) { q.screening.hemoglobin_g_l = 129.9; },
       {R::kHemoglobinBelowMin},
       std::nullopt},
      {"Us_FemaleHemoglobinAtMin",
       kUs,
       [=](auto& q) {
         female(q);
         q.screening.hemoglobin_g_l = 125;
       },
       {},
       {}},
      {"Us_FemaleHemoglobinBelowMin",
       kUs,
       [=](auto& q) {
         female(q);
         q.screening.hemoglobin_g_l = 124.9;
       },
       {R::kHemoglobinBelowMin},
       std::nullopt},
  };
}

// Sets systolic/diastolic/pulse.
std::function<void(EligibilityQuery&)> Vitals(int systolic, int diastolic, int pulse = 72) {
  return [=](EligibilityQuery& q) {
    q.screening.systolic_mmhg = systolic;
    q.screening.diastolic_mmhg = diastolic;
    q.screening.pulse_bpm = pulse;
  };
}

std::vector<Case> VitalSignCases() {
  return {
      // CN: 90 <= systolic < 140, 60 <= diastolic < 90, pulse 60-100, pulse pressure >= 30.
      {"Cn_SystolicAtMin", kCn, Vitals(90, 60), {}, {}},
      {"Cn_SystolicBelowMin",
       kCn,
       Vitals(89, 59),
       {R::kSystolicOutOfRange, R::kDiastolicOutOfRange},
       std::nullopt},
      {"Cn_SystolicBelowMinAlsoNarrowsPulsePressure",
       kCn,
       Vitals(89, 60),
       {R::kSystolicOutOfRange, R::kPulsePressureBelowMin},
       std::nullopt},
      {"Cn_SystolicAtMax", kCn, Vitals(139, 80), {}, {}},
      {"Cn_SystolicAt140", kCn, Vitals(140, 80), {R::kSystolicOutOfRange}, std::nullopt},
      {"Cn_DiastolicAtMin", kCn, Vitals(120, 60), {}, {}},
      {"Cn_DiastolicBelowMin", kCn, Vitals(120, 59), {R::kDiastolicOutOfRange}, std::nullopt},
      {"Cn_DiastolicAtMax", kCn, Vitals(120, 89), {}, {}},
      {"Cn_DiastolicAt90", kCn, Vitals(120, 90), {R::kDiastolicOutOfRange}, std::nullopt},
      {"Cn_PulseAtMin", kCn, Vitals(120, 80, 60), {}, {}},
      {"Cn_PulseBelowMin", kCn, Vitals(120, 80, 59), {R::kPulseOutOfRange}, std::nullopt},
      {"Cn_PulseAtMax", kCn, Vitals(120, 80, 100), {}, {}},
      {"Cn_PulseAboveMax", kCn, Vitals(120, 80, 101), {R::kPulseOutOfRange}, std::nullopt},
      {"Cn_PulsePressureAtMin", kCn, Vitals(110, 80), {}, {}},
      {"Cn_PulsePressureBelowMin", kCn, Vitals(110, 81), {R::kPulsePressureBelowMin}, std::nullopt},
      // US [R]: systolic 90-180, diastolic 50-100, pulse 50-100, no pulse-pressure rule.
      {"Us_SystolicAtMin", kUs, Vitals(90, 60), {}, {}},
      {"Us_SystolicBelowMin", kUs, Vitals(89, 60), {R::kSystolicOutOfRange}, std::nullopt},
      {"Us_SystolicAtMax", kUs, Vitals(180, 80), {}, {}},
      {"Us_SystolicAboveMax", kUs, Vitals(181, 80), {R::kSystolicOutOfRange}, std::nullopt},
      {"Us_DiastolicAtMin", kUs, Vitals(120, 50), {}, {}},
      {"Us_DiastolicBelowMin", kUs, Vitals(120, 49), {R::kDiastolicOutOfRange}, std::nullopt},
      {"Us_DiastolicAtMax", kUs, Vitals(140, 100), {}, {}},
      {"Us_DiastolicAboveMax", kUs, Vitals(140, 101), {R::kDiastolicOutOfRange}, std::nullopt},
      {"Us_PulseAtMin", kUs, Vitals(120, 80, 50), {}, {}},
      {"Us_PulseBelowMin", kUs, Vitals(120, 80, 49), {R::kPulseOutOfRange}, std::nullopt},
      {"Us_PulseAtMax", kUs, Vitals(120, 80, 100), {}, {}},
      {"Us_PulseAboveMax", kUs, Vitals(120, 80, 101), {R::kPulseOutOfRange}, std::nullopt},
      {"Us_NoPulsePressureRule", kUs, Vitals(100, 80), {}, {}},
  };
}

std::vector<Case> ApheresisAndVolumeCases() {
  return {
      {"Cn_ApheresisHematocritAtMin",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.screening.hematocrit = 0.36;
       },
       {},
       {}},
      {"Cn_ApheresisHematocritBelowMin",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.screening.hematocrit = 0.359;
       },
       {R::kHematocritBelowMin},
       std::nullopt},
      {"Cn_ApheresisPlateletCountAtMin",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.screening.platelet_count_e9_l = 150;
       },
       {},
       {}},
      {"Cn_ApheresisPlateletCountBelowMin",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.screening.platelet_count_e9_l = 149;
       },
       {R::kPlateletCountOutOfRange},
       std::nullopt},
      {"Cn_ApheresisPlateletCountAtMax",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.screening.platelet_count_e9_l = 450;
       },
       {},
       {}},
      {"Cn_ApheresisPlateletCountAboveMax",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.screening.platelet_count_e9_l = 451;
       },
       {R::kPlateletCountOutOfRange},
       std::nullopt},
      {"Cn_WholeBloodIgnoresApheresisLimits",
       kCn,
       [](auto& q) {
         q.screening.hematocrit = 0.30;
         q.screening.platelet_count_e9_l = 100;
       },
       {},
       {}},
      {"Us_ApheresisHematocritAtMin",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.screening.hematocrit = 0.38;
       },
       {},
       {}},
      {"Us_ApheresisHematocritBelowMin",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.screening.hematocrit = 0.379;
       },
       {R::kHematocritBelowMin},
       std::nullopt},
      {"Us_ApheresisPlateletCountAtMin",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.screening.platelet_count_e9_l = 150;
       },
       {},
       {}},
      {"Us_ApheresisPlateletCountBelowMin",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.screening.platelet_count_e9_l = 149;
       },
       {R::kPlateletCountOutOfRange},
       std::nullopt},
      {"Us_ApheresisPlateletCountHasNoMax",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.screening.platelet_count_e9_l = 1000;
       },
       {},
       {}},
      {"Cn_WholeBlood200", kCn, [](auto& q) { q.volume_ml = 200; }, {}, {}},
      {"Cn_WholeBlood300", kCn, [](auto& q) { q.volume_ml = 300; }, {}, {}},
      {"Cn_WholeBlood400", kCn, [](auto& q) { q.volume_ml = 400; }, {}, {}},
      {"Cn_WholeBlood250",
       kCn,
       [](auto& q) { q.volume_ml = 250; },
       {R::kVolumeNotAllowed},
       std::nullopt},
      {"Cn_WholeBlood450",
       kCn,
       [](auto& q) { q.volume_ml = 450; },
       {R::kVolumeNotAllowed},
       std::nullopt},
      {"Us_WholeBlood450", kUs, [](auto& q) { q.volume_ml = 450; }, {}, {}},
      {"Us_WholeBlood500", kUs, [](auto& q) { q.volume_ml = 500; }, {}, {}},
      {"Us_WholeBlood400",
       kUs,
       [](auto& q) { q.volume_ml = 400; },
       {R::kVolumeNotAllowed},
       std::nullopt},
  };
}

std::vector<Case> IntervalCases() {
  return {
      // CN whole blood -> whole blood: 6 calendar months.
      {"Cn_WholeBloodToWholeBloodDayBefore",
       kCn,
       [](auto& q) {
         q.history = {WholeBlood(Day(2024, 9, 10))};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Cn_WholeBloodToWholeBloodOnTheDay",
       kCn,
       [](auto& q) { q.history = {WholeBlood(Day(2024, 9, 10))}; },
       {},
       {}},
      {"Cn_WholeBloodFromAug31DayBefore",
       kCn,
       [](auto& q) {
         q.history = {WholeBlood(Day(2024, 8, 31))};
         q.on_date = Day(2025, 2, 28);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 1)},
      {"Cn_WholeBloodFromAug31OnMar1",
       kCn,
       [](auto& q) {
         q.history = {WholeBlood(Day(2024, 8, 31))};
         q.on_date = Day(2025, 3, 1);
       },
       {},
       {}},
      {"Cn_WholeBloodEndsOnLeapDayDayBefore",
       kCn,
       [](auto& q) {
         q.history = {WholeBlood(Day(2023, 8, 29))};
         q.on_date = Day(2024, 2, 28);
       },
       {R::kIntervalNotElapsed},
       Day(2024, 2, 29)},
      {"Cn_WholeBloodEndsOnLeapDay",
       kCn,
       [](auto& q) {
         q.history = {WholeBlood(Day(2023, 8, 29))};
         q.on_date = Day(2024, 2, 29);
       },
       {},
       {}},
      {"Cn_LatestDonationCounts",
       kCn,
       [](auto& q) {
         q.history = {WholeBlood(Day(2024, 10, 1)), WholeBlood(Day(2024, 1, 1))};
       },
       {R::kIntervalNotElapsed},
       Day(2025, 4, 1)},
      // CN apheresis platelets -> apheresis platelets: 14 days.
      {"Cn_PlateletsToPlateletsDayBefore",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.history = {Platelets(Day(2025, 2, 24))};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Cn_PlateletsToPlateletsOnTheDay",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.history = {Platelets(Day(2025, 2, 24))};
       },
       {},
       {}},
      // CN apheresis platelets -> whole blood: 4 weeks.
      {"Cn_PlateletsToWholeBloodDayBefore",
       kCn,
       [](auto& q) {
         q.history = {Platelets(Day(2025, 2, 10))};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Cn_PlateletsToWholeBloodOnTheDay",
       kCn,
       [](auto& q) { q.history = {Platelets(Day(2025, 2, 10))}; },
       {},
       {}},
      // CN whole blood -> apheresis platelets: 3 calendar months.
      {"Cn_WholeBloodToPlateletsDayBefore",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.history = {WholeBlood(Day(2024, 12, 10))};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Cn_WholeBloodToPlateletsOnTheDay",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.history = {WholeBlood(Day(2024, 12, 10))};
       },
       {},
       {}},
      {"Cn_NextDateIsTheLatestIntervalEnd",
       kCn,
       [](auto& q) {
         Apheresis(q);
         // Platelets again from 2025-03-15; platelets after whole blood from 2025-03-20.
         q.history = {WholeBlood(Day(2024, 12, 20)), Platelets(Day(2025, 3, 1))};
       },
       {R::kIntervalNotElapsed, R::kIntervalNotElapsed},
       Day(2025, 3, 20)},
      {"Cn_DonationsAfterOnDateAreIgnored",
       kCn,
       [](auto& q) { q.history = {WholeBlood(Day(2025, 3, 20))}; },
       {},
       {}},
      // US: whole blood 56 d, platelets 2 d, platelets -> whole blood 7 d, whole blood ->
      // platelets 8 weeks, at most 2 platelet donations in 7 days.
      {"Us_WholeBloodToWholeBloodDayBefore",
       kUs,
       [](auto& q) {
         q.history = {WholeBlood(Day(2025, 1, 13), 500)};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Us_WholeBloodToWholeBloodOnDay56",
       kUs,
       [](auto& q) { q.history = {WholeBlood(Day(2025, 1, 13), 500)}; },
       {},
       {}},
      {"Us_PlateletsToPlateletsDayBefore",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.history = {Platelets(Day(2025, 3, 8))};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Us_PlateletsToPlateletsOnTheDay",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.history = {Platelets(Day(2025, 3, 8))};
       },
       {},
       {}},
      {"Us_PlateletsToWholeBloodDayBefore",
       kUs,
       [](auto& q) {
         q.history = {Platelets(Day(2025, 3, 3))};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Us_PlateletsToWholeBloodOnTheDay",
       kUs,
       [](auto& q) { q.history = {Platelets(Day(2025, 3, 3))}; },
       {},
       {}},
      {"Us_WholeBloodToPlateletsDayBefore",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.history = {WholeBlood(Day(2025, 1, 13), 500)};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kIntervalNotElapsed},
       Day(2025, 3, 10)},
      {"Us_WholeBloodToPlateletsOnTheDay",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.history = {WholeBlood(Day(2025, 1, 13), 500)};
       },
       {},
       {}},
      {"Us_ThirdPlateletDonationIn7Days",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.history = {Platelets(Day(2025, 3, 4)), Platelets(Day(2025, 3, 7))};
         q.on_date = Day(2025, 3, 9);
       },
       {R::kDonationCountCap},
       Day(2025, 3, 11)},
      {"Us_PlateletsAgainWhenTheWeekHasPassed",
       kUs,
       [](auto& q) {
         Apheresis(q);
         q.history = {Platelets(Day(2025, 3, 4)), Platelets(Day(2025, 3, 7))};
         q.on_date = Day(2025, 3, 11);
       },
       {},
       {}},
      {"Us_NextDateIsTheLatestIntervalEnd",
       kUs,
       [](auto& q) {
         Apheresis(q);
         // Platelets again from 2025-03-11; platelets after whole blood from 2025-03-29.
         q.history = {WholeBlood(Day(2025, 2, 1), 500), Platelets(Day(2025, 3, 9))};
       },
       {R::kIntervalNotElapsed, R::kIntervalNotElapsed},
       Day(2025, 3, 29)},
  };
}

std::vector<Case> CapCases() {
  // Platelets every 14 days from 2024-04-01; the first leaves the 365-day window on
  // 2025-04-01.
  auto platelets = [](int count, int32_t volume_ml = 250) {
    return Series(v1::DONATION_TYPE_APHERESIS_PLATELETS, Day(2024, 4, 1), 14, count, volume_ml);
  };
  // From 2024-05-01: leaves the window on 2025-05-01.
  auto from_may = [](v1::DonationType type, int count, int32_t volume_ml) {
    return Series(type, Day(2024, 5, 1), 14, count, volume_ml);
  };
  std::vector<Case> cases;
  for (const char* profile : {kCn, kUs}) {
    const std::string p = profile == std::string(kCn) ? "Cn_" : "Us_";
    cases.push_back({p + "24thApheresisInAYear",
                     profile,
                     [=](auto& q) {
                       Apheresis(q);
                       q.history = platelets(23);
                     },
                     {},
                     {}});
    cases.push_back({p + "25thApheresisInAYear",
                     profile,
                     [=](auto& q) {
                       Apheresis(q);
                       q.history = platelets(24);
                     },
                     {R::kDonationCountCap},
                     Day(2025, 4, 1)});
    cases.push_back({p + "25thApheresisDayBeforeTheFirstLeavesTheYear",
                     profile,
                     [=](auto& q) {
                       Apheresis(q);
                       q.history = platelets(24);
                       q.on_date = Day(2025, 3, 31);
                     },
                     {R::kDonationCountCap},
                     Day(2025, 4, 1)});
    cases.push_back({p + "25thApheresisWhenTheFirstLeavesTheYear",
                     profile,
                     [=](auto& q) {
                       Apheresis(q);
                       q.history = platelets(24);
                       q.on_date = Day(2025, 4, 1);
                     },
                     {},
                     {}});
    cases.push_back({p + "CountCapDoesNotApplyToWholeBlood",
                     profile,
                     [=](auto& q) {
                       q.history = platelets(24);
                       q.on_date = Day(2025, 3, 31);  // 6 weeks after the last platelets
                     },
                     {},
                     {}});
  }
  constexpr v1::DonationType kPlatelets = v1::DONATION_TYPE_APHERESIS_PLATELETS;
  // CN: 10 L a year; 20 x 480 mL = 9600 mL.
  cases.push_back({"Cn_VolumeCapReachedExactly",
                   kCn,
                   [=](auto& q) {
                     Apheresis(q);
                     q.history = from_may(kPlatelets, 20, 480);
                     q.volume_ml = 400;
                   },
                   {},
                   {}});
  cases.push_back({"Cn_VolumeCapExceededBy1mL",
                   kCn,
                   [=](auto& q) {
                     Apheresis(q);
                     q.history = from_may(kPlatelets, 20, 480);
                     q.volume_ml = 401;
                   },
                   {R::kCollectedVolumeCap},
                   Day(2025, 5, 1)});
  cases.push_back({"Cn_VolumeCapCountsApheresisPlasma",
                   kCn,
                   [=](auto& q) {
                     Apheresis(q);
                     q.history = from_may(v1::DONATION_TYPE_APHERESIS_PLASMA, 10, 960);
                     q.volume_ml = 401;
                   },
                   {R::kCollectedVolumeCap},
                   Day(2025, 5, 1)});
  cases.push_back({"Cn_VolumeCapNeedsTwoDonationsToLeave",
                   kCn,
                   [=](auto& q) {
                     Apheresis(q);
                     q.history = from_may(kPlatelets, 20, 480);
                     q.volume_ml = 900;  // 9600 - 480 + 900 > 10000; - 960 fits
                   },
                   {R::kCollectedVolumeCap},
                   Day(2025, 5, 15)});
  cases.push_back({"Cn_VolumeAloneOverTheCap",
                   kCn,
                   [](auto& q) {
                     Apheresis(q);
                     q.volume_ml = 10001;
                   },
                   {R::kCollectedVolumeCap},
                   std::nullopt});
  cases.push_back({"Cn_PreCheckWithoutVolumeNeedsRoomLeft",
                   kCn,
                   [=](auto& q) {
                     Apheresis(q);
                     q.kind = CheckKind::kPreCheck;
                     q.volume_ml.reset();
                     q.history = from_may(kPlatelets, 20, 500);  // 10000 mL
                   },
                   {R::kCollectedVolumeCap},
                   Day(2025, 5, 1)});
  cases.push_back({"Cn_PreCheckWithoutVolumeWith1mLLeft",
                   kCn,
                   [=](auto& q) {
                     Apheresis(q);
                     q.kind = CheckKind::kPreCheck;
                     q.volume_ml.reset();
                     q.history = from_may(kPlatelets, 20, 500);
                     q.history[0].volume_ml = 499;
                   },
                   {},
                   {}});
  // US [R]: 12 L a year; 20 x 580 mL = 11600 mL.
  cases.push_back({"Us_VolumeCapReachedExactly",
                   kUs,
                   [=](auto& q) {
                     Apheresis(q);
                     q.history = from_may(kPlatelets, 20, 580);
                     q.volume_ml = 400;
                   },
                   {},
                   {}});
  cases.push_back({"Us_VolumeCapExceededBy1mL",
                   kUs,
                   [=](auto& q) {
                     Apheresis(q);
                     q.history = from_may(kPlatelets, 20, 580);
                     q.volume_ml = 401;
                   },
                   {R::kCollectedVolumeCap},
                   Day(2025, 5, 1)});
  return cases;
}

std::vector<Case> DeferralCases() {
  std::vector<Case> cases;
  for (const char* profile : {kCn, kUs}) {
    const std::string p = profile == std::string(kCn) ? "Cn_" : "Us_";
    cases.push_back({p + "DeferredDayBeforeUntil",
                     profile,
                     [](auto& q) {
                       q.deferrals = {{"TATTOO", Day(2025, 3, 10)}};
                       q.on_date = Day(2025, 3, 9);
                     },
                     {R::kDeferredTemporary},
                     Day(2025, 3, 10)});
    cases.push_back({p + "NotDeferredOnUntil",
                     profile,
                     [](auto& q) {
                       q.deferrals = {{"TATTOO", Day(2025, 3, 10)}};
                     },
                     {},
                     {}});
    cases.push_back({p + "PermanentDeferralHasNoNextDate",
                     profile,
                     [](auto& q) {
                       q.deferrals = {{"HIV_REACTIVE", std::nullopt}};
                     },
                     {R::kDeferredPermanent},
                     std::nullopt});
    cases.push_back({p + "PermanentDeferralWinsOverTimeReasons",
                     profile,
                     [](auto& q) {
                       q.deferrals = {{"TATTOO", Day(2025, 6, 1)}, {"HCV_REACTIVE", std::nullopt}};
                       q.history = {WholeBlood(Day(2025, 3, 1))};
                     },
                     {R::kDeferredTemporary, R::kDeferredPermanent, R::kIntervalNotElapsed},
                     std::nullopt});
    cases.push_back({p + "CodeOutsideTheCatalogueIsHonoured",
                     profile,
                     [](auto& q) {
                       q.deferrals = {{"LOCAL_RULE", Day(2025, 4, 1)}};
                     },
                     {R::kDeferredTemporary},
                     Day(2025, 4, 1)});
  }
  return cases;
}

std::vector<Case> CombinedCases() {
  return {
      {"Cn_TimeReasonsGiveTheLatestDate",
       kCn,
       [](auto& q) {
         q.donor.repeat_donor = false;
         q.donor.birth_date = Day(2007, 4, 1);  // 18 on 2025-04-01
         q.deferrals = {{"MALARIA_TRAVEL", Day(2025, 5, 1)}};
       },
       {R::kAgeBelowMin, R::kDeferredTemporary},
       Day(2025, 5, 1)},
      {"Cn_IntervalsAndDeferralGiveTheLatestDate",
       kCn,
       [](auto& q) {
         Apheresis(q);
         q.history = {WholeBlood(Day(2024, 12, 20)), Platelets(Day(2025, 3, 1))};
         q.deferrals = {{"TATTOO", Day(2025, 4, 1)}};
       },
       {R::kDeferredTemporary, R::kIntervalNotElapsed, R::kIntervalNotElapsed},
       Day(2025, 4, 1)},
      {"Cn_ManyReasonsAtOnce",
       kCn,
       [](auto& q) {
         q.donor.sex = v1::SEX_FEMALE;
         q.screening.weight_kg = 44;
         q.screening.hemoglobin_g_l = 110;
         q.volume_ml = 500;
         q.history = {WholeBlood(Day(2025, 1, 1))};
         q.deferrals = {{"TATTOO", Day(2025, 4, 1)}};
       },
       {R::kDeferredTemporary, R::kIntervalNotElapsed, R::kVolumeNotAllowed, R::kWeightBelowMin,
        R::kHemoglobinBelowMin},
       std::nullopt},
      {"Us_ManyReasonsAtOnce",
       kUs,
       [](auto& q) {
         q.volume_ml = 400;
         q.screening.systolic_mmhg = 200;
         q.screening.pulse_bpm = 120;
       },
       {R::kVolumeNotAllowed, R::kSystolicOutOfRange, R::kPulseOutOfRange},
       std::nullopt},
  };
}

std::vector<Case> MissingInputCases() {
  std::vector<Case> cases;
  for (const char* profile : {kCn, kUs}) {
    const std::string p = profile == std::string(kCn) ? "Cn_" : "Us_";
    cases.push_back({p + "PreCheckWithoutScreeningOrVolume",
                     profile,
                     [](auto& q) {
                       q.kind = CheckKind::kPreCheck;
                       q.screening = {};
                       q.volume_ml.reset();
                     },
                     {},
                     {}});
    cases.push_back({p + "PreCheckStillChecksGivenValues",
                     profile,
                     [](auto& q) {
                       q.kind = CheckKind::kPreCheck;
                       q.screening = {};
                       q.screening.hemoglobin_g_l = 100;
                     },
                     {R::kHemoglobinBelowMin},
                     std::nullopt});
    cases.push_back({p + "PreCheckStillAppliesTimeRules",
                     profile,
                     [](auto& q) {
                       q.kind = CheckKind::kPreCheck;
                       q.screening = {};
                       q.history = {WholeBlood(Day(2025, 3, 1))};
                     },
                     {R::kIntervalNotElapsed},
                     // 6 months (CN) or 56 days (US) after 2025-03-01.
                     p == "Cn_" ? Day(2025, 9, 1) : Day(2025, 4, 26)});
    cases.push_back(
        {p + "FullCheckWithoutScreening",
         profile,
         [](auto& q) { q.screening = {}; },
         {R::kMissingInput, R::kMissingInput, R::kMissingInput, R::kMissingInput, R::kMissingInput},
         std::nullopt});
    cases.push_back({p + "FullCheckApheresisWithoutScreening",
                     profile,
                     [](auto& q) {
                       Apheresis(q);
                       q.screening = {};
                     },
                     {R::kMissingInput, R::kMissingInput, R::kMissingInput, R::kMissingInput,
                      R::kMissingInput, R::kMissingInput, R::kMissingInput},
                     std::nullopt});
    cases.push_back({p + "FullCheckWithoutVolume",
                     profile,
                     [](auto& q) { q.volume_ml.reset(); },
                     {R::kMissingInput},
                     std::nullopt});
  }
  return cases;
}

std::vector<Case> AllCases() {
  std::vector<Case> all;
  for (auto cases :
       {AgeCases(), ScreeningCases(), VitalSignCases(), ApheresisAndVolumeCases(), IntervalCases(),
        CapCases(), DeferralCases(), CombinedCases(), MissingInputCases()}) {
    for (Case& c : cases) all.push_back(std::move(c));
  }
  return all;
}

class EligibilityRuleTest : public ::testing::TestWithParam<Case> {};

TEST_P(EligibilityRuleTest, Edge) {
  const Case& c = GetParam();
  const PolicyProfile& policy = Profile(c.profile);
  EligibilityQuery query = Base(policy);
  c.mutate(query);
  absl::StatusOr<EligibilityResult> result = CheckEligibility(query, policy);
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<ReasonCode> codes;
  std::vector<std::string> texts;
  for (const Reason& reason : result->reasons) {
    codes.push_back(reason.code);
    texts.push_back(reason.text);
    EXPECT_FALSE(reason.text.empty());
  }
  EXPECT_THAT(codes, ElementsAreArray(c.reasons)) << absl::StrJoin(texts, "\n");
  EXPECT_EQ(result->eligible, c.reasons.empty());
  if (c.reasons.empty()) {
    EXPECT_EQ(result->next_eligible_date, query.on_date);
  } else {
    EXPECT_EQ(result->next_eligible_date, c.next) << absl::StrJoin(texts, "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(BothProfiles, EligibilityRuleTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(EligibilityTest, ReasonsCarryDetailsAndDates) {
  const PolicyProfile& cn = Profile(kCn);
  EligibilityQuery query = Base(cn);
  query.history = {WholeBlood(Day(2024, 12, 1))};
  query.deferrals = {{"TATTOO", Day(2025, 6, 1)}};
  query.screening.weight_kg.reset();
  absl::StatusOr<EligibilityResult> result = CheckEligibility(query, cn);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->reasons.size(), 3u);
  const Reason& deferral = result->reasons[0];
  EXPECT_EQ(deferral.detail, "TATTOO");
  EXPECT_EQ(deferral.until, Day(2025, 6, 1));
  EXPECT_THAT(deferral.text, HasSubstr("Tattoo"));
  const Reason& interval = result->reasons[1];
  EXPECT_EQ(interval.detail, "DONATION_TYPE_WHOLE_BLOOD");
  EXPECT_EQ(interval.until, Day(2025, 6, 1));
  EXPECT_THAT(interval.text, HasSubstr("6 months"));
  const Reason& missing = result->reasons[2];
  EXPECT_EQ(missing.code, ReasonCode::kMissingInput);
  EXPECT_EQ(missing.detail, "weight_kg");
  EXPECT_EQ(missing.until, std::nullopt);
}

TEST(EligibilityTest, MissingInputsAreNamed) {
  const PolicyProfile& cn = Profile(kCn);
  EligibilityQuery query = Base(cn);
  Apheresis(query);
  query.screening = {};
  query.volume_ml.reset();
  absl::StatusOr<EligibilityResult> result = CheckEligibility(query, cn);
  ASSERT_TRUE(result.ok());
  std::vector<std::string> fields;
  for (const Reason& reason : result->reasons) fields.push_back(reason.detail);
  EXPECT_THAT(fields,
              ElementsAre("volume_ml", "weight_kg", "hemoglobin_g_l", "systolic_mmhg",
                          "diastolic_mmhg", "pulse_bpm", "hematocrit", "platelet_count_e9_l"));
}

struct InvalidCase {
  std::string name;
  std::function<void(EligibilityQuery&)> mutate;
  std::string field;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class EligibilityInvalidInputTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(EligibilityInvalidInputTest, IsInvalidArgumentNamingTheField) {
  const PolicyProfile& cn = Profile(kCn);
  EligibilityQuery query = Base(cn);
  GetParam().mutate(query);
  absl::StatusOr<EligibilityResult> result = CheckEligibility(query, cn);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  EXPECT_THAT(std::string(result.status().message()), StartsWith(GetParam().field + ":"));
}

INSTANTIATE_TEST_SUITE_P(
    EachField, EligibilityInvalidInputTest,
    ::testing::Values(
        InvalidCase{"NoDonationType",
                    [](auto& q) { q.donation_type = v1::DONATION_TYPE_UNSPECIFIED; },
                    "donation_type"},
        InvalidCase{"NoSex", [](auto& q) { q.donor.sex = v1::SEX_UNSPECIFIED; }, "donor.sex"},
        InvalidCase{"BornAfterOnDate", [](auto& q) { q.donor.birth_date = Day(2025, 3, 11); },
                    "donor.birth_date"},
        InvalidCase{"HistoryWithoutType",
                    [](auto& q) {
                      q.history = {WholeBlood(Day(2024, 1, 1)),
                                   {Day(2024, 2, 1), v1::DONATION_TYPE_UNSPECIFIED, 200}};
                    },
                    "history[1].type"},
        InvalidCase{"HistoryNegativeVolume",
                    [](auto& q) { q.history = {WholeBlood(Day(2024, 1, 1), -1)}; },
                    "history[0].volume_ml"},
        InvalidCase{"DeferralWithoutCode",
                    [](auto& q) {
                      q.deferrals = {{"", std::nullopt}};
                    },
                    "deferrals[0].code"},
        InvalidCase{"ZeroVolume", [](auto& q) { q.volume_ml = 0; }, "volume_ml"},
        InvalidCase{"NegativeWeight", [](auto& q) { q.screening.weight_kg = -70; },
                    "screening.weight_kg"},
        InvalidCase{"ZeroPulse", [](auto& q) { q.screening.pulse_bpm = 0; }, "screening.pulse_bpm"},
        InvalidCase{"HematocritAsPercent", [](auto& q) { q.screening.hematocrit = 42; },
                    "screening.hematocrit"}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

TEST(ReasonCodeNameTest, EveryCodeHasAUniqueName) {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(ReasonCode::kMissingInput); ++i) {
    const std::string name(ReasonCodeName(static_cast<ReasonCode>(i)));
    EXPECT_NE(name, "UNKNOWN");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(ReasonCodeName(ReasonCode::kIntervalNotElapsed), "INTERVAL_NOT_ELAPSED");
}

TEST(AgeInYearsTest, CountsWholeYears) {
  EXPECT_EQ(AgeInYears(Day(2000, 6, 15), Day(2018, 6, 14)), 17);
  EXPECT_EQ(AgeInYears(Day(2000, 6, 15), Day(2018, 6, 15)), 18);
  EXPECT_EQ(AgeInYears(Day(2000, 2, 29), Day(2018, 2, 28)), 17);
  EXPECT_EQ(AgeInYears(Day(2000, 2, 29), Day(2018, 3, 1)), 18);
  EXPECT_EQ(AgeInYears(Day(2000, 2, 29), Day(2020, 2, 28)), 19);
  EXPECT_EQ(AgeInYears(Day(2000, 2, 29), Day(2020, 2, 29)), 20);
  EXPECT_EQ(AgeInYears(Day(2000, 1, 1), Day(2000, 1, 1)), 0);
}

}  // namespace
}  // namespace bloodgrid::donor
