// The donor service applying the inventory's change feed (donor_service/inventory_feed_consumer.h)
// with no gateway in between: the real InventoryServer and the real DonorServer in-process on
// loopback, each on a schema of its own on the real MariaDB. Test results recorded at the
// inventory type and defer the donor; a restarted consumer resumes from its stored cursor and a
// replay changes nothing; the gateway's fast path having run first changes nothing; a unit
// without a donor reference is passed over; an unknown donor does not stall later events; the
// consumer waits for an inventory that is not up yet; two replicas consume one at a time, and a
// holder that died without releasing its lease is replaced once the lease expires; a cursor
// older than the feed's retention restarts from the oldest event kept.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/donor.grpc.pb.h"
#include "common/national_id.h"
#include "donor_service/donor_server.h"
#include "donor_service/inventory_feed_consumer.h"
#include "tests/integration/inventory_test_support.h"
#include "tests/support/test_mariadb.h"

namespace bloodgrid::inventory::testing {
namespace {

using donor::DonorServer;
using donor::InventoryFeedConsumer;

// Polls `done` every 50 ms for up to 30 s.
bool WaitFor(const std::function<bool()>& done) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return done();
}

class DonorInventoryFeedTest : public InventoryServerTest {
 protected:
  DonorInventoryFeedTest() : donor_schema_("dfeed") {}

  ~DonorInventoryFeedTest() override {
    StopDonor();
    if (replica_ != nullptr) replica_->Shutdown();
  }

  std::string InventoryTarget() const { return absl::StrCat("127.0.0.1:", server_->port()); }

  // A donor server on the donor schema whose consumer reads `inventory_target` (empty: none).
  std::unique_ptr<DonorServer> NewDonorServer(const std::string& inventory_target) {
    DonorServer::Options options;
    options.server.name = "donor_feed_test";
    options.server.listen_address = "127.0.0.1";
    options.server.port = 0;
    options.server.drain_timeout = absl::Seconds(1);
    options.server.health_probe_interval = absl::Milliseconds(200);
    options.db = donor_schema_.options(8);
    options.policy_file = std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto";
    options.clock = &clock_;
    options.wait_for_database = absl::Seconds(5);
    options.inventory_target = inventory_target;
    options.inventory_feed.wait = absl::Seconds(1);
    options.inventory_feed.min_backoff = absl::Milliseconds(50);
    options.inventory_feed.max_backoff = absl::Milliseconds(400);
    absl::StatusOr<std::unique_ptr<DonorServer>> server = DonorServer::BuildAndStart(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  void StartDonor(const std::string& inventory_target) {
    donor_ = NewDonorServer(inventory_target);
    ASSERT_NE(donor_, nullptr);
    donor_stub_ = v1::DonorService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", donor_->port()), grpc::InsecureChannelCredentials()));
  }

  void StopDonor() {
    donor_stub_.reset();
    if (donor_ != nullptr) donor_->Shutdown();
    donor_.reset();
  }

  template <typename Request, typename Response>
  grpc::Status DonorCall(grpc::Status (v1::DonorService::Stub::*method)(grpc::ClientContext*,
                                                                        const Request&, Response*),
                         const Request& request, Response* response,
                         const std::string& actor = "admin:tester") {
    grpc::ClientContext context;
    context.AddMetadata("x-bloodgrid-actor", actor);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return (donor_stub_.get()->*method)(&context, request, response);
  }

  // Registers a donor of unknown blood type; returns the donor_id.
  std::string RegisterDonor() {
    const int seq = ++donor_counter_;
    const std::string first17 = absl::StrCat("110105", "19900101", absl::StrFormat("%03d", seq));
    v1::RegisterDonorRequest request;
    request.set_request_id(absl::StrCat("reg-", seq));
    v1::Donor* donor = request.mutable_donor();
    donor->set_national_id(first17 + ChineseIdCheckCharacter(first17));
    donor->set_name(absl::StrCat("Donor ", seq));
    donor->set_sex(v1::SEX_MALE);
    donor->set_birth_date("1990-01-01");
    donor->mutable_contact()->set_phone("138 0013 8000");
    donor->set_home_station_id("CENTRAL");
    donor->add_panels(v1::DONOR_PANEL_REGULAR);
    v1::Donor out;
    grpc::Status status = DonorCall(&v1::DonorService::Stub::RegisterDonor, request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out.donor_id();
  }

  v1::Donor GetDonor(const std::string& donor_id) {
    v1::GetDonorRequest request;
    request.set_donor_id(donor_id);
    v1::Donor out;
    grpc::Status status = DonorCall(&v1::DonorService::Stub::GetDonor, request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  // Every mandatory screen recorded, HBsAg reactive when `reactive`, typed `typed`.
  v1::RecordTestResultsResponse RecordResults(const std::string& din, v1::BloodType typed,
                                              bool reactive) {
    v1::RecordTestResultsRequest request = AllClearRequest(din, typed);
    for (v1::TestResultInput& result : *request.mutable_results()) {
      if (result.test() == v1::SCREENING_TEST_HBSAG) result.set_reactive(reactive);
    }
    v1::RecordTestResultsResponse response;
    grpc::Status status =
        Call(&v1::InventoryService::Stub::RecordTestResults, request, &response, "lab:tester");
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  int64_t Deferrals(const std::string& donor_id) {
    return donor_schema_.QueryInt(
        absl::StrCat("SELECT COUNT(*) FROM deferrals WHERE donor_id = '", donor_id, "'"));
  }
  int64_t Typings(const std::string& donor_id) {
    return donor_schema_.QueryInt(
        absl::StrCat("SELECT COUNT(*) FROM blood_typings WHERE donor_id = '", donor_id, "'"));
  }
  int64_t StoredCursor() {
    return donor_schema_.QueryInt(
        "SELECT COALESCE(MAX(after_sequence), 0) FROM feed_cursors WHERE feed = 'inventory'");
  }
  int64_t FeedHead() { return schema_.QueryInt("SELECT last_sequence FROM change_feed_head"); }

  // True once the consumer has saved a cursor at the inventory feed's head.
  bool CaughtUp() { return StoredCursor() == FeedHead(); }

  bool Deferred(const std::string& donor_id) { return GetDonor(donor_id).deferred(); }

  TestSchema donor_schema_;
  std::unique_ptr<DonorServer> donor_;
  std::unique_ptr<v1::DonorService::Stub> donor_stub_;
  std::unique_ptr<InventoryServer> replica_;
  int donor_counter_ = 0;
};

TEST_F(DonorInventoryFeedTest, AReactiveResultDefersAndTypesTheDonor) {
  AddStation("CENTRAL");
  StartDonor(InventoryTarget());
  const std::string donor_id = RegisterDonor();
  ASSERT_FALSE(GetDonor(donor_id).deferred());
  const std::string din = NewDin();
  Collect(din, donor_id, "CENTRAL", APos());

  const v1::RecordTestResultsResponse result = RecordResults(din, APos(), /*reactive=*/true);
  ASSERT_EQ(result.outcome(), v1::TESTING_OUTCOME_REACTIVE);

  ASSERT_TRUE(WaitFor([&] { return Deferred(donor_id); })) << "the donor was never deferred";
  ASSERT_TRUE(WaitFor([&] { return GetDonor(donor_id).blood_type_confirmed(); }));
  const v1::Donor donor = GetDonor(donor_id);
  EXPECT_TRUE(donor.deferred());
  EXPECT_EQ(donor.blood_type().abo(), v1::ABO_GROUP_A);
  EXPECT_EQ(donor.blood_type().rhd(), v1::RH_D_POSITIVE);
  EXPECT_EQ(Deferrals(donor_id), 1);
  EXPECT_EQ(donor_schema_.QueryString(absl::StrCat(
                "SELECT CONCAT(deferred_by, '|', din, '|', reactive_test) FROM deferrals "
                "WHERE donor_id = '",
                donor_id, "'")),
            absl::StrCat("system:inventory-feed|", din, "|", v1::SCREENING_TEST_HBSAG));
  ASSERT_TRUE(WaitFor([&] { return CaughtUp(); }));
  EXPECT_GE(donor_->inventory_feed()->stats().applied, 1);
}

TEST_F(DonorInventoryFeedTest, ANonReactiveResultTypesTheDonorOnly) {
  AddStation("CENTRAL");
  StartDonor(InventoryTarget());
  const std::string donor_id = RegisterDonor();
  const std::string din = NewDin();
  Collect(din, donor_id, "CENTRAL", ONeg());
  ASSERT_EQ(RecordResults(din, ONeg(), /*reactive=*/false).outcome(), v1::TESTING_OUTCOME_RELEASED);

  ASSERT_TRUE(WaitFor([&] { return GetDonor(donor_id).blood_type_confirmed(); }));
  ASSERT_TRUE(WaitFor([&] { return CaughtUp(); }));
  const v1::Donor donor = GetDonor(donor_id);
  EXPECT_EQ(donor.blood_type().abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(donor.blood_type().rhd(), v1::RH_D_NEGATIVE);
  EXPECT_FALSE(donor.deferred());
  EXPECT_EQ(Deferrals(donor_id), 0);
  EXPECT_EQ(Typings(donor_id), 1);
}

TEST_F(DonorInventoryFeedTest, ARestartResumesFromTheCursorAndAReplayChangesNothing) {
  AddStation("CENTRAL");
  StartDonor(InventoryTarget());
  const std::string first = RegisterDonor();
  const std::string second = RegisterDonor();
  const std::string din1 = NewDin();
  Collect(din1, first, "CENTRAL", OPos());
  RecordResults(din1, OPos(), /*reactive=*/true);
  ASSERT_TRUE(WaitFor([&] { return Deferred(first) && CaughtUp(); }));
  const int64_t saved = StoredCursor();
  ASSERT_GT(saved, 0);
  EXPECT_GT(donor_schema_.QueryInt(
                "SELECT COUNT(*) FROM audit_log WHERE actor = 'system:inventory-feed'"),
            0);

  // A new consumer starts where the last one stopped, not from the start of the feed.
  StopDonor();
  const std::string din2 = NewDin();
  Collect(din2, second, "CENTRAL", ANeg());
  RecordResults(din2, ANeg(), /*reactive=*/false);
  StartDonor(InventoryTarget());
  ASSERT_TRUE(WaitFor([&] { return GetDonor(second).blood_type_confirmed() && CaughtUp(); }));
  EXPECT_EQ(donor_->inventory_feed()->stats().first_read_after, static_cast<uint64_t>(saved));
  EXPECT_EQ(Deferrals(first), 1);
  EXPECT_EQ(Typings(first), 1);

  // Replaying the whole feed (a cursor lost before its save) changes nothing.
  StopDonor();
  const std::string counts_before = donor_schema_.QueryString(
      "SELECT CONCAT_WS(',', (SELECT COUNT(*) FROM deferrals), (SELECT COUNT(*) FROM "
      "blood_typings), (SELECT COUNT(*) FROM blood_type_conflicts), (SELECT COUNT(*) FROM "
      "audit_log), (SELECT SUM(version) FROM donors))");
  donor_schema_.Exec("UPDATE feed_cursors SET after_sequence = 0 WHERE feed = 'inventory'");
  StartDonor(InventoryTarget());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp(); }));
  EXPECT_EQ(donor_->inventory_feed()->stats().first_read_after, 0u);
  EXPECT_GE(donor_->inventory_feed()->stats().applied, 2);
  const std::string counts_after = donor_schema_.QueryString(
      "SELECT CONCAT_WS(',', (SELECT COUNT(*) FROM deferrals), (SELECT COUNT(*) FROM "
      "blood_typings), (SELECT COUNT(*) FROM blood_type_conflicts), (SELECT COUNT(*) FROM "
      "audit_log), (SELECT SUM(version) FROM donors))");
  EXPECT_EQ(counts_after, counts_before);
}

TEST_F(DonorInventoryFeedTest, TheGatewayFastPathHavingRunFirstMakesTheFeedANoOp) {
  AddStation("CENTRAL");
  StartDonor("");
  const std::string donor_id = RegisterDonor();
  const std::string din = NewDin();
  Collect(din, donor_id, "CENTRAL", APos());
  const v1::RecordTestResultsResponse result = RecordResults(din, APos(), /*reactive=*/true);
  // What gateway/workflows.cc RecordTestResultsWorkflow sends, as the gateway's caller.
  v1::RecordBloodTypingRequest typing;
  typing.set_request_id(absl::StrCat("gw.typing.", din));
  typing.set_donor_id(donor_id);
  *typing.mutable_blood_type() = result.typed_blood_type();
  typing.set_din(din);
  v1::RecordBloodTypingResponse typed;
  ASSERT_TRUE(
      DonorCall(&v1::DonorService::Stub::RecordBloodTyping, typing, &typed, "admin:lab").ok());
  v1::MarkDonorReactiveRequest reactive;
  reactive.set_request_id(absl::StrCat("gw.reactive.", din));
  reactive.set_donor_id(donor_id);
  reactive.set_din(din);
  reactive.set_test(result.reactive_tests(0));
  v1::MarkDonorReactiveResponse deferred;
  ASSERT_TRUE(
      DonorCall(&v1::DonorService::Stub::MarkDonorReactive, reactive, &deferred, "admin:lab").ok());
  ASSERT_TRUE(deferred.newly_deferred());
  StopDonor();
  const std::string version_before = donor_schema_.QueryString(
      absl::StrCat("SELECT version FROM donors WHERE donor_id = '", donor_id, "'"));

  StartDonor(InventoryTarget());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp(); }));
  EXPECT_GE(donor_->inventory_feed()->stats().applied, 1);
  EXPECT_EQ(Deferrals(donor_id), 1);
  EXPECT_EQ(Typings(donor_id), 1);
  EXPECT_EQ(donor_schema_.QueryInt("SELECT COUNT(*) FROM blood_type_conflicts"), 0);
  EXPECT_EQ(donor_schema_.QueryString(
                absl::StrCat("SELECT version FROM donors WHERE donor_id = '", donor_id, "'")),
            version_before);
}

TEST_F(DonorInventoryFeedTest, AUnitWithoutDonorIsSkippedAndAnUnknownDonorDoesNotStall) {
  AddStation("CENTRAL");
  StartDonor(InventoryTarget());
  // A unit registered without a donor reference (as imported records may be).
  const std::string anonymous = NewDin();
  Collect(anonymous, "D-IMPORTED", "CENTRAL", OPos());
  schema_.Exec(absl::StrCat("UPDATE donations SET donor_id = '' WHERE din = '", anonymous, "'"));
  schema_.Exec(absl::StrCat("UPDATE units SET donor_id = '' WHERE din = '", anonymous, "'"));
  RecordResults(anonymous, OPos(), /*reactive=*/true);
  // A donor reference the donor service does not know: refused for good, logged, passed.
  const std::string unknown = NewDin();
  Collect(unknown, "D-NOT-REGISTERED", "CENTRAL", OPos());
  RecordResults(unknown, OPos(), /*reactive=*/true);
  // A real donor after both.
  const std::string donor_id = RegisterDonor();
  const std::string din = NewDin();
  Collect(din, donor_id, "CENTRAL", OPos());
  RecordResults(din, OPos(), /*reactive=*/true);

  ASSERT_TRUE(WaitFor([&] { return Deferred(donor_id) && CaughtUp(); }));
  const InventoryFeedConsumer::Stats stats = donor_->inventory_feed()->stats();
  EXPECT_GE(stats.refused, 1);
  EXPECT_GE(stats.skipped, 1);
  EXPECT_EQ(donor_schema_.QueryInt("SELECT COUNT(*) FROM deferrals"), 1);
  EXPECT_EQ(donor_schema_.QueryInt(
                "SELECT COUNT(*) FROM deferrals WHERE donor_id IN ('', 'D-NOT-REGISTERED')"),
            0);
}

TEST_F(DonorInventoryFeedTest, TheConsumerWaitsForAnInventoryThatIsNotUpYet) {
  AddStation("CENTRAL");
  const int port = bloodgrid::testing::PickFreePort();
  StartDonor(absl::StrCat("127.0.0.1:", port));
  const std::string donor_id = RegisterDonor();
  const std::string din = NewDin();
  Collect(din, donor_id, "CENTRAL", APos());
  RecordResults(din, APos(), /*reactive=*/true);
  ASSERT_TRUE(WaitFor([&] { return donor_->inventory_feed()->stats().retries >= 2; }));
  EXPECT_EQ(StoredCursor(), 0);
  EXPECT_FALSE(Deferred(donor_id));

  // The inventory comes up (a replica on the same schema) on the address the donor was given.
  InventoryServer::Options options;
  options.server.name = "inventory_late";
  options.server.listen_address = "127.0.0.1";
  options.server.port = port;
  options.server.drain_timeout = absl::Seconds(1);
  options.db = schema_.options(4);
  options.policy_file = std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto";
  options.clock = &clock_;
  options.reservation_sweep_interval = absl::ZeroDuration();
  options.expiry_sweep_interval = absl::ZeroDuration();
  absl::StatusOr<std::unique_ptr<InventoryServer>> late =
      InventoryServer::BuildAndStart(std::move(options));
  ASSERT_TRUE(late.ok()) << late.status();
  replica_ = *std::move(late);
  ASSERT_TRUE(WaitFor([&] { return Deferred(donor_id) && CaughtUp(); }));
}

TEST_F(DonorInventoryFeedTest, TwoReplicasConsumeOneAtATimeAndTheOtherTakesOver) {
  AddStation("CENTRAL");
  StartDonor(InventoryTarget());
  std::unique_ptr<DonorServer> other = NewDonorServer(InventoryTarget());
  ASSERT_NE(other, nullptr);
  const std::string first = RegisterDonor();
  const std::string second = RegisterDonor();
  const std::string din1 = NewDin();
  Collect(din1, first, "CENTRAL", OPos());
  RecordResults(din1, OPos(), /*reactive=*/true);
  ASSERT_TRUE(WaitFor([&] { return Deferred(first) && CaughtUp(); }));
  const int64_t reads_a = donor_->inventory_feed()->stats().reads;
  const int64_t reads_b = other->inventory_feed()->stats().reads;
  EXPECT_TRUE((reads_a == 0) != (reads_b == 0))
      << "exactly one replica reads the feed: " << reads_a << " / " << reads_b;
  DonorServer* holder = reads_a > 0 ? donor_.get() : other.get();
  DonorServer* standby = reads_a > 0 ? other.get() : donor_.get();
  const int64_t standby_applied = standby->inventory_feed()->stats().applied;

  // The holder stops; the standby takes the lease and applies what comes next.
  holder->Shutdown();
  const std::string din2 = NewDin();
  Collect(din2, second, "CENTRAL", ANeg());
  RecordResults(din2, ANeg(), /*reactive=*/true);
  ASSERT_TRUE(WaitFor([&] {
    return donor_schema_.QueryInt(absl::StrCat("SELECT COUNT(*) FROM deferrals WHERE donor_id = '",
                                               second, "'")) == 1 &&
           CaughtUp();
  }));
  EXPECT_GT(standby->inventory_feed()->stats().applied, standby_applied);
  other->Shutdown();
}

TEST_F(DonorInventoryFeedTest, AHolderThatDiedIsReplacedWhenItsLeaseExpires) {
  AddStation("CENTRAL");
  // A replica that took the lease and died without releasing it: it holds for 3 s more.
  StartDonor("");  // migrates the schema
  const absl::Time expires = absl::Now() + absl::Seconds(3);
  const int64_t expires_us = absl::ToUnixMicros(expires);
  donor_schema_.Exec(absl::StrCat(
      "INSERT INTO job_leases (job, holder, acquired_us, expires_us) VALUES ('inventory_feed', "
      "'dead-host:1:0000000000000000', ",
      expires_us - 6000000, ", ", expires_us, ")"));
  const std::string donor_id = RegisterDonor();
  StopDonor();
  StartDonor(InventoryTarget());
  const std::string din = NewDin();
  Collect(din, donor_id, "CENTRAL", OPos());
  RecordResults(din, OPos(), /*reactive=*/true);
  while (absl::Now() < expires - absl::Milliseconds(500)) {
    ASSERT_EQ(donor_->inventory_feed()->stats().reads, 0) << "read while another held the lease";
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(WaitFor([&] { return Deferred(donor_id) && CaughtUp(); }));
  EXPECT_NE(donor_schema_.QueryString("SELECT holder FROM job_leases WHERE job = 'inventory_feed'"),
            "dead-host:1:0000000000000000");
}

TEST_F(DonorInventoryFeedTest, ACursorPastRetentionRestartsFromTheOldestEventKept) {
  AddStation("CENTRAL");
  StartDonor("");
  const std::string lost = RegisterDonor();
  const std::string kept = RegisterDonor();
  const std::string din1 = NewDin();
  Collect(din1, lost, "CENTRAL", OPos());
  RecordResults(din1, OPos(), /*reactive=*/true);
  const int64_t before_kept = FeedHead();
  ASSERT_GE(before_kept, 2);
  const std::string din2 = NewDin();
  Collect(din2, kept, "CENTRAL", ANeg());
  RecordResults(din2, ANeg(), /*reactive=*/true);
  // Retention removed everything up to the second donation; the cursor is older than that.
  schema_.Exec(absl::StrCat("DELETE FROM change_feed WHERE sequence <= ", before_kept));
  donor_schema_.Exec(
      "INSERT INTO feed_cursors (feed, after_sequence, updated_us) VALUES ('inventory', 1, 0)");
  StopDonor();

  StartDonor(InventoryTarget());
  ASSERT_TRUE(WaitFor([&] { return Deferred(kept) && CaughtUp(); }));
  EXPECT_EQ(donor_->inventory_feed()->stats().cursor_lost, 1);
  EXPECT_EQ(donor_->inventory_feed()->stats().first_read_after, 1u);
  // The result in the gap reached this consumer only through the feed: it is lost to it.
  EXPECT_EQ(Deferrals(lost), 0);
}

}  // namespace
}  // namespace bloodgrid::inventory::testing
