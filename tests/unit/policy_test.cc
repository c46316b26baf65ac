#include "common/policy.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloodgrid {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using v1::PolicyProfile;

constexpr char kCn[] = "cn-gb18467-2011";
constexpr char kUs[] = "us-fda";

// absl::string_view is not std::string_view in Debian's Abseil; gMock wants std::string.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

std::string ShippedPath(absl::string_view name) {
  return absl::StrCat(BLOODGRID_POLICY_DIR, "/", name, ".textproto");
}

PolicyProfile Shipped(absl::string_view name) {
  absl::StatusOr<PolicyProfile> policy = LoadPolicyFile(ShippedPath(name));
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : PolicyProfile();
}

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            absl::StrCat("bloodgrid_policy_test_", getpid(), "_", counter++);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `contents` to `name` in the directory; returns the file's path.
  std::string WriteFile(absl::string_view name, absl::string_view contents) const {
    const std::filesystem::path file = path_ / std::string(name);
    std::ofstream out(file, std::ios::binary);
    out << contents;
    return file.string();
  }
  std::string CopyShipped(absl::string_view name, absl::string_view as) const {
    const std::filesystem::path file = path_ / std::string(as);
    std::filesystem::copy_file(ShippedPath(name), file);
    return file.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(LoadPolicyFileTest, ShippedProfilesLoadAndValidate) {
  for (const char* name : {kCn, kUs}) {
    SCOPED_TRACE(name);
    absl::StatusOr<PolicyProfile> policy = LoadPolicyFile(ShippedPath(name));
    ASSERT_TRUE(policy.ok()) << policy.status();
    EXPECT_EQ(policy->name(), name);
    EXPECT_GE(policy->version(), 1);
    EXPECT_TRUE(ValidatePolicy(*policy).ok()) << ValidatePolicy(*policy);
  }
}

TEST(LoadPolicyFileTest, CnProfileHoldsDomainNumbers) {
  const PolicyProfile cn = Shipped(kCn);
  const PolicyProfile::DonorEligibility& e = cn.eligibility();
  EXPECT_EQ(e.age_min_years(), 18);
  EXPECT_EQ(e.age_max_first_time_years(), 55);
  EXPECT_EQ(e.age_max_repeat_years(), 60);
  EXPECT_EQ(e.weight_min_kg().male(), 50);
  EXPECT_EQ(e.weight_min_kg().female(), 45);
  EXPECT_EQ(e.hemoglobin_min_g_l().male(), 120);
  EXPECT_EQ(e.hemoglobin_min_g_l().female(), 115);
  EXPECT_EQ(e.systolic_mmhg().min(), 90);
  EXPECT_EQ(e.systolic_mmhg().max(), 139);
  EXPECT_EQ(e.diastolic_mmhg().max(), 89);
  EXPECT_EQ(e.pulse_pressure_min_mmhg(), 30);
  EXPECT_THAT(e.whole_blood_volumes_ml(), ElementsAre(200, 300, 400));
  EXPECT_DOUBLE_EQ(e.apheresis_platelets_hematocrit_min(), 0.36);
  EXPECT_EQ(cn.intervals().rules_size(), 4);
  EXPECT_EQ(cn.lookback().window().months(), 12);
  EXPECT_EQ(cn.indications().approval_tiers(2).from_daily_ml(), 1600);
  EXPECT_EQ(cn.reimbursement().donor_tiers(0).within_years(), 5);
  EXPECT_EQ(cn.reimbursement().donor_tiers(0).multiplier(), 3);
  EXPECT_EQ(cn.reimbursement().lifetime_free_threshold_ml(), 1000);
  EXPECT_EQ(cn.reimbursement().apheresis_platelets_ml_equivalent(), 400);
  EXPECT_EQ(cn.massive_transfusion().red_cell_units(), 6);
  EXPECT_EQ(cn.massive_transfusion().plasma_units(), 6);
  EXPECT_EQ(cn.massive_transfusion().platelet_doses(), 1);
  EXPECT_EQ(cn.emergency_rhd().female_rhd_positive_above_age_years(), 50);
  EXPECT_EQ(cn.units().whole_blood_ml_per_red_cell_unit(), 200);
  EXPECT_EQ(cn.units().plasma_ml_per_unit(), 100);
  EXPECT_EQ(cn.units().platelet_units_per_apheresis_dose(), 10);
}

TEST(LoadPolicyFileTest, UsProfileHoldsDomainNumbers) {
  const PolicyProfile us = Shipped(kUs);
  EXPECT_FALSE(us.eligibility().has_age_max_first_time_years());
  EXPECT_FALSE(us.has_reimbursement());
  const PolicyProfile::IntervalRule& whole_blood = us.intervals().rules(0);
  EXPECT_EQ(whole_blood.previous(), v1::DONATION_TYPE_WHOLE_BLOOD);
  EXPECT_EQ(whole_blood.next(), v1::DONATION_TYPE_WHOLE_BLOOD);
  EXPECT_EQ(whole_blood.min_interval().days(), 56);
  EXPECT_EQ(us.intervals().caps(0).max_donations(), 24);
  EXPECT_EQ(*ShelfLife(us, v1::COMPONENT_RED_CELLS), absl::Hours(24 * 42));
}

TEST(LoadPolicyFileTest, MissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  const std::string path = dir.path() + "/nope.textproto";
  absl::StatusOr<PolicyProfile> policy = LoadPolicyFile(path);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(policy.status()), HasSubstr(path));
}

TEST(LoadPolicyFileTest, EmptyFileIsInvalidArgumentNamingTheFirstField) {
  TempDir dir;
  const std::string path = dir.WriteFile("empty.textproto", "");
  absl::StatusOr<PolicyProfile> policy = LoadPolicyFile(path);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(policy.status()), StartsWith(path + ": name:"));
}

TEST(LoadPolicyFileTest, DirectoryIsFailedPrecondition) {
  TempDir dir;
  EXPECT_EQ(LoadPolicyFile(dir.path()).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LoadPolicyFileTest, SyntaxErrorIsInvalidArgumentWithLineAndColumn) {
  TempDir dir;
  const std::string path = dir.WriteFile("bad.textproto",
                                         "name: \"bad\"\n"
                                         "version: 1\n"
                                         "eligibility {\n"
                                         "  age_min_years: 18\n"
                                         "  age_min_years 18 }\n");
  absl::StatusOr<PolicyProfile> policy = LoadPolicyFile(path);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(policy.status()), StartsWith(path + ":5:"));
}

TEST(LoadPolicyFileTest, UnknownFieldIsInvalidArgumentWithLine) {
  TempDir dir;
  const std::string path = dir.WriteFile("bad.textproto",
                                         "name: \"bad\"\n"
                                         "version: 1\n"
                                         "age_limit: 3\n");
  absl::StatusOr<PolicyProfile> policy = LoadPolicyFile(path);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(policy.status()), StartsWith(path + ":3:"));
  EXPECT_THAT(Message(policy.status()), HasSubstr("age_limit"));
}

TEST(LoadPolicyFileTest, ValidFileWithBadValueIsInvalidArgumentNamingPathAndField) {
  TempDir dir;
  const std::string path = dir.WriteFile("incomplete.textproto", "name: \"x\"\nversion: 0\n");
  absl::StatusOr<PolicyProfile> policy = LoadPolicyFile(path);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(policy.status()), StartsWith(path + ": version:"));
}

struct ValidationCase {
  std::string name;
  std::function<void(PolicyProfile&)> mutate;
  std::string field;  // the message must start with "<field>:"
};

void PrintTo(const ValidationCase& c, std::ostream* os) { *os << c.name; }

std::vector<ValidationCase> ValidationCases() {
  using P = PolicyProfile;
  return {
      {"EmptyName", [](P& p) { p.clear_name(); }, "name"},
      {"UpperCaseName", [](P& p) { p.set_name("CN"); }, "name"},
      {"ZeroVersion", [](P& p) { p.set_version(0); }, "version"},
      {"NoDescription", [](P& p) { p.clear_description(); }, "description"},
      {"NoSources", [](P& p) { p.clear_sources(); }, "sources"},
      {"NoEligibility", [](P& p) { p.clear_eligibility(); }, "eligibility"},
      {"AgeMinZero", [](P& p) { p.mutable_eligibility()->set_age_min_years(0); },
       "eligibility.age_min_years"},
      {"AgeMaxFirstTimeBelowMin",
       [](P& p) { p.mutable_eligibility()->set_age_max_first_time_years(17); },
       "eligibility.age_max_first_time_years"},
      {"AgeMaxRepeatBelowFirstTime",
       [](P& p) { p.mutable_eligibility()->set_age_max_repeat_years(54); },
       "eligibility.age_max_repeat_years"},
      {"AgeMaxRepeatWithoutFirstTime",
       [](P& p) { p.mutable_eligibility()->clear_age_max_first_time_years(); },
       "eligibility.age_max_repeat_years"},
      {"AgeMaxFirstTimeWithoutRepeat",
       [](P& p) { p.mutable_eligibility()->clear_age_max_repeat_years(); },
       "eligibility.age_max_repeat_years"},
      {"NoWeight", [](P& p) { p.mutable_eligibility()->clear_weight_min_kg(); },
       "eligibility.weight_min_kg"},
      {"FemaleWeightZero",
       [](P& p) { p.mutable_eligibility()->mutable_weight_min_kg()->set_female(0); },
       "eligibility.weight_min_kg.female"},
      {"MaleHbNegative",
       [](P& p) { p.mutable_eligibility()->mutable_hemoglobin_min_g_l()->set_male(-1); },
       "eligibility.hemoglobin_min_g_l.male"},
      {"SystolicMaxBelowMin",
       [](P& p) { p.mutable_eligibility()->mutable_systolic_mmhg()->set_max(80); },
       "eligibility.systolic_mmhg.max"},
      {"DiastolicNoMax",
       [](P& p) { p.mutable_eligibility()->mutable_diastolic_mmhg()->clear_max(); },
       "eligibility.diastolic_mmhg.max"},
      {"PulseNoMin", [](P& p) { p.mutable_eligibility()->mutable_pulse_bpm()->clear_min(); },
       "eligibility.pulse_bpm.min"},
      {"PulsePressureZero", [](P& p) { p.mutable_eligibility()->set_pulse_pressure_min_mmhg(0); },
       "eligibility.pulse_pressure_min_mmhg"},
      {"NoVolumes", [](P& p) { p.mutable_eligibility()->clear_whole_blood_volumes_ml(); },
       "eligibility.whole_blood_volumes_ml"},
      {"VolumesNotAscending",
       [](P& p) { p.mutable_eligibility()->set_whole_blood_volumes_ml(2, 300); },
       "eligibility.whole_blood_volumes_ml[2]"},
      {"HematocritAsPercent",
       [](P& p) { p.mutable_eligibility()->set_apheresis_platelets_hematocrit_min(36); },
       "eligibility.apheresis_platelets_hematocrit_min"},
      {"PlateletCountMaxBelowMin",
       [](P& p) {
         p.mutable_eligibility()->mutable_apheresis_platelets_platelet_count_e9_l()->set_max(100);
       },
       "eligibility.apheresis_platelets_platelet_count_e9_l.max"},
      {"NoIntervals", [](P& p) { p.clear_intervals(); }, "intervals"},
      {"NoIntervalRules", [](P& p) { p.mutable_intervals()->clear_rules(); }, "intervals.rules"},
      {"RuleUnspecifiedPrevious",
       [](P& p) {
         p.mutable_intervals()->mutable_rules(1)->set_previous(v1::DONATION_TYPE_UNSPECIFIED);
       },
       "intervals.rules[1].previous"},
      {"RuleNoInterval",
       [](P& p) { p.mutable_intervals()->mutable_rules(0)->clear_min_interval(); },
       "intervals.rules[0].min_interval"},
      {"RuleZeroMonths",
       [](P& p) { p.mutable_intervals()->mutable_rules(0)->mutable_min_interval()->set_months(0); },
       "intervals.rules[0].min_interval.months"},
      {"DuplicateRule", [](P& p) { *p.mutable_intervals()->add_rules() = p.intervals().rules(0); },
       "intervals.rules[4]"},
      {"CapNothingCounted", [](P& p) { p.mutable_intervals()->mutable_caps(0)->clear_counted(); },
       "intervals.caps[0].counted"},
      {"CapNoLimit", [](P& p) { p.mutable_intervals()->mutable_caps(0)->set_max_donations(0); },
       "intervals.caps[0]"},
      {"CapNegativeWindow",
       [](P& p) { p.mutable_intervals()->mutable_caps(1)->mutable_window()->set_days(-1); },
       "intervals.caps[1].window.days"},
      {"NoDeferrals", [](P& p) { p.clear_deferrals(); }, "deferrals"},
      {"DuplicateDeferralCode",
       [](P& p) { p.mutable_deferrals(1)->set_code(p.deferrals(0).code()); }, "deferrals[1].code"},
      {"LowerCaseDeferralCode", [](P& p) { p.mutable_deferrals(0)->set_code("tattoo"); },
       "deferrals[0].code"},
      {"DeferralWithoutLength", [](P& p) { p.mutable_deferrals(0)->clear_length(); },
       "deferrals[0]"},
      {"DeferralPermanentFalse", [](P& p) { p.mutable_deferrals(0)->set_permanent(false); },
       "deferrals[0].permanent"},
      {"DeferralZeroDuration",
       [](P& p) { p.mutable_deferrals(0)->mutable_duration()->set_days(0); },
       "deferrals[0].duration.days"},
      {"DeferralNoDescription", [](P& p) { p.mutable_deferrals(2)->clear_description(); },
       "deferrals[2].description"},
      {"TwoDeferralsForOneTest",
       [](P& p) { p.mutable_deferrals(0)->set_reactive_test(v1::SCREENING_TEST_ANTI_HIV); },
       "deferrals[6].reactive_test"},
      {"ShelfLifeUnspecifiedComponent",
       [](P& p) { p.mutable_shelf_lives(0)->set_component(v1::COMPONENT_UNSPECIFIED); },
       "shelf_lives[0].component"},
      {"ShelfLifeInMonths", [](P& p) { p.mutable_shelf_lives(0)->mutable_period()->set_months(1); },
       "shelf_lives[0].period.months"},
      {"ShelfLifeZeroDays", [](P& p) { p.mutable_shelf_lives(0)->mutable_period()->set_days(0); },
       "shelf_lives[0].period.days"},
      {"DuplicateShelfLife", [](P& p) { *p.add_shelf_lives() = p.shelf_lives(0); },
       absl::StrCat("shelf_lives[", Shipped(kCn).shelf_lives_size(), "]")},
      {"ComponentWithoutShelfLife",
       [](P& p) {
         auto* lives = p.mutable_shelf_lives();
         lives->erase(std::remove_if(lives->begin(), lives->end(),
                                     [](const P::ShelfLife& s) {
                                       return s.component() == v1::COMPONENT_CRYO;
                                     }),
                      lives->end());
       },
       "shelf_lives"},
      {"NoReleaseTests", [](P& p) { p.clear_release(); }, "release.mandatory_tests"},
      {"ReleaseWithoutTyping",
       [](P& p) { p.mutable_release()->mutable_mandatory_tests()->RemoveLast(); },
       "release.mandatory_tests"},
      {"DuplicateReleaseTest",
       [](P& p) { p.mutable_release()->add_mandatory_tests(v1::SCREENING_TEST_ALT); },
       "release.mandatory_tests[6]"},
      {"NoLookback", [](P& p) { p.clear_lookback(); }, "lookback.window"},
      {"NoIndications", [](P& p) { p.clear_indications(); }, "indications"},
      {"RedCellThresholdsReversed",
       [](P& p) {
         p.mutable_indications()->mutable_red_cells_hemoglobin_g_l()->set_indicated_below(120);
       },
       "indications.red_cells_hemoglobin_g_l.not_indicated_above"},
      {"NoPlateletThreshold", [](P& p) { p.mutable_indications()->clear_platelets_count_e9_l(); },
       "indications.platelets_count_e9_l"},
      {"NoInr", [](P& p) { p.mutable_indications()->clear_plasma_inr_above(); },
       "indications.plasma_inr_above"},
      {"NoFibrinogen", [](P& p) { p.mutable_indications()->clear_cryo_fibrinogen_below_g_l(); },
       "indications.cryo_fibrinogen_below_g_l"},
      {"NoApprovalTiers", [](P& p) { p.mutable_indications()->clear_approval_tiers(); },
       "indications.approval_tiers"},
      {"FirstTierNotZero",
       [](P& p) { p.mutable_indications()->mutable_approval_tiers(0)->set_from_daily_ml(100); },
       "indications.approval_tiers[0].from_daily_ml"},
      {"TiersNotAscending",
       [](P& p) { p.mutable_indications()->mutable_approval_tiers(2)->set_from_daily_ml(800); },
       "indications.approval_tiers[2].from_daily_ml"},
      {"TierWithoutApprover",
       [](P& p) {
         p.mutable_indications()->mutable_approval_tiers(1)->set_approver(P::APPROVER_UNSPECIFIED);
       },
       "indications.approval_tiers[1].approver"},
      {"NoDonorTiers", [](P& p) { p.mutable_reimbursement()->clear_donor_tiers(); },
       "reimbursement.donor_tiers"},
      {"LastDonorTierBounded",
       [](P& p) { p.mutable_reimbursement()->mutable_donor_tiers(1)->set_within_years(10); },
       "reimbursement.donor_tiers[1].within_years"},
      {"DonorTiersNotAscending",
       [](P& p) {
         P::MultiplierTier* tier = p.mutable_reimbursement()->mutable_donor_tiers()->Add();
         *tier = p.reimbursement().donor_tiers(1);
         p.mutable_reimbursement()->mutable_donor_tiers(1)->set_within_years(3);
       },
       "reimbursement.donor_tiers[1].within_years"},
      {"ZeroMultiplier",
       [](P& p) { p.mutable_reimbursement()->mutable_donor_tiers(0)->set_multiplier(0); },
       "reimbursement.donor_tiers[0].multiplier"},
      {"NoRelativesMultiplier",
       [](P& p) { p.mutable_reimbursement()->clear_relatives_multiplier(); },
       "reimbursement.relatives_multiplier"},
      {"NoApheresisEquivalent",
       [](P& p) { p.mutable_reimbursement()->clear_apheresis_platelets_ml_equivalent(); },
       "reimbursement.apheresis_platelets_ml_equivalent"},
      {"NoMassiveTransfusion", [](P& p) { p.clear_massive_transfusion(); }, "massive_transfusion"},
      {"NoPackPlatelets", [](P& p) { p.mutable_massive_transfusion()->clear_platelet_doses(); },
       "massive_transfusion.platelet_doses"},
      {"NoEmergencyRhd", [](P& p) { p.clear_emergency_rhd(); }, "emergency_rhd"},
      {"NoEmergencyRhdAge",
       [](P& p) { p.mutable_emergency_rhd()->clear_female_rhd_positive_above_age_years(); },
       "emergency_rhd.female_rhd_positive_above_age_years"},
      {"NoUnits", [](P& p) { p.clear_units(); }, "units"},
      {"NoPlasmaUnit", [](P& p) { p.mutable_units()->clear_plasma_ml_per_unit(); },
       "units.plasma_ml_per_unit"},
  };
}

class ValidatePolicyTest : public ::testing::TestWithParam<ValidationCase> {};

TEST_P(ValidatePolicyTest, BrokenRuleIsInvalidArgumentNamingTheField) {
  PolicyProfile policy = Shipped(kCn);
  ASSERT_TRUE(ValidatePolicy(policy).ok());
  GetParam().mutate(policy);
  const absl::Status status = ValidatePolicy(policy);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(Message(status), StartsWith(GetParam().field + ":"));
}

INSTANTIATE_TEST_SUITE_P(EachRule, ValidatePolicyTest, ::testing::ValuesIn(ValidationCases()),
                         [](const ::testing::TestParamInfo<ValidationCase>& info) {
                           return info.param.name;
                         });

TEST(ValidatePolicyOptionalFieldsTest, ReimbursementIsOptional) {
  PolicyProfile policy = Shipped(kCn);
  policy.clear_reimbursement();
  EXPECT_TRUE(ValidatePolicy(policy).ok());
}

TEST(ValidatePolicyOptionalFieldsTest, NoUpperAgeLimitIsValid) {
  PolicyProfile policy = Shipped(kCn);
  policy.mutable_eligibility()->clear_age_max_first_time_years();
  policy.mutable_eligibility()->clear_age_max_repeat_years();
  EXPECT_TRUE(ValidatePolicy(policy).ok());
}

TEST(PolicyRegistryTest, LoadsShippedDirectory) {
  absl::StatusOr<PolicyRegistry> registry = PolicyRegistry::LoadDirectory(BLOODGRID_POLICY_DIR);
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_THAT(registry->Names(), ElementsAre(kCn, kUs));
  EXPECT_EQ(registry->Default().name(), kCn);
  ASSERT_NE(registry->Find(kUs), nullptr);
  EXPECT_EQ(registry->Find(kUs)->name(), kUs);
  EXPECT_EQ(registry->Find("xx"), nullptr);
  absl::StatusOr<const PolicyProfile*> by_name = registry->Get(kUs);
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ((*by_name)->name(), kUs);
  absl::StatusOr<const PolicyProfile*> unnamed = registry->Get("");
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ((*unnamed)->name(), kCn);
  EXPECT_EQ(registry->Get("xx").status().code(), absl::StatusCode::kNotFound);
}

TEST(PolicyRegistryTest, PointersSurviveMove) {
  absl::StatusOr<PolicyRegistry> registry = PolicyRegistry::LoadDirectory(BLOODGRID_POLICY_DIR);
  ASSERT_TRUE(registry.ok());
  const PolicyProfile* us = registry->Find(kUs);
  PolicyRegistry moved = *std::move(registry);
  EXPECT_EQ(moved.Find(kUs), us);
}

TEST(PolicyRegistryTest, IgnoresOtherFiles) {
  TempDir dir;
  dir.CopyShipped(kCn, "cn-gb18467-2011.textproto");
  dir.WriteFile("README.md", "not a profile");
  dir.WriteFile("old.textproto.bak", "not a profile");
  absl::StatusOr<PolicyRegistry> registry = PolicyRegistry::LoadDirectory(dir.path());
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_THAT(registry->Names(), ElementsAre(kCn));
}

TEST(PolicyRegistryTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(PolicyRegistry::LoadDirectory("/nonexistent/bloodgrid/policies").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(PolicyRegistryTest, MissingDefaultIsNotFound) {
  TempDir dir;
  dir.CopyShipped(kUs, "us-fda.textproto");
  absl::Status status = PolicyRegistry::LoadDirectory(dir.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(status), HasSubstr(kCn));
  EXPECT_TRUE(PolicyRegistry::LoadDirectory(dir.path(), kUs).ok());
}

TEST(PolicyRegistryTest, BadFileFailsTheWholeLoadNamingTheFile) {
  TempDir dir;
  dir.CopyShipped(kCn, "cn-gb18467-2011.textproto");
  const std::string bad = dir.WriteFile("broken.textproto", "name: \"broken\n");
  absl::Status status = PolicyRegistry::LoadDirectory(dir.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr(bad + ":1:"));
}

TEST(PolicyRegistryTest, FileNameMustMatchProfileName) {
  TempDir dir;
  dir.CopyShipped(kCn, "cn-gb18467-2011.textproto");
  dir.CopyShipped(kUs, "us.textproto");
  absl::Status status = PolicyRegistry::LoadDirectory(dir.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("us.textproto: name:"));
}

TEST(PolicyRegistryTest, FromProfilesRejectsDuplicatesAndInvalidProfiles) {
  EXPECT_EQ(PolicyRegistry::FromProfiles({Shipped(kCn), Shipped(kCn)}).status().code(),
            absl::StatusCode::kInvalidArgument);
  PolicyProfile invalid = Shipped(kUs);
  invalid.clear_units();
  EXPECT_EQ(PolicyRegistry::FromProfiles({Shipped(kCn), invalid}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<PolicyRegistry> registry = PolicyRegistry::FromProfiles({Shipped(kUs)}, kUs);
  ASSERT_TRUE(registry.ok());
  EXPECT_EQ(registry->Default().name(), kUs);
}

PolicyProfile::Period Months(int n) {
  PolicyProfile::Period p;
  p.set_months(n);
  return p;
}
PolicyProfile::Period Years(int n) {
  PolicyProfile::Period p;
  p.set_years(n);
  return p;
}
PolicyProfile::Period Days(int n) {
  PolicyProfile::Period p;
  p.set_days(n);
  return p;
}
PolicyProfile::Period Weeks(int n) {
  PolicyProfile::Period p;
  p.set_weeks(n);
  return p;
}
PolicyProfile::Period Hours(int n) {
  PolicyProfile::Period p;
  p.set_hours(n);
  return p;
}

struct AddPeriodCase {
  absl::CivilDay from;
  PolicyProfile::Period period;
  absl::CivilDay expected;
};

void PrintTo(const AddPeriodCase& c, std::ostream* os) {
  *os << c.from << " + " << FormatPeriod(c.period);
}

class AddPeriodTest : public ::testing::TestWithParam<AddPeriodCase> {};

TEST_P(AddPeriodTest, Adds) {
  EXPECT_EQ(AddPeriod(GetParam().from, GetParam().period), GetParam().expected)
      << FormatPeriod(GetParam().period) << " after " << GetParam().from;
}

INSTANTIATE_TEST_SUITE_P(
    CalendarRules, AddPeriodTest,
    ::testing::Values(
        AddPeriodCase{absl::CivilDay(2024, 1, 15), Months(6), absl::CivilDay(2024, 7, 15)},
        AddPeriodCase{absl::CivilDay(2024, 8, 31), Months(6), absl::CivilDay(2025, 3, 1)},
        AddPeriodCase{absl::CivilDay(2024, 1, 31), Months(1), absl::CivilDay(2024, 3, 1)},
        AddPeriodCase{absl::CivilDay(2023, 12, 31), Months(2), absl::CivilDay(2024, 3, 1)},
        AddPeriodCase{absl::CivilDay(2024, 3, 31), Months(1), absl::CivilDay(2024, 5, 1)},
        AddPeriodCase{absl::CivilDay(2023, 11, 30), Months(3), absl::CivilDay(2024, 3, 1)},
        AddPeriodCase{absl::CivilDay(2023, 11, 29), Months(3), absl::CivilDay(2024, 2, 29)},
        AddPeriodCase{absl::CivilDay(2024, 2, 29), Years(1), absl::CivilDay(2025, 3, 1)},
        AddPeriodCase{absl::CivilDay(2024, 2, 29), Years(4), absl::CivilDay(2028, 2, 29)},
        AddPeriodCase{absl::CivilDay(2024, 2, 28), Years(1), absl::CivilDay(2025, 2, 28)},
        AddPeriodCase{absl::CivilDay(2024, 12, 25), Days(14), absl::CivilDay(2025, 1, 8)},
        AddPeriodCase{absl::CivilDay(2024, 2, 1), Weeks(4), absl::CivilDay(2024, 2, 29)},
        AddPeriodCase{absl::CivilDay(2024, 2, 1), Hours(24), absl::CivilDay(2024, 2, 2)},
        AddPeriodCase{absl::CivilDay(2024, 2, 1), Hours(25), absl::CivilDay(2024, 2, 3)},
        AddPeriodCase{absl::CivilDay(2024, 2, 1), PolicyProfile::Period(),
                      absl::CivilDay(2024, 2, 1)}));

TEST(FormatPeriodTest, Formats) {
  EXPECT_EQ(FormatPeriod(Months(6)), "6 months");
  EXPECT_EQ(FormatPeriod(Years(1)), "1 year");
  EXPECT_EQ(FormatPeriod(Days(15)), "15 days");
  EXPECT_EQ(FormatPeriod(Weeks(1)), "1 week");
  EXPECT_EQ(FormatPeriod(Hours(24)), "24 hours");
  EXPECT_EQ(FormatPeriod(PolicyProfile::Period()), "");
}

TEST(ShelfLifeTest, EveryComponentHasOneUnderBothProfiles) {
  for (const char* name : {kCn, kUs}) {
    const PolicyProfile policy = Shipped(name);
    for (v1::Component c : {v1::COMPONENT_WHOLE_BLOOD, v1::COMPONENT_RED_CELLS,
                            v1::COMPONENT_PLASMA, v1::COMPONENT_PLATELETS, v1::COMPONENT_CRYO}) {
      absl::StatusOr<absl::Duration> shelf_life = ShelfLife(policy, c);
      ASSERT_TRUE(shelf_life.ok()) << name << " " << v1::Component_Name(c);
      EXPECT_GT(*shelf_life, absl::ZeroDuration());
    }
  }
}

TEST(ShelfLifeTest, CnValues) {
  const PolicyProfile cn = Shipped(kCn);
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_RED_CELLS), absl::Hours(24 * 35));
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_RED_CELLS, PolicyProfile::ANTICOAGULANT_ACD_B),
            absl::Hours(24 * 21));
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_PLATELETS), absl::Hours(24 * 5));
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_PLATELETS, PolicyProfile::ANTICOAGULANT_UNSPECIFIED,
                       PolicyProfile::PREPARATION_NOT_AGITATED),
            absl::Hours(24));
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_PLASMA), absl::Hours(24 * 365));
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_PLASMA, PolicyProfile::ANTICOAGULANT_UNSPECIFIED,
                       PolicyProfile::PREPARATION_FROZEN_PLASMA),
            absl::Hours(24 * 1460));
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_CRYO), absl::Hours(24 * 365));
  // Washing sets the shelf life whatever the red cells were stored in.
  EXPECT_EQ(*ShelfLife(cn, v1::COMPONENT_RED_CELLS, PolicyProfile::ANTICOAGULANT_MAP,
                       PolicyProfile::PREPARATION_WASHED),
            absl::Hours(24));
}

TEST(ShelfLifeTest, UnlistedCombinationIsNotFound) {
  const PolicyProfile us = Shipped(kUs);
  EXPECT_EQ(
      ShelfLife(us, v1::COMPONENT_RED_CELLS, PolicyProfile::ANTICOAGULANT_MAP).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(ShelfLife(us, v1::COMPONENT_CRYO, PolicyProfile::ANTICOAGULANT_UNSPECIFIED,
                      PolicyProfile::PREPARATION_WASHED)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ShelfLife(us, v1::COMPONENT_UNSPECIFIED).status().code(), absl::StatusCode::kNotFound);
}

TEST(ExpiresAtTest, DayBasedEndsAt2359OfTheLastDayHourBasedIsExact) {
  const PolicyProfile cn = Shipped(kCn);
  const absl::TimeZone beijing = absl::FixedTimeZone(8 * 60 * 60);
  const absl::Time collected = absl::FromCivil(absl::CivilSecond(2024, 2, 26, 10, 30, 0), beijing);
  absl::StatusOr<absl::Time> platelets = ExpiresAt(cn, v1::COMPONENT_PLATELETS, collected, beijing);
  ASSERT_TRUE(platelets.ok());
  // Day 0 = 26 Feb; day 5 = 2 Mar in a leap year.
  EXPECT_EQ(*platelets, absl::FromCivil(absl::CivilMinute(2024, 3, 2, 23, 59), beijing));
  absl::StatusOr<absl::Time> washed =
      ExpiresAt(cn, v1::COMPONENT_RED_CELLS, collected, beijing,
                PolicyProfile::ANTICOAGULANT_UNSPECIFIED, PolicyProfile::PREPARATION_WASHED);
  ASSERT_TRUE(washed.ok());
  EXPECT_EQ(*washed, collected + absl::Hours(24));
}

TEST(DeferralCatalogueTest, FindsCodesAndReactiveTests) {
  const PolicyProfile cn = Shipped(kCn);
  const PolicyProfile::DeferralReason* tooth = FindDeferralReason(cn, "TOOTH_EXTRACTION");
  ASSERT_NE(tooth, nullptr);
  EXPECT_EQ(tooth->duration().days(), 15);
  EXPECT_EQ(FindDeferralReason(cn, "TATTOO")->duration().years(), 1);
  EXPECT_EQ(FindDeferralReason(cn, "MALARIA_TRAVEL")->duration().years(), 1);
  EXPECT_EQ(FindDeferralReason(cn, "MAJOR_SURGERY")->duration().months(), 6);
  for (const char* code : {"HIV_REACTIVE", "HBV_REACTIVE", "HCV_REACTIVE", "SYPHILIS_REACTIVE"}) {
    ASSERT_NE(FindDeferralReason(cn, code), nullptr) << code;
    EXPECT_TRUE(FindDeferralReason(cn, code)->permanent()) << code;
  }
  EXPECT_EQ(FindDeferralReason(cn, "NO_SUCH_CODE"), nullptr);
  const PolicyProfile::DeferralReason* hiv =
      DeferralForReactiveTest(cn, v1::SCREENING_TEST_ANTI_HIV);
  ASSERT_NE(hiv, nullptr);
  EXPECT_EQ(hiv->code(), "HIV_REACTIVE");
  EXPECT_EQ(DeferralForReactiveTest(cn, v1::SCREENING_TEST_ABO_RHD), nullptr);
  EXPECT_EQ(DeferralForReactiveTest(cn, v1::SCREENING_TEST_UNSPECIFIED), nullptr);
}

}  // namespace
}  // namespace bloodgrid
