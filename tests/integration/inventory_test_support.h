// Shared set-up of the inventory integration tests: the real InventoryServer in-process on a
// picked port, against a throwaway schema on the test MariaDB (migrated by the server itself),
// with a FakeClock, called through a real gRPC stub; plus builders for stations, collections
// and released units, and a fingerprint of every table to prove that a refused call wrote
// nothing.
#ifndef BLOODGRID_TESTS_INTEGRATION_INVENTORY_TEST_SUPPORT_H_
#define BLOODGRID_TESTS_INTEGRATION_INVENTORY_TEST_SUPPORT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "common/clock.h"
#include "common/din.h"
#include "inventory_service/inventory_rules.h"
#include "inventory_service/inventory_server.h"
#include "tests/integration/test_db.h"

namespace bloodgrid::inventory::testing {

using ::bloodgrid::testing::TestSchema;

// "Now" at the start of every test: 2025-06-01 08:00 UTC.
inline absl::Time TestStart() {
  return absl::FromCivil(absl::CivilMinute(2025, 6, 1, 8, 0), absl::UTCTimeZone());
}

inline v1::BloodType Type(v1::AboGroup abo, v1::RhD rhd) {
  v1::BloodType type;
  type.set_abo(abo);
  type.set_rhd(rhd);
  return type;
}
inline v1::BloodType OPos() { return Type(v1::ABO_GROUP_O, v1::RH_D_POSITIVE); }
inline v1::BloodType ONeg() { return Type(v1::ABO_GROUP_O, v1::RH_D_NEGATIVE); }
inline v1::BloodType APos() { return Type(v1::ABO_GROUP_A, v1::RH_D_POSITIVE); }
inline v1::BloodType ANeg() { return Type(v1::ABO_GROUP_A, v1::RH_D_NEGATIVE); }

inline google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ToTimestamp(t, &ts);
  return ts;
}

class InventoryServerTest : public ::testing::Test {
 protected:
  // `max_threads`: the sync server's thread quota; its pollers count against it, so a test that
  // has N calls in flight at once needs more than N.
  // `sweep_interval`: zero leaves the background sweepers off (tests sweep by hand).
  explicit InventoryServerTest(int pool_size = 8, int max_threads = 64,
                               absl::Duration sweep_interval = absl::ZeroDuration())
      : schema_("inv"), clock_(TestStart()) {
    InventoryServer::Options options;
    options.server.name = "inventory_test";
    options.server.listen_address = "127.0.0.1";
    options.server.port = 0;
    options.server.drain_timeout = absl::Seconds(2);
    options.server.health_probe_interval = absl::Seconds(1);
    options.server.max_threads = max_threads;
    options.db = schema_.options(pool_size);
    options.db.acquire_timeout = absl::Seconds(10);
    options.policy_file = std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto";
    options.clock = &clock_;
    options.reservation_sweep_interval = sweep_interval;
    options.expiry_sweep_interval = sweep_interval;
    absl::StatusOr<std::unique_ptr<InventoryServer>> server =
        InventoryServer::BuildAndStart(std::move(options));
    if (!server.ok()) {
      ADD_FAILURE() << "server did not start: " << server.status();
      return;
    }
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::InventoryService::NewStub(channel_);
  }

  ~InventoryServerTest() override {
    stub_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  // Calls one unary RPC as `actor` with a 20 s deadline.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::InventoryService::Stub::*method)(grpc::ClientContext*,
                                                                       const Request&, Response*),
                    const Request& request, Response* response,
                    const std::string& actor = "admin:tester") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    context.AddMetadata("x-bloodgrid-actor", actor);
    return (stub_.get()->*method)(&context, request, response);
  }

  std::string NextRequestId() { return absl::StrCat("req-", ++request_counter_); }

  // A valid DIN of the test facility; sequence numbers never repeat within a test.
  std::string NewDin() {
    absl::StatusOr<Din> din = Din::Create("A9999", 25, ++din_counter_);
    EXPECT_TRUE(din.ok()) << din.status();
    return din->ToString();
  }

  v1::Station AddStation(const std::string& id, bool active = true, double lat = 0,
                         double lon = 0) {
    v1::UpsertStationRequest request;
    request.set_request_id(NextRequestId());
    v1::Station* station = request.mutable_station();
    station->set_station_id(id);
    station->set_name(absl::StrCat("Station ", id));
    station->set_kind(id == "CENTRAL" ? v1::STATION_KIND_CENTRAL : v1::STATION_KIND_BRANCH);
    station->set_active(active);
    if (lat != 0 || lon != 0) {
      station->mutable_location()->set_latitude(lat);
      station->mutable_location()->set_longitude(lon);
    }
    v1::Station out;
    grpc::Status status = Call(&v1::InventoryService::Stub::UpsertStation, request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  v1::RegisterCollectionRequest CollectionRequest(
      const std::string& din, const std::string& donor, const std::string& station,
      v1::BloodType type, v1::DonationType donation = v1::DONATION_TYPE_WHOLE_BLOOD,
      int volume_ml = 200, absl::Time collected = absl::InfinitePast()) {
    v1::RegisterCollectionRequest request;
    request.set_request_id(NextRequestId());
    request.set_din(din);
    request.set_donor_id(donor);
    request.set_donation_type(donation);
    *request.mutable_blood_type() = type;
    request.set_volume_ml(volume_ml);
    *request.mutable_collected_at() =
        Ts(collected == absl::InfinitePast() ? clock_.Now() - absl::Hours(2) : collected);
    request.set_station_id(station);
    return request;
  }

  v1::Unit Collect(const std::string& din, const std::string& donor, const std::string& station,
                   v1::BloodType type, v1::DonationType donation = v1::DONATION_TYPE_WHOLE_BLOOD,
                   int volume_ml = 200, absl::Time collected = absl::InfinitePast()) {
    v1::RegisterCollectionResponse response;
    grpc::Status status = Call(
        &v1::InventoryService::Stub::RegisterCollection,
        CollectionRequest(din, donor, station, type, donation, volume_ml, collected), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.unit();
  }

  // Every mandatory screen non-reactive and the typing `typed`.
  v1::RecordTestResultsRequest AllClearRequest(const std::string& din, v1::BloodType typed) {
    v1::RecordTestResultsRequest request;
    request.set_request_id(NextRequestId());
    request.set_din(din);
    for (v1::ScreeningTest test :
         {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
          v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_SYPHILIS}) {
      request.add_results()->set_test(test);
    }
    v1::TestResultInput* typing = request.add_results();
    typing->set_test(v1::SCREENING_TEST_ABO_RHD);
    *typing->mutable_blood_type() = typed;
    return request;
  }

  v1::RecordTestResultsResponse ReleaseDin(const std::string& din, v1::BloodType typed) {
    v1::RecordTestResultsResponse response;
    grpc::Status status = Call(&v1::InventoryService::Stub::RecordTestResults,
                               AllClearRequest(din, typed), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // An AVAILABLE whole-blood unit (200 mL = 1 U, or 400 mL = 2 U) or apheresis unit.
  v1::Unit AvailableUnit(const std::string& station, v1::BloodType type, int volume_ml = 200,
                         absl::Time collected = absl::InfinitePast(),
                         v1::DonationType donation = v1::DONATION_TYPE_WHOLE_BLOOD,
                         const std::string& donor = "") {
    const std::string din = NewDin();
    Collect(din, donor.empty() ? absl::StrCat("D-", din) : donor, station, type, donation,
            volume_ml, collected);
    v1::RecordTestResultsResponse released = ReleaseDin(din, type);
    EXPECT_EQ(released.released_units_size(), 1);
    return released.released_units_size() > 0 ? released.released_units(0) : v1::Unit();
  }

  v1::ReserveRequest ReserveRequest(const std::string& key, std::vector<std::string> stations,
                                    int quantity,
                                    std::vector<std::pair<v1::BloodType, int>> candidates,
                                    v1::Priority priority = v1::PRIORITY_ROUTINE,
                                    v1::Component component = v1::COMPONENT_WHOLE_BLOOD) {
    v1::ReserveRequest request;
    request.set_reservation_key(key);
    for (const std::string& station : stations) request.add_station_ids(station);
    request.set_component(component);
    request.set_quantity(quantity);
    for (const auto& [type, tier] : candidates) {
      v1::CandidateBloodType* candidate = request.add_candidates();
      *candidate->mutable_blood_type() = type;
      candidate->set_tier(tier);
    }
    request.set_priority(priority);
    *request.mutable_expiry_floor() = Ts(clock_.Now() + absl::Hours(1));
    request.set_order_id(absl::StrCat("ORD-", key.substr(0, std::min<size_t>(key.size(), 40))));
    request.set_hospital_id("H001");
    return request;
  }

  // Row counts of every table: equal before and after a refused call means nothing was written.
  std::string TableFingerprint() {
    std::string out;
    for (const char* table :
         {"stations", "par_levels", "donations", "test_results", "units", "unit_events",
          "reservations", "transfers", "transfer_units", "idempotency_keys"}) {
      absl::StrAppend(&out, table, "=",
                      schema_.QueryInt(absl::StrCat("SELECT COUNT(*) FROM ", table)), " ");
    }
    // Content, not just counts: a changed status, hold, place or holder changes the sums.
    absl::StrAppend(
        &out, "units_crc=",
        schema_.QueryInt(
            "SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', unit_id, status, hold, station_id, "
            "abo, rhd, COALESCE(reservation_key, ''), COALESCE(transfer_id, ''), "
            "outcome, discard_reason))), 0) FROM units"),
        " reservations_crc=",
        schema_.QueryInt("SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', reservation_key, status, "
                         "COALESCE(hold_expires_us, 0)))), 0) FROM reservations"),
        " stations_crc=",
        schema_.QueryInt("SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', station_id, name, active, "
                         "updated_us))), 0) FROM stations"),
        " transfers_crc=",
        schema_.QueryInt("SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', transfer_id, status))), 0) "
                         "FROM transfers"));
    return out;
  }

  TestSchema schema_;
  FakeClock clock_;
  std::unique_ptr<InventoryServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::InventoryService::Stub> stub_;
  std::atomic<int> request_counter_{0};
  std::atomic<int> din_counter_{100000};
};

}  // namespace bloodgrid::inventory::testing

#endif  // BLOODGRID_TESTS_INTEGRATION_INVENTORY_TEST_SUPPORT_H_
