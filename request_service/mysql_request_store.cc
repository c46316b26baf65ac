#include "request_service/mysql_request_store.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/idempotency.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "request_service/mysql_order_rows.h"
#include "request_service/request_rules.h"

namespace bloodgrid::request {
namespace {

using ResultSetPtr = std::unique_ptr<sql::ResultSet>;

using mysql_rows::ApplyChange;
using mysql_rows::InsertOrderTx;
using mysql_rows::LoadOrderTx;
using mysql_rows::SetTimestampFromMicros;
// ---------------------------------------------------------------------------------------------
// SQL.

constexpr char kPing[] = "SELECT 1";

constexpr char kHospitalColumns[] =
    "hospital_id, name, serving_station_id, has_location, latitude, longitude, address, active, "
    "created_at, updated_at";
const std::string kSelectHospital =
    absl::StrCat("SELECT ", kHospitalColumns, " FROM hospitals WHERE hospital_id = ?");
const std::string kListHospitals =
    absl::StrCat("SELECT ", kHospitalColumns,
                 " FROM hospitals WHERE hospital_id > ? ORDER BY hospital_id LIMIT ?");
constexpr char kSelectFallbacks[] =
    "SELECT station_id FROM hospital_fallback_stations WHERE hospital_id = ? ORDER BY position";
constexpr char kUpsertHospital[] =
    "INSERT INTO hospitals (hospital_id, name, serving_station_id, has_location, latitude, "
    "longitude, address, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name), serving_station_id = "
    "VALUES(serving_station_id), has_location = VALUES(has_location), latitude = "
    "VALUES(latitude), longitude = VALUES(longitude), address = VALUES(address), active = "
    "VALUES(active), updated_at = VALUES(updated_at)";
constexpr char kDeleteFallbacks[] = "DELETE FROM hospital_fallback_stations WHERE hospital_id = ?";
constexpr char kInsertFallback[] =
    "INSERT INTO hospital_fallback_stations (hospital_id, position, station_id) VALUES (?, ?, ?)";

constexpr char kFindOrderByRequest[] =
    "SELECT order_id, request_hash FROM orders WHERE hospital_id = ? AND request_id = ?";

// Optional filters are written as (? = <any> OR column = ?), an enum's "any" bound as a flag,
// so one prepared statement serves every combination; input never becomes SQL text.
constexpr char kListOrders[] =
    "SELECT order_id FROM orders WHERE (? OR status = ?) AND (? = '' OR hospital_id = ?) "
    "AND (? OR priority = ?) AND created_at >= ? AND created_at < ? AND (? = '' OR "
    "patient_ref = ?) AND (created_at < ? OR (created_at = ? AND order_id < ?)) "
    "ORDER BY created_at DESC, order_id DESC LIMIT ?";

constexpr char kFindDeliveries[] =
    "SELECT a.din, a.unit_id, a.component, o.order_id, o.hospital_id, h.name, o.patient_ref, "
    "o.status, o.dispatched_at, o.delivered_at, a.outcome FROM allocations a JOIN orders o ON "
    "o.order_id = a.order_id JOIN hospitals h ON h.hospital_id = o.hospital_id WHERE a.din = ? "
    "AND a.withdrawn = 0 AND o.dispatched_at IS NOT NULL AND o.dispatched_at >= ? "
    "ORDER BY o.dispatched_at, a.unit_id";

// The statuses and states of the job queries are bound from the rules that name them
// (request_rules.h); each IN list has room for the rule's set (BindSet).
constexpr char kDailyQuantities[] =
    "SELECT l.component, SUM(l.quantity) FROM orders o JOIN order_lines l ON l.order_id = "
    "o.order_id WHERE o.hospital_id = ? AND o.patient_ref = ? AND o.created_at >= ? AND "
    "o.created_at < ? AND o.status NOT IN (?, ?) GROUP BY l.component";
constexpr int kClosedUnissuedSlots = 2;

constexpr char kOrdersToReconcile[] =
    "SELECT order_id, updated_at FROM orders WHERE status = ? AND updated_at < ? "
    "UNION SELECT order_id, updated_at FROM orders WHERE dispatch_intent = 1 AND updated_at < ? "
    "UNION SELECT o.order_id, o.updated_at FROM reservations r JOIN orders o ON o.order_id = "
    "r.order_id WHERE r.state IN (?, ?, ?) AND o.updated_at < ? "
    "ORDER BY updated_at LIMIT ?";
constexpr int kUnsettledReservationSlots = 3;

constexpr char kBackorderedOrders[] =
    "SELECT order_id FROM orders WHERE status = ? AND dispatch_intent = 0 "
    "ORDER BY priority DESC, created_at, order_id LIMIT ?";

constexpr char kUnreportedUnits[] =
    "SELECT a.order_id, a.unit_id FROM allocations a JOIN orders o ON o.order_id = a.order_id "
    "WHERE o.status IN (?, ?) AND o.dispatched_at < ? AND a.withdrawn = 0 AND a.outcome = ? "
    "ORDER BY o.dispatched_at, a.order_id, a.unit_id LIMIT ?";
constexpr int kAwaitsOutcomesSlots = 2;

// The enum numbers of a rule's set, for `slots` placeholders of an IN list: INTERNAL when the
// set is empty or larger than the query has room for.
template <typename Enum>
absl::StatusOr<std::vector<int>> SetOf(const std::vector<Enum>& values, int slots) {
  if (values.empty() || static_cast<int>(values.size()) > slots) {
    return absl::InternalError("a rule's set does not fit its query");
  }
  std::vector<int> numbers;
  for (Enum v : values) numbers.push_back(static_cast<int>(v));
  return numbers;
}

// The enum number of a rule that names exactly one value.
template <typename Enum>
absl::StatusOr<int> OneOf(const std::vector<Enum>& values) {
  if (values.size() != 1) return absl::InternalError("a rule's value does not fit its query");
  return static_cast<int>(values.front());
}

// Binds `numbers` (SetOf) to the `slots` placeholders from `index` on; the last number fills
// the slots left over (a repeat in an IN list changes nothing).
void BindSet(sql::PreparedStatement& statement, int index, int slots,
             const std::vector<int>& numbers) {
  for (int i = 0; i < slots; ++i) {
    statement.setInt(index + i, numbers[std::min<size_t>(i, numbers.size() - 1)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers. They throw sql::SQLException and run only inside RunTransaction bodies.

// One hospitals row, without its fallback stations (FillFallbacks).
v1::Hospital ReadHospitalRow(sql::ResultSet& rs) {
  v1::Hospital h;
  h.set_hospital_id(rs.getString(1));
  h.set_name(rs.getString(2));
  h.set_serving_station_id(rs.getString(3));
  if (rs.getBoolean(4)) {
    h.mutable_location()->set_latitude(static_cast<double>(rs.getDouble(5)));
    h.mutable_location()->set_longitude(static_cast<double>(rs.getDouble(6)));
  }
  h.set_address(rs.getString(7));
  h.set_active(rs.getBoolean(8));
  ToTimestamp(absl::FromUnixMicros(rs.getInt64(9)), h.mutable_created_at());
  ToTimestamp(absl::FromUnixMicros(rs.getInt64(10)), h.mutable_updated_at());
  return h;
}

void FillFallbacks(db::Connection& conn, v1::Hospital& h) {
  sql::PreparedStatement& fallbacks = conn.Prepare(kSelectFallbacks);
  fallbacks.setString(1, h.hospital_id());
  ResultSetPtr rs(fallbacks.executeQuery());
  while (rs->next()) h.add_fallback_station_ids(rs->getString(1));
}

absl::StatusOr<v1::Hospital> SelectHospital(db::Connection& conn, const std::string& id) {
  sql::PreparedStatement& select = conn.Prepare(kSelectHospital);
  select.setString(1, id);
  ResultSetPtr rs(select.executeQuery());
  if (!rs->next()) return absl::NotFoundError(absl::StrCat("hospital ", id, " not found"));
  v1::Hospital h = ReadHospitalRow(*rs);
  rs.reset();
  FillFallbacks(conn, h);
  return h;
}
}  // namespace

absl::Status MysqlRequestStore::Ping(absl::Time deadline) { return pool_->Ping(deadline); }

absl::StatusOr<v1::Hospital> MysqlRequestStore::UpsertHospital(const v1::Hospital& hospital,
                                                               const db::IdempotencyKey& key,
                                                               absl::Time now,
                                                               absl::Time deadline) {
  v1::Hospital result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "upsert hospital", deadline, [&](db::Connection& conn) -> absl::Status {
        result.Clear();
        BG_ASSIGN_OR_RETURN(bool replayed, db::ClaimOrReplay(conn, key, &result));
        if (replayed) return absl::OkStatus();
        sql::PreparedStatement& upsert = conn.Prepare(kUpsertHospital);
        upsert.setString(1, hospital.hospital_id());
        upsert.setString(2, hospital.name());
        upsert.setString(3, hospital.serving_station_id());
        upsert.setBoolean(4, hospital.has_location());
        upsert.setDouble(5, hospital.location().latitude());
        upsert.setDouble(6, hospital.location().longitude());
        upsert.setString(7, hospital.address());
        upsert.setBoolean(8, hospital.active());
        upsert.setInt64(9, absl::ToUnixMicros(now));
        upsert.setInt64(10, absl::ToUnixMicros(now));
        upsert.executeUpdate();
        sql::PreparedStatement& clear = conn.Prepare(kDeleteFallbacks);
        clear.setString(1, hospital.hospital_id());
        clear.executeUpdate();
        for (int i = 0; i < hospital.fallback_station_ids_size(); ++i) {
          sql::PreparedStatement& insert = conn.Prepare(kInsertFallback);
          insert.setString(1, hospital.hospital_id());
          insert.setInt(2, i + 1);
          insert.setString(3, hospital.fallback_station_ids(i));
          insert.executeUpdate();
        }
        BG_ASSIGN_OR_RETURN(result, SelectHospital(conn, hospital.hospital_id()));
        db::CompleteIdempotent(conn, key, result);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<v1::Hospital> MysqlRequestStore::GetHospital(const std::string& hospital_id,
                                                            absl::Time deadline) {
  v1::Hospital result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "get hospital", deadline, [&](db::Connection& conn) -> absl::Status {
        BG_ASSIGN_OR_RETURN(result, SelectHospital(conn, hospital_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<v1::Hospital>> MysqlRequestStore::ListHospitals(
    const std::string& after_id, int limit, absl::Time deadline) {
  std::vector<v1::Hospital> result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "list hospitals", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kListHospitals);
        select.setString(1, after_id);
        select.setInt(2, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.push_back(ReadHospitalRow(*rs));
        rs.reset();
        for (v1::Hospital& h : result) FillFallbacks(conn, h);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>>
MysqlRequestStore::FindOrderByRequest(const std::string& hospital_id, const std::string& request_id,
                                      absl::Time deadline) {
  std::optional<std::pair<std::string, std::string>> result;
  BG_RETURN_IF_ERROR(
      db::RunTransaction(*pool_, "find order", deadline, [&](db::Connection& conn) -> absl::Status {
        result.reset();
        sql::PreparedStatement& select = conn.Prepare(kFindOrderByRequest);
        select.setString(1, hospital_id);
        select.setString(2, request_id);
        ResultSetPtr rs(select.executeQuery());
        if (rs->next()) result.emplace(rs->getString(1), rs->getString(2));
        return absl::OkStatus();
      }));
  return result;
}

absl::Status MysqlRequestStore::CreateOrder(const OrderRecord& record,
                                            const std::vector<v1::OrderStatus>& status_path,
                                            const std::string& actor, absl::Time now,
                                            absl::Time deadline) {
  absl::Status status = db::RunTransaction(*pool_, "create order", deadline,
                                           [&](db::Connection& conn) -> absl::Status {
                                             InsertOrderTx(conn, record, status_path, actor, now);
                                             return absl::OkStatus();
                                           });
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    return absl::FailedPreconditionError(
        absl::StrCat("hospital ", record.order.hospital_id(), " is not registered"));
  }
  return status;
}

absl::StatusOr<OrderRecord> MysqlRequestStore::LoadOrder(const std::string& order_id,
                                                         absl::Time deadline) {
  OrderRecord result;
  BG_RETURN_IF_ERROR(
      db::RunTransaction(*pool_, "load order", deadline, [&](db::Connection& conn) -> absl::Status {
        BG_ASSIGN_OR_RETURN(result, LoadOrderTx(conn, order_id, false));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<UpdateResult> MysqlRequestStore::UpdateOrder(const std::string& order_id,
                                                            const db::IdempotencyKey* key,
                                                            const std::string& actor,
                                                            absl::Time now, absl::Time deadline,
                                                            const DecideFn& decide) {
  UpdateResult result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "update order", deadline, [&](db::Connection& conn) -> absl::Status {
        result = UpdateResult();
        if (key != nullptr) {
          BG_ASSIGN_OR_RETURN(bool replayed, db::ClaimOrReplay(conn, *key, &result.order));
          if (replayed) {
            result.replayed = true;
            return absl::OkStatus();
          }
        }
        BG_ASSIGN_OR_RETURN(OrderRecord current, LoadOrderTx(conn, order_id, true));
        BG_ASSIGN_OR_RETURN(OrderChange change, decide(current));
        if (change.status.has_value() && *change.status != current.order.status()) {
          // The state machine is enforced here, where every status change is written.
          BG_RETURN_IF_ERROR(CheckTransition(current.order.status(), *change.status));
        }
        if (change.empty()) {
          result.record = std::move(current);
        } else {
          ApplyChange(conn, current, change, actor, now);
          if (change.read_back || key != nullptr) {
            BG_ASSIGN_OR_RETURN(result.record, LoadOrderTx(conn, order_id, false));
          } else {
            result.record = std::move(current);
          }
        }
        result.order = result.record.order;
        if (key != nullptr) db::CompleteIdempotent(conn, *key, result.order);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<bool> MysqlRequestStore::LookupIdempotent(const db::IdempotencyKey& key,
                                                         google::protobuf::Message* response,
                                                         absl::Time deadline) {
  // ClaimOrReplay claims an unknown key; returning a non-OK status rolls that claim back.
  const absl::Status kNotCompleted = absl::CancelledError("request_id not completed");
  absl::Status status = db::RunTransaction(
      *pool_, "look up request_id", deadline, [&](db::Connection& conn) -> absl::Status {
        BG_ASSIGN_OR_RETURN(bool replayed, db::ClaimOrReplay(conn, key, response));
        return replayed ? absl::OkStatus() : kNotCompleted;
      });
  if (status == kNotCompleted) return false;
  BG_RETURN_IF_ERROR(status);
  return true;
}

absl::StatusOr<std::vector<v1::Order>> MysqlRequestStore::ListOrders(const OrderFilter& filter,
                                                                     const OrderCursor& cursor,
                                                                     int limit,
                                                                     absl::Time deadline) {
  std::vector<v1::Order> result;
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "list orders", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        std::vector<std::string> ids;
        {
          sql::PreparedStatement& select = conn.Prepare(kListOrders);
          select.setBoolean(1, filter.status == v1::ORDER_STATUS_UNSPECIFIED);
          select.setInt(2, filter.status);
          select.setString(3, filter.hospital_id);
          select.setString(4, filter.hospital_id);
          select.setBoolean(5, filter.priority == v1::PRIORITY_UNSPECIFIED);
          select.setInt(6, filter.priority);
          select.setInt64(7, filter.created_after.has_value()
                                 ? absl::ToUnixMicros(*filter.created_after)
                                 : std::numeric_limits<int64_t>::min());
          select.setInt64(8, filter.created_before.has_value()
                                 ? absl::ToUnixMicros(*filter.created_before)
                                 : std::numeric_limits<int64_t>::max());
          select.setString(9, filter.patient_ref);
          select.setString(10, filter.patient_ref);
          const int64_t after = cursor.created_at.has_value()
                                    ? absl::ToUnixMicros(*cursor.created_at)
                                    : std::numeric_limits<int64_t>::max();
          select.setInt64(11, after);
          select.setInt64(12, after);
          select.setString(13, cursor.order_id);
          select.setInt(14, limit);
          ResultSetPtr rs(select.executeQuery());
          while (rs->next()) ids.push_back(rs->getString(1));
        }
        for (const std::string& id : ids) {
          BG_ASSIGN_OR_RETURN(OrderRecord record, LoadOrderTx(conn, id, false));
          result.push_back(std::move(record.order));
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<v1::UnitDelivery>> MysqlRequestStore::FindDeliveries(
    const std::vector<std::string>& dins, std::optional<absl::Time> since, absl::Time deadline) {
  std::vector<v1::UnitDelivery> result;
  std::vector<std::string> sorted = dins;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "find deliveries", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        for (const std::string& din : sorted) {
          sql::PreparedStatement& select = conn.Prepare(kFindDeliveries);
          select.setString(1, din);
          select.setInt64(2, since.has_value() ? absl::ToUnixMicros(*since)
                                               : std::numeric_limits<int64_t>::min());
          ResultSetPtr rs(select.executeQuery());
          while (rs->next()) {
            v1::UnitDelivery d;
            d.set_din(rs->getString(1));
            d.set_unit_id(rs->getString(2));
            d.set_component(static_cast<v1::Component>(rs->getInt(3)));
            d.set_order_id(rs->getString(4));
            d.set_hospital_id(rs->getString(5));
            d.set_hospital_name(rs->getString(6));
            d.set_patient_ref(rs->getString(7));
            d.set_order_status(static_cast<v1::OrderStatus>(rs->getInt(8)));
            SetTimestampFromMicros(rs->getInt64(9), d.mutable_dispatched_at());
            if (!rs->isNull(10)) SetTimestampFromMicros(rs->getInt64(10), d.mutable_delivered_at());
            d.set_outcome(static_cast<v1::TransfusionOutcome>(rs->getInt(11)));
            result.push_back(std::move(d));
          }
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::pair<v1::Component, int64_t>>> MysqlRequestStore::DailyQuantities(
    const std::string& hospital_id, const std::string& patient_ref, absl::Time from, absl::Time to,
    absl::Time deadline) {
  std::vector<std::pair<v1::Component, int64_t>> result;
  BG_ASSIGN_OR_RETURN(const std::vector<int> closed,
                      SetOf(OrderStatusesWhere(IsClosedUnissued), kClosedUnissuedSlots));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "daily volume", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kDailyQuantities);
        select.setString(1, hospital_id);
        select.setString(2, patient_ref);
        select.setInt64(3, absl::ToUnixMicros(from));
        select.setInt64(4, absl::ToUnixMicros(to));
        BindSet(select, 5, kClosedUnissuedSlots, closed);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) {
          result.emplace_back(static_cast<v1::Component>(rs->getInt(1)), rs->getInt64(2));
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::string>> MysqlRequestStore::ListOrdersToReconcile(
    absl::Time changed_before, int limit, absl::Time deadline) {
  std::vector<std::string> result;
  BG_ASSIGN_OR_RETURN(const int unallocated, OneOf(OrderStatusesWhere(IsUnallocated)));
  BG_ASSIGN_OR_RETURN(
      const std::vector<int> unsettled,
      SetOf(ReservationStatesWhere(IsUnsettledReservation), kUnsettledReservationSlots));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "orders to reconcile", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kOrdersToReconcile);
        const int64_t before = absl::ToUnixMicros(changed_before);
        select.setInt(1, unallocated);
        select.setInt64(2, before);
        select.setInt64(3, before);
        BindSet(select, 4, kUnsettledReservationSlots, unsettled);
        select.setInt64(4 + kUnsettledReservationSlots, before);
        select.setInt(5 + kUnsettledReservationSlots, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.push_back(rs->getString(1));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::string>> MysqlRequestStore::ListBackorderedOrders(
    int limit, absl::Time deadline) {
  std::vector<std::string> result;
  BG_ASSIGN_OR_RETURN(const int backordered, OneOf(OrderStatusesWhere(IsBackordered)));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "back-ordered orders", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kBackorderedOrders);
        select.setInt(1, backordered);
        select.setInt(2, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.push_back(rs->getString(1));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
MysqlRequestStore::ListUnreportedUnits(absl::Time dispatched_before, int limit,
                                       absl::Time deadline) {
  std::vector<std::pair<std::string, std::string>> result;
  BG_ASSIGN_OR_RETURN(const std::vector<int> awaiting,
                      SetOf(OrderStatusesWhere(AwaitsOutcomes), kAwaitsOutcomesSlots));
  BG_RETURN_IF_ERROR(db::RunTransaction(
      *pool_, "unreported units", deadline, [&](db::Connection& conn) -> absl::Status {
        result.clear();
        sql::PreparedStatement& select = conn.Prepare(kUnreportedUnits);
        BindSet(select, 1, kAwaitsOutcomesSlots, awaiting);
        select.setInt64(1 + kAwaitsOutcomesSlots, absl::ToUnixMicros(dispatched_before));
        select.setInt(2 + kAwaitsOutcomesSlots, v1::TRANSFUSION_OUTCOME_UNSPECIFIED);
        select.setInt(3 + kAwaitsOutcomesSlots, limit);
        ResultSetPtr rs(select.executeQuery());
        while (rs->next()) result.emplace_back(rs->getString(1), rs->getString(2));
        return absl::OkStatus();
      }));
  return result;
}

}  // namespace bloodgrid::request
