// The DonorStore contract (donor_service/donor_store.h) as one value-parameterised gtest suite,
// run against every implementation: request_id replays, NOT_FOUND / ALREADY_EXISTS /
// FAILED_PRECONDITION cases, keyset paging, deferrals in force at their boundaries, and the
// audit events of each write.
//
// A test binary instantiates it with its backends:
//   INSTANTIATE_TEST_SUITE_P(Fake, DonorStoreContractTest,
//                            ::testing::Values(DonorStoreBackend{"fake", MakeFakeHarness}),
//                            DonorStoreBackendName);
// and links the bloodgrid_donor_store_contract object library (whose TEST_Ps register there).
#ifndef BLOODGRID_TESTS_SUPPORT_DONOR_STORE_CONTRACT_H_
#define BLOODGRID_TESTS_SUPPORT_DONOR_STORE_CONTRACT_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "donor_service/donor_store.h"
#include "donor_service/fake_donor_store.h"

namespace bloodgrid::donor::testing {

// One empty store under test and the audit events it has written.
class DonorStoreHarness {
 public:
  virtual ~DonorStoreHarness() = default;
  virtual DonorStore& store() = 0;
  // Every audit event so far, oldest first.
  virtual std::vector<StoreEvent> Events() = 0;
};

struct DonorStoreBackend {
  std::string name;
  std::function<std::unique_ptr<DonorStoreHarness>()> make;
};

// The parameter's name, for test names ("Fake/DonorStoreContractTest.X/fake").
std::string DonorStoreBackendName(const ::testing::TestParamInfo<DonorStoreBackend>& info);
// Prints the backend's name (gtest shows it with GetParam()).
inline void PrintTo(const DonorStoreBackend& backend, std::ostream* os) { *os << backend.name; }

class DonorStoreContractTest : public ::testing::TestWithParam<DonorStoreBackend> {
 protected:
  void SetUp() override;

  DonorStore& store() { return harness_->store(); }
  std::vector<StoreEvent> Events() { return harness_->Events(); }

 private:
  std::unique_ptr<DonorStoreHarness> harness_;
};

}  // namespace bloodgrid::donor::testing

#endif  // BLOODGRID_TESTS_SUPPORT_DONOR_STORE_CONTRACT_H_
