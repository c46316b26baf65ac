#include "common/din.h"

#include <array>
#include <ostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/status.h"

namespace bloodgrid {
namespace {

// ISO/IEC 7064 MOD 37-2 alphabet: the character at index v has value v.
constexpr absl::string_view kCheckAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*";

// Value of `c` in the MOD 37-2 alphabet, or -1.
int AlphabetValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  if (c == '*') return 36;
  return -1;
}

int CheckValueOfValidated(absl::string_view characters) {
  int s = 0;
  for (char c : characters) s = ((s + AlphabetValue(c)) * 2) % 37;
  return (38 - s) % 37;
}

// 'c' with unprintable bytes escaped, so messages stay one readable line.
std::string Quoted(char c) {
  return absl::StrCat("'", absl::CHexEscape(absl::string_view(&c, 1)), "'");
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// ST-001 excludes only the letter O from the FIN, to keep it apart from zero.
bool IsFinLetter(char c) { return c >= 'A' && c <= 'Z' && c != 'O'; }

absl::Status BadCharacter(char c, int index, absl::string_view rule) {
  return InvalidField("din", absl::StrCat("character ", Quoted(c), " at position ", index + 1,
                                          " is not allowed: ", rule));
}

// Checks the 13 upper-case characters of a DIN position by position (ST-001 2.4.1).
absl::Status ValidateDinCharacters(absl::string_view din) {
  if (char c = din[0]; !IsFinLetter(c) && !(c >= '1' && c <= '9')) {
    return BadCharacter(c, 0, "the facility identification number starts with A-N, P-Z or 1-9");
  }
  for (int i = 1; i < 3; ++i) {
    if (char c = din[i]; !IsFinLetter(c) && !IsDigit(c)) {
      return BadCharacter(
          c, i, "positions 2-3 of the facility identification number are A-N, P-Z or 0-9");
    }
  }
  for (int i = 3; i < 5; ++i) {
    if (!IsDigit(din[i])) {
      return BadCharacter(din[i], i,
                          "positions 4-5 of the facility identification number are digits");
    }
  }
  for (int i = 5; i < 7; ++i) {
    if (!IsDigit(din[i])) {
      return BadCharacter(din[i], i, "the year (positions 6-7) is two digits");
    }
  }
  for (int i = 7; i < kDinLength; ++i) {
    if (!IsDigit(din[i])) {
      return BadCharacter(din[i], i, "the sequence number (positions 8-13) is six digits");
    }
  }
  return absl::OkStatus();
}

struct AboRhdCodeEntry {
  BloodType type;
  absl::string_view code;
};

// ST-001 data structure 002, "intended use not specified" (DOMAIN.md section 1).
constexpr std::array<AboRhdCodeEntry, 8> kAboRhdCodes = {{
    {{v1::ABO_GROUP_O, v1::RH_D_NEGATIVE}, "95"},
    {{v1::ABO_GROUP_O, v1::RH_D_POSITIVE}, "51"},
    {{v1::ABO_GROUP_A, v1::RH_D_NEGATIVE}, "06"},
    {{v1::ABO_GROUP_A, v1::RH_D_POSITIVE}, "62"},
    {{v1::ABO_GROUP_B, v1::RH_D_NEGATIVE}, "17"},
    {{v1::ABO_GROUP_B, v1::RH_D_POSITIVE}, "73"},
    {{v1::ABO_GROUP_AB, v1::RH_D_NEGATIVE}, "28"},
    {{v1::ABO_GROUP_AB, v1::RH_D_POSITIVE}, "84"},
}};

}  // namespace

absl::StatusOr<int> KeyboardCheckValue(absl::string_view characters) {
  for (size_t i = 0; i < characters.size(); ++i) {
    if (AlphabetValue(characters[i]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("check character: ", Quoted(characters[i]),
                                                     " at position ", i + 1,
                                                     " is not one of 0-9, A-Z, *"));
    }
  }
  return CheckValueOfValidated(characters);
}

absl::StatusOr<Din> Din::Create(absl::string_view facility, int year, int sequence) {
  if (facility.size() != 5) {
    return InvalidField("din", absl::StrCat("the facility identification number is 5 "
                                            "characters, got ",
                                            facility.size()));
  }
  if (year < 0 || year > 99) {
    return InvalidField("din", absl::StrCat("year ", year, " is not 0-99"));
  }
  if (sequence < 0 || sequence > 999999) {
    return InvalidField("din", absl::StrCat("sequence number ", sequence, " is not 0-999999"));
  }
  std::string text = absl::StrFormat("%s%02d%06d", absl::AsciiStrToUpper(facility), year, sequence);
  BG_RETURN_IF_ERROR(ValidateDinCharacters(text));
  return Din(std::move(text));
}

int Din::year() const { return (text_[5] - '0') * 10 + (text_[6] - '0'); }

int Din::sequence() const {
  int value = 0;
  for (int i = 7; i < kDinLength; ++i) value = value * 10 + (text_[i] - '0');
  return value;
}

std::string Din::WithCheckCharacter() const {
  return absl::StrCat(text_, std::string(1, CheckCharacter()));
}

std::string Din::Printed() const {
  return absl::StrCat(facility(), " ", text_.substr(5, 2), " ", text_.substr(7));
}

int Din::CheckValue() const { return CheckValueOfValidated(text_); }

char Din::CheckCharacter() const { return kCheckAlphabet[CheckValue()]; }

std::ostream& operator<<(std::ostream& os, const Din& din) { return os << din.ToString(); }

absl::StatusOr<Din> ParseDin(absl::string_view input) {
  // Keep at most one character more than the longest valid form; count the rest for the
  // message.
  std::string compact;
  size_t length = 0;
  for (char c : input) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    if (++length <= kDinLength + 2) compact.push_back(absl::ascii_toupper(c));
  }
  if (length != kDinLength && length != kDinLength + 1) {
    return InvalidField("din", absl::StrCat("expected 13 characters, or 14 with the check "
                                            "character (spaces ignored), got ",
                                            length));
  }
  BG_RETURN_IF_ERROR(ValidateDinCharacters(absl::string_view(compact).substr(0, kDinLength)));
  Din din(compact.substr(0, kDinLength));
  if (length == kDinLength + 1 && compact[kDinLength] != din.CheckCharacter()) {
    return InvalidField(
        "din", absl::StrCat("check character ", Quoted(compact[kDinLength]), " does not match ",
                            Quoted(din.CheckCharacter()), " computed for ", din.ToString()));
  }
  return din;
}

absl::StatusOr<std::string> AboRhdCode(BloodType type) {
  for (const AboRhdCodeEntry& entry : kAboRhdCodes) {
    if (entry.type == type) return std::string(entry.code);
  }
  return InvalidField("abo_rhd_code", absl::StrCat("no code for blood type ", type.ToString()));
}

absl::StatusOr<BloodType> ParseAboRhdCode(absl::string_view code) {
  absl::string_view content = code;
  absl::ConsumePrefix(&content, "=%");
  if (content.size() != 2 && content.size() != 4) {
    return InvalidField("abo_rhd_code", absl::StrCat("expected 2 characters (gg) or 4 (ggre), got ",
                                                     content.size()));
  }
  if (content.size() == 4) {
    for (char c : content.substr(2)) {
      if (!IsDigit(c) && !(c >= 'A' && c <= 'Z')) {
        return InvalidField(
            "abo_rhd_code",
            absl::StrCat("'", absl::CHexEscape(content.substr(2)),
                         "' is not 0-9 or A-Z (type of collection and special testing)"));
      }
    }
  }
  absl::string_view group = content.substr(0, 2);
  for (const AboRhdCodeEntry& entry : kAboRhdCodes) {
    if (entry.code == group) return entry.type;
  }
  return InvalidField("abo_rhd_code",
                      absl::StrCat("'", absl::CHexEscape(group),
                                   "' is not an ABO/RhD code for intended use not specified "
                                   "(95, 51, 06, 62, 17, 73, 28, 84)"));
}

}  // namespace bloodgrid
