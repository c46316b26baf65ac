// The contract of request_store.h as one gtest suite, run against every RequestStore: the
// in-memory FakeRequestStore (tests/unit/fake_request_store_test.cc, no database) and
// MysqlRequestStore (tests/integration/mysql_request_store_test.cc, MariaDB). Each binary
// instantiates RequestStoreContractTest with a factory of its backend:
//
//   INSTANTIATE_TEST_SUITE_P(Fake, RequestStoreContractTest, ::testing::Values(MakeFake));
#ifndef BLOODGRID_TESTS_REQUEST_REQUEST_STORE_CONTRACT_H_
#define BLOODGRID_TESTS_REQUEST_REQUEST_STORE_CONTRACT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "request_service/request_store.h"

namespace bloodgrid::request {

// A fresh, empty store and a way to read what it wrote besides the aggregate.
class RequestStoreBackend {
 public:
  virtual ~RequestStoreBackend() = default;
  virtual RequestStore& store() = 0;
  // The order's events, oldest first, each "<kind> <from>-><to> <actor>" with the statuses as
  // their enum numbers (the order_events row).
  virtual std::vector<std::string> Events(const std::string& order_id) = 0;
};

using RequestStoreFactory = std::function<std::unique_ptr<RequestStoreBackend>()>;

// The suite's fixture: a fresh backend per test, with hospital H1 registered.
class RequestStoreContractTest : public ::testing::TestWithParam<RequestStoreFactory> {
 protected:
  void SetUp() override;
  RequestStore& store() { return backend_->store(); }
  std::vector<std::string> Events(const std::string& id) { return backend_->Events(id); }

  // Helpers of the tests (request_store_contract.cc).
  void Create(const OrderRecord& record, absl::Time at);
  void Create(const OrderRecord& record);
  absl::StatusOr<UpdateResult> Update(const std::string& id, OrderChange change);
  absl::StatusOr<UpdateResult> Update(const std::string& id, OrderChange change, absl::Time at,
                                      const db::IdempotencyKey* key = nullptr);
  void Allocate(const std::string& id, std::vector<AllocationRecord> units,
                v1::OrderStatus status = v1::ORDER_STATUS_ALLOCATED);
  void Dispatch(const std::string& id, absl::Time at);

  std::unique_ptr<RequestStoreBackend> backend_;
};

}  // namespace bloodgrid::request

#endif  // BLOODGRID_TESTS_REQUEST_REQUEST_STORE_CONTRACT_H_
