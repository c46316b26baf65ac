// End to end, the four real processes (tests/e2e/region.h): a test result that reaches the
// inventory without the gateway's RecordTestResults (so without its donor fast path) still
// reaches the donor record, through the donor service's consumer of the inventory's change feed
// (donor_service/inventory_feed_consumer.h):
//  - a reactive result recorded directly at the inventory defers and types the donor;
//  - a result recorded while the donor service is down reaches the donor after its restart.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "tests/e2e/region.h"
#include "tests/e2e/scenario.h"

namespace bloodgrid::e2e {
namespace {

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(60)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return done();
}

class DonorFeedE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    region_ = new Region("donor_feed");
    SetUpTopology(*region_);
  }
  static void TearDownTestSuite() {
    delete region_;
    region_ = nullptr;
  }

  // The inventory address the donor service was given: its start-up line
  // "event=inventory_feed_on inventory=<address>" (empty when the consumer is off).
  static std::string InventoryAddressFromDonorLog() {
    std::ifstream log(region_->LogPath("donor"));
    std::stringstream text;
    text << log.rdbuf();
    std::smatch match;
    const std::string all = text.str();
    if (!std::regex_search(all, match, std::regex("event=inventory_feed_on inventory=(\\S+)"))) {
      return "";
    }
    return match[1];
  }

  // RecordTestResults straight at the inventory, as a laboratory system would call it.
  static v1::RecordTestResultsResponse RecordAtInventory(const std::string& din,
                                                         const v1::BloodType& type,
                                                         bool reactive_hiv) {
    EXPECT_EQ(InventoryAddressFromDonorLog(), region_->Target("inventory"))
        << "the donor service was not given the inventory's address";
    const std::string address = region_->Target("inventory");
    auto stub = v1::InventoryService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    const v1::RecordTestResultsRequest request = TestResults(din, type, reactive_hiv);
    grpc::ClientContext context;
    context.AddMetadata("x-bloodgrid-actor", "lab:e2e");
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::RecordTestResultsResponse response;
    grpc::Status status = stub->RecordTestResults(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static v1::Donor GetDonor(const std::string& donor_id) {
    v1::GetDonorRequest request;
    request.set_donor_id(donor_id);
    v1::Donor donor;
    grpc::Status status = region_->admin().GetDonor(AdminContext().get(), request, &donor);
    return status.ok() ? donor : v1::Donor();
  }

  static v1::ListDeferralsResponse Deferrals(const std::string& donor_id) {
    v1::ListDeferralsRequest request;
    request.set_donor_id(donor_id);
    v1::ListDeferralsResponse response;
    grpc::Status status = region_->admin().ListDeferrals(AdminContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static inline Region* region_ = nullptr;
};

TEST_F(DonorFeedE2eTest, AReactiveResultRecordedAtTheInventoryDefersTheDonor) {
  const v1::BloodType b_pos = Type(v1::ABO_GROUP_B, v1::RH_D_POSITIVE);
  const std::string donor_id = RegisterDonor(*region_, b_pos);
  ASSERT_FALSE(donor_id.empty());
  const std::string din = Donate(*region_, donor_id, absl::Hours(2));
  ASSERT_FALSE(GetDonor(donor_id).deferred());

  const v1::RecordTestResultsResponse result = RecordAtInventory(din, b_pos, true);
  ASSERT_EQ(result.outcome(), v1::TESTING_OUTCOME_REACTIVE);

  ASSERT_TRUE(WaitFor([&] { return GetDonor(donor_id).deferred(); }))
      << "the donor was never deferred; see " << region_->LogPath("donor");
  EXPECT_TRUE(GetDonor(donor_id).blood_type_confirmed());
  const v1::ListDeferralsResponse deferrals = Deferrals(donor_id);
  ASSERT_EQ(deferrals.deferrals_size(), 1);
  EXPECT_EQ(deferrals.deferrals(0).din(), din);
  EXPECT_EQ(deferrals.deferrals(0).reactive_test(), v1::SCREENING_TEST_ANTI_HIV);
  EXPECT_EQ(deferrals.deferrals(0).deferred_by(), "system:inventory-feed");
}

TEST_F(DonorFeedE2eTest, AResultRecordedWhileTheDonorServiceIsDownReachesItAfterARestart) {
  const v1::BloodType o_neg = Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE);
  const std::string donor_id = RegisterDonor(*region_, o_neg);
  ASSERT_FALSE(donor_id.empty());
  const std::string din = Donate(*region_, donor_id, absl::Hours(3));
  const std::string address = InventoryAddressFromDonorLog();

  region_->Kill("donor");
  RecordAtInventory(din, o_neg, true);
  region_->Start("donor");

  ASSERT_TRUE(WaitFor([&] { return GetDonor(donor_id).deferred(); }))
      << "the donor was never deferred; see " << region_->LogPath("donor");
  EXPECT_TRUE(GetDonor(donor_id).blood_type_confirmed());
  EXPECT_EQ(Deferrals(donor_id).deferrals_size(), 1);
  EXPECT_EQ(InventoryAddressFromDonorLog(), address);
}

}  // namespace
}  // namespace bloodgrid::e2e
