// RequestStore over MySQL/MariaDB (the `request` schema, request_service/migrations/).
// Prepared statements only; each method is one RunTransaction (deadlocks and lost connections
// retried there); connector exceptions never leave this class.
//
// Thread-safe (the pool hands each call its own connection).
#ifndef BLOODGRID_REQUEST_SERVICE_MYSQL_REQUEST_STORE_H_
#define BLOODGRID_REQUEST_SERVICE_MYSQL_REQUEST_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/migrations.h"
#include "common/mysql_pool.h"
#include "request_service/request_store.h"

namespace bloodgrid::request {

// The request schema's migrations, compiled in (cmake/EmbedMigrations.cmake).
const std::vector<db::Migration>& RequestMigrations();

class MysqlRequestStore : public RequestStore {
 public:
  // `pool` must outlive the store.
  explicit MysqlRequestStore(db::ConnectionPool* pool) : pool_(pool) {}

  absl::Status Ping(absl::Time deadline) override;

  absl::StatusOr<v1::Hospital> UpsertHospital(const v1::Hospital& hospital,
                                              const db::IdempotencyKey& key, absl::Time now,
                                              absl::Time deadline) override;
  absl::StatusOr<v1::Hospital> GetHospital(const std::string& hospital_id,
                                           absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::Hospital>> ListHospitals(const std::string& after_id, int limit,
                                                          absl::Time deadline) override;

  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> FindOrderByRequest(
      const std::string& hospital_id, const std::string& request_id, absl::Time deadline) override;
  absl::Status CreateOrder(const OrderRecord& record,
                           const std::vector<v1::OrderStatus>& status_path,
                           const std::string& actor, absl::Time now, absl::Time deadline) override;
  absl::StatusOr<OrderRecord> LoadOrder(const std::string& order_id, absl::Time deadline) override;
  absl::StatusOr<UpdateResult> UpdateOrder(const std::string& order_id,
                                           const db::IdempotencyKey* key, const std::string& actor,
                                           absl::Time now, absl::Time deadline,
                                           const DecideFn& decide) override;
  absl::StatusOr<bool> LookupIdempotent(const db::IdempotencyKey& key,
                                        google::protobuf::Message* response,
                                        absl::Time deadline) override;

  absl::StatusOr<std::vector<v1::Order>> ListOrders(const OrderFilter& filter,
                                                    const OrderCursor& cursor, int limit,
                                                    absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::UnitDelivery>> FindDeliveries(const std::vector<std::string>& dins,
                                                               std::optional<absl::Time> since,
                                                               absl::Time deadline) override;
  absl::StatusOr<std::vector<std::pair<v1::Component, int64_t>>> DailyQuantities(
      const std::string& hospital_id, const std::string& patient_ref, absl::Time from,
      absl::Time to, absl::Time deadline) override;
  absl::StatusOr<std::vector<std::string>> ListOrdersToReconcile(absl::Time changed_before,
                                                                 int limit,
                                                                 absl::Time deadline) override;
  absl::StatusOr<std::vector<std::string>> ListBackorderedOrders(int limit,
                                                                 absl::Time deadline) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListUnreportedUnits(
      absl::Time dispatched_before, int limit, absl::Time deadline) override;

 private:
  db::ConnectionPool* pool_;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_MYSQL_REQUEST_STORE_H_
