#include "common/blood.h"

#include <array>
#include <set>
#include <string>
#include <vector>

#include "absl/hash/hash_testing.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloodgrid {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr BloodType kONeg{v1::ABO_GROUP_O, v1::RH_D_NEGATIVE};
constexpr BloodType kOPos{v1::ABO_GROUP_O, v1::RH_D_POSITIVE};
constexpr BloodType kANeg{v1::ABO_GROUP_A, v1::RH_D_NEGATIVE};
constexpr BloodType kAPos{v1::ABO_GROUP_A, v1::RH_D_POSITIVE};
constexpr BloodType kBNeg{v1::ABO_GROUP_B, v1::RH_D_NEGATIVE};
constexpr BloodType kBPos{v1::ABO_GROUP_B, v1::RH_D_POSITIVE};
constexpr BloodType kABNeg{v1::ABO_GROUP_AB, v1::RH_D_NEGATIVE};
constexpr BloodType kABPos{v1::ABO_GROUP_AB, v1::RH_D_POSITIVE};

// Row and column order of every matrix below.
constexpr std::array<BloodType, 8> kTypes = {kONeg, kOPos, kANeg,  kAPos,
                                             kBNeg, kBPos, kABNeg, kABPos};

// ---------------------------------------------------------------------------------------
// Blood type value type.

TEST(BloodTypeTest, FormatsAndParsesEveryType) {
  const std::array<const char*, 8> names = {"O-", "O+", "A-", "A+", "B-", "B+", "AB-", "AB+"};
  for (size_t i = 0; i < kTypes.size(); ++i) {
    SCOPED_TRACE(names[i]);
    EXPECT_TRUE(kTypes[i].IsKnown());
    EXPECT_FALSE(kTypes[i].IsUnknown());
    EXPECT_EQ(kTypes[i].ToString(), names[i]);
    absl::StatusOr<BloodType> parsed = ParseBloodType(names[i]);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kTypes[i]);
  }
}

TEST(BloodTypeTest, ParseIgnoresCaseAndSurroundingWhitespace) {
  EXPECT_EQ(*ParseBloodType("ab+"), kABPos);
  EXPECT_EQ(*ParseBloodType("  o-\n"), kONeg);
  EXPECT_EQ(*ParseBloodType("Ab-"), kABNeg);
  EXPECT_EQ(*ParseBloodType("unknown"), BloodType::Unknown());
  EXPECT_EQ(*ParseBloodType(" UNKNOWN "), BloodType::Unknown());
}

TEST(BloodTypeTest, ParseRejectsEverythingElse) {
  for (const char* text :
       {"", "A", "AB", "C+", "0+", "A+-", "A +", "BA+", "O pos", "A++", "RhD-", "unknown+"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<BloodType> type = ParseBloodType(text);
    ASSERT_FALSE(type.ok()) << *type;
    EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(type.status().message()), StartsWith("blood_type: "));
    EXPECT_THAT(std::string(type.status().message()), HasSubstr("is not a blood type"));
  }
}

TEST(BloodTypeTest, UnknownAndInvalidValues) {
  EXPECT_EQ(BloodType::Unknown().ToString(), "unknown");
  EXPECT_FALSE(BloodType::Unknown().IsKnown());
  EXPECT_TRUE(BloodType::Unknown().IsUnknown());
  EXPECT_EQ(BloodType{}, BloodType::Unknown());

  const BloodType half{v1::ABO_GROUP_A, v1::RH_D_UNSPECIFIED};
  EXPECT_FALSE(half.IsKnown());
  EXPECT_FALSE(half.IsUnknown());
  EXPECT_EQ(half.ToString(), "invalid(abo=2, rhd=0)");

  const BloodType out_of_range{static_cast<AboGroup>(9), v1::RH_D_POSITIVE};
  EXPECT_FALSE(out_of_range.IsKnown());
  EXPECT_EQ(out_of_range.ToString(), "invalid(abo=9, rhd=1)");
}

TEST(BloodTypeTest, ProtoRoundTrip) {
  for (const BloodType& type : kTypes) {
    SCOPED_TRACE(type.ToString());
    const v1::BloodType proto = type.ToProto();
    EXPECT_EQ(proto.abo(), type.abo);
    EXPECT_EQ(proto.rhd(), type.rhd);
    absl::StatusOr<BloodType> back = BloodType::FromProto(proto);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, type);
  }
  absl::StatusOr<BloodType> unknown = BloodType::FromProto(v1::BloodType());
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_TRUE(unknown->IsUnknown());
}

TEST(BloodTypeTest, FromProtoRejectsHalfSetAndOutOfRange) {
  v1::BloodType abo_only;
  abo_only.set_abo(v1::ABO_GROUP_B);
  v1::BloodType rhd_only;
  rhd_only.set_rhd(v1::RH_D_NEGATIVE);
  v1::BloodType out_of_range;
  out_of_range.set_abo(static_cast<AboGroup>(7));
  out_of_range.set_rhd(v1::RH_D_NEGATIVE);
  for (const v1::BloodType& proto : {abo_only, rhd_only, out_of_range}) {
    SCOPED_TRACE(proto.ShortDebugString());
    absl::StatusOr<BloodType> type = BloodType::FromProto(proto);
    ASSERT_FALSE(type.ok()) << *type;
    EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(type.status().message()), StartsWith("blood_type: "));
  }
}

TEST(BloodTypeTest, AllBloodTypesListsTheEightKnownTypesInOrder) {
  const std::array<BloodType, 8>& all = AllBloodTypes();
  EXPECT_EQ(all, kTypes);
}

TEST(BloodTypeTest, ImplementsAbslHashCorrectly) {
  EXPECT_TRUE(absl::VerifyTypeImplementsAbslHashCorrectly({
      kONeg,
      kOPos,
      kANeg,
      kAPos,
      kBNeg,
      kBPos,
      kABNeg,
      kABPos,
      BloodType::Unknown(),
  }));
}

// ---------------------------------------------------------------------------------------
// Component catalogue.

TEST(ComponentCatalogueTest, DescribesEveryComponent) {
  struct Expected {
    Component component;
    const char* name;
    const char* measure;
    bool rhd_matters;
  };
  const Expected expected[] = {
      {v1::COMPONENT_WHOLE_BLOOD, "whole blood", "U", true},
      {v1::COMPONENT_RED_CELLS, "red cells", "U", true},
      {v1::COMPONENT_PLASMA, "plasma", "mL", false},
      {v1::COMPONENT_PLATELETS, "platelets", "dose", true},
      {v1::COMPONENT_CRYO, "cryoprecipitate", "U", false},
  };
  ASSERT_EQ(ComponentCatalogue().size(), std::size(expected));
  for (size_t i = 0; i < std::size(expected); ++i) {
    const Expected& e = expected[i];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(ComponentCatalogue()[i].component, e.component);
    absl::StatusOr<ComponentInfo> info = LookupComponent(e.component);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->component, e.component);
    EXPECT_EQ(info->name, e.name);
    EXPECT_EQ(OrderingMeasureSymbol(info->measure), e.measure);
    EXPECT_EQ(info->rhd_matters, e.rhd_matters);
  }
}

TEST(ComponentCatalogueTest, RejectsUnspecifiedAndUnknownComponents) {
  for (Component component : {v1::COMPONENT_UNSPECIFIED, static_cast<Component>(42)}) {
    absl::StatusOr<ComponentInfo> info = LookupComponent(component);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(info.status().message()), StartsWith("component: "));
  }
}

// ---------------------------------------------------------------------------------------
// The 8x8 compatibility matrices, written out from DOMAIN.md section 3.
// Rows are recipients, columns donors, both in the order O- O+ A- A+ B- B+ AB- AB+.
//   Y  compatible
//   E  only as the RhD emergency exception (RhD-positive donor, RhD-negative recipient)
//   .  never

struct MatrixCase {
  const char* name;
  Component component;
  std::array<const char*, 8> rows;
};

const MatrixCase kMatrices[] = {
    {"RedCells",
     v1::COMPONENT_RED_CELLS,
     {
         // O- O+ A- A+ B- B+ AB- AB+
         "Y E . . . . . .",  // O-
         "Y Y . . . . . .",  // O+
         "Y E Y E . . . .",  // A-
         "Y Y Y Y . . . .",  // A+
         "Y E . . Y E . .",  // B-
         "Y Y . . Y Y . .",  // B+
         "Y E Y E Y E Y E",  // AB-
         "Y Y Y Y Y Y Y Y",  // AB+
     }},
    {"Plasma",
     v1::COMPONENT_PLASMA,
     {
         "Y Y Y Y Y Y Y Y",  // O-
         "Y Y Y Y Y Y Y Y",  // O+
         ". . Y Y . . Y Y",  // A-
         ". . Y Y . . Y Y",  // A+
         ". . . . Y Y Y Y",  // B-
         ". . . . Y Y Y Y",  // B+
         ". . . . . . Y Y",  // AB-
         ". . . . . . Y Y",  // AB+
     }},
    {"Platelets",
     v1::COMPONENT_PLATELETS,
     {
         "Y E Y E Y E . .",  // O-
         "Y Y Y Y Y Y . .",  // O+
         "Y E Y E Y E Y E",  // A-
         "Y Y Y Y Y Y Y Y",  // A+
         "Y E Y E Y E Y E",  // B-
         "Y Y Y Y Y Y Y Y",  // B+
         "Y E Y E Y E Y E",  // AB-
         "Y Y Y Y Y Y Y Y",  // AB+
     }},
    {"Cryo",
     v1::COMPONENT_CRYO,
     {
         "Y Y Y Y Y Y Y Y",  // O-
         "Y Y Y Y Y Y Y Y",  // O+
         ". . Y Y . . Y Y",  // A-
         ". . Y Y . . Y Y",  // A+
         ". . . . Y Y Y Y",  // B-
         ". . . . Y Y Y Y",  // B+
         ". . . . . . Y Y",  // AB-
         ". . . . . . Y Y",  // AB+
     }},
    // Not in DOMAIN.md's table: whole blood brings the donor's plasma too, so it is
    // ABO-identical only (blood.h).
    {"WholeBlood",
     v1::COMPONENT_WHOLE_BLOOD,
     {
         "Y E . . . . . .",  // O-
         "Y Y . . . . . .",  // O+
         ". . Y E . . . .",  // A-
         ". . Y Y . . . .",  // A+
         ". . . . Y E . .",  // B-
         ". . . . Y Y . .",  // B+
         ". . . . . . Y E",  // AB-
         ". . . . . . Y Y",  // AB+
     }},
};

void PrintTo(const MatrixCase& m, std::ostream* os) { *os << m.name; }

// The cell for recipient row `r`, donor column `d`.
char Cell(const MatrixCase& m, size_t r, size_t d) { return m.rows[r][2 * d]; }

class CompatibilityMatrixTest : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(CompatibilityMatrixTest, TableIsWellFormed) {
  for (const char* row : GetParam().rows) {
    ASSERT_EQ(std::string(row).size(), 15u) << row;
  }
}

TEST_P(CompatibilityMatrixTest, IsCompatibleWithoutRhdException) {
  const MatrixCase& m = GetParam();
  for (size_t r = 0; r < 8; ++r) {
    for (size_t d = 0; d < 8; ++d) {
      EXPECT_EQ(IsCompatible(m.component, kTypes[r], kTypes[d], false), Cell(m, r, d) == 'Y')
          << "recipient " << kTypes[r] << ", donor " << kTypes[d];
    }
  }
}

TEST_P(CompatibilityMatrixTest, IsCompatibleWithRhdException) {
  const MatrixCase& m = GetParam();
  for (size_t r = 0; r < 8; ++r) {
    for (size_t d = 0; d < 8; ++d) {
      EXPECT_EQ(IsCompatible(m.component, kTypes[r], kTypes[d], true), Cell(m, r, d) != '.')
          << "recipient " << kTypes[r] << ", donor " << kTypes[d];
    }
  }
}

TEST_P(CompatibilityMatrixTest, CompatibleDonorsListsExactlyTheMatrixRow) {
  const MatrixCase& m = GetParam();
  for (size_t r = 0; r < 8; ++r) {
    SCOPED_TRACE(absl::StrCat("recipient ", kTypes[r].ToString()));
    for (bool exceptions : {false, true}) {
      SCOPED_TRACE(exceptions ? "with exceptions" : "without exceptions");
      std::set<std::string> expected;
      std::set<std::string> expected_flagged;
      for (size_t d = 0; d < 8; ++d) {
        const char cell = Cell(m, r, d);
        if (cell == 'Y' || (cell == 'E' && exceptions)) expected.insert(kTypes[d].ToString());
        if (cell == 'E' && exceptions) expected_flagged.insert(kTypes[d].ToString());
      }
      std::set<std::string> actual;
      std::set<std::string> flagged;
      const std::vector<DonorCandidate> candidates =
          CompatibleDonors(m.component, kTypes[r], exceptions);
      for (const DonorCandidate& c : candidates) {
        EXPECT_TRUE(actual.insert(c.donor.ToString()).second) << "duplicate " << c;
        if (c.rhd_mismatch) flagged.insert(c.donor.ToString());
        EXPECT_EQ(c.requires_emergency_exception(), c.rhd_mismatch);
        EXPECT_EQ(c.abo_identical, c.donor.abo == kTypes[r].abo) << c;
      }
      EXPECT_EQ(actual, expected);
      EXPECT_EQ(flagged, expected_flagged);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllComponents, CompatibilityMatrixTest, ::testing::ValuesIn(kMatrices),
                         [](const ::testing::TestParamInfo<MatrixCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(CompatibilityTest, NeverGivesIncompatibleAboRedCells) {
  // DOMAIN.md section 3 "Never" list, with the RhD exception allowed so only ABO decides.
  struct Never {
    BloodType recipient;
    std::vector<BloodType> donors;
  };
  const Never nevers[] = {
      {kONeg, {kANeg, kAPos, kBNeg, kBPos, kABNeg, kABPos}},
      {kOPos, {kANeg, kAPos, kBNeg, kBPos, kABNeg, kABPos}},
      {kANeg, {kBNeg, kBPos, kABNeg, kABPos}},
      {kAPos, {kBNeg, kBPos, kABNeg, kABPos}},
      {kBNeg, {kANeg, kAPos, kABNeg, kABPos}},
      {kBPos, {kANeg, kAPos, kABNeg, kABPos}},
  };
  for (const Never& never : nevers) {
    for (const BloodType& donor : never.donors) {
      for (Component component : {v1::COMPONENT_RED_CELLS, v1::COMPONENT_WHOLE_BLOOD}) {
        EXPECT_FALSE(IsCompatible(component, never.recipient, donor, true))
            << donor << " to " << never.recipient;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Preference order: every recipient for every component, with the RhD exception included.
// "A-:1 O-:2 A+:3! O+:4!" means A- in tier 1, O- in tier 2, then the exception-only
// candidates A+ (tier 3) and O+ (tier 4); candidates with equal tiers are equally preferred.

struct OrderCase {
  Component component;
  const char* recipient;
  const char* expected;
};

const OrderCase kOrders[] = {
    // Red cells: ABO-identical first; RhD-positive recipients take RhD-positive before
    // RhD-negative within each ABO step; RhD-negative recipients get every RhD-negative
    // option before any flagged RhD-positive one.
    {v1::COMPONENT_RED_CELLS, "O-", "O-:1 O+:2!"},
    {v1::COMPONENT_RED_CELLS, "O+", "O+:1 O-:2"},
    {v1::COMPONENT_RED_CELLS, "A-", "A-:1 O-:2 A+:3! O+:4!"},
    {v1::COMPONENT_RED_CELLS, "A+", "A+:1 A-:2 O+:3 O-:4"},
    {v1::COMPONENT_RED_CELLS, "B-", "B-:1 O-:2 B+:3! O+:4!"},
    {v1::COMPONENT_RED_CELLS, "B+", "B+:1 B-:2 O+:3 O-:4"},
    {v1::COMPONENT_RED_CELLS, "AB-", "AB-:1 A-:2 B-:3 O-:4 AB+:5! A+:6! B+:7! O+:8!"},
    {v1::COMPONENT_RED_CELLS, "AB+", "AB+:1 AB-:2 A+:3 A-:4 B+:5 B-:6 O+:7 O-:8"},
    // Plasma: O, A, B, AB for O; RhD ignored (both RhD types share a tier, own RhD first).
    {v1::COMPONENT_PLASMA, "O-", "O-:1 O+:1 A-:2 A+:2 B-:3 B+:3 AB-:4 AB+:4"},
    {v1::COMPONENT_PLASMA, "O+", "O+:1 O-:1 A+:2 A-:2 B+:3 B-:3 AB+:4 AB-:4"},
    {v1::COMPONENT_PLASMA, "A-", "A-:1 A+:1 AB-:2 AB+:2"},
    {v1::COMPONENT_PLASMA, "A+", "A+:1 A-:1 AB+:2 AB-:2"},
    {v1::COMPONENT_PLASMA, "B-", "B-:1 B+:1 AB-:2 AB+:2"},
    {v1::COMPONENT_PLASMA, "B+", "B+:1 B-:1 AB+:2 AB-:2"},
    {v1::COMPONENT_PLASMA, "AB-", "AB-:1 AB+:1"},
    {v1::COMPONENT_PLASMA, "AB+", "AB+:1 AB-:1"},
    // Cryo follows plasma.
    {v1::COMPONENT_CRYO, "O-", "O-:1 O+:1 A-:2 A+:2 B-:3 B+:3 AB-:4 AB+:4"},
    {v1::COMPONENT_CRYO, "O+", "O+:1 O-:1 A+:2 A-:2 B+:3 B-:3 AB+:4 AB-:4"},
    {v1::COMPONENT_CRYO, "A-", "A-:1 A+:1 AB-:2 AB+:2"},
    {v1::COMPONENT_CRYO, "A+", "A+:1 A-:1 AB+:2 AB-:2"},
    {v1::COMPONENT_CRYO, "B-", "B-:1 B+:1 AB-:2 AB+:2"},
    {v1::COMPONENT_CRYO, "B+", "B+:1 B-:1 AB+:2 AB-:2"},
    {v1::COMPONENT_CRYO, "AB-", "AB-:1 AB+:1"},
    {v1::COMPONENT_CRYO, "AB+", "AB+:1 AB-:1"},
    // Platelets: O: O, A, B; A: A, B|O, AB; B: B, A|O, AB; AB: AB, A|B, O.
    {v1::COMPONENT_PLATELETS, "O-", "O-:1 A-:2 B-:3 O+:4! A+:5! B+:6!"},
    {v1::COMPONENT_PLATELETS, "O+", "O+:1 O-:2 A+:3 A-:4 B+:5 B-:6"},
    {v1::COMPONENT_PLATELETS, "A-", "A-:1 B-:2 O-:2 AB-:3 A+:4! B+:5! O+:5! AB+:6!"},
    {v1::COMPONENT_PLATELETS, "A+", "A+:1 A-:2 B+:3 O+:3 B-:4 O-:4 AB+:5 AB-:6"},
    {v1::COMPONENT_PLATELETS, "B-", "B-:1 A-:2 O-:2 AB-:3 B+:4! A+:5! O+:5! AB+:6!"},
    {v1::COMPONENT_PLATELETS, "B+", "B+:1 B-:2 A+:3 O+:3 A-:4 O-:4 AB+:5 AB-:6"},
    {v1::COMPONENT_PLATELETS, "AB-", "AB-:1 A-:2 B-:2 O-:3 AB+:4! A+:5! B+:5! O+:6!"},
    {v1::COMPONENT_PLATELETS, "AB+", "AB+:1 AB-:2 A+:3 B+:3 A-:4 B-:4 O+:5 O-:6"},
    // Whole blood: ABO-identical only.
    {v1::COMPONENT_WHOLE_BLOOD, "O-", "O-:1 O+:2!"},
    {v1::COMPONENT_WHOLE_BLOOD, "O+", "O+:1 O-:2"},
    {v1::COMPONENT_WHOLE_BLOOD, "A-", "A-:1 A+:2!"},
    {v1::COMPONENT_WHOLE_BLOOD, "A+", "A+:1 A-:2"},
    {v1::COMPONENT_WHOLE_BLOOD, "B-", "B-:1 B+:2!"},
    {v1::COMPONENT_WHOLE_BLOOD, "B+", "B+:1 B-:2"},
    {v1::COMPONENT_WHOLE_BLOOD, "AB-", "AB-:1 AB+:2!"},
    {v1::COMPONENT_WHOLE_BLOOD, "AB+", "AB+:1 AB-:2"},
};

// Renders candidates in the notation of kOrders.
std::string Render(const std::vector<DonorCandidate>& candidates) {
  std::vector<std::string> parts;
  for (const DonorCandidate& c : candidates) {
    parts.push_back(absl::StrCat(c.donor.ToString(), ":", c.tier, c.rhd_mismatch ? "!" : ""));
  }
  return absl::StrJoin(parts, " ");
}

// `expected` without its exception-only ("!") entries.
std::string WithoutExceptions(absl::string_view expected) {
  std::vector<std::string> kept;
  for (absl::string_view part : absl::StrSplit(expected, ' ')) {
    if (!absl::EndsWith(part, "!")) kept.emplace_back(part);
  }
  return absl::StrJoin(kept, " ");
}

TEST(CompatibilityOrderTest, EveryRecipientAndComponentWithExceptions) {
  for (const OrderCase& c : kOrders) {
    SCOPED_TRACE(absl::StrCat(LookupComponent(c.component)->name, " for ", c.recipient));
    EXPECT_EQ(Render(CompatibleDonors(c.component, *ParseBloodType(c.recipient), true)),
              c.expected);
  }
}

TEST(CompatibilityOrderTest, EveryRecipientAndComponentWithoutExceptions) {
  for (const OrderCase& c : kOrders) {
    SCOPED_TRACE(absl::StrCat(LookupComponent(c.component)->name, " for ", c.recipient));
    EXPECT_EQ(Render(CompatibleDonors(c.component, *ParseBloodType(c.recipient), false)),
              WithoutExceptions(c.expected));
  }
}

TEST(CompatibilityOrderTest, CoversAllEightRecipientsForEachComponent) {
  for (Component component :
       {v1::COMPONENT_RED_CELLS, v1::COMPONENT_PLASMA, v1::COMPONENT_PLATELETS, v1::COMPONENT_CRYO,
        v1::COMPONENT_WHOLE_BLOOD}) {
    std::set<std::string> recipients;
    for (const OrderCase& c : kOrders) {
      if (c.component == component) recipients.insert(c.recipient);
    }
    EXPECT_EQ(recipients.size(), 8u) << LookupComponent(component)->name;
  }
}

TEST(CompatibilityOrderTest, ANegativeRedCellsSpelledOut) {
  // DOMAIN.md section 3: A- -> O- -> (emergency only) A+ -> O+.
  const std::vector<DonorCandidate> expected = {
      {kANeg, 1, true, false},
      {kONeg, 2, false, false},
      {kAPos, 3, true, true},
      {kOPos, 4, false, true},
  };
  EXPECT_EQ(CompatibleDonors(v1::COMPONENT_RED_CELLS, kANeg, true), expected);
  EXPECT_EQ(CompatibleDonors(v1::COMPONENT_RED_CELLS, kANeg, false),
            std::vector<DonorCandidate>(expected.begin(), expected.begin() + 2));
}

TEST(CompatibilityTest, UnknownOrInvalidInputsGiveNothing) {
  const BloodType half{v1::ABO_GROUP_A, v1::RH_D_UNSPECIFIED};
  for (Component component :
       {v1::COMPONENT_RED_CELLS, v1::COMPONENT_PLASMA, v1::COMPONENT_PLATELETS, v1::COMPONENT_CRYO,
        v1::COMPONENT_WHOLE_BLOOD}) {
    for (bool exceptions : {false, true}) {
      EXPECT_THAT(CompatibleDonors(component, BloodType::Unknown(), exceptions), IsEmpty());
      EXPECT_THAT(CompatibleDonors(component, half, exceptions), IsEmpty());
      EXPECT_FALSE(IsCompatible(component, BloodType::Unknown(), kONeg, exceptions));
      EXPECT_FALSE(IsCompatible(component, kABPos, BloodType::Unknown(), exceptions));
      EXPECT_FALSE(IsCompatible(component, kABPos, half, exceptions));
    }
  }
  for (Component component : {v1::COMPONENT_UNSPECIFIED, static_cast<Component>(42)}) {
    EXPECT_THAT(CompatibleDonors(component, kAPos, true), IsEmpty());
    EXPECT_FALSE(IsCompatible(component, kAPos, kAPos, true));
  }
}

// ---------------------------------------------------------------------------------------
// Emergency release for an untyped patient.

TEST(EmergencyUnknownTypeTest, CandidatesPerComponent) {
  struct Case {
    Component component;
    bool allow_rhd_positive;
    const char* expected;
  };
  const Case cases[] = {
      {v1::COMPONENT_RED_CELLS, false, "O-:1"},
      {v1::COMPONENT_RED_CELLS, true, "O-:1 O+:2!"},
      {v1::COMPONENT_PLASMA, false, "AB-:1 AB+:1"},
      {v1::COMPONENT_PLASMA, true, "AB-:1 AB+:1"},
      {v1::COMPONENT_CRYO, false, "AB-:1 AB+:1"},
      {v1::COMPONENT_CRYO, true, "AB-:1 AB+:1"},
      {v1::COMPONENT_PLATELETS, false, "A-:1 O-:2 B-:2"},
      {v1::COMPONENT_PLATELETS, true, "A-:1 O-:2 B-:2 A+:3! O+:4! B+:4!"},
      {v1::COMPONENT_WHOLE_BLOOD, false, ""},
      {v1::COMPONENT_WHOLE_BLOOD, true, ""},
      {v1::COMPONENT_UNSPECIFIED, true, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("component ", static_cast<int>(c.component),
                              c.allow_rhd_positive ? " allowing RhD+" : ""));
    const std::vector<DonorCandidate> candidates =
        EmergencyUnknownTypeCandidates(c.component, c.allow_rhd_positive);
    EXPECT_EQ(Render(candidates), c.expected);
    for (const DonorCandidate& candidate : candidates) {
      EXPECT_FALSE(candidate.abo_identical) << candidate;
    }
  }
}

TEST(EmergencyUnknownTypeTest, PlateletChoicesSuitEveryRecipientGroup) {
  // Whatever the patient turns out to be, each emergency platelet type is in the
  // (exception-including) matrix row of every recipient.
  for (bool allow : {false, true}) {
    for (const DonorCandidate& candidate :
         EmergencyUnknownTypeCandidates(v1::COMPONENT_PLATELETS, allow)) {
      for (const BloodType& recipient : kTypes) {
        EXPECT_TRUE(IsCompatible(v1::COMPONENT_PLATELETS, recipient, candidate.donor, true))
            << candidate.donor << " to " << recipient;
      }
    }
  }
}

}  // namespace
}  // namespace bloodgrid
