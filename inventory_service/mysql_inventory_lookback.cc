// MysqlInventoryStore (mysql_inventory_store.h): discard and lookback.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_lookback.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::ApplyChange;
using mysql_internal::Connection;
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

constexpr char kOtherUnitsOfDonorForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS
    " FROM units WHERE donor_id = ? AND din <> ? ORDER BY collected_us, unit_id FOR UPDATE";

constexpr char kInsertCase[] =
    "INSERT INTO lookback_cases (lookback_id, donor_id, reactive_din, markers, opened_us, "
    "opened_by, window_start_us, window_end_us, status, reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

constexpr char kInsertCaseUnit[] =
    "INSERT INTO lookback_units (lookback_id, position, kind, unit_id, unit) VALUES (?, ?, ?, ?, "
    "?)";

constexpr char kInsertRecall[] =
    "INSERT INTO recall_notices (recall_id, lookback_id, hospital_id, din, unit_id, component, "
    "order_id, issued_us, reason, action, notified_us, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

// lookback_units.kind.
constexpr int kHeldUnit = 1;
constexpr int kIssuedUnit = 2;

// Start of the lookback window of a donor's reactive donation `din` collected at `end_us`: the
// policy's window before the donor's last earlier donation screened non-reactive (DOMAIN.md
// section 5); nullopt when there is none (nothing earlier to trace).
std::optional<int64_t> WindowStart(Connection& conn, absl::string_view donor_id,
                                   absl::string_view din, int64_t end_us,
                                   const v1::PolicyProfile::Period& window, absl::TimeZone tz) {
  sql::PreparedStatement& select = conn.Prepare(kLastReleasedDonation);
  Params(select).Str(donor_id).Int(end_us).Str(din).Int(ClearScreenOutcome());
  std::optional<int64_t> last_clear;
  ForEachRow(select, [&](const sql::ResultSet& rs) { last_clear = I64(rs, 2); });
  if (!last_clear.has_value()) return std::nullopt;
  const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixMicros(*last_clear), tz);
  return absl::ToUnixMicros(absl::FromCivil(SubtractPeriod(day, window), tz));
}

std::string NewRecallId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrFormat("RC-%016x", random());
}

void InsertCaseUnit(Connection& conn, const std::string& lookback_id, int position, int kind,
                    const v1::Unit& unit) {
  std::istringstream bytes(unit.SerializeAsString());
  sql::PreparedStatement& insert = conn.Prepare(kInsertCaseUnit);
  Params(insert).Str(lookback_id).Int(position).Int(kind).Str(unit.unit_id()).Blob(&bytes);
  insert.executeUpdate();
}

}  // namespace

namespace mysql_internal {

absl::StatusOr<v1::LookbackCase> OpenLookbackCase(Txn& t, const DonationRow& donation,
                                                  absl::Span<const v1::ScreeningTest> markers,
                                                  absl::Span<const v1::Unit> own_issued,
                                                  const LookbackPolicy& policy) {
  v1::LookbackCase lookback;
  lookback.set_lookback_id(LookbackIdFor(donation.din));
  lookback.set_donor_id(donation.donor_id);
  lookback.set_reactive_din(donation.din);
  for (v1::ScreeningTest marker : markers) lookback.add_markers(marker);
  ToTimestamp(t.ctx.now, lookback.mutable_opened_at());
  lookback.set_opened_by(Truncated(t.ctx.actor, 160));
  const std::string reason = LookbackReason(donation.din, markers);
  lookback.set_reason(reason);
  const int64_t end_us = donation.collected_us;
  const std::optional<int64_t> start_us =
      WindowStart(t.conn, donation.donor_id, donation.din, end_us, policy.window, policy.time_zone);
  if (start_us.has_value()) SetTs(*start_us, lookback.mutable_window_start());
  SetTs(end_us, lookback.mutable_window_end());

  auto list_issued = [&](const v1::Unit& unit, bool own_donation) {
    v1::IssuedUnit& issued = *lookback.add_issued_units();
    *issued.mutable_unit() = unit;
    issued.set_order_id(unit.order_id());
    issued.set_hospital_id(unit.hospital_id());
    *issued.mutable_issued_at() = unit.issued_at();
    const RecallText text = RecallTextFor(unit, markers, own_donation);
    v1::RecallNotice& notice = *lookback.add_recalls();
    notice.set_recall_id(NewRecallId());
    notice.set_lookback_id(lookback.lookback_id());
    notice.set_hospital_id(unit.hospital_id());
    notice.set_din(unit.din());
    notice.set_unit_id(unit.unit_id());
    notice.set_component(unit.component());
    notice.set_order_id(unit.order_id());
    *notice.mutable_issued_at() = unit.issued_at();
    notice.set_reason(text.reason);
    notice.set_action(text.action);
    ToTimestamp(t.ctx.now, notice.mutable_notified_at());
    notice.set_status(v1::RECALL_STATUS_OPEN);
  };

  // Every other unit of the donor: in-date stock is held whatever its collection date (the
  // audit allows no in-date unit of a reactive donor on the shelf); units gone to hospitals
  // are notified when collected within the window.
  sql::PreparedStatement& select = t.conn.Prepare(kOtherUnitsOfDonorForUpdate);
  Params(select).Str(donation.donor_id).Str(donation.din);
  for (UnitRow& unit : QueryUnits(select)) {
    const int64_t collected_us = Micros(unit.unit.collected_at());
    if (NotifiedWhenCaseOpens(unit.unit)) {
      if (start_us.has_value() && collected_us >= *start_us && collected_us <= end_us) {
        list_issued(unit.unit, false);
      }
      continue;
    }
    if (!HeldWhenCaseOpens(unit, t.ctx.now)) continue;
    const LookbackDecision decision = DecideLookback(unit, reason);
    switch (decision.kind) {
      case LookbackDecision::Kind::kHold:
        BG_RETURN_IF_ERROR(ApplyChange(t, unit, decision.change));
        *lookback.add_held_units() = unit.unit;
        break;
      case LookbackDecision::Kind::kAlreadyHeld:
        *lookback.add_held_units() = unit.unit;
        break;
      case LookbackDecision::Kind::kIssued:
      case LookbackDecision::Kind::kUntouched:
        break;
    }
  }
  for (const v1::Unit& unit : own_issued) {
    if (NotifiedWhenCaseOpens(unit)) list_issued(unit, true);
  }
  lookback.set_status(CaseStatusFor(lookback.recalls_size()));

  std::vector<std::string> marker_numbers;
  for (v1::ScreeningTest marker : markers) marker_numbers.push_back(absl::StrCat(marker));
  sql::PreparedStatement& insert = t.conn.Prepare(kInsertCase);
  Params(insert)
      .Str(lookback.lookback_id())
      .Str(lookback.donor_id())
      .Str(lookback.reactive_din())
      .Str(absl::StrJoin(marker_numbers, ","))
      .Int(absl::ToUnixMicros(t.ctx.now))
      .Str(lookback.opened_by())
      .IntOrNull(start_us)
      .Int(end_us)
      .Int(lookback.status())
      .Str(Truncated(reason, 1000));
  insert.executeUpdate();
  int position = 0;
  for (const v1::Unit& unit : lookback.held_units()) {
    InsertCaseUnit(t.conn, lookback.lookback_id(), position++, kHeldUnit, unit);
  }
  for (const v1::IssuedUnit& issued : lookback.issued_units()) {
    InsertCaseUnit(t.conn, lookback.lookback_id(), position++, kIssuedUnit, issued.unit());
  }
  for (const v1::RecallNotice& notice : lookback.recalls()) {
    sql::PreparedStatement& recall = t.conn.Prepare(kInsertRecall);
    Params(recall)
        .Str(notice.recall_id())
        .Str(notice.lookback_id())
        .Str(notice.hospital_id())
        .Str(notice.din())
        .Str(notice.unit_id())
        .Int(notice.component())
        .Str(notice.order_id())
        .Int(Micros(notice.issued_at()))
        .Str(Truncated(notice.reason(), 1000))
        .Str(Truncated(notice.action(), 1000))
        .Int(absl::ToUnixMicros(t.ctx.now))
        .Int(notice.status());
    recall.executeUpdate();
  }
  return lookback;
}

}  // namespace mysql_internal

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
          const std::optional<int64_t> start =
              WindowStart(t.conn, request.donor_id(), request.reactive_din(), end_us, window, tz);
          if (!start.has_value()) return absl::OkStatus();  // nothing earlier to trace
          start_us = *start;
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
