#include "common/din.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/hash/hash_testing.h"
#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloodgrid {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// DOMAIN.md section 1 (ISBT 128 ST-001 appendix A), plus two DINs picked for the
// extreme check values 36 ('*') and 0.
struct CheckVector {
  const char* din;
  char check_character;
  int type3_flag;
};

constexpr CheckVector kCheckVectors[] = {
    {"G123417654321", 'A', 70},  //
    {"G123498654321", 'H', 77},  //
    {"A999921123456", '3', 63},  //
    {"W000009123456", 'G', 76},  //
    {"G123489654321", 'Y', 94},  //
    {"A999921000019", '*', 96},  //
    {"A999921000189", '0', 60},
};

TEST(DinTest, CheckCharacterAndFlagMatchVectors) {
  for (const CheckVector& v : kCheckVectors) {
    SCOPED_TRACE(v.din);
    absl::StatusOr<Din> din = ParseDin(v.din);
    ASSERT_TRUE(din.ok()) << din.status();
    EXPECT_EQ(din->ToString(), v.din);
    EXPECT_EQ(din->CheckCharacter(), v.check_character);
    EXPECT_EQ(din->Type3Flag(), v.type3_flag);
    EXPECT_EQ(din->CheckValue(), v.type3_flag - 60);
    EXPECT_EQ(din->WithCheckCharacter(), std::string(v.din) + v.check_character);

    absl::StatusOr<int> value = KeyboardCheckValue(v.din);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, v.type3_flag - 60);
  }
}

TEST(DinTest, RoundTripsWithCheckCharacter) {
  for (const CheckVector& v : kCheckVectors) {
    SCOPED_TRACE(v.din);
    absl::StatusOr<Din> din = ParseDin(std::string(v.din) + v.check_character);
    ASSERT_TRUE(din.ok()) << din.status();
    EXPECT_EQ(din->ToString(), v.din);
    absl::StatusOr<Din> again = ParseDin(din->WithCheckCharacter());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *din);
    absl::StatusOr<Din> printed = ParseDin(din->Printed());
    ASSERT_TRUE(printed.ok()) << printed.status();
    EXPECT_EQ(*printed, *din);
  }
}

TEST(DinTest, ExposesPartsAndPrintedForm) {
  absl::StatusOr<Din> din = ParseDin("A999921123456");
  ASSERT_TRUE(din.ok()) << din.status();
  EXPECT_EQ(din->facility(), "A9999");
  EXPECT_EQ(din->year(), 21);
  EXPECT_EQ(din->sequence(), 123456);
  EXPECT_EQ(din->Printed(), "A9999 21 123456");

  absl::StatusOr<Din> small = ParseDin("W000009000001");
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->year(), 9);
  EXPECT_EQ(small->sequence(), 1);
  EXPECT_EQ(small->Printed(), "W0000 09 000001");
}

TEST(DinTest, AcceptsLowerCaseAndWhitespace) {
  struct Case {
    const char* input;
    const char* expected;
  };
  // clang-format off
  const Case cases[] = {
      {"a999921123456", "A999921123456"},
      {"A9999 21 123456", "A999921123456"},
      {"a9999 21 123456 3", "A999921123456"},
      {"  g1234 17 654321 a  ", "G123417654321"},
      {"G1234\t17\t654321A\r\n", "G123417654321"},
      {"w 0 0 0 0 0 9 1 2 3 4 5 6 g", "W000009123456"},
  };
  // clang-format on
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<Din> din = ParseDin(c.input);
    ASSERT_TRUE(din.ok()) << din.status();
    EXPECT_EQ(din->ToString(), c.expected);
  }
}

TEST(DinTest, AcceptsEveryAllowedFacilityCharacterClass) {
  // DOMAIN.md: first character A-N, P-Z, 1-9; next two A-N, P-Z, 0-9. I is allowed.
  const char* const valid[] = {
      "I999921123456", "N999921123456", "P999921123456", "Z999921123456", "1999921123456",
      "9999921123456", "AIN9921123456", "A0Z9921123456", "AZ90921123456", "M9P0021123456",
  };
  for (const char* input : valid) {
    SCOPED_TRACE(input);
    EXPECT_TRUE(ParseDin(input).ok()) << ParseDin(input).status();
  }
}

struct MalformedCase {
  const char* name;
  std::string input;
  const char* message;  // Expected substring of the status message.
};

TEST(DinTest, RejectsMalformedInputNamingTheProblem) {
  const MalformedCase cases[] = {
      {"empty", "", "got 0"},
      {"only spaces", "     ", "got 0"},
      {"length 12", "A99992112345", "got 12"},
      {"length 15", "A99992112345634", "got 15"},
      {"very long", std::string(1000, '1'), "got 1000"},
      {"first O", "O999921123456", "character 'O' at position 1"},
      {"first lower-case o", "o999921123456", "character 'O' at position 1"},
      {"first zero", "0999921123456", "character '0' at position 1"},
      {"first star", "*999921123456", "character '*' at position 1"},
      {"second O", "AO99921123456", "character 'O' at position 2"},
      {"third O", "A9O9921123456", "character 'O' at position 3"},
      {"second punctuation", "A-99921123456", "character '-' at position 2"},
      {"fourth letter", "A99A921123456", "character 'A' at position 4"},
      {"fifth letter", "A999I21123456", "character 'I' at position 5"},
      {"year letter", "A9999X1123456", "character 'X' at position 6"},
      {"year second letter", "A99992O123456", "character 'O' at position 7"},
      {"sequence letter", "A999921A23456", "character 'A' at position 8"},
      {"sequence last letter", "A99992112345X", "character 'X' at position 13"},
      {"sequence punctuation", "A9999211234-6", "character '-' at position 12"},
      {"non-ASCII", "A99992112345\xC3", "character '\\xc3' at position 13"},
      {"wrong check character", "A999921123456X", "check character 'X' does not match '3'"},
      {"wrong check digit", "G123417654321B", "check character 'B' does not match 'A'"},
      {"check not in alphabet", "A999921123456#", "check character '#' does not match '3'"},
      {"transposed digits", "G123471654321A", "check character 'A' does not match"},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Din> din = ParseDin(c.input);
    ASSERT_FALSE(din.ok()) << *din;
    EXPECT_EQ(din.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(din.status().message()), StartsWith("din: "));
    EXPECT_THAT(std::string(din.status().message()), HasSubstr(c.message));
  }
}

TEST(DinTest, MessagesNameTheRuleBroken) {
  EXPECT_THAT(std::string(ParseDin("O999921123456").status().message()),
              HasSubstr("A-N, P-Z or 1-9"));
  EXPECT_THAT(std::string(ParseDin("AO99921123456").status().message()),
              HasSubstr("A-N, P-Z or 0-9"));
  EXPECT_THAT(std::string(ParseDin("A9999X1123456").status().message()), HasSubstr("year"));
  EXPECT_THAT(std::string(ParseDin("A99992112345X").status().message()),
              HasSubstr("sequence number"));
}

TEST(DinTest, CreateBuildsFromParts) {
  absl::StatusOr<Din> din = Din::Create("a9999", 21, 123456);
  ASSERT_TRUE(din.ok()) << din.status();
  EXPECT_EQ(din->ToString(), "A999921123456");
  EXPECT_EQ(*din, *ParseDin("A999921123456"));

  absl::StatusOr<Din> padded = Din::Create("W0000", 9, 1);
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_EQ(padded->ToString(), "W000009000001");
}

TEST(DinTest, CreateRejectsBadParts) {
  struct Case {
    const char* facility;
    int year;
    int sequence;
    const char* message;
  };
  const Case cases[] = {
      {"A999", 21, 1, "is 5 characters, got 4"},
      {"A99999", 21, 1, "is 5 characters, got 6"},
      {"O9999", 21, 1, "character 'O' at position 1"},
      {"A9B9Z", 21, 1, "character 'Z' at position 5"},
      {"A9999", 100, 1, "year 100"},
      {"A9999", -1, 1, "year -1"},
      {"A9999", 21, 1000000, "sequence number 1000000"},
      {"A9999", 21, -5, "sequence number -5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    absl::StatusOr<Din> din = Din::Create(c.facility, c.year, c.sequence);
    ASSERT_FALSE(din.ok()) << *din;
    EXPECT_EQ(din.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(din.status().message()), StartsWith("din: "));
    EXPECT_THAT(std::string(din.status().message()), HasSubstr(c.message));
  }
}

TEST(DinTest, KeyboardCheckValueRejectsCharactersOutsideAlphabet) {
  absl::StatusOr<int> value = KeyboardCheckValue("A99a");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(value.status().message()), HasSubstr("'a' at position 4"));
}

TEST(DinTest, OrdersByFacilityThenYearThenSequence) {
  std::vector<Din> dins;
  for (const char* text :
       {"W000009123456", "A999921123456", "A999920999999", "A999921000001", "1000000000000"}) {
    dins.push_back(*ParseDin(text));
  }
  std::sort(dins.begin(), dins.end());
  std::vector<std::string> sorted;
  for (const Din& din : dins) sorted.push_back(din.ToString());
  EXPECT_THAT(sorted, ::testing::ElementsAre("1000000000000", "A999920999999", "A999921000001",
                                             "A999921123456", "W000009123456"));
  EXPECT_NE(*ParseDin("A999921123456"), *ParseDin("A999921123457"));
}

TEST(DinTest, ImplementsAbslHashCorrectly) {
  EXPECT_TRUE(absl::VerifyTypeImplementsAbslHashCorrectly({
      *ParseDin("A999921123456"),
      *ParseDin("A999921123457"),
      *ParseDin("G123417654321"),
      *ParseDin("W000009123456"),
  }));
}

struct AboRhdVector {
  const char* type;
  const char* code;
};

// ST-001 data structure 002, intended use not specified (DOMAIN.md section 1).
constexpr AboRhdVector kAboRhdVectors[] = {
    {"O-", "95"}, {"O+", "51"}, {"A-", "06"},  {"A+", "62"},
    {"B-", "17"}, {"B+", "73"}, {"AB-", "28"}, {"AB+", "84"},
};

TEST(AboRhdCodeTest, EncodesEveryKnownType) {
  for (const AboRhdVector& v : kAboRhdVectors) {
    SCOPED_TRACE(v.type);
    absl::StatusOr<std::string> code = AboRhdCode(*ParseBloodType(v.type));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, v.code);
  }
}

TEST(AboRhdCodeTest, DecodesEveryCodeInEachForm) {
  for (const AboRhdVector& v : kAboRhdVectors) {
    for (const std::string& input :
         {std::string(v.code), std::string(v.code) + "00", "=%" + std::string(v.code) + "00"}) {
      SCOPED_TRACE(input);
      absl::StatusOr<BloodType> type = ParseAboRhdCode(input);
      ASSERT_TRUE(type.ok()) << type.status();
      EXPECT_EQ(type->ToString(), v.type);
    }
  }
  EXPECT_EQ(ParseAboRhdCode("5100")->ToString(), "O+");  // DOMAIN.md's example.
}

TEST(AboRhdCodeTest, RejectsUnknownTypeAndBadCodes) {
  absl::StatusOr<std::string> unknown = AboRhdCode(BloodType::Unknown());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("unknown"));

  struct Case {
    const char* input;
    const char* message;
  };
  const Case cases[] = {
      {"", "got 0"},
      {"5", "got 1"},
      {"510", "got 3"},
      {"51000", "got 5"},
      {"99", "'99' is not an ABO/RhD code"},
      {"5A00", "'5A' is not an ABO/RhD code"},
      {"=%00", "'00' is not an ABO/RhD code"},
      {"51 ", "got 3"},
      {"51ab", "'ab' is not 0-9 or A-Z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<BloodType> type = ParseAboRhdCode(c.input);
    ASSERT_FALSE(type.ok()) << *type;
    EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(type.status().message()), StartsWith("abo_rhd_code: "));
    EXPECT_THAT(std::string(type.status().message()), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace bloodgrid
