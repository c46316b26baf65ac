// Input format of request_validation_fuzzer, shared with the seed corpus generator: one
// selector byte (taken modulo kRequestKindCount) naming the request message, then that message
// serialized as it arrives over gRPC.
#ifndef BLOODGRID_FUZZ_REQUEST_KINDS_H_
#define BLOODGRID_FUZZ_REQUEST_KINDS_H_

#include <cstdint>

namespace bloodgrid::fuzz {

enum class RequestKind : uint8_t {
  // request_service/request_rules.h
  kPlaceOrder = 0,
  kUpsertHospital = 1,
  kReportTransfusion = 2,
  // inventory_service/inventory_rules.h
  kRegisterCollection = 3,
  kRecordTestResults = 4,
  kProcessDonation = 5,
  kReserve = 6,
  kRelease = 7,
  kIssue = 8,
  kRecordOutcome = 9,
  kCreateTransfer = 10,
  kReceiveTransfer = 11,
  kDiscardUnit = 12,
  kQuarantineByDonor = 13,
  kSetParLevel = 14,
  kUpsertStation = 15,
  // donor_service/donor_rules.h
  kRegisterDonor = 16,
  kUpdateDonor = 17,
};

inline constexpr int kRequestKindCount = 18;

}  // namespace bloodgrid::fuzz

#endif  // BLOODGRID_FUZZ_REQUEST_KINDS_H_
