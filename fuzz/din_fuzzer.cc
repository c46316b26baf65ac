// libFuzzer target for the parsers in common/ that read text from outside BloodGrid: ISBT 128
// DINs and the keyboard check character (common/din.h), ABO/RhD codes of data structure 002,
// blood type names (common/blood.h), page tokens and page sizes (common/page_token.h).
//
// Every input goes through every parser. Beyond "no crash, no sanitizer report", each parser's
// contract is checked against an independent statement of the rule:
//  - ParseDin accepts exactly the 13 characters of ST-001 2.4.1 (checked position by position
//    against a table written here), optionally followed by the right check character; what it
//    accepts round-trips through ToString, WithCheckCharacter, Printed and Din::Create; letter
//    case and whitespace never change the answer; Din::Create accepts exactly in-range parts;
//  - the check character satisfies ISO/IEC 7064 MOD 37-2 (weighted sum of all 14 characters
//    = 1 mod 37), and every single-character substitution and every adjacent transposition of
//    an accepted DIN with its check character is refused;
//  - ParseAboRhdCode and AboRhdCode are inverse; ParseBloodType and ToString are inverse;
//  - a PageCursor encodes to a token that decodes to the same cursor for its filter only, and
//    a token that decodes re-encodes to a canonical token that is a fixed point;
//  - every rejection is INVALID_ARGUMENT with the field's prefix ("din: ", "page_token: ", ...).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "bloodgrid/v1/common.pb.h"
#include "common/blood.h"
#include "common/din.h"
#include "common/page_token.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/logging.h"

namespace bloodgrid::fuzz {
namespace {

constexpr absl::string_view kMod37Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*";
// DecodePageToken refuses longer tokens (common/page_token.cc).
constexpr size_t kMaxPageTokenLength = 512;

// ISO/IEC 7064 MOD 37-2, pure system: the sum over all characters (check character included,
// rightmost) of value x 2^(position from the right, 0-based) must be 1 mod 37. -1 if a
// character is outside the alphabet.
int Mod37Residue(absl::string_view characters) {
  int sum = 0;
  int weight = 1;
  for (size_t i = characters.size(); i-- > 0;) {
    const size_t value = kMod37Alphabet.find(characters[i]);
    if (value == absl::string_view::npos) return -1;
    sum = (sum + static_cast<int>(value) * weight) % 37;
    weight = weight * 2 % 37;
  }
  return sum;
}

// ST-001 2.4.1, position by position: FIN = [A-NP-Z1-9][A-NP-Z0-9]{2}[0-9]{2}, then the year
// and the sequence number, 8 digits.
bool IsDinShape(absl::string_view din) {
  if (din.size() != static_cast<size_t>(kDinLength)) return false;
  auto letter = [](char c) { return c >= 'A' && c <= 'Z' && c != 'O'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!letter(din[0]) && !(digit(din[0]) && din[0] != '0')) return false;
  for (int i = 1; i < 3; ++i) {
    if (!letter(din[i]) && !digit(din[i])) return false;
  }
  for (int i = 3; i < kDinLength; ++i) {
    if (!digit(din[i])) return false;
  }
  return true;
}

// The input as ParseDin documents it sees it: ASCII whitespace dropped, letters upper-cased.
std::string CompactForm(absl::string_view input) {
  std::string compact;
  for (char c : input) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) {
      compact.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
    }
  }
  return compact;
}

bool SameResult(const absl::StatusOr<Din>& a, const absl::StatusOr<Din>& b) {
  if (a.ok() != b.ok()) return false;
  return a.ok() ? *a == *b : a.status() == b.status();
}

void CheckAcceptedDin(absl::string_view input, const Din& din) {
  const std::string text = din.ToString();
  const std::string full = din.WithCheckCharacter();
  const std::string compact = CompactForm(input);
  FUZZ_REQUIRE(compact == text || compact == full, "accepted ", text, " from other characters");
  FUZZ_REQUIRE(IsDinShape(text), text, " does not have the ST-001 shape");
  FUZZ_REQUIRE(full.size() == text.size() + 1 && full.substr(0, text.size()) == text &&
                   full.back() == din.CheckCharacter(),
               "WithCheckCharacter ", full, " for ", text);

  // The check character, against the standard's own statement of MOD 37-2.
  FUZZ_REQUIRE(Mod37Residue(full) == 1, full, " fails ISO/IEC 7064 MOD 37-2");
  FUZZ_REQUIRE(din.CheckValue() >= 0 && din.CheckValue() <= 36 &&
                   kMod37Alphabet[din.CheckValue()] == din.CheckCharacter(),
               "check value ", din.CheckValue(), " vs character ",
               std::string(1, din.CheckCharacter()));
  FUZZ_REQUIRE(din.Type3Flag() == din.CheckValue() + 60, "type-3 flag ", din.Type3Flag());
  const absl::StatusOr<int> keyboard = KeyboardCheckValue(text);
  FUZZ_REQUIRE(keyboard.ok() && *keyboard == din.CheckValue(), "KeyboardCheckValue(", text,
               ") disagrees with Din::CheckValue");

  // Every printed form parses back to the same DIN.
  for (const std::string& form : {text, full, din.Printed()}) {
    const absl::StatusOr<Din> again = ParseDin(form);
    FUZZ_REQUIRE(again.ok() && *again == din, "'", form, "' does not parse back to ", text);
  }
  FUZZ_REQUIRE(
      din.Printed() == absl::StrCat(text.substr(0, 5), " ", text.substr(5, 2), " ", text.substr(7)),
      "Printed() is ", din.Printed());

  // The parts rebuild the DIN.
  FUZZ_REQUIRE(
      din.year() >= 0 && din.year() <= 99 && din.sequence() >= 0 && din.sequence() <= 999999,
      "year ", din.year(), " sequence ", din.sequence());
  FUZZ_REQUIRE(absl::StrFormat("%s%02d%06d", din.facility(), din.year(), din.sequence()) == text,
               "parts of ", text);
  const absl::StatusOr<Din> created = Din::Create(din.facility(), din.year(), din.sequence());
  FUZZ_REQUIRE(created.ok() && *created == din, "Din::Create does not rebuild ", text);
  const absl::StatusOr<Din> created_lower =
      Din::Create(absl::AsciiStrToLower(din.facility()), din.year(), din.sequence());
  FUZZ_REQUIRE(created_lower.ok() && *created_lower == din, "Din::Create is case-sensitive");

  // MOD 37-2 detects every single substitution and every transposition of two adjacent
  // different characters. Substitutions are tried at one position chosen by the input (all 36
  // other characters), transpositions at every position.
  const size_t position = input.size() % full.size();
  for (char replacement : kMod37Alphabet) {
    if (replacement == full[position]) continue;
    std::string changed = full;
    changed[position] = replacement;
    FUZZ_REQUIRE(!ParseDin(changed).ok(), "substitution not detected: ", changed, " for ", full);
  }
  for (size_t i = 0; i + 1 < full.size(); ++i) {
    if (full[i] == full[i + 1]) continue;
    std::string swapped = full;
    std::swap(swapped[i], swapped[i + 1]);
    FUZZ_REQUIRE(!ParseDin(swapped).ok(), "transposition not detected: ", swapped, " for ", full);
  }
}

void CheckDin(absl::string_view input) {
  const absl::StatusOr<Din> din = ParseDin(input);

  // Letter case and whitespace never change the answer, error messages included.
  FUZZ_REQUIRE(SameResult(ParseDin(absl::AsciiStrToLower(input)), din),
               "lower-casing changes ParseDin's answer");
  const std::string spaced =
      absl::StrCat(input.substr(0, input.size() / 2), " \t", input.substr(input.size() / 2));
  FUZZ_REQUIRE(SameResult(ParseDin(spaced), din), "whitespace changes ParseDin's answer");

  const std::string compact = CompactForm(input);
  if (din.ok()) {
    CheckAcceptedDin(input, *din);
    return;
  }
  FUZZ_REQUIRE_INVALID(din.status(), "din: ");
  // Rejected: the shape is wrong, or the check character is.
  if (compact.size() == static_cast<size_t>(kDinLength)) {
    FUZZ_REQUIRE(!IsDinShape(compact), "refused a well-formed DIN: ", din.status().ToString());
  } else if (compact.size() == static_cast<size_t>(kDinLength) + 1 &&
             IsDinShape(compact.substr(0, kDinLength))) {
    FUZZ_REQUIRE(Mod37Residue(compact) != 1,
                 "refused a DIN with a right check character: ", din.status().ToString());
  }
}

// The first 13 bytes as Din::Create's arguments: a 5-byte FIN, then the year and the sequence
// number as 32-bit integers (so out-of-range values are tried too).
void CheckDinCreate(const uint8_t* data, size_t size) {
  if (size < 13) return;
  const absl::string_view facility(reinterpret_cast<const char*>(data), 5);
  int32_t year = 0;
  int32_t sequence = 0;
  std::memcpy(&year, data + 5, sizeof(year));
  std::memcpy(&sequence, data + 9, sizeof(sequence));
  const absl::StatusOr<Din> din = Din::Create(facility, year, sequence);
  const std::string upper = absl::AsciiStrToUpper(facility);
  const bool valid = year >= 0 && year <= 99 && sequence >= 0 && sequence <= 999999 &&
                     IsDinShape(absl::StrFormat("%s%02d%06d", upper, year, sequence));
  if (!din.ok()) {
    FUZZ_REQUIRE(!valid, "Din::Create refused ", upper, " ", year, " ", sequence, ": ",
                 din.status().ToString());
    FUZZ_REQUIRE_INVALID(din.status(), "din: ");
    return;
  }
  FUZZ_REQUIRE(valid, "Din::Create accepted ", absl::CHexEscape(facility), " ", year, " ",
               sequence);
  FUZZ_REQUIRE(din->facility() == upper && din->year() == year && din->sequence() == sequence,
               "Din::Create changed its parts: ", din->ToString());
  const absl::StatusOr<Din> parsed = ParseDin(din->ToString());
  FUZZ_REQUIRE(parsed.ok() && *parsed == *din, din->ToString(), " does not parse back");
}

void CheckKeyboardCheckValue(absl::string_view input) {
  const absl::StatusOr<int> value = KeyboardCheckValue(input);
  const bool in_alphabet = Mod37Residue(input) >= 0;
  if (!value.ok()) {
    FUZZ_REQUIRE_INVALID(value.status(), "check character: ");
    FUZZ_REQUIRE(!in_alphabet, "refused characters of the MOD 37-2 alphabet");
    return;
  }
  FUZZ_REQUIRE(in_alphabet, "accepted characters outside the MOD 37-2 alphabet");
  FUZZ_REQUIRE(*value >= 0 && *value <= 36, "check value ", *value);
  FUZZ_REQUIRE(Mod37Residue(absl::StrCat(input, kMod37Alphabet.substr(*value, 1))) == 1,
               "check value ", *value, " does not complete MOD 37-2");
}

void CheckAboRhdCode(absl::string_view input) {
  const absl::StatusOr<BloodType> type = ParseAboRhdCode(input);
  if (!absl::StartsWith(input, "=%")) {
    const absl::StatusOr<BloodType> prefixed = ParseAboRhdCode(absl::StrCat("=%", input));
    FUZZ_REQUIRE(prefixed.ok() == type.ok() && (!type.ok() || *prefixed == *type),
                 "the data identifier \"=%\" changes the answer");
  }
  if (!type.ok()) {
    FUZZ_REQUIRE_INVALID(type.status(), "abo_rhd_code: ");
    return;
  }
  FUZZ_REQUIRE(type->IsKnown(), "decoded the unknown type");
  const absl::StatusOr<std::string> code = AboRhdCode(*type);
  FUZZ_REQUIRE(code.ok() && code->size() == 2, "no code for ", type->ToString());
  absl::string_view content = input;
  absl::ConsumePrefix(&content, "=%");
  FUZZ_REQUIRE(content.substr(0, 2) == *code, "decoded ", type->ToString(), " from another code");
  const absl::StatusOr<BloodType> again = ParseAboRhdCode(*code);
  FUZZ_REQUIRE(again.ok() && *again == *type, "code ", *code, " does not decode back");
}

void CheckBloodType(absl::string_view input) {
  const absl::StatusOr<BloodType> type = ParseBloodType(input);
  if (!type.ok()) {
    FUZZ_REQUIRE_INVALID(type.status(), "blood_type: ");
    return;
  }
  FUZZ_REQUIRE(type->IsKnown() || type->IsUnknown(), "parsed a half-set type");
  const std::string name = type->ToString();
  FUZZ_REQUIRE(
      absl::AsciiStrToUpper(absl::StripAsciiWhitespace(input)) == absl::AsciiStrToUpper(name),
      "parsed ", name, " from other text");
  const absl::StatusOr<BloodType> again = ParseBloodType(name);
  FUZZ_REQUIRE(again.ok() && *again == *type, name, " does not parse back");
  const absl::StatusOr<BloodType> from_proto = BloodType::FromProto(type->ToProto());
  FUZZ_REQUIRE(from_proto.ok() && *from_proto == *type, name, " does not survive its proto");
}

bool SameCursor(const v1::PageCursor& a, const v1::PageCursor& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

// The bytes as a serialized cursor: encoding then decoding gives it back, for its filter only.
void CheckCursorEncoding(const uint8_t* data, size_t size) {
  v1::PageCursor cursor;
  if (!cursor.ParseFromArray(data, static_cast<int>(size))) return;
  const std::string token = EncodePageToken(cursor);
  for (char c : token) {
    FUZZ_REQUIRE(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_',
                 "token ", token, " is not web-safe base64 without padding");
  }
  const absl::StatusOr<v1::PageCursor> back = DecodePageToken(token, cursor.filter_hash());
  if (token.size() > kMaxPageTokenLength) {
    // Only cursors with an after_id of hundreds of bytes get here; record ids are far shorter.
    FUZZ_REQUIRE(!back.ok(), "accepted a token of ", token.size(), " characters");
    return;
  }
  FUZZ_REQUIRE(back.ok(), "own token refused: ", back.status().ToString());
  FUZZ_REQUIRE(SameCursor(*back, cursor), "token ", token, " decodes to another cursor");
  // The empty token (a default cursor with filter hash 0) is every filter's first page.
  if (token.empty()) return;
  const absl::StatusOr<v1::PageCursor> other = DecodePageToken(token, cursor.filter_hash() + 1);
  FUZZ_REQUIRE(!other.ok(), "token accepted for another filter");
  FUZZ_REQUIRE_INVALID(other.status(), "page_token: ");
}

// The first 8 bytes are the filter hash, the rest a token as a client sends it.
void CheckTokenDecoding(const uint8_t* data, size_t size) {
  if (size < 8) return;
  uint64_t filter_hash = 0;
  std::memcpy(&filter_hash, data, sizeof(filter_hash));
  const absl::string_view token(reinterpret_cast<const char*>(data) + 8, size - 8);
  const absl::StatusOr<v1::PageCursor> cursor = DecodePageToken(token, filter_hash);
  if (!cursor.ok()) {
    FUZZ_REQUIRE_INVALID(cursor.status(), "page_token: ");
    return;
  }
  FUZZ_REQUIRE(token.size() <= kMaxPageTokenLength, "accepted a token of ", token.size(),
               " characters");
  FUZZ_REQUIRE(cursor->filter_hash() == filter_hash, "cursor for another filter accepted");
  if (token.empty()) {
    FUZZ_REQUIRE(cursor->after_key() == 0 && cursor->after_id().empty(),
                 "the empty token is not the first page");
  }
  // A decoded token re-encodes to a canonical token that decodes to the same cursor and
  // encodes to itself (a client may send any encoding of a cursor, so only the canonical form
  // is a fixed point).
  const std::string canonical = EncodePageToken(*cursor);
  const absl::StatusOr<v1::PageCursor> again = DecodePageToken(canonical, filter_hash);
  FUZZ_REQUIRE(again.ok(), "canonical token ", canonical, " refused: ", again.status().ToString());
  FUZZ_REQUIRE(SameCursor(*again, *cursor), "canonical token decodes to another cursor");
  FUZZ_REQUIRE(EncodePageToken(*again) == canonical, "canonical token is not a fixed point");
}

void CheckPageSize(const uint8_t* data, size_t size) {
  if (size < 4) return;
  int32_t requested = 0;
  std::memcpy(&requested, data, sizeof(requested));
  const absl::StatusOr<int> page = EffectivePageSize(requested);
  if (requested < 0) {
    FUZZ_REQUIRE(!page.ok(), "accepted page_size ", requested);
    FUZZ_REQUIRE_INVALID(page.status(), "page_size: ");
    return;
  }
  FUZZ_REQUIRE(page.ok(), "refused page_size ", requested);
  const int expected = requested == 0 ? kDefaultPageSize : std::min<int>(requested, kMaxPageSize);
  FUZZ_REQUIRE(*page == expected, "page_size ", requested, " gave ", *page);
}

}  // namespace
}  // namespace bloodgrid::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 in a proto3 string fails the parse, as it should; protobuf also logs each
  // one, which would drown the fuzzer's output.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bloodgrid::fuzz;  // NOLINT(build/namespaces): the target's own helpers
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  CurrentInput().assign(text.data(), text.size());
  CheckDin(text);
  CheckDinCreate(data, size);
  CheckKeyboardCheckValue(text);
  CheckAboRhdCode(text);
  CheckBloodType(text);
  CheckCursorEncoding(data, size);
  CheckTokenDecoding(data, size);
  CheckPageSize(data, size);
  return 0;
}
