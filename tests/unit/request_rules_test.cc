// The request service's pure rules: candidate blood types for every patient type and component
// at every priority (DOMAIN.md section 3), the RhD exception and emergency release rules,
// indication checks and approval tiers (section 7), the massive-transfusion pack (section 8),
// order validation and the order state machine (DESIGN.md).
#include "request_service/request_rules.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/policy.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloodgrid::request {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

v1::PolicyProfile Policy() {
  static const v1::PolicyProfile* const kPolicy = [] {
    auto policy = LoadPolicyFile(std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto");
    if (!policy.ok()) {
      ADD_FAILURE() << policy.status();
      return new v1::PolicyProfile();
    }
    return new v1::PolicyProfile(*policy);
  }();
  return *kPolicy;
}

BloodType Type(absl::string_view text) { return *ParseBloodType(text); }

Recipient Patient(absl::string_view type, v1::Sex sex, std::optional<int> age,
                  bool anti_d = false) {
  Recipient r;
  r.blood_type = type == "unknown" ? BloodType::Unknown() : Type(type);
  r.sex = sex;
  r.age_years = age;
  r.has_anti_d = anti_d;
  return r;
}

// "A-@1 O-@2 || A+*@3 O+*@4": phases separated by "||", '*' marks an RhD-positive exception
// candidate, @n its tier.
std::string Describe(const AllocationPlan& plan) {
  std::vector<std::string> phases;
  for (const CandidatePhase& phase : plan.phases) {
    std::vector<std::string> parts;
    for (const DonorCandidate& c : phase.candidates) {
      parts.push_back(absl::StrCat(c.donor.ToString(), c.rhd_mismatch ? "*" : "", "@", c.tier));
    }
    phases.push_back(absl::StrJoin(parts, " "));
  }
  return absl::StrJoin(phases, " || ");
}

std::string Plan(v1::Component component, const Recipient& recipient, v1::Priority priority) {
  absl::StatusOr<AllocationPlan> plan = PlanAllocation(component, recipient, priority, Policy());
  if (!plan.ok()) return plan.status().ToString();
  return Describe(*plan);
}

// DOMAIN.md section 3, restated independently of common/blood.cc: the standard (no exception)
// candidates per recipient type and component, best first.
const std::map<std::pair<std::string, v1::Component>, std::string>& StandardCandidates() {
  static const auto* const kTable =
      new std::map<std::pair<std::string, v1::Component>, std::string>{
          // Red cells: O <- O; A <- A, O; B <- B, O; AB <- AB, A, B, O. RhD-positive recipients
          // take RhD-positive first within each ABO step.
          {{"O-", v1::COMPONENT_RED_CELLS}, "O-@1"},
          {{"O+", v1::COMPONENT_RED_CELLS}, "O+@1 O-@2"},
          {{"A-", v1::COMPONENT_RED_CELLS}, "A-@1 O-@2"},
          {{"A+", v1::COMPONENT_RED_CELLS}, "A+@1 A-@2 O+@3 O-@4"},
          {{"B-", v1::COMPONENT_RED_CELLS}, "B-@1 O-@2"},
          {{"B+", v1::COMPONENT_RED_CELLS}, "B+@1 B-@2 O+@3 O-@4"},
          {{"AB-", v1::COMPONENT_RED_CELLS}, "AB-@1 A-@2 B-@3 O-@4"},
          {{"AB+", v1::COMPONENT_RED_CELLS}, "AB+@1 AB-@2 A+@3 A-@4 B+@5 B-@6 O+@7 O-@8"},
          // Plasma and cryo: RhD ignored (own RhD first within a step). O <- O, A, B, AB;
          // A <- A, AB; B <- B, AB; AB <- AB.
          {{"O-", v1::COMPONENT_PLASMA}, "O-@1 O+@1 A-@2 A+@2 B-@3 B+@3 AB-@4 AB+@4"},
          {{"O+", v1::COMPONENT_PLASMA}, "O+@1 O-@1 A+@2 A-@2 B+@3 B-@3 AB+@4 AB-@4"},
          {{"A-", v1::COMPONENT_PLASMA}, "A-@1 A+@1 AB-@2 AB+@2"},
          {{"A+", v1::COMPONENT_PLASMA}, "A+@1 A-@1 AB+@2 AB-@2"},
          {{"B-", v1::COMPONENT_PLASMA}, "B-@1 B+@1 AB-@2 AB+@2"},
          {{"B+", v1::COMPONENT_PLASMA}, "B+@1 B-@1 AB+@2 AB-@2"},
          {{"AB-", v1::COMPONENT_PLASMA}, "AB-@1 AB+@1"},
          {{"AB+", v1::COMPONENT_PLASMA}, "AB+@1 AB-@1"},
          {{"O-", v1::COMPONENT_CRYO}, "O-@1 O+@1 A-@2 A+@2 B-@3 B+@3 AB-@4 AB+@4"},
          {{"O+", v1::COMPONENT_CRYO}, "O+@1 O-@1 A+@2 A-@2 B+@3 B-@3 AB+@4 AB-@4"},
          {{"A-", v1::COMPONENT_CRYO}, "A-@1 A+@1 AB-@2 AB+@2"},
          {{"A+", v1::COMPONENT_CRYO}, "A+@1 A-@1 AB+@2 AB-@2"},
          {{"B-", v1::COMPONENT_CRYO}, "B-@1 B+@1 AB-@2 AB+@2"},
          {{"B+", v1::COMPONENT_CRYO}, "B+@1 B-@1 AB+@2 AB-@2"},
          {{"AB-", v1::COMPONENT_CRYO}, "AB-@1 AB+@1"},
          {{"AB+", v1::COMPONENT_CRYO}, "AB+@1 AB-@1"},
          // Platelets: O <- O, A, B; A <- A, B|O, AB; B <- B, A|O, AB; AB <- AB, A|B, O.
          {{"O-", v1::COMPONENT_PLATELETS}, "O-@1 A-@2 B-@3"},
          {{"O+", v1::COMPONENT_PLATELETS}, "O+@1 O-@2 A+@3 A-@4 B+@5 B-@6"},
          {{"A-", v1::COMPONENT_PLATELETS}, "A-@1 B-@2 O-@2 AB-@3"},
          {{"A+", v1::COMPONENT_PLATELETS}, "A+@1 A-@2 B+@3 O+@3 B-@4 O-@4 AB+@5 AB-@6"},
          {{"B-", v1::COMPONENT_PLATELETS}, "B-@1 A-@2 O-@2 AB-@3"},
          {{"B+", v1::COMPONENT_PLATELETS}, "B+@1 B-@2 A+@3 O+@3 A-@4 O-@4 AB+@5 AB-@6"},
          {{"AB-", v1::COMPONENT_PLATELETS}, "AB-@1 A-@2 B-@2 O-@3"},
          {{"AB+", v1::COMPONENT_PLATELETS}, "AB+@1 AB-@2 A+@3 B+@3 A-@4 B-@4 O+@5 O-@6"},
      };
  return *kTable;
}

// The RhD-positive exception candidates an RhD-negative patient may get in an EMERGENCY, after
// every RhD-negative one (red cells and platelets only).
const std::map<std::pair<std::string, v1::Component>, std::string>& RhdExceptions() {
  static const auto* const kTable =
      new std::map<std::pair<std::string, v1::Component>, std::string>{
          {{"O-", v1::COMPONENT_RED_CELLS}, "O+*@2"},
          {{"A-", v1::COMPONENT_RED_CELLS}, "A+*@3 O+*@4"},
          {{"B-", v1::COMPONENT_RED_CELLS}, "B+*@3 O+*@4"},
          {{"AB-", v1::COMPONENT_RED_CELLS}, "AB+*@5 A+*@6 B+*@7 O+*@8"},
          {{"O-", v1::COMPONENT_PLATELETS}, "O+*@4 A+*@5 B+*@6"},
          {{"A-", v1::COMPONENT_PLATELETS}, "A+*@4 B+*@5 O+*@5 AB+*@6"},
          {{"B-", v1::COMPONENT_PLATELETS}, "B+*@4 A+*@5 O+*@5 AB+*@6"},
          {{"AB-", v1::COMPONENT_PLATELETS}, "AB+*@4 A+*@5 B+*@5 O+*@6"},
      };
  return *kTable;
}

constexpr v1::Component kComponents[] = {v1::COMPONENT_RED_CELLS, v1::COMPONENT_PLASMA,
                                         v1::COMPONENT_PLATELETS, v1::COMPONENT_CRYO};
constexpr const char* kTypes[] = {"O-", "O+", "A-", "A+", "B-", "B+", "AB-", "AB+"};

TEST(CandidateOrderTest, RoutineAndUrgentAreStandardForEveryTypeAndComponent) {
  for (const char* type : kTypes) {
    for (v1::Component component : kComponents) {
      SCOPED_TRACE(absl::StrCat(type, " ", v1::Component_Name(component)));
      const std::string expected = StandardCandidates().at({type, component});
      for (v1::Priority priority : {v1::PRIORITY_ROUTINE, v1::PRIORITY_URGENT}) {
        for (v1::Sex sex : {v1::SEX_MALE, v1::SEX_FEMALE}) {
          EXPECT_EQ(Plan(component, Patient(type, sex, 30), priority), expected);
        }
      }
    }
  }
}

TEST(CandidateOrderTest, EmergencyAddsRhdPositiveOnlyForRhdNegativePatientsAndCellularComponents) {
  for (const char* type : kTypes) {
    for (v1::Component component : kComponents) {
      SCOPED_TRACE(absl::StrCat(type, " ", v1::Component_Name(component)));
      const std::string standard = StandardCandidates().at({type, component});
      auto exception = RhdExceptions().find({type, component});
      const bool has_exception = exception != RhdExceptions().end();
      // Males, and females over the policy age (50): RhD-positive in the same call, after the
      // RhD-negative candidates.
      const std::string when_short =
          has_exception ? absl::StrCat(standard, " ", exception->second) : standard;
      EXPECT_EQ(Plan(component, Patient(type, v1::SEX_MALE, 30), v1::PRIORITY_EMERGENCY),
                when_short);
      EXPECT_EQ(Plan(component, Patient(type, v1::SEX_FEMALE, 51), v1::PRIORITY_EMERGENCY),
                when_short);
      // Females <= 50 and patients of unknown sex or age: only when nothing else exists, as a
      // second phase.
      const std::string last_resort =
          has_exception ? absl::StrCat(standard, " || ", exception->second) : standard;
      EXPECT_EQ(Plan(component, Patient(type, v1::SEX_FEMALE, 50), v1::PRIORITY_EMERGENCY),
                last_resort);
      EXPECT_EQ(Plan(component, Patient(type, v1::SEX_FEMALE, 20), v1::PRIORITY_EMERGENCY),
                last_resort);
      EXPECT_EQ(
          Plan(component, Patient(type, v1::SEX_FEMALE, std::nullopt), v1::PRIORITY_EMERGENCY),
          last_resort);
      EXPECT_EQ(Plan(component, Patient(type, v1::SEX_UNSPECIFIED, 70), v1::PRIORITY_EMERGENCY),
                last_resort);
      // Never with anti-D.
      EXPECT_EQ(
          Plan(component, Patient(type, v1::SEX_MALE, 30, /*anti_d=*/true), v1::PRIORITY_EMERGENCY),
          standard);
    }
  }
}

TEST(CandidateOrderTest, ExceptionPhasesAreFlagged) {
  absl::StatusOr<AllocationPlan> plan = PlanAllocation(
      v1::COMPONENT_RED_CELLS, Patient("A-", v1::SEX_FEMALE, 25), v1::PRIORITY_EMERGENCY, Policy());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->phases.size(), 2u);
  EXPECT_FALSE(plan->phases[0].rhd_positive_exception);
  EXPECT_TRUE(plan->phases[1].rhd_positive_exception);
  EXPECT_FALSE(plan->emergency_unknown_type);
  plan = PlanAllocation(v1::COMPONENT_RED_CELLS, Patient("A-", v1::SEX_MALE, 25),
                        v1::PRIORITY_EMERGENCY, Policy());
  ASSERT_EQ(plan->phases.size(), 1u);
  EXPECT_TRUE(plan->phases[0].rhd_positive_exception);
}

TEST(CandidateOrderTest, WholeBloodIsAboIdenticalOnly) {
  EXPECT_EQ(Plan(v1::COMPONENT_WHOLE_BLOOD, Patient("A+", v1::SEX_MALE, 40), v1::PRIORITY_ROUTINE),
            "A+@1 A-@2");
  EXPECT_EQ(
      Plan(v1::COMPONENT_WHOLE_BLOOD, Patient("B-", v1::SEX_MALE, 40), v1::PRIORITY_EMERGENCY),
      "B-@1 B+*@2");
}

TEST(EmergencyUnknownTypeTest, GroupORedCellsAndAbPlasma) {
  const Recipient male = Patient("unknown", v1::SEX_MALE, 35);
  const Recipient young_female = Patient("unknown", v1::SEX_FEMALE, 30);
  const Recipient old_female = Patient("unknown", v1::SEX_FEMALE, 60);
  const Recipient nobody = Patient("unknown", v1::SEX_UNSPECIFIED, std::nullopt);
  const Recipient anti_d = Patient("unknown", v1::SEX_MALE, 35, /*anti_d=*/true);
  const v1::Priority kEm = v1::PRIORITY_EMERGENCY;

  // O- red cells; O+ for males and females over 50 when O- is short (same call, after O-).
  EXPECT_EQ(Plan(v1::COMPONENT_RED_CELLS, male, kEm), "O-@1 O+*@2");
  EXPECT_EQ(Plan(v1::COMPONENT_RED_CELLS, old_female, kEm), "O-@1 O+*@2");
  // Young females and unknown patients: O+ only when no O- exists anywhere.
  EXPECT_EQ(Plan(v1::COMPONENT_RED_CELLS, young_female, kEm), "O-@1 || O+*@2");
  EXPECT_EQ(Plan(v1::COMPONENT_RED_CELLS, nobody, kEm), "O-@1 || O+*@2");
  EXPECT_EQ(Plan(v1::COMPONENT_RED_CELLS, anti_d, kEm), "O-@1");
  // AB plasma and cryo, whatever the patient.
  for (const Recipient& r : {male, young_female, nobody}) {
    EXPECT_EQ(Plan(v1::COMPONENT_PLASMA, r, kEm), "AB-@1 AB+@1");
    EXPECT_EQ(Plan(v1::COMPONENT_CRYO, r, kEm), "AB-@1 AB+@1");
  }
  EXPECT_EQ(Plan(v1::COMPONENT_PLATELETS, male, kEm), "A-@1 O-@2 B-@2 A+*@3 O+*@4 B+*@4");
  EXPECT_EQ(Plan(v1::COMPONENT_PLATELETS, young_female, kEm),
            "A-@1 O-@2 B-@2 || A+*@3 O+*@4 B+*@4");

  absl::StatusOr<AllocationPlan> plan =
      PlanAllocation(v1::COMPONENT_RED_CELLS, male, kEm, Policy());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->emergency_unknown_type);

  // No emergency release of whole blood; no unknown type outside EMERGENCY.
  EXPECT_EQ(PlanAllocation(v1::COMPONENT_WHOLE_BLOOD, male, kEm, Policy()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      PlanAllocation(v1::COMPONENT_RED_CELLS, male, v1::PRIORITY_URGENT, Policy()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(RhdPositiveUseTest, FollowsSexAgeAntiDAndPriority) {
  const v1::PolicyProfile policy = Policy();
  ASSERT_EQ(policy.emergency_rhd().female_rhd_positive_above_age_years(), 50);
  const v1::Priority kEm = v1::PRIORITY_EMERGENCY;
  EXPECT_EQ(RhdPositiveUseFor(Patient("A+", v1::SEX_FEMALE, 20), kEm, policy),
            RhdPositiveUse::kStandard);
  EXPECT_EQ(RhdPositiveUseFor(Patient("A-", v1::SEX_MALE, 20), v1::PRIORITY_URGENT, policy),
            RhdPositiveUse::kNever);
  EXPECT_EQ(RhdPositiveUseFor(Patient("A-", v1::SEX_MALE, 20, true), kEm, policy),
            RhdPositiveUse::kNever);
  EXPECT_EQ(RhdPositiveUseFor(Patient("A-", v1::SEX_MALE, std::nullopt), kEm, policy),
            RhdPositiveUse::kWhenShort);
  EXPECT_EQ(RhdPositiveUseFor(Patient("A-", v1::SEX_FEMALE, 51), kEm, policy),
            RhdPositiveUse::kWhenShort);
  EXPECT_EQ(RhdPositiveUseFor(Patient("A-", v1::SEX_FEMALE, 50), kEm, policy),
            RhdPositiveUse::kLastResort);
  EXPECT_EQ(RhdPositiveUseFor(Patient("unknown", v1::SEX_FEMALE, 60), kEm, policy),
            RhdPositiveUse::kWhenShort);
}

TEST(RecipientTest, EmergencyRhdUnspecifiedCountsAsNegative) {
  v1::Patient patient;
  patient.mutable_blood_type()->set_abo(v1::ABO_GROUP_B);
  patient.set_sex(v1::SEX_MALE);
  Recipient r = RecipientOf(patient, v1::PRIORITY_EMERGENCY);
  EXPECT_EQ(r.blood_type, Type("B-"));
  EXPECT_FALSE(r.age_years.has_value());
  patient.set_age_years(44);
  patient.set_has_anti_d(true);
  r = RecipientOf(patient, v1::PRIORITY_EMERGENCY);
  EXPECT_EQ(r.age_years, 44);
  EXPECT_TRUE(r.has_anti_d);
  EXPECT_TRUE(RecipientOf(v1::Patient(), v1::PRIORITY_EMERGENCY).blood_type.IsUnknown());
}

TEST(AssessUnitTest, RecordsEveryDeviation) {
  const Recipient a_neg = Patient("A-", v1::SEX_MALE, 40);
  UnitDeviation d = AssessUnit(v1::COMPONENT_RED_CELLS, a_neg, Type("A-"));
  EXPECT_FALSE(d.rhd_positive_for_negative || d.abo_non_identical || d.emergency_unknown_type);
  d = AssessUnit(v1::COMPONENT_RED_CELLS, a_neg, Type("O-"));
  EXPECT_TRUE(d.abo_non_identical);
  EXPECT_FALSE(d.marks_unit());
  d = AssessUnit(v1::COMPONENT_RED_CELLS, a_neg, Type("O+"));
  EXPECT_TRUE(d.rhd_positive_for_negative);
  EXPECT_TRUE(d.marks_unit());
  // Plasma ignores RhD.
  d = AssessUnit(v1::COMPONENT_PLASMA, a_neg, Type("A+"));
  EXPECT_FALSE(d.rhd_positive_for_negative);
  d = AssessUnit(v1::COMPONENT_RED_CELLS, Patient("unknown", v1::SEX_MALE, 40), Type("O-"));
  EXPECT_TRUE(d.emergency_unknown_type);
  EXPECT_FALSE(d.abo_non_identical);
  EXPECT_TRUE(d.marks_unit());
}

// ---------------------------------------------------------------------------------------------
// Indications.

v1::OrderLineRequest Line(v1::Component component, int quantity) {
  v1::OrderLineRequest line;
  line.set_component(component);
  line.set_quantity(quantity);
  return line;
}

v1::OrderApprovals AllSigned() {
  v1::OrderApprovals approvals;
  approvals.set_physician("dr-li");
  approvals.set_department_head("dr-wang");
  approvals.set_medical_affairs("ma-zhou");
  return approvals;
}

std::vector<v1::IndicationFindingCode> Codes(const IndicationOutcome& outcome) {
  std::vector<v1::IndicationFindingCode> codes;
  for (const auto& f : outcome.findings) codes.push_back(f.code());
  return codes;
}

struct IndicationCase {
  const char* name;
  v1::Component component;
  std::function<void(v1::Patient&)> labs;
  bool stated;
  std::vector<v1::IndicationFindingCode> expected;
};

TEST(IndicationTest, ThresholdsPerComponent) {
  using F = v1::IndicationFindingCode;
  const std::vector<IndicationCase> cases = {
      {"hb missing",
       v1::COMPONENT_RED_CELLS,
       [](v1::Patient&) {},
       true,
       {F::INDICATION_FINDING_CODE_HEMOGLOBIN_MISSING}},
      {"hb 65 indicated",
       v1::COMPONENT_RED_CELLS,
       [](v1::Patient& p) { p.set_hemoglobin_g_l(65); },
       false,
       {}},
      {"hb 70 needs reason",
       v1::COMPONENT_RED_CELLS,
       [](v1::Patient& p) { p.set_hemoglobin_g_l(70); },
       false,
       {F::INDICATION_FINDING_CODE_HEMOGLOBIN_NEEDS_REASON}},
      {"hb 85 with reason",
       v1::COMPONENT_RED_CELLS,
       [](v1::Patient& p) { p.set_hemoglobin_g_l(85); },
       true,
       {}},
      {"hb 100 with reason",
       v1::COMPONENT_RED_CELLS,
       [](v1::Patient& p) { p.set_hemoglobin_g_l(100); },
       true,
       {}},
      {"hb 112 not indicated",
       v1::COMPONENT_RED_CELLS,
       [](v1::Patient& p) { p.set_hemoglobin_g_l(112); },
       true,
       {F::INDICATION_FINDING_CODE_HEMOGLOBIN_ABOVE_THRESHOLD}},
      {"whole blood uses hb",
       v1::COMPONENT_WHOLE_BLOOD,
       [](v1::Patient& p) { p.set_hemoglobin_g_l(130); },
       true,
       {F::INDICATION_FINDING_CODE_HEMOGLOBIN_ABOVE_THRESHOLD}},
      {"plt missing",
       v1::COMPONENT_PLATELETS,
       [](v1::Patient&) {},
       true,
       {F::INDICATION_FINDING_CODE_PLATELET_COUNT_MISSING}},
      {"plt 30",
       v1::COMPONENT_PLATELETS,
       [](v1::Patient& p) { p.set_platelet_count_e9_l(30); },
       false,
       {}},
      {"plt 60 no reason",
       v1::COMPONENT_PLATELETS,
       [](v1::Patient& p) { p.set_platelet_count_e9_l(60); },
       false,
       {F::INDICATION_FINDING_CODE_PLATELET_COUNT_NEEDS_REASON}},
      {"plt 60 reason",
       v1::COMPONENT_PLATELETS,
       [](v1::Patient& p) { p.set_platelet_count_e9_l(60); },
       true,
       {}},
      {"plt 150",
       v1::COMPONENT_PLATELETS,
       [](v1::Patient& p) { p.set_platelet_count_e9_l(150); },
       true,
       {F::INDICATION_FINDING_CODE_PLATELET_COUNT_ABOVE_THRESHOLD}},
      {"plasma missing",
       v1::COMPONENT_PLASMA,
       [](v1::Patient& p) { p.set_bleeding(true); },
       true,
       {F::INDICATION_FINDING_CODE_COAGULATION_MISSING}},
      {"plasma inr 2 bleeding",
       v1::COMPONENT_PLASMA,
       [](v1::Patient& p) {
         p.set_inr(2.0);
         p.set_bleeding(true);
       },
       true,
       {}},
      {"plasma inr 2 not bleeding",
       v1::COMPONENT_PLASMA,
       [](v1::Patient& p) { p.set_inr(2.0); },
       true,
       {F::INDICATION_FINDING_CODE_COAGULATION_NOT_MET}},
      {"plasma inr 1.7 bleeding",
       v1::COMPONENT_PLASMA,
       [](v1::Patient& p) {
         p.set_inr(1.7);
         p.set_bleeding(true);
       },
       true,
       {F::INDICATION_FINDING_CODE_COAGULATION_NOT_MET}},
      {"plasma pt 1.6 bleeding",
       v1::COMPONENT_PLASMA,
       [](v1::Patient& p) {
         p.set_inr(1.1);
         p.set_pt_ratio(1.6);
         p.set_bleeding(true);
       },
       true,
       {}},
      {"plasma aptt 1.6 bleeding",
       v1::COMPONENT_PLASMA,
       [](v1::Patient& p) {
         p.set_aptt_ratio(1.6);
         p.set_bleeding(true);
       },
       true,
       {}},
      {"cryo missing",
       v1::COMPONENT_CRYO,
       [](v1::Patient&) {},
       true,
       {F::INDICATION_FINDING_CODE_FIBRINOGEN_MISSING}},
      {"cryo 0.5", v1::COMPONENT_CRYO, [](v1::Patient& p) { p.set_fibrinogen_g_l(0.5); }, true, {}},
      {"cryo 0.8",
       v1::COMPONENT_CRYO,
       [](v1::Patient& p) { p.set_fibrinogen_g_l(0.8); },
       true,
       {F::INDICATION_FINDING_CODE_FIBRINOGEN_NOT_MET}},
  };
  for (const IndicationCase& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Patient patient;
    c.labs(patient);
    const std::vector<v1::OrderLineRequest> lines = {Line(c.component, 2)};
    IndicationOutcome outcome = CheckIndication(patient, lines, v1::PRIORITY_ROUTINE,
                                                c.stated ? "stated" : "", AllSigned(), 0, Policy());
    EXPECT_EQ(Codes(outcome), c.expected);
    EXPECT_EQ(outcome.hold_for_review, !c.expected.empty());
    for (const auto& f : outcome.findings) EXPECT_EQ(f.line_no(), 1);
  }
}

TEST(IndicationTest, RoutineIsHeldUrgentAndEmergencyOnlyFlagged) {
  v1::Patient patient;
  patient.set_hemoglobin_g_l(112);
  const std::vector<v1::OrderLineRequest> lines = {Line(v1::COMPONENT_RED_CELLS, 2)};
  IndicationOutcome routine =
      CheckIndication(patient, lines, v1::PRIORITY_ROUTINE, "x", AllSigned(), 0, Policy());
  EXPECT_TRUE(routine.hold_for_review);
  EXPECT_EQ(routine.summary, "Hb 112 g/L > 100 g/L");
  for (v1::Priority p : {v1::PRIORITY_URGENT, v1::PRIORITY_EMERGENCY}) {
    IndicationOutcome flagged = CheckIndication(patient, lines, p, "x", AllSigned(), 0, Policy());
    EXPECT_FALSE(flagged.hold_for_review);
    EXPECT_EQ(flagged.findings.size(), 1u);
  }
}

TEST(IndicationTest, FindingsCarryTheirLineNumbers) {
  v1::Patient patient;
  patient.set_hemoglobin_g_l(60);
  const std::vector<v1::OrderLineRequest> lines = {Line(v1::COMPONENT_RED_CELLS, 2),
                                                   Line(v1::COMPONENT_CRYO, 4)};
  IndicationOutcome outcome =
      CheckIndication(patient, lines, v1::PRIORITY_ROUTINE, "x", AllSigned(), 0, Policy());
  ASSERT_EQ(outcome.findings.size(), 1u);
  EXPECT_EQ(outcome.findings[0].line_no(), 2);
  EXPECT_EQ(outcome.findings[0].code(), v1::INDICATION_FINDING_CODE_FIBRINOGEN_MISSING);
}

TEST(ApprovalTierTest, DailyVolumeNeedsTheTiersSignOffs) {
  v1::Patient patient;
  patient.set_hemoglobin_g_l(60);
  patient.set_inr(2.5);
  patient.set_bleeding(true);
  v1::OrderApprovals physician_only;
  physician_only.set_physician("dr-li");
  v1::OrderApprovals with_head = physician_only;
  with_head.set_department_head("dr-wang");

  struct Case {
    int red_cell_units;
    int plasma_ml;
    int64_t prior_ml;
    v1::OrderApprovals approvals;
    v1::PolicyProfile::Approver required;
    bool missing;
  };
  const std::vector<Case> cases = {
      {3, 0, 0, physician_only, v1::PolicyProfile::APPROVER_PHYSICIAN, false},       // 600 mL
      {3, 0, 0, v1::OrderApprovals(), v1::PolicyProfile::APPROVER_PHYSICIAN, true},  // unsigned
      {3, 190, 0, physician_only, v1::PolicyProfile::APPROVER_PHYSICIAN, false},     // 790 mL
      {4, 0, 0, physician_only, v1::PolicyProfile::APPROVER_DEPARTMENT_HEAD, true},  // 800 mL
      {4, 0, 0, with_head, v1::PolicyProfile::APPROVER_DEPARTMENT_HEAD, false},
      {2, 0, 500, with_head, v1::PolicyProfile::APPROVER_DEPARTMENT_HEAD, false},  // 900 mL
      {4, 400, 0, with_head, v1::PolicyProfile::APPROVER_DEPARTMENT_HEAD, false},  // 1200 mL
      {6, 400, 0, with_head, v1::PolicyProfile::APPROVER_MEDICAL_AFFAIRS, true},   // 1600 mL
      {6, 400, 0, AllSigned(), v1::PolicyProfile::APPROVER_MEDICAL_AFFAIRS, false},
      {2, 0, 1500, with_head, v1::PolicyProfile::APPROVER_MEDICAL_AFFAIRS, true},  // prior counts
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.red_cell_units, " U + ", c.plasma_ml, " mL + prior ", c.prior_ml));
    std::vector<v1::OrderLineRequest> lines = {Line(v1::COMPONENT_RED_CELLS, c.red_cell_units)};
    if (c.plasma_ml > 0) lines.push_back(Line(v1::COMPONENT_PLASMA, c.plasma_ml));
    IndicationOutcome outcome = CheckIndication(patient, lines, v1::PRIORITY_ROUTINE, "x",
                                                c.approvals, c.prior_ml, Policy());
    EXPECT_EQ(outcome.required_approver, c.required);
    EXPECT_EQ(outcome.daily_volume_ml, c.prior_ml + c.red_cell_units * 200 + c.plasma_ml);
    if (c.missing) {
      ASSERT_EQ(outcome.findings.size(), 1u);
      EXPECT_EQ(outcome.findings[0].code(), v1::INDICATION_FINDING_CODE_APPROVAL_MISSING);
      EXPECT_EQ(outcome.findings[0].line_no(), 0);
      EXPECT_TRUE(outcome.hold_for_review);
    } else {
      EXPECT_THAT(outcome.findings, IsEmpty());
    }
  }
}

TEST(ApprovalTierTest, PlateletsAndCryoDoNotCountAsVolume) {
  EXPECT_EQ(ApprovalVolumeMl(v1::COMPONENT_RED_CELLS, 3, Policy()), 600);
  EXPECT_EQ(ApprovalVolumeMl(v1::COMPONENT_WHOLE_BLOOD, 2, Policy()), 400);
  EXPECT_EQ(ApprovalVolumeMl(v1::COMPONENT_PLASMA, 450, Policy()), 450);
  EXPECT_EQ(ApprovalVolumeMl(v1::COMPONENT_PLATELETS, 2, Policy()), 0);
  EXPECT_EQ(ApprovalVolumeMl(v1::COMPONENT_CRYO, 10, Policy()), 0);
}

// ---------------------------------------------------------------------------------------------
// Massive transfusion.

TEST(MassiveTransfusionTest, PackFollowsThePolicyRatio) {
  std::vector<v1::OrderLineRequest> pack = MassiveTransfusionPack(Policy());
  ASSERT_EQ(pack.size(), 3u);
  EXPECT_EQ(pack[0].component(), v1::COMPONENT_RED_CELLS);
  EXPECT_EQ(pack[0].quantity(), 6);
  EXPECT_EQ(pack[1].component(), v1::COMPONENT_PLASMA);
  EXPECT_EQ(pack[1].quantity(), 600);  // 6 U x 100 mL
  EXPECT_EQ(pack[2].component(), v1::COMPONENT_PLATELETS);
  EXPECT_EQ(pack[2].quantity(), 1);
  // 1 : 1 : 1 in the profile's units: plasma U = red cell U, one dose per round.
  EXPECT_EQ(pack[1].quantity() / Policy().units().plasma_ml_per_unit(), pack[0].quantity());

  v1::PolicyProfile other = Policy();
  other.mutable_massive_transfusion()->set_red_cell_units(4);
  other.mutable_massive_transfusion()->set_plasma_units(4);
  other.mutable_massive_transfusion()->set_platelet_doses(0);
  other.mutable_units()->set_plasma_ml_per_unit(200);
  pack = MassiveTransfusionPack(other);
  ASSERT_EQ(pack.size(), 2u);
  EXPECT_EQ(pack[1].quantity(), 800);

  v1::PlaceOrderRequest request;
  request.set_massive_transfusion(true);
  EXPECT_EQ(EffectiveLines(request, Policy()).size(), 3u);
  *request.add_lines() = Line(v1::COMPONENT_RED_CELLS, 4);
  ASSERT_EQ(EffectiveLines(request, Policy()).size(), 1u);
  EXPECT_EQ(EffectiveLines(request, Policy())[0].quantity(), 4);
}

// ---------------------------------------------------------------------------------------------
// Validation.

const absl::Time kNow = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

v1::PlaceOrderRequest GoodRoutine() {
  v1::PlaceOrderRequest r;
  r.set_request_id("r-1");
  r.set_hospital_id("H001");
  v1::Patient* p = r.mutable_patient();
  p->set_patient_ref("MRN-1");
  p->mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  p->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  p->set_sex(v1::SEX_FEMALE);
  p->set_age_years(44);
  p->set_hemoglobin_g_l(65);
  *r.add_lines() = Line(v1::COMPONENT_RED_CELLS, 2);
  r.set_priority(v1::PRIORITY_ROUTINE);
  r.set_indication("anaemia");
  ToTimestamp(kNow + absl::Hours(4), r.mutable_needed_by());
  r.mutable_approvals()->set_physician("dr-li");
  return r;
}

TEST(ValidatePlaceOrderTest, AcceptsGoodOrders) {
  LineLimits limits;
  EXPECT_TRUE(ValidatePlaceOrder(GoodRoutine(), limits, kNow).ok());
  v1::PlaceOrderRequest em;
  em.set_hospital_id("H001");
  em.mutable_patient()->set_patient_ref("unknown-1");
  em.set_priority(v1::PRIORITY_EMERGENCY);
  em.set_massive_transfusion(true);
  EXPECT_TRUE(ValidatePlaceOrder(em, limits, kNow).ok()) << ValidatePlaceOrder(em, limits, kNow);
  *em.add_lines() = Line(v1::COMPONENT_PLASMA, 5000);
  EXPECT_TRUE(ValidatePlaceOrder(em, limits, kNow).ok());
}

TEST(ValidatePlaceOrderTest, RejectsEachBadFieldByName) {
  struct Case {
    const char* field;
    std::function<void(v1::PlaceOrderRequest&)> breakit;
  };
  const std::vector<Case> cases = {
      {"priority", [](auto& r) { r.set_priority(v1::PRIORITY_UNSPECIFIED); }},
      {"priority", [](auto& r) { r.set_priority(static_cast<v1::Priority>(42)); }},
      {"hospital_id", [](auto& r) { r.clear_hospital_id(); }},
      {"hospital_id", [](auto& r) { r.set_hospital_id("bad id!"); }},
      {"patient.patient_ref", [](auto& r) { r.mutable_patient()->clear_patient_ref(); }},
      {"patient.patient_ref",
       [](auto& r) { r.mutable_patient()->set_patient_ref(std::string(65, 'x')); }},
      {"patient.blood_type.abo",
       [](auto& r) { r.mutable_patient()->mutable_blood_type()->clear_abo(); }},
      {"patient.blood_type.rhd",
       [](auto& r) { r.mutable_patient()->mutable_blood_type()->clear_rhd(); }},
      {"patient.blood_type.abo",
       [](auto& r) {
         r.mutable_patient()->mutable_blood_type()->set_abo(static_cast<v1::AboGroup>(9));
       }},
      {"patient.sex", [](auto& r) { r.mutable_patient()->clear_sex(); }},
      {"patient.age_years", [](auto& r) { r.mutable_patient()->set_age_years(151); }},
      {"patient.age_years", [](auto& r) { r.mutable_patient()->set_age_years(-1); }},
      {"patient.hemoglobin_g_l", [](auto& r) { r.mutable_patient()->set_hemoglobin_g_l(-1); }},
      {"patient.hemoglobin_g_l", [](auto& r) { r.mutable_patient()->set_hemoglobin_g_l(1000); }},
      {"patient.hemoglobin_g_l",
       [](auto& r) {
         r.mutable_patient()->set_hemoglobin_g_l(std::numeric_limits<double>::quiet_NaN());
       }},
      {"patient.platelet_count_e9_l",
       [](auto& r) { r.mutable_patient()->set_platelet_count_e9_l(-5); }},
      {"patient.inr", [](auto& r) { r.mutable_patient()->set_inr(0); }},
      {"patient.fibrinogen_g_l", [](auto& r) { r.mutable_patient()->set_fibrinogen_g_l(50); }},
      {"patient.pt_ratio", [](auto& r) { r.mutable_patient()->set_pt_ratio(-1); }},
      {"patient.aptt_ratio", [](auto& r) { r.mutable_patient()->set_aptt_ratio(100); }},
      {"massive_transfusion", [](auto& r) { r.set_massive_transfusion(true); }},
      {"lines", [](auto& r) { r.clear_lines(); }},
      {"lines",
       [](auto& r) {
         for (int i = 0; i < 10; ++i) *r.add_lines() = Line(v1::COMPONENT_CRYO, 1);
       }},
      {"lines[0].component", [](auto& r) { r.mutable_lines(0)->clear_component(); }},
      {"lines[0].component",
       [](auto& r) { r.mutable_lines(0)->set_component(static_cast<v1::Component>(77)); }},
      {"lines[1].component", [](auto& r) { *r.add_lines() = Line(v1::COMPONENT_RED_CELLS, 1); }},
      {"lines[0].quantity", [](auto& r) { r.mutable_lines(0)->set_quantity(0); }},
      {"lines[0].quantity", [](auto& r) { r.mutable_lines(0)->set_quantity(-3); }},
      {"lines[0].quantity", [](auto& r) { r.mutable_lines(0)->set_quantity(51); }},
      {"lines[1].quantity", [](auto& r) { *r.add_lines() = Line(v1::COMPONENT_PLASMA, 5001); }},
      {"lines[1].quantity", [](auto& r) { *r.add_lines() = Line(v1::COMPONENT_PLATELETS, 11); }},
      {"lines[1].quantity", [](auto& r) { *r.add_lines() = Line(v1::COMPONENT_CRYO, 51); }},
      {"lines[1].quantity", [](auto& r) { *r.add_lines() = Line(v1::COMPONENT_WHOLE_BLOOD, 51); }},
      {"indication", [](auto& r) { r.clear_indication(); }},
      {"indication", [](auto& r) { r.set_indication(std::string(1001, 'x')); }},
      {"needed_by", [](auto& r) { r.clear_needed_by(); }},
      {"needed_by", [](auto& r) { ToTimestamp(kNow - absl::Minutes(2), r.mutable_needed_by()); }},
      {"needed_by",
       [](auto& r) { ToTimestamp(kNow + absl::Hours(24 * 31), r.mutable_needed_by()); }},
      {"needed_by", [](auto& r) { r.mutable_needed_by()->set_nanos(-1); }},
      {"approvals.physician",
       [](auto& r) { r.mutable_approvals()->set_physician(std::string(101, 'x')); }},
      {"approvals.department_head",
       [](auto& r) { r.mutable_approvals()->set_department_head(std::string(101, 'x')); }},
      {"approvals.medical_affairs",
       [](auto& r) { r.mutable_approvals()->set_medical_affairs(std::string(101, 'x')); }},
      {"ward", [](auto& r) { r.set_ward(std::string(101, 'x')); }},
  };
  for (const Case& c : cases) {
    v1::PlaceOrderRequest request = GoodRoutine();
    c.breakit(request);
    absl::Status status = ValidatePlaceOrder(request, LineLimits(), kNow);
    SCOPED_TRACE(c.field);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), StartsWith(absl::StrCat(c.field, ": ")));
  }
}

TEST(ValidatePlaceOrderTest, EmergencyRelaxesTypeSexIndicationAndNeededBy) {
  v1::PlaceOrderRequest r = GoodRoutine();
  r.set_priority(v1::PRIORITY_EMERGENCY);
  r.mutable_patient()->clear_blood_type();
  r.mutable_patient()->clear_sex();
  r.clear_indication();
  r.clear_needed_by();
  EXPECT_TRUE(ValidatePlaceOrder(r, LineLimits(), kNow).ok());
  // Untyped: no whole blood; RhD without ABO is refused.
  *r.add_lines() = Line(v1::COMPONENT_WHOLE_BLOOD, 1);
  EXPECT_THAT(std::string(ValidatePlaceOrder(r, LineLimits(), kNow).message()),
              StartsWith("lines[1].component: whole blood"));
  r.mutable_lines()->RemoveLast();
  r.mutable_patient()->mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
  EXPECT_THAT(std::string(ValidatePlaceOrder(r, LineLimits(), kNow).message()),
              StartsWith("patient.blood_type.abo: "));
  // Urgent still needs needed_by.
  r = GoodRoutine();
  r.set_priority(v1::PRIORITY_URGENT);
  r.clear_indication();
  EXPECT_TRUE(ValidatePlaceOrder(r, LineLimits(), kNow).ok());
  r.clear_needed_by();
  EXPECT_THAT(std::string(ValidatePlaceOrder(r, LineLimits(), kNow).message()),
              StartsWith("needed_by: "));
}

TEST(ValidatePlaceOrderTest, LimitsAreConfigurableAndCountCharacters) {
  LineLimits limits;
  limits.red_cells_units = 4;
  v1::PlaceOrderRequest r = GoodRoutine();
  r.mutable_lines(0)->set_quantity(5);
  EXPECT_THAT(std::string(ValidatePlaceOrder(r, limits, kNow).message()),
              HasSubstr("at most 4 U of red cells"));
  // 1000 characters of CJK text is 3000 bytes and still fine.
  r = GoodRoutine();
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "\xe8\xa1\x80";  // 血
  r.set_indication(text);
  EXPECT_TRUE(ValidatePlaceOrder(r, LineLimits(), kNow).ok());
  EXPECT_EQ(CharacterCount(text), 1000);
}

TEST(ValidateHospitalTest, NamesTheField) {
  v1::Hospital h;
  h.set_hospital_id("H001");
  h.set_name("First People's Hospital");
  h.set_serving_station_id("CENTRAL");
  h.add_fallback_station_ids("BR-NORTH");
  EXPECT_TRUE(ValidateHospital(h).ok());
  struct Case {
    const char* field;
    std::function<void(v1::Hospital&)> breakit;
  };
  const std::vector<Case> cases = {
      {"hospital.hospital_id", [](auto& h) { h.set_hospital_id(""); }},
      {"hospital.hospital_id", [](auto& h) { h.set_hospital_id(std::string(33, 'a')); }},
      {"hospital.name", [](auto& h) { h.set_name(""); }},
      {"hospital.name", [](auto& h) { h.set_name(std::string(201, 'a')); }},
      {"hospital.serving_station_id", [](auto& h) { h.set_serving_station_id(""); }},
      {"hospital.fallback_station_ids[1]", [](auto& h) { h.add_fallback_station_ids("CENTRAL"); }},
      {"hospital.fallback_station_ids[1]", [](auto& h) { h.add_fallback_station_ids("BR-NORTH"); }},
      {"hospital.fallback_station_ids[1]", [](auto& h) { h.add_fallback_station_ids("x y"); }},
      {"hospital.location.latitude", [](auto& h) { h.mutable_location()->set_latitude(91); }},
      {"hospital.address", [](auto& h) { h.set_address(std::string(301, 'a')); }},
  };
  for (const Case& c : cases) {
    v1::Hospital broken = h;
    c.breakit(broken);
    SCOPED_TRACE(c.field);
    EXPECT_THAT(std::string(ValidateHospital(broken).message()),
                StartsWith(absl::StrCat(c.field, ": ")));
  }
}

TEST(ValidateReportTransfusionTest, OutcomeRules) {
  v1::ReportTransfusionRequest r;
  r.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  EXPECT_TRUE(ValidateReportTransfusion(r).ok());
  r.set_outcome(v1::TRANSFUSION_OUTCOME_RETURNED);
  EXPECT_THAT(std::string(ValidateReportTransfusion(r).message()), StartsWith("cold_chain_ok: "));
  r.set_cold_chain_ok(true);
  EXPECT_TRUE(ValidateReportTransfusion(r).ok());
  r.set_outcome(v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED);
  EXPECT_THAT(std::string(ValidateReportTransfusion(r).message()), StartsWith("outcome: "));
  r.set_outcome(v1::TRANSFUSION_OUTCOME_UNSPECIFIED);
  EXPECT_THAT(std::string(ValidateReportTransfusion(r).message()), StartsWith("outcome: "));
  r.set_outcome(v1::TRANSFUSION_OUTCOME_TRANSFUSED);
  r.mutable_adverse_reaction()->set_description("fever");
  EXPECT_THAT(std::string(ValidateReportTransfusion(r).message()),
              StartsWith("adverse_reaction.type: "));
  r.mutable_adverse_reaction()->set_type(v1::ADVERSE_REACTION_TYPE_FEBRILE_NON_HEMOLYTIC);
  EXPECT_TRUE(ValidateReportTransfusion(r).ok());
  r.set_note(std::string(1001, 'n'));
  EXPECT_THAT(std::string(ValidateReportTransfusion(r).message()), StartsWith("note: "));
}

// ---------------------------------------------------------------------------------------------
// State machine.

TEST(OrderStateMachineTest, TransitionTableIsExactlyTheDesign) {
  using S = v1::OrderStatus;
  const std::map<S, std::vector<S>> allowed = {
      {v1::ORDER_STATUS_RECEIVED,
       {v1::ORDER_STATUS_IN_REVIEW, v1::ORDER_STATUS_ALLOCATED,
        v1::ORDER_STATUS_PARTIALLY_ALLOCATED, v1::ORDER_STATUS_CANCELLED}},
      {v1::ORDER_STATUS_IN_REVIEW,
       {v1::ORDER_STATUS_RECEIVED, v1::ORDER_STATUS_REJECTED, v1::ORDER_STATUS_CANCELLED}},
      {v1::ORDER_STATUS_ALLOCATED,
       {v1::ORDER_STATUS_PARTIALLY_ALLOCATED, v1::ORDER_STATUS_DISPATCHED,
        v1::ORDER_STATUS_CANCELLED}},
      {v1::ORDER_STATUS_PARTIALLY_ALLOCATED,
       {v1::ORDER_STATUS_ALLOCATED, v1::ORDER_STATUS_DISPATCHED, v1::ORDER_STATUS_CANCELLED}},
      {v1::ORDER_STATUS_DISPATCHED, {v1::ORDER_STATUS_DELIVERED, v1::ORDER_STATUS_COMPLETED}},
      {v1::ORDER_STATUS_DELIVERED, {v1::ORDER_STATUS_COMPLETED}},
  };
  for (int f = v1::OrderStatus_MIN; f <= v1::OrderStatus_MAX; ++f) {
    for (int t = v1::OrderStatus_MIN; t <= v1::OrderStatus_MAX; ++t) {
      const S from = static_cast<S>(f);
      const S to = static_cast<S>(t);
      auto it = allowed.find(from);
      const bool expected = it != allowed.end() &&
                            std::find(it->second.begin(), it->second.end(), to) != it->second.end();
      EXPECT_EQ(IsTransitionAllowed(from, to), expected)
          << StatusName(from) << " -> " << StatusName(to);
      EXPECT_EQ(CheckTransition(from, to).ok(), expected);
    }
  }
  EXPECT_EQ(CheckTransition(v1::ORDER_STATUS_DISPATCHED, v1::ORDER_STATUS_CANCELLED).message(),
            "order is DISPATCHED: cannot become CANCELLED");
}

TEST(OrderStateMachineTest, Predicates) {
  EXPECT_TRUE(IsCancellable(v1::ORDER_STATUS_RECEIVED));
  EXPECT_TRUE(IsCancellable(v1::ORDER_STATUS_IN_REVIEW));
  EXPECT_TRUE(IsCancellable(v1::ORDER_STATUS_PARTIALLY_ALLOCATED));
  EXPECT_FALSE(IsCancellable(v1::ORDER_STATUS_DISPATCHED));
  EXPECT_FALSE(IsCancellable(v1::ORDER_STATUS_REJECTED));
  EXPECT_TRUE(IsFinalStatus(v1::ORDER_STATUS_COMPLETED));
  EXPECT_FALSE(IsFinalStatus(v1::ORDER_STATUS_DELIVERED));
  EXPECT_TRUE(IsAllocatable(v1::ORDER_STATUS_RECEIVED));
  EXPECT_FALSE(IsAllocatable(v1::ORDER_STATUS_IN_REVIEW));
  EXPECT_EQ(StatusName(v1::ORDER_STATUS_PARTIALLY_ALLOCATED), "PARTIALLY_ALLOCATED");

  std::vector<v1::OrderLine> lines(2);
  lines[0].set_quantity(2);
  lines[0].set_allocated_quantity(3);
  lines[1].set_quantity(400);
  lines[1].set_allocated_quantity(200);
  EXPECT_EQ(SettledStatus(lines), v1::ORDER_STATUS_PARTIALLY_ALLOCATED);
  lines[1].set_allocated_quantity(400);
  EXPECT_EQ(SettledStatus(lines), v1::ORDER_STATUS_ALLOCATED);
}

TEST(KeysTest, ReservationKeysAndDerivedRequestIds) {
  EXPECT_EQ(ReservationKey("ORD-1a", 2, 3), "ORD-1a/2/3");
  EXPECT_EQ(DerivedRequestId({"ORD-1a/2/3", "release"}), "ORD-1a:2:3:release");
  const std::string long_id = DerivedRequestId({std::string(200, 'a'), "x"});
  EXPECT_LE(long_id.size(), 128u);
  EXPECT_NE(long_id, DerivedRequestId({std::string(200, 'a'), "y"}));
}

TEST(RouteTest, FallbackBagsTravelToTheServingStationExceptInAnEmergency) {
  EXPECT_TRUE(TransfersToServingStation(v1::PRIORITY_ROUTINE, true));
  EXPECT_TRUE(TransfersToServingStation(v1::PRIORITY_URGENT, true));
  EXPECT_FALSE(TransfersToServingStation(v1::PRIORITY_EMERGENCY, true));
  for (v1::Priority priority :
       {v1::PRIORITY_ROUTINE, v1::PRIORITY_URGENT, v1::PRIORITY_EMERGENCY}) {
    EXPECT_FALSE(TransfersToServingStation(priority, false)) << v1::Priority_Name(priority);
  }
}

// The sets the store's job queries bind (no enum number is written in SQL text).
TEST(StatusSetsTest, NamedRulesAsSets) {
  EXPECT_THAT(OrderStatusesWhere(IsClosedUnissued),
              ElementsAre(v1::ORDER_STATUS_REJECTED, v1::ORDER_STATUS_CANCELLED));
  EXPECT_THAT(OrderStatusesWhere(AwaitsOutcomes),
              ElementsAre(v1::ORDER_STATUS_DISPATCHED, v1::ORDER_STATUS_DELIVERED));
  EXPECT_THAT(OrderStatusesWhere(IsUnallocated), ElementsAre(v1::ORDER_STATUS_RECEIVED));
  EXPECT_THAT(OrderStatusesWhere(IsBackordered), ElementsAre(v1::ORDER_STATUS_PARTIALLY_ALLOCATED));
  EXPECT_THAT(OrderStatusesWhere(IsFinalStatus),
              ElementsAre(v1::ORDER_STATUS_REJECTED, v1::ORDER_STATUS_COMPLETED,
                          v1::ORDER_STATUS_CANCELLED));
  EXPECT_THAT(ReservationStatesWhere(IsUnsettledReservation),
              ElementsAre(ReservationState::kPending, ReservationState::kReserved,
                          ReservationState::kAbandoned));
  EXPECT_THAT(ReservationStatesWhere(IsLiveReservation),
              ElementsAre(ReservationState::kPending, ReservationState::kReserved,
                          ReservationState::kConfirmed));
}

}  // namespace
}  // namespace bloodgrid::request
