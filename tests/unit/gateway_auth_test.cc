// Gateway authentication: tokens file parsing, digest lookup, bearer parsing, reload, roles and
// the hospital a call acts for.
#include "gateway/auth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace bloodgrid::gateway {
namespace {

std::string Line(absl::string_view token, absl::string_view role, absl::string_view subject) {
  return absl::StrCat(Sha256Hex(token), " ", role, " ", subject, "\n");
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenTableTest, LooksUpByDigest) {
  absl::StatusOr<TokenTable> table = TokenTable::Parse(
      "# demo tokens\n\n" + Line("tok-admin", "admin", "console") +
          Line("tok-h1", "hospital", "H1") + "  " + Line("tok-disp", "dispatcher", "dispatch"),
      "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3u);
  std::optional<Principal> h1 = table->Lookup("tok-h1");
  ASSERT_TRUE(h1.has_value());
  EXPECT_EQ(h1->role, Role::kHospital);
  EXPECT_EQ(h1->subject, "H1");
  EXPECT_EQ(h1->Actor(), "hospital:H1");
  EXPECT_EQ(table->Lookup("tok-admin")->role, Role::kAdmin);
  EXPECT_FALSE(table->Lookup("tok-h2").has_value());
  EXPECT_FALSE(table->Lookup("").has_value());
  EXPECT_FALSE(table->Lookup(Sha256Hex("tok-h1")).has_value()) << "the digest is not a token";
}

TEST(TokenTableTest, UpperCaseDigestsAreAccepted) {
  std::string line = Line("t", "admin", "a");
  for (size_t i = 0; i < 64; ++i) line[i] = static_cast<char>(std::toupper(line[i]));
  absl::StatusOr<TokenTable> table = TokenTable::Parse(line, "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->Lookup("t").has_value());
}

TEST(TokenTableTest, MalformedLinesNameTheLine) {
  const std::string good = Line("a", "admin", "x");
  struct Case {
    std::string text;
    std::string expect;
  };
  const Case cases[] = {
      {good + "deadbeef admin x\n", "tokens:2: first field is not a sha256"},
      {good + Line("b", "root", "x"), "tokens:2: unknown role 'root'"},
      {good + Sha256Hex("c") + " admin\n", "tokens:2: expected"},
      {good + Line("c", "hospital", "H1 extra"), "tokens:2: expected"},
      {good + Line("a", "hospital", "H1"), "tokens:2: the same token digest appears twice"},
      {Line("d", "hospital", std::string(65, 'h')), "tokens:1: subject longer"},
      {std::string(64, 'z') + " admin x\n", "tokens:1: first field is not a sha256"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TokenTable> table = TokenTable::Parse(c.text, "tokens");
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(table.status().message().rfind(c.expect, 0), 0u) << table.status();
  }
}

class TokenStoreTest : public ::testing::Test {
 protected:
  void Write(const std::string& text) { std::ofstream(path_) << text; }
  std::string path_ =
      (std::filesystem::temp_directory_path() /
       absl::StrCat("tokens_", getpid(), "_",
                    ::testing::UnitTest::GetInstance()->current_test_info()->name()))
          .string();
  ~TokenStoreTest() override { std::filesystem::remove(path_); }
};

TEST_F(TokenStoreTest, AuthenticatesBearerTokens) {
  Write(Line("secret-1", "hospital", "H1"));
  absl::StatusOr<std::unique_ptr<TokenStore>> store = TokenStore::Load(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Authenticate("Bearer secret-1")->subject, "H1");
  EXPECT_EQ((*store)->Authenticate("bearer  secret-1 ")->subject, "H1");
  for (std::optional<absl::string_view> bad :
       {std::optional<absl::string_view>(), std::optional<absl::string_view>(""),
        std::optional<absl::string_view>("secret-1"), std::optional<absl::string_view>("Basic xyz"),
        std::optional<absl::string_view>("Bearer "),
        std::optional<absl::string_view>("Bearer nope")}) {
    EXPECT_EQ((*store)->Authenticate(bad).status().code(), absl::StatusCode::kUnauthenticated)
        << (bad.has_value() ? *bad : "<none>");
  }
}

TEST_F(TokenStoreTest, ReloadSwapsTablesAndKeepsTheOldOneOnError) {
  Write(Line("old", "admin", "a"));
  auto store = TokenStore::Load(path_);
  ASSERT_TRUE(store.ok());
  Write(Line("new", "admin", "a"));
  ASSERT_TRUE((*store)->Reload().ok());
  EXPECT_FALSE((*store)->Authenticate("Bearer old").ok());
  EXPECT_TRUE((*store)->Authenticate("Bearer new").ok());
  Write("garbage line\n");
  EXPECT_EQ((*store)->Reload().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*store)->Authenticate("Bearer new").ok()) << "a bad file changes nothing";
}

TEST(TokenStoreLoadTest, MissingOrMalformedFileStopsStartUp) {
  absl::StatusOr<std::unique_ptr<TokenStore>> missing = TokenStore::Load("/nonexistent/tokens");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/tokens"), absl::string_view::npos);
}

TEST(RolesTest, RequireRole) {
  Principal hospital{Role::kHospital, "H1"};
  Principal admin{Role::kAdmin, "console"};
  Principal dispatcher{Role::kDispatcher, "dispatch"};
  EXPECT_TRUE(RequireRole(hospital, kHospitalApiRoles, "PlaceOrder").ok());
  EXPECT_TRUE(RequireRole(admin, kHospitalApiRoles, "PlaceOrder").ok());
  EXPECT_EQ(RequireRole(dispatcher, kHospitalApiRoles, "PlaceOrder").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequireRole(hospital, kAdminApiRoles, "GetDonor").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequireRole(dispatcher, kAdminApiRoles, "GetDonor").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(RequireRole(dispatcher, kDispatchApiRoles, "DispatchOrder").ok());
  EXPECT_TRUE(RequireRole(admin, kDispatchApiRoles, "DispatchOrder").ok());
  EXPECT_EQ(RequireRole(hospital, kDispatchApiRoles, "DispatchOrder").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_NE(RequireRole(hospital, kAdminApiRoles, "GetDonor").message().find("GetDonor"),
            absl::string_view::npos);
}

TEST(RolesTest, ActingHospital) {
  Principal h1{Role::kHospital, "H1"};
  EXPECT_EQ(*ActingHospital(h1, "", true), "H1");
  EXPECT_EQ(*ActingHospital(h1, "H1", true), "H1");
  EXPECT_EQ(ActingHospital(h1, "H2", true).status().code(), absl::StatusCode::kPermissionDenied);
  Principal admin{Role::kAdmin, "console"};
  EXPECT_EQ(*ActingHospital(admin, "H2", true), "H2");
  EXPECT_EQ(*ActingHospital(admin, "", false), "");
  EXPECT_EQ(ActingHospital(admin, "", true).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ActingHospital(Principal{Role::kDispatcher, "d"}, "", false).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RolesTest, ParseRole) {
  EXPECT_EQ(*ParseRole("dispatcher"), Role::kDispatcher);
  EXPECT_EQ(ParseRole("Admin").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace bloodgrid::gateway
