#include "bench/bench_db.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <memory>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/din.h"
#include "common/policy.h"
#include "common/status.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::bench {
namespace {

// Seeded DIN number i -> facility ZB0<i / 10^6>, year 26, sequence i mod 10^6.
constexpr int64_t kDinsPerFacility = 1'000'000;
constexpr int64_t kMaxSeededUnits = 100 * kDinsPerFacility;
constexpr char kSeedDinPattern[] = "ZB0%";

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

}  // namespace

absl::StatusOr<std::vector<TypeShare>> ParseTypeMix(const std::string& text) {
  std::vector<TypeShare> mix;
  double total = 0;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(entry, ':');
    absl::StatusOr<BloodType> type = ParseBloodType(absl::StripAsciiWhitespace(parts.first));
    double percent = 0;
    if (!type.ok() || !type->IsKnown() ||
        !absl::SimpleAtod(absl::StripAsciiWhitespace(parts.second), &percent) || percent < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("type mix entry '", entry, "': expected TYPE:PERCENT, e.g. O+:38"));
    }
    mix.push_back({*type, percent});
    total += percent;
  }
  if (mix.empty() || total <= 0) return absl::InvalidArgumentError("type mix is empty");
  for (TypeShare& share : mix) share.percent = share.percent * 100.0 / total;
  return mix;
}

absl::StatusOr<int64_t> SeedUnits(db::ConnectionPool& pool, const SeedPlan& plan, int64_t target,
                                  const std::function<void(int64_t)>& progress) {
  if (plan.station_ids.empty()) return absl::InvalidArgumentError("no stations to seed");
  if (plan.policy == nullptr) return absl::InvalidArgumentError("no policy for shelf lives");
  if (target > kMaxSeededUnits) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxSeededUnits, " seeded units"));
  }
  int64_t existing = 0;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      pool, "count seeded units", absl::Now() + absl::Minutes(5), [&](db::Connection& conn) {
        sql::PreparedStatement& count =
            conn.Prepare("SELECT COUNT(*) FROM donations WHERE din LIKE ?");
        count.setString(1, kSeedDinPattern);
        std::unique_ptr<sql::ResultSet> rs(count.executeQuery());
        existing = rs->next() ? rs->getInt64(1) : 0;
        return absl::OkStatus();
      }));
  if (existing >= target) return 0;

  struct ComponentSpec {
    v1::Component component;
    double share;
    v1::DonationType donation_type;
    int32_t quantity;
    int32_t volume_ml;
    absl::Duration shelf_life;
  };
  std::vector<ComponentSpec> components = {
      {v1::COMPONENT_RED_CELLS, plan.red_cells, v1::DONATION_TYPE_WHOLE_BLOOD, 2, 280, {}},
      {v1::COMPONENT_PLASMA, plan.plasma, v1::DONATION_TYPE_WHOLE_BLOOD, 200, 200, {}},
      {v1::COMPONENT_PLATELETS, plan.platelets, v1::DONATION_TYPE_APHERESIS_PLATELETS, 1, 250, {}},
  };
  for (ComponentSpec& spec : components) {
    BG_ASSIGN_OR_RETURN(spec.shelf_life, ShelfLife(*plan.policy, spec.component));
  }
  std::discrete_distribution<int> pick_component({plan.red_cells, plan.plasma, plan.platelets});
  std::vector<double> type_weights;
  for (const TypeShare& share : plan.mix) type_weights.push_back(share.percent);
  std::discrete_distribution<int> pick_type(type_weights.begin(), type_weights.end());
  std::uniform_real_distribution<double> age_fraction(0.0, 0.8);
  // The same seed continues the same stream: start it where the existing units left off.
  std::mt19937_64 rng(plan.seed ^ static_cast<uint64_t>(existing) * 0x9E3779B97F4A7C15ull);

  const absl::Time now = absl::Now();
  int64_t added = 0;
  for (int64_t next = existing; next < target;) {
    const int64_t end = std::min(target, next + plan.batch_rows);
    std::string donations =
        "INSERT INTO donations (din, donor_id, donation_type, station_id, collected_us, "
        "collected_abo, collected_rhd, testing_outcome, created_us) VALUES ";
    std::string units =
        "INSERT INTO units (unit_id, din, component, division, product_code, abo, rhd, status, "
        "hold, station_id, quantity, volume_ml, donation_type, collected_us, expires_us, donor_id, "
        "created_us, updated_us) VALUES ";
    std::string events =
        "INSERT INTO unit_events (unit_id, din, component, kind, from_status, to_status, "
        "occurred_us, actor, reason, station_id) VALUES ";
    for (int64_t i = next; i < end; ++i) {
      BG_ASSIGN_OR_RETURN(Din din, Din::Create(absl::StrFormat("ZB0%02d", i / kDinsPerFacility), 26,
                                               static_cast<int>(i % kDinsPerFacility)));
      const ComponentSpec& spec = components[pick_component(rng)];
      const BloodType type = plan.mix[pick_type(rng)].type;
      const std::string& station = plan.station_ids[i % plan.station_ids.size()];
      const absl::Time collected = now - spec.shelf_life * age_fraction(rng);
      BG_ASSIGN_OR_RETURN(absl::Time expires,
                          ExpiresAt(*plan.policy, spec.component, collected, plan.time_zone));
      const absl::Time released = std::min(now, collected + absl::Hours(6));
      // No donor: the donor service has no record of these donations, and an inventory
      // donation that names a donor must be that donor's (bench/invariants.h).
      const std::string donor;
      const std::string unit_id = inventory::UnitIdFor(din.ToString(), spec.component, 1);
      const char* sep = i == next ? "" : ",";
      absl::StrAppend(&donations, sep, "('", din.ToString(), "','", donor, "',",
                      static_cast<int>(spec.donation_type), ",'", station, "',", Micros(collected),
                      ",", static_cast<int>(type.abo), ",", static_cast<int>(type.rhd), ",",
                      static_cast<int>(v1::TESTING_OUTCOME_RELEASED), ",", Micros(released), ")");
      absl::StrAppend(
          &units, sep, "('", unit_id, "','", din.ToString(), "',", static_cast<int>(spec.component),
          ",1,'',", static_cast<int>(type.abo), ",", static_cast<int>(type.rhd), ",",
          static_cast<int>(v1::UNIT_STATUS_AVAILABLE), ",0,'", station, "',", spec.quantity, ",",
          spec.volume_ml, ",", static_cast<int>(spec.donation_type), ",", Micros(collected), ",",
          Micros(expires), ",'", donor, "',", Micros(collected), ",", Micros(released), ")");
      // The trace a released unit has: collected into quarantine, then released.
      absl::StrAppend(&events, sep, "('", unit_id, "','", din.ToString(), "',",
                      static_cast<int>(spec.component), ",",
                      static_cast<int>(v1::UNIT_EVENT_KIND_COLLECTED), ",",
                      static_cast<int>(v1::UNIT_STATUS_UNSPECIFIED), ",",
                      static_cast<int>(v1::UNIT_STATUS_QUARANTINED), ",", Micros(collected),
                      ",'bench:seed','seeded collection','", station, "'),('", unit_id, "','",
                      din.ToString(), "',", static_cast<int>(spec.component), ",",
                      static_cast<int>(v1::UNIT_EVENT_KIND_RELEASED_FOR_USE), ",",
                      static_cast<int>(v1::UNIT_STATUS_QUARANTINED), ",",
                      static_cast<int>(v1::UNIT_STATUS_AVAILABLE), ",", Micros(released),
                      ",'bench:seed','seeded as released stock','", station, "')");
    }
    BG_RETURN_IF_ERROR(db::RunTransaction(pool, "seed units", absl::Now() + absl::Minutes(5),
                                          [&](db::Connection& conn) {
                                            conn.Execute(donations);
                                            conn.Execute(units);
                                            conn.Execute(events);
                                            return absl::OkStatus();
                                          }));
    added += end - next;
    next = end;
    if (progress) progress(added);
  }
  return added;
}

absl::StatusOr<std::vector<std::pair<int, int64_t>>> CountUnitsByStatus(db::ConnectionPool& pool) {
  std::vector<std::pair<int, int64_t>> out;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      pool, "count units", absl::Now() + absl::Minutes(5), [&](db::Connection& conn) {
        out.clear();
        sql::PreparedStatement& count =
            conn.Prepare("SELECT status, COUNT(*) FROM units GROUP BY status ORDER BY status");
        std::unique_ptr<sql::ResultSet> rs(count.executeQuery());
        while (rs->next()) out.emplace_back(rs->getInt(1), rs->getInt64(2));
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> GlobalStatus(db::ConnectionPool& pool) {
  std::map<std::string, int64_t> out;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      pool, "global status", absl::Now() + absl::Seconds(30), [&](db::Connection& conn) {
        out.clear();
        sql::PreparedStatement& status = conn.Prepare(
            "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE "
            "VARIABLE_NAME IN ('COM_COMMIT', 'COM_ROLLBACK', 'QUESTIONS', 'INNODB_DATA_FSYNCS', "
            "'INNODB_ROW_LOCK_WAITS', 'INNODB_DEADLOCKS', 'HANDLER_READ_NEXT')");
        std::unique_ptr<sql::ResultSet> rs(status.executeQuery());
        while (rs->next()) {
          int64_t value = 0;
          if (absl::SimpleAtoi(std::string(rs->getString(2)), &value)) {
            out[absl::AsciiStrToLower(std::string(rs->getString(1)))] = value;
          }
        }
        return absl::OkStatus();
      }));
  return out;
}

RawReserver::RawReserver(db::ConnectionPool* pool, std::string key_prefix)
    : pool_(pool), key_prefix_(std::move(key_prefix)) {}

absl::StatusOr<RawReserver::Result> RawReserver::Reserve(const std::string& station_id,
                                                         v1::Component component, BloodType type,
                                                         int32_t quantity) {
  last_key_ = absl::StrCat(key_prefix_, "-", ++next_);
  Result result;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  BG_RETURN_IF_ERROR(db::RunTransaction(*pool_, "raw reserve", deadline, [&](db::Connection& conn) {
    result = Result{};
    const int64_t now = Micros(absl::Now());
    sql::PreparedStatement& reservation = conn.Prepare(
        "INSERT INTO reservations (reservation_key, status, component, requested_quantity, "
        "priority, order_id, hospital_id, hold_expires_us, created_us, updated_us) VALUES "
        "(?, ?, ?, ?, ?, '', 'bench-raw', ?, ?, ?)");
    reservation.setString(1, last_key_);
    reservation.setInt(2, v1::RESERVATION_STATUS_HELD);
    reservation.setInt(3, component);
    reservation.setInt(4, quantity);
    reservation.setInt(5, v1::PRIORITY_ROUTINE);
    reservation.setInt64(6, now + 15LL * 60 * 1'000'000);
    reservation.setInt64(7, now);
    reservation.setInt64(8, now);
    reservation.executeUpdate();

    sql::PreparedStatement& candidates = conn.Prepare(
        "SELECT unit_id, expires_us, quantity FROM units FORCE INDEX (idx_units_reserve) "
        "WHERE status = ? AND component = ? AND abo = ? AND rhd = ? AND station_id = ? "
        "AND expires_us > ? ORDER BY expires_us, unit_id LIMIT ?");
    candidates.setInt(1, v1::UNIT_STATUS_AVAILABLE);
    candidates.setInt(2, component);
    candidates.setInt(3, type.abo);
    candidates.setInt(4, type.rhd);
    candidates.setString(5, station_id);
    candidates.setInt64(6, now + 3600LL * 1'000'000);
    candidates.setInt(7, std::min(quantity, 500) + 32);
    std::vector<std::pair<std::string, std::string>> found;  // unit id, din
    {
      std::unique_ptr<sql::ResultSet> rs(candidates.executeQuery());
      while (rs->next()) found.emplace_back(rs->getString(1), "");
    }
    for (auto& [unit_id, din] : found) {
      if (result.quantity >= quantity) break;
      sql::PreparedStatement& claim = conn.Prepare(
          "SELECT din, quantity FROM units WHERE unit_id = ? AND status = ? "
          "FOR UPDATE SKIP LOCKED");
      claim.setString(1, unit_id);
      claim.setInt(2, v1::UNIT_STATUS_AVAILABLE);
      int32_t unit_quantity = 0;
      {
        std::unique_ptr<sql::ResultSet> rs(claim.executeQuery());
        if (!rs->next()) continue;  // taken by another transaction meanwhile
        din = rs->getString(1);
        unit_quantity = rs->getInt(2);
      }
      sql::PreparedStatement& update = conn.Prepare(
          "UPDATE units SET status = ?, reservation_key = ?, updated_us = ? WHERE unit_id = ?");
      update.setInt(1, v1::UNIT_STATUS_RESERVED);
      update.setString(2, last_key_);
      update.setInt64(3, now);
      update.setString(4, unit_id);
      update.executeUpdate();
      sql::PreparedStatement& event = conn.Prepare(
          "INSERT INTO unit_events (unit_id, din, component, kind, from_status, to_status, "
          "occurred_us, actor, reason, station_id, reservation_key) VALUES "
          "(?, ?, ?, ?, ?, ?, ?, 'bench:raw', 'reserved', ?, ?)");
      event.setString(1, unit_id);
      event.setString(2, din);
      event.setInt(3, component);
      event.setInt(4, v1::UNIT_EVENT_KIND_RESERVED);
      event.setInt(5, v1::UNIT_STATUS_AVAILABLE);
      event.setInt(6, v1::UNIT_STATUS_RESERVED);
      event.setInt64(7, now);
      event.setString(8, station_id);
      event.setString(9, last_key_);
      event.executeUpdate();
      result.unit_ids.push_back(unit_id);
      result.quantity += unit_quantity;
    }
    return absl::OkStatus();
  }));
  return result;
}

absl::Status RawReserver::Release(const std::string& key,
                                  const std::vector<std::string>& unit_ids) {
  return db::RunTransaction(
      *pool_, "raw release", absl::Now() + absl::Seconds(10), [&](db::Connection& conn) {
        const int64_t now = Micros(absl::Now());
        for (const std::string& unit_id : unit_ids) {
          sql::PreparedStatement& lock = conn.Prepare(
              "SELECT din, component, station_id FROM units WHERE unit_id = ? AND "
              "reservation_key = ? AND status = ? FOR UPDATE");
          lock.setString(1, unit_id);
          lock.setString(2, key);
          lock.setInt(3, v1::UNIT_STATUS_RESERVED);
          std::unique_ptr<sql::ResultSet> rs(lock.executeQuery());
          if (!rs->next()) continue;
          sql::PreparedStatement& update = conn.Prepare(
              "UPDATE units SET status = ?, reservation_key = NULL, updated_us = ? "
              "WHERE unit_id = ?");
          update.setInt(1, v1::UNIT_STATUS_AVAILABLE);
          update.setInt64(2, now);
          update.setString(3, unit_id);
          update.executeUpdate();
          sql::PreparedStatement& event = conn.Prepare(
              "INSERT INTO unit_events (unit_id, din, component, kind, from_status, to_status, "
              "occurred_us, actor, reason, station_id, reservation_key) VALUES "
              "(?, ?, ?, ?, ?, ?, ?, 'bench:raw', 'released', ?, ?)");
          event.setString(1, unit_id);
          event.setString(2, rs->getString(1));
          event.setInt(3, rs->getInt(2));
          event.setInt(4, v1::UNIT_EVENT_KIND_UNRESERVED);
          event.setInt(5, v1::UNIT_STATUS_RESERVED);
          event.setInt(6, v1::UNIT_STATUS_AVAILABLE);
          event.setInt64(7, now);
          event.setString(8, rs->getString(3));
          event.setString(9, key);
          event.executeUpdate();
        }
        // The raw reservation has no order behind it: it leaves no row, so the audit's
        // "every reservation has its order" rule keeps meaning what it says.
        sql::PreparedStatement& done =
            conn.Prepare("DELETE FROM reservations WHERE reservation_key = ?");
        done.setString(1, key);
        done.executeUpdate();
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::bench
