// The bench's direct database work: bulk seeding of released stock into the inventory schema
// (batched multi-row inserts: a million units in minutes, not the hours the public API would
// take), and the raw reservation transaction that is the baseline the services are measured
// against.
//
// Seeded units look like stock released by the inventory service: one donation per DIN, one
// AVAILABLE unit per DIN with the policy's shelf life, and its RELEASED_FOR_USE event. Their
// DINs use the facility numbers ZB000-ZB099, which nothing else in BloodGrid uses.
#ifndef BLOODGRID_BENCH_BENCH_DB_H_
#define BLOODGRID_BENCH_BENCH_DB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/blood.h"
#include "common/mysql_pool.h"

namespace bloodgrid::bench {

struct TypeShare {
  BloodType type;
  double percent = 0;
};

// "O+:38,A+:27,B+:22,AB+:7,O-:2.5,A-:1.5,B-:1.5,AB-:0.5" -> shares (need not add up to 100;
// they are normalised). INVALID_ARGUMENT naming the bad entry.
absl::StatusOr<std::vector<TypeShare>> ParseTypeMix(const std::string& text);

struct SeedPlan {
  std::vector<std::string> station_ids;  // stock is spread evenly over these
  std::vector<TypeShare> mix;
  // Shares of the components among seeded units (red cells, plasma, platelets).
  double red_cells = 0.75;
  double plasma = 0.20;
  double platelets = 0.05;
  const v1::PolicyProfile* policy = nullptr;  // shelf lives
  absl::TimeZone time_zone = absl::UTCTimeZone();
  uint64_t seed = 1;
  int batch_rows = 1000;
};

// Adds seeded units until `target` units with bench DINs exist; returns how many it added.
// `progress` (optional) is called after each batch with the units added so far.
absl::StatusOr<int64_t> SeedUnits(db::ConnectionPool& pool, const SeedPlan& plan, int64_t target,
                                  const std::function<void(int64_t)>& progress);

// Units of the inventory schema by status number (all units, not only seeded ones).
absl::StatusOr<std::vector<std::pair<int, int64_t>>> CountUnitsByStatus(db::ConnectionPool& pool);

// Server-wide counters from SHOW GLOBAL STATUS (Com_commit, Questions, Innodb_data_fsyncs,
// ...): their growth over a phase, divided by the operations, says what one operation costs
// the database.
absl::StatusOr<std::map<std::string, int64_t>> GlobalStatus(db::ConnectionPool& pool);

// The reservation transaction the inventory service runs for one line, issued directly:
// insert the reservation, read candidates from idx_units_reserve, claim them with
// SELECT ... FOR UPDATE SKIP LOCKED, mark each RESERVED and write its event, commit. One
// durable commit, like the service's. `Release` puts the units back and deletes the
// reservation (a second transaction) so the stock does not run dry. Not thread-safe: one per
// client thread.
class RawReserver {
 public:
  RawReserver(db::ConnectionPool* pool, std::string key_prefix);

  struct Result {
    std::vector<std::string> unit_ids;
    int32_t quantity = 0;
  };
  absl::StatusOr<Result> Reserve(const std::string& station_id, v1::Component component,
                                 BloodType type, int32_t quantity);
  absl::Status Release(const std::string& key, const std::vector<std::string>& unit_ids);
  const std::string& last_key() const { return last_key_; }

 private:
  db::ConnectionPool* const pool_;
  const std::string key_prefix_;
  int64_t next_ = 0;
  std::string last_key_;
};

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_BENCH_DB_H_
