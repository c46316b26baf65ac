// The donation-unit reconciler against the real thing: donations recorded by DonorOperations in a
// migrated donor schema (MysqlDonorStore), the real InventoryServer in-process over gRPC. A
// donation the gateway left without its unit gets it; one whose station was closed in between
// is voided with the refusal; one that already has its unit is only confirmed.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/call_context.h"
#include "common/migrations.h"
#include "common/mysql_pool.h"
#include "common/policy.h"
#include "common/service_channel.h"
#include "donor_service/donation_unit_reconciler.h"
#include "donor_service/donor_operations.h"
#include "donor_service/mysql_donor_store.h"
#include "tests/integration/inventory_test_support.h"

namespace bloodgrid::inventory::testing {
namespace {

using donor::DonationUnitReconciler;

class DonationReconcilerTest : public InventoryServerTest {
 protected:
  DonationReconcilerTest() : donor_schema_("don_rec"), donor_clock_(clock_.Now()) {
    pool_ = db::ConnectionPool::Create(donor_schema_.options(4));
    absl::StatusOr<db::MigrationReport> migrated = db::ApplyMigrations(
        *pool_, absl::StrCat("migrate_", donor_schema_.name()), donor::DonorMigrations());
    EXPECT_TRUE(migrated.ok()) << migrated.status();
    store_ = std::make_unique<donor::MysqlDonorStore>(pool_.get());
    absl::StatusOr<v1::PolicyProfile> policy =
        LoadPolicyFile(std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto");
    EXPECT_TRUE(policy.ok()) << policy.status();
    policy_ = *policy;
    ops_ = std::make_unique<donor::DonorOperations>(policy_, store_.get(), absl::UTCTimeZone());
    registrar_ = donor::NewGrpcCollectionRegistrar(
        CreateServiceChannel(absl::StrCat("127.0.0.1:", server_->port())));
  }

  CallContext DonorCall() const {
    CallContext call;
    call.actor = "admin:tester";
    call.now = donor_clock_.Now();
    call.today = absl::ToCivilDay(call.now, absl::UTCTimeZone());
    call.deadline = absl::Now() + absl::Seconds(20);
    return call;
  }

  std::string RegisterDonor(int seq) {
    v1::RegisterDonorRequest request;
    request.set_request_id(NextRequestId());
    v1::Donor* donor = request.mutable_donor();
    // 18-digit resident ids of 1990-01-01 with their MOD 11-2 check characters.
    const char* ids[] = {"110101199001010015", "110101199001010031", "110101199001010058"};
    donor->set_national_id(ids[seq]);
    donor->set_name(absl::StrCat("Donor ", seq));
    donor->set_sex(v1::SEX_MALE);
    donor->set_birth_date("1990-01-01");
    *donor->mutable_blood_type() = OPos();
    absl::StatusOr<v1::Donor> registered = ops_->RegisterDonor(DonorCall(), request);
    EXPECT_TRUE(registered.ok()) << registered.status();
    return registered.ok() ? registered->donor_id() : "";
  }

  v1::RecordDonationResponse Donate(const std::string& donor_id, const std::string& din,
                                    const std::string& station) {
    v1::RecordDonationRequest request;
    request.set_request_id(NextRequestId());
    request.set_donor_id(donor_id);
    request.set_din(din);
    request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
    request.set_volume_ml(400);
    request.set_station_id(station);
    *request.mutable_collected_at() = Ts(clock_.Now() - absl::Hours(1));
    v1::DonorScreening* s = request.mutable_screening();
    s->set_weight_kg(70);
    s->set_hemoglobin_g_l(145);
    s->set_systolic_mmhg(120);
    s->set_diastolic_mmhg(80);
    s->set_pulse_bpm(72);
    absl::StatusOr<v1::RecordDonationResponse> recorded =
        ops_->RecordDonation(DonorCall(), request);
    EXPECT_TRUE(recorded.ok()) << recorded.status();
    return recorded.ok() ? *recorded : v1::RecordDonationResponse();
  }

  int UnitsOf(const std::string& din) {
    v1::ListUnitsRequest request;
    request.set_din(din);
    v1::ListUnitsResponse response;
    EXPECT_TRUE(Call(&v1::InventoryService::Stub::ListUnits, request, &response).ok());
    return response.units_size();
  }

  TestSchema donor_schema_;
  FakeClock donor_clock_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<donor::MysqlDonorStore> store_;
  v1::PolicyProfile policy_;
  std::unique_ptr<donor::DonorOperations> ops_;
  std::unique_ptr<donor::CollectionRegistrar> registrar_;
};

TEST_F(DonationReconcilerTest, RegistersConfirmsOrVoidsEachDonationLeftBehind) {
  AddStation("CENTRAL");
  AddStation("NORTH");
  const std::string left = NewDin(), closed = NewDin(), done = NewDin();
  Donate(RegisterDonor(0), left, "CENTRAL");
  Donate(RegisterDonor(1), closed, "NORTH");
  const v1::RecordDonationResponse complete = Donate(RegisterDonor(2), done, "CENTRAL");
  // The gateway completed this one itself.
  v1::RegisterCollectionRequest collect;
  collect.set_request_id(NextRequestId());
  collect.set_din(done);
  collect.set_donor_id(complete.donation().donor_id());
  collect.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  *collect.mutable_blood_type() = OPos();
  collect.set_volume_ml(400);
  *collect.mutable_collected_at() = complete.donation().collected_at();
  collect.set_station_id("CENTRAL");
  v1::RegisterCollectionResponse registered;
  ASSERT_TRUE(Call(&v1::InventoryService::Stub::RegisterCollection, collect, &registered).ok());
  // NORTH closes before the unit of `closed` is registered.
  AddStation("NORTH", /*active=*/false);

  DonationUnitReconciler::Options options;
  options.grace = absl::Minutes(5);
  DonationUnitReconciler reconciler(store_.get(), registrar_.get(), &donor_clock_, options);
  absl::StatusOr<DonationUnitReconciler::PassResult> early = reconciler.RunPass();
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->confirmed + early->voided, 0);
  EXPECT_EQ(UnitsOf(left), 0);

  donor_clock_.Advance(absl::Minutes(6));
  absl::StatusOr<DonationUnitReconciler::PassResult> pass = reconciler.RunPass();
  ASSERT_TRUE(pass.ok()) << pass.status();
  EXPECT_EQ(pass->confirmed, 2);
  EXPECT_EQ(pass->voided, 1);
  EXPECT_EQ(UnitsOf(left), 1);
  EXPECT_EQ(UnitsOf(done), 1);
  EXPECT_EQ(UnitsOf(closed), 0);
  EXPECT_EQ(donor_schema_.QueryString(
                absl::StrCat("SELECT voided FROM donations WHERE din = '", closed, "'")),
            "1");
  EXPECT_NE(
      donor_schema_
          .QueryString(absl::StrCat("SELECT void_reason FROM donations WHERE din = '", closed, "'"))
          .find("inactive"),
      std::string::npos);
  EXPECT_EQ(donor_schema_.QueryString(
                "SELECT COUNT(*) FROM donations WHERE unit_confirmed = TRUE AND voided = FALSE"),
            "2");

  // Nothing is left to do.
  absl::StatusOr<DonationUnitReconciler::PassResult> again = reconciler.RunPass();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->confirmed + again->voided, 0);
}

}  // namespace
}  // namespace bloodgrid::inventory::testing
