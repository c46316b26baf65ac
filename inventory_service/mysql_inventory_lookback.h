// Shared by the files of MysqlInventoryStore, not part of any contract: lookback cases as
// RecordTestResults opens them inside its own transaction (mysql_inventory_lookback.cc), and
// reading them back (mysql_inventory_recalls.cc).
#ifndef BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_LOOKBACK_H_
#define BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_LOOKBACK_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "inventory_service/inventory_rules.h"
#include "inventory_service/mysql_inventory_internal.h"

namespace bloodgrid::inventory::mysql_internal {

// The case of a reactive donation with its units and notices; nullopt when none was opened.
// `for_update` locks the case row.
std::optional<v1::LookbackCase> FindLookbackOfDin(Connection& conn, absl::string_view din,
                                                  bool for_update);
std::optional<v1::LookbackCase> FindLookback(Connection& conn, absl::string_view lookback_id,
                                             bool for_update);

// Opens the lookback case of `donation`, which this transaction has just made REACTIVE for
// `markers`: every other in-date unit of the donor leaves AVAILABLE / RESERVED / testing
// quarantine (DecideLookback; an IN_TRANSIT one is quarantined on arrival), the donor's units
// issued within the window and `own_issued` (the reactive donation's own units already issued,
// when a correction made it reactive) are listed with one recall notice each, and the case with
// its units and notices is written. The caller has locked the donation row.
absl::StatusOr<v1::LookbackCase> OpenLookbackCase(Txn& t, const DonationRow& donation,
                                                  absl::Span<const v1::ScreeningTest> markers,
                                                  absl::Span<const v1::Unit> own_issued,
                                                  const LookbackPolicy& policy);

}  // namespace bloodgrid::inventory::mysql_internal

#endif  // BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_LOOKBACK_H_
