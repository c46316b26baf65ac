// MysqlInventoryStore (mysql_inventory_store.h): discard and lookback.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::ApplyChange;
using mysql_internal::DonationRow;
using mysql_internal::FindDonation;
using mysql_internal::ForEachRow;
using mysql_internal::I64;
using mysql_internal::kSelectUnitForUpdate;
using mysql_internal::kUnitsOfDinForUpdate;
using mysql_internal::Micros;
using mysql_internal::Params;
using mysql_internal::QueryUnit;
using mysql_internal::QueryUnits;
using mysql_internal::RunOp;
using mysql_internal::SetTs;
using mysql_internal::Str;
using mysql_internal::Txn;
using mysql_internal::UnitRow;

namespace {

constexpr char kLastReleasedDonation[] =
    "SELECT din, collected_us FROM donations WHERE donor_id = ? AND collected_us < ? "
    "AND din <> ? AND testing_outcome = ? ORDER BY collected_us DESC LIMIT 1";

constexpr char kUnitsOfDonorForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS
    " FROM units WHERE donor_id = ? AND collected_us >= ? "
    "AND collected_us <= ? AND din <> ? ORDER BY collected_us, unit_id FOR UPDATE";

}  // namespace

// =============================================================================================
// Discard and lookback

absl::StatusOr<v1::Unit> MysqlInventoryStore::DiscardUnit(const CallContext& ctx,
                                                          const db::IdempotencyKey& key,
                                                          const v1::DiscardUnitRequest& request,
                                                          StockChanges* changes) {
  return RunOp<v1::Unit>(
      pool_, "discard unit", ctx, &key, changes, [&](Txn& t, v1::Unit& out) -> absl::Status {
        std::optional<UnitRow> target;
        if (request.unit_case() == v1::DiscardUnitRequest::kUnitId) {
          sql::PreparedStatement& select = t.conn.Prepare(kSelectUnitForUpdate);
          Params(select).Str(request.unit_id());
          target = QueryUnit(select);
          if (!target.has_value()) {
            return absl::NotFoundError(absl::StrCat("unit '", request.unit_id(), "' not found"));
          }
        } else {
          sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDinForUpdate);
          Params(select).Str(request.din());
          std::vector<UnitRow> units = QueryUnits(select);
          if (units.empty())
            return absl::NotFoundError(absl::StrCat("no unit carries DIN ", request.din()));
          BG_ASSIGN_OR_RETURN(size_t live, LiveUnitOfDin(units, request.din()));
          target = std::move(units[live]);
        }
        BG_ASSIGN_OR_RETURN(UnitChange change, DiscardChange(*target, request));
        BG_RETURN_IF_ERROR(ApplyChange(t, *target, change));
        out = target->unit;
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::QuarantineByDonorResponse> MysqlInventoryStore::QuarantineByDonor(
    const CallContext& ctx, const db::IdempotencyKey& key,
    const v1::QuarantineByDonorRequest& request, const v1::PolicyProfile::Period& window,
    absl::TimeZone tz, StockChanges* changes) {
  return RunOp<v1::QuarantineByDonorResponse>(
      pool_, "lookback quarantine", ctx, &key, changes,
      [&](Txn& t, v1::QuarantineByDonorResponse& out) -> absl::Status {
        out.set_donor_id(request.donor_id());
        std::optional<DonationRow> reactive = FindDonation(t.conn, request.reactive_din(), false);
        const int64_t end_us =
            reactive.has_value() ? reactive->collected_us : absl::ToUnixMicros(t.ctx.now);
        int64_t start_us = 0;
        if (request.has_since()) {
          start_us = Micros(request.since());
        } else {
          sql::PreparedStatement& select = t.conn.Prepare(kLastReleasedDonation);
          Params(select)
              .Str(request.donor_id())
              .Int(end_us)
              .Str(request.reactive_din())
              .Int(ClearScreenOutcome());
          std::optional<int64_t> last_clear;
          ForEachRow(select, [&](const sql::ResultSet& rs) { last_clear = I64(rs, 2); });
          if (!last_clear.has_value()) return absl::OkStatus();  // nothing earlier to trace
          // DOMAIN.md section 5: donations within the window before the last non-reactive screen.
          const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixMicros(*last_clear), tz);
          start_us = absl::ToUnixMicros(absl::FromCivil(SubtractPeriod(day, window), tz));
        }
        SetTs(start_us, out.mutable_window_start());
        SetTs(end_us, out.mutable_window_end());
        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDonorForUpdate);
        Params(select)
            .Str(request.donor_id())
            .Int(start_us)
            .Int(end_us)
            .Str(request.reactive_din());
        std::vector<UnitRow> units = QueryUnits(select);
        std::set<std::string> affected;
        const std::string reason =
            request.reason().empty()
                ? absl::StrCat("lookback: donor reactive on ", request.reactive_din())
                : request.reason();
        for (UnitRow& unit : units) {
          const v1::Unit& u = unit.unit;
          const LookbackDecision decision = DecideLookback(unit, reason);
          switch (decision.kind) {
            case LookbackDecision::Kind::kIssued: {
              v1::IssuedUnit* issued = out.add_issued_units();
              *issued->mutable_unit() = u;
              issued->set_order_id(u.order_id());
              issued->set_hospital_id(u.hospital_id());
              *issued->mutable_issued_at() = u.issued_at();
              break;
            }
            case LookbackDecision::Kind::kAlreadyHeld:
              *out.add_quarantined_units() = u;
              break;
            case LookbackDecision::Kind::kHold:
              BG_RETURN_IF_ERROR(ApplyChange(t, unit, decision.change));
              if (!decision.withdrawn_from.empty()) affected.insert(decision.withdrawn_from);
              *out.add_quarantined_units() = unit.unit;
              break;
            case LookbackDecision::Kind::kUntouched:
              break;
          }
        }
        for (const std::string& k : affected) out.add_affected_reservation_keys(k);
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::inventory
