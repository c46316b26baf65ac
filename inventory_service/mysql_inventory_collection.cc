// MysqlInventoryStore (mysql_inventory_store.h): collection, testing and processing.
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/sql_error.h"
#include "common/status.h"
#include "inventory_service/mysql_inventory_internal.h"
#include "inventory_service/mysql_inventory_lookback.h"
#include "inventory_service/mysql_inventory_store.h"

namespace bloodgrid::inventory {

using mysql_internal::ApplyChange;
using mysql_internal::ApplyChanges;
using mysql_internal::DonationRow;
using mysql_internal::FindDonation;
using mysql_internal::FindLookbackOfDin;
using mysql_internal::FindStation;
using mysql_internal::kUnitsOfDin;
using mysql_internal::kUnitsOfDinForUpdate;
using mysql_internal::Micros;
using mysql_internal::OpenLookbackCase;
using mysql_internal::Params;
using mysql_internal::QueryUnits;
using mysql_internal::ResultsOfDin;
using mysql_internal::RunOp;
using mysql_internal::SetTs;
using mysql_internal::Str;
using mysql_internal::Truncated;
using mysql_internal::Txn;
using mysql_internal::UnitRow;
using mysql_internal::UnknownStation;

namespace {

constexpr char kInsertDonation[] =
    "INSERT INTO donations (din, donor_id, donation_type, station_id, collected_us, "
    "collected_abo, collected_rhd, testing_outcome, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

constexpr char kUpdateDonationOutcome[] = "UPDATE donations SET testing_outcome = ? WHERE din = ?";

constexpr char kInsertResult[] =
    "INSERT INTO test_results (din, test, reactive, abo, rhd, tested_us, recorded_us, "
    "recorded_by, corrects_result_id, correction_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

constexpr char kSupersedeResult[] = "UPDATE test_results SET superseded = 1 WHERE result_id = ?";

}  // namespace

// =============================================================================================
// Collection, testing, processing

absl::StatusOr<v1::RegisterCollectionResponse> MysqlInventoryStore::RegisterCollection(
    const CallContext& ctx, const db::IdempotencyKey& key,
    const v1::RegisterCollectionRequest& request, const CollectionPlan& plan,
    StockChanges* changes) {
  return RunOp<v1::RegisterCollectionResponse>(
      pool_, "register collection", ctx, &key, changes,
      [&](Txn& t, v1::RegisterCollectionResponse& out) -> absl::Status {
        if (std::optional<DonationRow> existing = FindDonation(t.conn, request.din(), true)) {
          if (existing->donor_id != request.donor_id()) {
            return absl::AlreadyExistsError(
                absl::StrCat("din: ", request.din(), " is already registered for another donor"));
          }
          sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDin);
          Params(select).Str(request.din());
          std::vector<UnitRow> units = QueryUnits(select);
          if (units.empty()) return absl::InternalError("donation without units");
          *out.mutable_unit() = units.front().unit;  // the collected unit comes first
          out.set_created(false);
          return absl::OkStatus();
        }
        std::optional<v1::Station> station = FindStation(t.conn, request.station_id());
        if (!station.has_value()) return UnknownStation("station_id", request.station_id());
        if (!station->active()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "station '", request.station_id(), "' is inactive and takes no new stock"));
        }
        try {
          sql::PreparedStatement& insert = t.conn.Prepare(kInsertDonation);
          Params(insert)
              .Str(request.din())
              .Str(request.donor_id())
              .Int(request.donation_type())
              .Str(request.station_id())
              .Int(Micros(request.collected_at()))
              .Int(request.blood_type().abo())
              .Int(request.blood_type().rhd())
              .Int(NewDonationTestingOutcome())
              .Int(absl::ToUnixMicros(t.ctx.now));
          insert.executeUpdate();
        } catch (const sql::SQLException& e) {
          if (e.getErrorCode() == db::kErrDuplicateKey) {
            return db::RetryTransactionStatus("DIN registered concurrently");
          }
          throw;
        }
        UnitRow row;
        BG_RETURN_IF_ERROR(ApplyChange(t, row, CollectedUnit(request, plan)));
        *out.mutable_unit() = row.unit;
        out.set_created(true);
        v1::UnitRegistered& registered = *t.feed.emplace_back().mutable_registered();
        registered.set_din(row.unit.din());
        registered.set_donor_id(row.unit.donor_id());
        registered.set_unit_id(row.unit.unit_id());
        registered.set_station_id(row.unit.station_id());
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::RecordTestResultsResponse> MysqlInventoryStore::RecordTestResults(
    const CallContext& ctx, const db::IdempotencyKey& key,
    const v1::RecordTestResultsRequest& request, absl::Span<const v1::ScreeningTest> required,
    const LookbackPolicy& lookback, StockChanges* changes) {
  return RunOp<v1::RecordTestResultsResponse>(
      pool_, "record test results", ctx, &key, changes,
      [&](Txn& t, v1::RecordTestResultsResponse& out) -> absl::Status {
        std::optional<DonationRow> donation = FindDonation(t.conn, request.din(), true);
        if (!donation.has_value()) {
          return absl::NotFoundError(absl::StrCat("no unit carries DIN ", request.din()));
        }
        // Current (not superseded) record of each test.
        std::map<int, v1::TestResult> current;
        for (v1::TestResult& result : ResultsOfDin(t.conn, request.din())) {
          if (!result.superseded()) current[result.test()] = std::move(result);
        }
        auto as_current = [](const v1::TestResult& r) {
          return CurrentResult{r.test(), r.reactive(),
                               BloodType{r.blood_type().abo(), r.blood_type().rhd()}};
        };
        std::vector<std::string> recorded;
        bool typing_recorded = false;
        for (int i = 0; i < request.results_size(); ++i) {
          const v1::TestResultInput& input = request.results(i);
          auto it = current.find(input.test());
          std::optional<CurrentResult> now_current;
          if (it != current.end()) now_current = as_current(it->second);
          const ResultChange change =
              ClassifyResult(now_current.has_value() ? &*now_current : nullptr, input);
          if (change == ResultChange::kUnchanged) continue;
          if (change == ResultChange::kCorrection && input.correction_reason().empty()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "results[", i, "]: ", v1::ScreeningTest_Name(input.test()),
                " already has a different result; a correction needs correction_reason"));
          }
          std::optional<int64_t> corrects;
          if (change == ResultChange::kCorrection) {
            int64_t old_id = 0;
            absl::SimpleAtoi(it->second.result_id(), &old_id);
            corrects = old_id;
            sql::PreparedStatement& supersede = t.conn.Prepare(kSupersedeResult);
            Params(supersede).Int(old_id);
            supersede.executeUpdate();
          }
          const bool typing = input.test() == v1::SCREENING_TEST_ABO_RHD;
          typing_recorded = typing_recorded || typing;
          sql::PreparedStatement& insert = t.conn.Prepare(kInsertResult);
          Params(insert)
              .Str(request.din())
              .Int(input.test())
              .Int(!typing && input.reactive() ? 1 : 0)
              .Int(typing ? input.blood_type().abo() : 0)
              .Int(typing ? input.blood_type().rhd() : 0)
              .Int(input.has_tested_at() ? Micros(input.tested_at())
                                         : absl::ToUnixMicros(t.ctx.now))
              .Int(absl::ToUnixMicros(t.ctx.now))
              .Str(Truncated(t.ctx.actor, 160))
              .IntOrNull(corrects)
              .Str(input.correction_reason());
          insert.executeUpdate();
          recorded.push_back(
              absl::StrCat(v1::ScreeningTest_Name(input.test()),
                           change == ResultChange::kCorrection ? " (correction)" : ""));
        }
        // Derive the donation's state from the current results (BSIS style: never typed in).
        std::vector<v1::TestResult> all = ResultsOfDin(t.conn, request.din());
        std::vector<CurrentResult> current_list;
        for (const v1::TestResult& r : all) {
          if (r.superseded()) continue;
          current_list.push_back(as_current(r));
          *out.add_results() = r;
        }
        const TestingState state = DeriveTestingState(required, current_list);

        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDinForUpdate);
        Params(select).Str(request.din());
        std::vector<v1::Unit> transfused;
        for (UnitRow& unit : QueryUnits(select)) {
          const TestingDecision decision = DecideAfterTesting(unit, state, recorded);
          BG_RETURN_IF_ERROR(ApplyChanges(t, unit, decision.changes));
          switch (decision.listed) {
            case TestingDecision::Listed::kReleased:
              *out.add_released_units() = unit.unit;
              break;
            case TestingDecision::Listed::kDiscarded:
              *out.add_discarded_units() = unit.unit;
              break;
            case TestingDecision::Listed::kIssued:
              *out.add_issued_units() = unit.unit;
              break;
            case TestingDecision::Listed::kTransfused:
              transfused.push_back(unit.unit);
              break;
            case TestingDecision::Listed::kNone:
              break;
          }
        }
        for (v1::Unit& unit : transfused) *out.add_issued_units() = std::move(unit);
        if (state.outcome != donation->outcome) {
          sql::PreparedStatement& update = t.conn.Prepare(kUpdateDonationOutcome);
          Params(update).Int(state.outcome).Str(request.din());
          update.executeUpdate();
        }
        out.set_din(request.din());
        out.set_donor_id(donation->donor_id);
        out.set_outcome(state.outcome);
        for (v1::ScreeningTest test : state.pending) out.add_pending_tests(test);
        for (v1::ScreeningTest test : state.reactive) out.add_reactive_tests(test);
        if (state.typed.has_value()) {
          *out.mutable_typed_blood_type() = state.typed->ToProto();
          out.set_blood_type_changed(donation->collected_type.IsKnown() &&
                                     !(donation->collected_type == *state.typed));
        }
        const bool reactive = state.outcome == v1::TESTING_OUTCOME_REACTIVE;
        bool opened = false;
        if (reactive) {
          // The donation row is locked: the case of this DIN is found or opened once.
          if (std::optional<v1::LookbackCase> open =
                  FindLookbackOfDin(t.conn, request.din(), false)) {
            *out.mutable_lookback() = *std::move(open);
          } else {
            const std::vector<v1::Unit> own_issued(out.issued_units().begin(),
                                                   out.issued_units().end());
            BG_ASSIGN_OR_RETURN(
                *out.mutable_lookback(),
                OpenLookbackCase(t, *donation, state.reactive, own_issued, lookback));
            opened = true;
          }
        }
        if (typing_recorded || opened ||
            (reactive && donation->outcome != v1::TESTING_OUTCOME_REACTIVE)) {
          v1::TestingRecorded& event = *t.feed.emplace_back().mutable_testing();
          event.set_din(request.din());
          event.set_donor_id(donation->donor_id);
          event.set_outcome(state.outcome);
          if (typing_recorded && state.typed.has_value()) {
            *event.mutable_typed_blood_type() = state.typed->ToProto();
          }
          for (v1::ScreeningTest test : state.reactive) event.add_reactive_tests(test);
          if (reactive) event.set_lookback_id(out.lookback().lookback_id());
          SetTs(donation->collected_us, event.mutable_collected_at());
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ProcessDonationResponse> MysqlInventoryStore::ProcessDonation(
    const CallContext& ctx, const db::IdempotencyKey& key,
    const v1::ProcessDonationRequest& request, absl::Time processed_at,
    const ComponentPlanner& planner, StockChanges* changes) {
  return RunOp<v1::ProcessDonationResponse>(
      pool_, "process donation", ctx, &key, changes,
      [&](Txn& t, v1::ProcessDonationResponse& out) -> absl::Status {
        sql::PreparedStatement& select = t.conn.Prepare(kUnitsOfDinForUpdate);
        Params(select).Str(request.din());
        std::vector<UnitRow> units = QueryUnits(select);
        if (units.empty())
          return absl::NotFoundError(absl::StrCat("no unit carries DIN ", request.din()));
        const UnitRow* parent = WholeBloodParent(units);
        if (parent == nullptr) {
          return absl::FailedPreconditionError(absl::StrCat(
              "DIN ", request.din(), " holds no whole-blood unit (an apheresis collection)"));
        }
        BG_RETURN_IF_ERROR(CheckProcessing(*parent, processed_at));
        BG_ASSIGN_OR_RETURN(std::vector<ComponentPlan> plans, planner(parent->unit));
        const UnitRow before = *parent;
        UnitRow processed = before;
        BG_RETURN_IF_ERROR(
            ApplyChange(t, processed, ProcessedParent(before, plans.size(), processed_at)));
        *out.mutable_parent() = processed.unit;
        for (const ComponentPlan& plan : plans) {
          UnitRow child;
          BG_RETURN_IF_ERROR(ApplyChange(t, child, ComponentUnit(before, plan, processed_at)));
          *out.add_children() = child.unit;
        }
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::inventory
