// The DonorStore contract suite on the in-memory FakeDonorStore (no database).
#include "donor_service/fake_donor_store.h"

#include <memory>
#include <vector>

#include "tests/support/donor_store_contract.h"

namespace bloodgrid::donor::testing {
namespace {

class FakeHarness : public DonorStoreHarness {
 public:
  DonorStore& store() override { return store_; }
  std::vector<StoreEvent> Events() override { return store_.Events(); }

 private:
  FakeDonorStore store_;
};

INSTANTIATE_TEST_SUITE_P(Fake, DonorStoreContractTest,
                         ::testing::Values(DonorStoreBackend{
                             "fake", [] { return std::make_unique<FakeHarness>(); }}),
                         DonorStoreBackendName);

}  // namespace
}  // namespace bloodgrid::donor::testing
