// gMock matchers for absl::Status and absl::StatusOr<T>, shared by every BloodGrid test
// (Debian 12's Abseil ships none).
//
//   EXPECT_THAT(store.GetUnit(ctx, "x"), StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(ops.Reserve(call, request), StatusIs(absl::StatusCode::kInvalidArgument,
//                                                    HasSubstr("quantity")));
//   ASSERT_THAT(ops.GetDonor(call, request), IsOk());
//   BG_ASSERT_OK_AND_ASSIGN(v1::Donor donor, ops.GetDonor(call, request));
#ifndef BLOODGRID_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define BLOODGRID_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloodgrid::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK absl::Status or an absl::StatusOr holding a value.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = ::bloodgrid::testing::GetStatus(arg);
  if (!status.ok()) *result_listener << "whose status is " << status.ToString();
  return status.ok();
}

// Matches a status (or StatusOr) with `code` and a message matching `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& status = ::bloodgrid::testing::GetStatus(arg);
  *result_listener << "whose status is " << status.ToString();
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

// Matches a status (or StatusOr) with `code`, whatever its message.
MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = ::bloodgrid::testing::GetStatus(arg);
  *result_listener << "whose status is " << status.ToString();
  return status.code() == code;
}

}  // namespace bloodgrid::testing

#define BG_TESTING_CONCAT_INNER_(a, b) a##b
#define BG_TESTING_CONCAT_(a, b) BG_TESTING_CONCAT_INNER_(a, b)

// `BG_ASSERT_OK_AND_ASSIGN(auto x, Foo());` asserts that Foo() (an absl::StatusOr<T>) holds a
// value and moves it into `x`; a failure names the status.
#define BG_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  BG_ASSERT_OK_AND_ASSIGN_IMPL_(BG_TESTING_CONCAT_(bg_test_statusor_, __LINE__), lhs, expr)
#define BG_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)    \
  auto statusor = (expr);                                     \
  ASSERT_TRUE(statusor.ok()) << statusor.status().ToString(); \
  lhs = std::move(statusor).value()

#endif  // BLOODGRID_TESTS_SUPPORT_STATUS_MATCHERS_H_
