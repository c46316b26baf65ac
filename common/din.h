// ISBT 128 identifiers: the Donation Identification Number (DIN), its keyboard check
// character, and the ABO/RhD code of data structure 002.
//
// Source: ISBT 128 Standard Technical Specification (ICCBBA ST-001) section 2.4.1 and
// appendix A, as summarised in DOMAIN.md section 1.
//
// A DIN is 13 characters `αppppyynnnnnn`:
//   αpppp   facility identification number (FIN): α in A-N, P-Z, 1-9; the next two in
//           A-N, P-Z, 0-9; the last two digits. (Only the letter O is excluded: it reads like 0.)
//   yy      the year the number was assigned (two digits);
//   nnnnnn  sequence number within that year (six digits).
// Flag characters printed after a DIN are not part of it and are not parsed here.
//
// Every function here is pure and thread-safe.
#ifndef BLOODGRID_COMMON_DIN_H_
#define BLOODGRID_COMMON_DIN_H_

#include <compare>
#include <iosfwd>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/blood.h"

namespace bloodgrid {

// Number of characters of a DIN without its check character.
inline constexpr int kDinLength = 13;

// ISO/IEC 7064 MOD 37-2 check value (0-36) of `characters`, which must consist only of
// 0-9, A-Z (upper case) and '*' (values 0-9, 10-35 and 36). ISBT 128 calls the character
// of this value the keyboard check character K.
// Returns INVALID_ARGUMENT naming the first character outside that set.
absl::StatusOr<int> KeyboardCheckValue(absl::string_view characters);

// A valid ISBT 128 Donation Identification Number. Every Din that exists is well formed:
// there is no default or "empty" Din; obtain one from ParseDin() or Din::Create().
// Copyable, totally ordered (FIN, then year, then sequence) and hashable with absl::Hash.
class Din {
 public:
  // Builds a DIN from its parts. `facility` is the 5-character FIN (letters are upper-cased),
  // `year` 0-99, `sequence` 0-999999.
  // Returns INVALID_ARGUMENT ("din: ...") if any part is out of range or malformed.
  static absl::StatusOr<Din> Create(absl::string_view facility, int year, int sequence);

  // The facility identification number, e.g. "A9999".
  absl::string_view facility() const { return absl::string_view(text_).substr(0, 5); }
  // The two-digit year, 0-99.
  int year() const;
  // The sequence number within the year, 0-999999.
  int sequence() const;

  // The 13 characters, e.g. "A999921123456". This is the canonical (stored) form.
  const std::string& ToString() const { return text_; }
  // The 13 characters followed by the keyboard check character K, e.g. "A9999211234563".
  std::string WithCheckCharacter() const;
  // The eye-readable grouping used on labels, e.g. "A9999 21 123456".
  std::string Printed() const;

  // ISO/IEC 7064 MOD 37-2 check value of the 13 characters, 0-36.
  int CheckValue() const;
  // The keyboard check character K (0-9, A-Z or '*').
  char CheckCharacter() const;
  // The value of the type-3 flag characters: check value + 60 (60-96).
  int Type3Flag() const { return CheckValue() + 60; }

  friend bool operator==(const Din&, const Din&) = default;
  friend std::strong_ordering operator<=>(const Din&, const Din&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Din& din) {
    return H::combine(std::move(h), din.text_);
  }

 private:
  explicit Din(std::string text) : text_(std::move(text)) {}
  friend absl::StatusOr<Din> ParseDin(absl::string_view input);

  std::string text_;  // Exactly kDinLength upper-case characters, already validated.
};

// Prints ToString(); for logs and test failure messages.
std::ostream& operator<<(std::ostream& os, const Din& din);

// Parses a DIN as scanned or typed by hand: 13 characters, or 13 followed by the keyboard
// check character K. ASCII whitespace anywhere is ignored (so "A9999 21 123456" works) and
// letters are case-insensitive.
// Returns INVALID_ARGUMENT with a message starting "din: " that names the problem: wrong
// length, a character not allowed at its position (giving the 1-based position within the
// 13 characters), or a check character that does not match the one computed.
//
// This is the only entry point for turning external text into a Din. Another numbering
// scheme (e.g. a Chinese national blood bag barcode) should be added behind this function,
// or a sibling that dispatches on the input's shape, so no caller parses DINs itself.
absl::StatusOr<Din> ParseDin(absl::string_view input);

// ISBT 128 data structure 002 (blood groups, ABO and RhD), "intended use not specified"
// codes: O- 95, O+ 51, A- 06, A+ 62, B- 17, B+ 73, AB- 28, AB+ 84.

// The two-character ABO/RhD code `gg` of `type`, e.g. "51" for O RhD positive.
// Returns INVALID_ARGUMENT ("abo_rhd_code: ...") if `type` is not a known blood type.
absl::StatusOr<std::string> AboRhdCode(BloodType type);

// Decodes the ABO/RhD code of data structure 002. Accepts the two characters `gg`
// ("51") or the whole data content `ggre` ("5100"; `r` and `e`, type of collection and
// special testing, must be 0-9 or A-Z but are not interpreted), optionally preceded by the
// data identifier "=%".
// Returns INVALID_ARGUMENT ("abo_rhd_code: ...") for any other shape, or a `gg` that is
// not one of the eight "intended use not specified" codes above (codes for directed,
// autologous and other uses are not supported).
absl::StatusOr<BloodType> ParseAboRhdCode(absl::string_view code);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_DIN_H_
