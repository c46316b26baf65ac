// PRC resident identity numbers (GB 11643-1999): the check character, shared by the donor
// service's validation and by the tools and tests that make valid numbers.
#ifndef BLOODGRID_COMMON_NATIONAL_ID_H_
#define BLOODGRID_COMMON_NATIONAL_ID_H_

#include <string>

#include "absl/strings/string_view.h"

namespace bloodgrid {

// The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') of the first 17 digits of a PRC
// resident identity number. `first17` must be 17 ASCII digits.
char ChineseIdCheckCharacter(absl::string_view first17);

// `first17` followed by its check character: a well-formed 18-character number.
std::string WithChineseIdCheckCharacter(absl::string_view first17);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_NATIONAL_ID_H_
