#include "common/national_id.h"

#include "absl/strings/str_cat.h"

namespace bloodgrid {

char ChineseIdCheckCharacter(absl::string_view first17) {
  // Weight of position i (0-based) is 2^(17 - i) mod 11.
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[] = "10X98765432";
  int sum = 0;
  for (int i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
  return kCheck[sum % 11];
}

std::string WithChineseIdCheckCharacter(absl::string_view first17) {
  return absl::StrCat(first17, std::string(1, ChineseIdCheckCharacter(first17)));
}

}  // namespace bloodgrid
