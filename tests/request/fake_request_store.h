// An in-memory RequestStore for fast tests of the request service's operations. It keeps the
// contract of request_store.h exactly as MysqlRequestStore does (the store contract suite,
// request_store_contract.h, runs against both): one lock makes every method one transaction,
// UpdateOrder refuses what CheckTransition refuses, writes the same events, replays completed
// idempotency keys, and answers the paging and job queries in the same order.
//
// Instants are kept with microsecond precision, as in the schema. Thread-safe.
#ifndef BLOODGRID_TESTS_REQUEST_FAKE_REQUEST_STORE_H_
#define BLOODGRID_TESTS_REQUEST_FAKE_REQUEST_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "request_service/request_store.h"

namespace bloodgrid::request {

// One order_events row.
struct StoredEvent {
  std::string kind;
  v1::OrderStatus from = v1::ORDER_STATUS_UNSPECIFIED;
  v1::OrderStatus to = v1::ORDER_STATUS_UNSPECIFIED;
  std::string actor;
  std::string note;
  absl::Time at;
};

class FakeRequestStore : public RequestStore {
 public:
  FakeRequestStore() = default;

  // Test hooks.
  // The events of `order_id`, oldest first.
  std::vector<StoredEvent> Events(const std::string& order_id) const;
  // Ping answers `status` from now on (UNAVAILABLE to play an outage).
  void SetPingStatus(absl::Status status);

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
  // An order as the schema keeps it: the record with its lines bare (no units, allocated or
  // back-ordered quantities: those are derived on every read), allocations in insertion order.
  struct StoredOrder {
    OrderRecord record;
    std::optional<std::string> received_by;
    std::map<std::string, absl::Time> allocated_at;  // unit_id -> first allocation
    std::vector<StoredEvent> events;
  };
  struct StoredAnswer {
    std::string request_hash;
    std::string response;  // serialized
  };

  absl::Status CheckDeadline(absl::Time deadline) const;
  // INVALID_ARGUMENT for a key used for another request; true (and `response` filled) when the
  // key was completed.
  absl::StatusOr<bool> Replay(const db::IdempotencyKey& key,
                              google::protobuf::Message* response) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Complete(const db::IdempotencyKey& key, const google::protobuf::Message& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The record as LoadOrder answers it.
  OrderRecord View(const StoredOrder& stored) const;
  absl::Status Insert(const OrderRecord& record, const std::vector<v1::OrderStatus>& status_path,
                      const std::string& actor, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Apply(StoredOrder& stored, const OrderChange& change, const std::string& actor,
             absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::Status ping_status_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::Hospital> hospitals_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, StoredOrder> orders_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, StoredAnswer> answers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_TESTS_REQUEST_FAKE_REQUEST_STORE_H_
