// The MySQL donor store's internals, shared by its .cc files (mysql_donor_store*.cc) and
// included by nothing else: donor-specific binders (over db::Params), conversions between columns
// and bloodgrid.v1 messages, the transaction wrappers and the keyset page reader. Functions here
// may throw sql::SQLException: call them inside db::RunTransaction (db::RunIdempotent, Read).
#ifndef BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_ROWS_H_
#define BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_ROWS_H_

#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/idempotency.h"
#include "common/mysql_pool.h"
#include "common/proto_time.h"
#include "common/sql_toolkit.h"
#include "common/status.h"
#include "donor_service/donor_store.h"
#include "donor_service/mysql_donor_sql.h"

namespace bloodgrid::donor {

// ---------------------------------------------------------------------------------------------
// Conversions

std::string DbTime(absl::Time t);

absl::Time ParseDbTime(const std::string& text);

std::string Day(absl::CivilDay day);

absl::CivilDay ParseDbDay(const std::string& text);

// Days since 1970-01-01, and back (the keyset cursor of deferrals).
int64_t DayNumber(absl::CivilDay day);
absl::CivilDay DayFromNumber(int64_t n);

// A row id from a request ("42"); nullopt when it cannot name a row.
std::optional<int64_t> ParseRowId(const std::string& id);

std::string NewDonorId();

absl::Status DonorNotFound(const std::string& donor_id);

absl::Status NationalIdTaken(const std::string& existing_donor_id);

// Binds the parameters of kDeferralInForce (deferrals in force on `day`).
db::Params& BindDeferralInForce(db::Params& params, absl::CivilDay day);

std::string Text(sql::ResultSet& rs, const char* column);

std::unique_ptr<sql::ResultSet> Query(sql::PreparedStatement& statement);

int64_t QueryCount(db::Connection& conn, const std::string& sql_text,
                   std::initializer_list<std::string> args);

int64_t LastInsertId(db::Connection& conn);

void WriteAudit(db::Connection& conn, const CallContext& call, const std::string& action,
                const std::string& donor_id, const std::string& entity,
                const std::string& entity_id, const std::string& detail);

// A read in a transaction of its own (which ends the snapshot). Not db::RunIdempotent: its
// results are not protobuf messages.
template <typename Result, typename Body>
absl::StatusOr<Result> Read(db::ConnectionPool& pool, absl::string_view what,
                            const CallContext& call, Body body) {
  Result result;
  absl::Status status =
      db::RunTransaction(pool, what, call.deadline, [&](db::Connection& conn) -> absl::Status {
        result = Result();
        return body(conn, result);
      });
  if (!status.ok()) return status;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Rows

v1::BloodType BloodTypeOf(int abo, int rhd);

v1::Donor ReadDonorRow(sql::ResultSet& rs);

// The parameters of DonorSelect() for the output-only flags as of `today`.
db::Params& BindDonorDay(db::Params& params, absl::CivilDay today);

std::optional<v1::Donor> ReadDonor(db::Connection& conn, const std::string& donor_id,
                                   absl::CivilDay today);

// Locks the donor's row for the rest of the transaction; false when there is none.
bool LockDonor(db::Connection& conn, const std::string& donor_id);

std::optional<std::string> DonorIdWithNationalId(db::Connection& conn,
                                                 const std::string& national_id);

void InsertPanels(db::Connection& conn, const std::string& donor_id, const v1::Donor& donor);

v1::BloodTypeConflict ReadConflictRow(sql::ResultSet& rs);

std::optional<v1::BloodTypeConflict> ReadConflict(db::Connection& conn, int64_t conflict_id,
                                                  bool for_update);

v1::Deferral ReadDeferralRow(sql::ResultSet& rs, absl::CivilDay today);

std::optional<v1::Deferral> ReadDeferral(db::Connection& conn, int64_t deferral_id,
                                         absl::CivilDay today, bool for_update);

int64_t InsertDeferral(db::Connection& conn, const CallContext& call, const DeferralDraft& draft);

v1::Donation ReadDonationRow(sql::ResultSet& rs);

std::optional<v1::Donation> ReadDonationByDin(db::Connection& conn, const std::string& din);

std::vector<PastDonation> ReadHistory(db::Connection& conn, const std::string& donor_id);

DeferralInForce DeferralInForceRow(sql::ResultSet& rs);

std::vector<DeferralInForce> ReadDeferralsInForce(db::Connection& conn, const std::string& donor_id,
                                                  absl::CivilDay on_date);

// The parameters of kAppealSelect's counts.
db::Params& BindAppealCounts(db::Params& params);

v1::Appeal ReadAppealRow(sql::ResultSet& rs, absl::Time now);

std::optional<v1::Appeal> ReadAppeal(db::Connection& conn, int64_t appeal_id, absl::Time now);

v1::LedgerEntry ReadLedgerRow(sql::ResultSet& rs);

LedgerState ReadLedgerState(db::Connection& conn, const std::string& donor_id, bool for_update,
                            bool* found);

// A cursor of (sort key, row id).
v1::PageCursor Cursor(int64_t key, const std::string& id);

// The row id of a cursor made by this store; 0 (before every row) when it is not one.
int64_t CursorRowId(const v1::PageCursor& cursor);

// A keyset order of a list: the clause that continues after a cursor (its parameters bound by
// bind_after) and the ORDER BY ... LIMIT ? clause.
struct Keyset {
  const char* after_clause;
  const char* order_clause;
  void (*bind_after)(db::Params& params, const v1::PageCursor& after);
};

// (instant, row id) cursors: after_key is the instant in Unix microseconds.
void BindInstantAfter(db::Params& params, const v1::PageCursor& after);

// (day, row id) cursors: after_key is the day's number since 1970-01-01.
void BindDayAfter(db::Params& params, const v1::PageCursor& after);

// SearchDonors' (name, donor_id) cursor: after_id is "<name>\n<donor_id>"; names never contain
// a newline.
void BindNameAfter(db::Params& params, const v1::PageCursor& after);

// One page of a keyset-paged list: `filtered_sql` (a SELECT with its WHERE filters), then the
// keyset's after clause when the page has a cursor, then its order and limit. bind_filters binds
// the filters' parameters. page_size + 1 rows are read so that `next` (cursor_of the last item
// kept) is set only when more rows follow. The statement is assembled from constant fragments
// only, so each combination of filters is its own cached prepared statement with its own plan.
template <typename T, typename BindFilters, typename ReadRow, typename CursorOf>
Page<T> ListPage(db::Connection& conn, const std::string& filtered_sql, const Keyset& keyset,
                 const PageQuery& page, BindFilters bind_filters, ReadRow read_row,
                 CursorOf cursor_of) {
  sql::PreparedStatement& select = conn.Prepare(
      absl::StrCat(filtered_sql, page.after ? keyset.after_clause : "", keyset.order_clause));
  db::Params params(select);
  bind_filters(params);
  if (page.after) keyset.bind_after(params, *page.after);
  params.Int(page.page_size + 1);
  auto rs = Query(select);
  Page<T> out;
  while (rs->next()) {
    if (static_cast<int>(out.items.size()) == page.page_size) {
      out.next = cursor_of(out.items.back());
      break;
    }
    out.items.push_back(read_row(*rs));
  }
  return out;
}

inline constexpr Keyset kSearchKeyset{kSearchAfter, kSearchOrder, BindNameAfter};
inline constexpr Keyset kConflictKeyset{kConflictAfter, kConflictOrder, BindInstantAfter};
inline constexpr Keyset kDeferralKeyset{kDeferralAfter, kDeferralOrder, BindDayAfter};
inline constexpr Keyset kDonationKeyset{kDonationAfter, kDonationOrder, BindInstantAfter};
inline constexpr Keyset kAppealKeyset{kAppealAfter, kAppealOrder, BindInstantAfter};
inline constexpr Keyset kLedgerKeyset{kLedgerAfter, kLedgerOrder, BindInstantAfter};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_MYSQL_DONOR_ROWS_H_
