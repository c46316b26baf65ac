// The request store contract suite (tests/request/request_store_contract.h) on the in-memory
// FakeRequestStore: the fake keeps the contract MysqlRequestStore keeps, without a database.
#include "tests/request/fake_request_store.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/request/request_store_contract.h"

namespace bloodgrid::request {
namespace {

class FakeBackend : public RequestStoreBackend {
 public:
  RequestStore& store() override { return store_; }
  std::vector<std::string> Events(const std::string& order_id) override {
    std::vector<std::string> out;
    for (const StoredEvent& e : store_.Events(order_id)) {
      out.push_back(absl::StrCat(e.kind, " ", static_cast<int>(e.from), "->",
                                 static_cast<int>(e.to), " ", e.actor));
    }
    return out;
  }

 private:
  FakeRequestStore store_;
};

INSTANTIATE_TEST_SUITE_P(Fake, RequestStoreContractTest, ::testing::Values(RequestStoreFactory([] {
                           return std::make_unique<FakeBackend>();
                         })),
                         [](const auto&) { return std::string("fake"); });

}  // namespace
}  // namespace bloodgrid::request
