// Reservations under contention, against the real MariaDB through the real server: 64 clients
// race for the last N bags of a type, round after round. Exactly N are reserved each round, no
// bag goes to two reservations, and no lock conflict surfaces to a caller (no ABORTED, no
// UNAVAILABLE). Concurrent retries with one reservation key get one reservation.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/inventory_test_support.h"

namespace bloodgrid::inventory::testing {
namespace {

using Stub = v1::InventoryService::Stub;

class InventoryConcurrencyTest : public InventoryServerTest {
 protected:
  // 64 calls in flight at once: room for them and the server's pollers.
  InventoryConcurrencyTest() : InventoryServerTest(/*pool_size=*/16, /*max_threads=*/160) {}

  struct Outcome {
    grpc::Status status;
    v1::Reservation reservation;
  };

  // `clients` threads start together and each calls Reserve once with its own request.
  std::vector<Outcome> Race(const std::vector<v1::ReserveRequest>& requests) {
    std::vector<Outcome> outcomes(requests.size());
    std::latch start(static_cast<std::ptrdiff_t>(requests.size()));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < requests.size(); ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        outcomes[i].status = Call(&Stub::Reserve, requests[i], &outcomes[i].reservation,
                                  absl::StrCat("hospital:H", i));
      });
    }
    for (std::thread& thread : threads) thread.join();
    return outcomes;
  }
};

TEST_F(InventoryConcurrencyTest, SixtyFourClientsRaceForTheLastBags) {
  AddStation("CENTRAL");
  AddStation("BR-1");
  constexpr int kClients = 64;
  constexpr int kRounds = 30;
  std::set<std::string> ever_reserved;
  int total = 0;
  for (int round = 0; round < kRounds; ++round) {
    // The last N bags: everything reserved in earlier rounds stays reserved.
    const int n = 3 + (round % 4) * 5;  // 3, 8, 13, 18
    std::set<std::string> supply;
    for (int i = 0; i < n; ++i) {
      supply.insert(AvailableUnit(i % 3 == 0 ? "BR-1" : "CENTRAL", ONeg()).unit_id());
    }
    std::vector<v1::ReserveRequest> requests;
    for (int c = 0; c < kClients; ++c) {
      // Most clients want one bag, some two or three; emergency ones look at BR-1 first.
      const int quantity = c % 8 == 0 ? 3 : (c % 4 == 0 ? 2 : 1);
      const v1::Priority priority = c % 5 == 0 ? v1::PRIORITY_EMERGENCY : v1::PRIORITY_ROUTINE;
      requests.push_back(ReserveRequest(absl::StrCat("race-", round, "-", c),
                                        c % 2 == 0 ? std::vector<std::string>{"CENTRAL", "BR-1"}
                                                   : std::vector<std::string>{"BR-1", "CENTRAL"},
                                        quantity, {{ONeg(), 0}, {OPos(), 1}}, priority));
    }
    const std::vector<Outcome> outcomes = Race(requests);
    std::set<std::string> taken;
    int reserved_units = 0;
    for (size_t c = 0; c < outcomes.size(); ++c) {
      const Outcome& outcome = outcomes[c];
      ASSERT_TRUE(outcome.status.ok())
          << "round " << round << " client " << c << ": " << outcome.status.error_code() << " "
          << outcome.status.error_message();
      EXPECT_LE(outcome.reservation.reserved_quantity(), requests[c].quantity());
      for (const v1::Unit& unit : outcome.reservation.units()) {
        EXPECT_EQ(unit.status(), v1::UNIT_STATUS_RESERVED);
        EXPECT_EQ(unit.reservation_key(), requests[c].reservation_key());
        EXPECT_TRUE(taken.insert(unit.unit_id()).second)
            << "bag reserved twice: " << unit.unit_id();
        EXPECT_EQ(ever_reserved.count(unit.unit_id()), 0u)
            << "bag reserved again: " << unit.unit_id();
        ++reserved_units;
      }
    }
    EXPECT_EQ(reserved_units, n) << "round " << round;
    EXPECT_EQ(taken, supply) << "round " << round;
    ever_reserved.insert(taken.begin(), taken.end());
    total += n;
    // The database agrees: every bag reserved once, by a reservation that lists it.
    EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM units WHERE status = 3"), total);
    EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM units WHERE status = 2"), 0);
    EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM units u JOIN reservations r "
                               "ON r.reservation_key = u.reservation_key WHERE u.status = 3"),
              total);
    EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM unit_events WHERE kind = 6"), total);
  }
}

TEST_F(InventoryConcurrencyTest, ConcurrentRetriesWithOneKeyGetOneReservation) {
  AddStation("CENTRAL");
  for (int i = 0; i < 6; ++i) AvailableUnit("CENTRAL", OPos());
  for (int round = 0; round < 5; ++round) {
    const std::string key = absl::StrCat("ORD-SAME/", round, "/1");
    std::vector<v1::ReserveRequest> requests(16,
                                             ReserveRequest(key, {"CENTRAL"}, 1, {{OPos(), 0}}));
    const std::vector<Outcome> outcomes = Race(requests);
    std::set<std::string> distinct;
    for (const Outcome& outcome : outcomes) {
      ASSERT_TRUE(outcome.status.ok())
          << outcome.status.error_code() << " " << outcome.status.error_message();
      ASSERT_EQ(outcome.reservation.units_size(), 1);
      distinct.insert(outcome.reservation.units(0).unit_id());
    }
    EXPECT_EQ(distinct.size(), 1u) << "one key, one reservation";
    EXPECT_EQ(schema_.QueryInt(
                  absl::StrCat("SELECT COUNT(*) FROM units WHERE reservation_key = '", key, "'")),
              1);
  }
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM reservations"), 5);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM units WHERE status = 3"), 5);
}

}  // namespace
}  // namespace bloodgrid::inventory::testing
