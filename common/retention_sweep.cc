#include "common/retention_sweep.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/sql_toolkit.h"
#include "common/status.h"

namespace bloodgrid::db {
namespace {

// created_at is a TIMESTAMP on the database's clock; the cutoff is bound in whole seconds.
constexpr char kKeyPage[] =
    "SELECT scope, request_id, created_at < FROM_UNIXTIME(?) FROM idempotency_keys "
    "WHERE scope > ? OR (scope = ? AND request_id > ?) ORDER BY scope, request_id LIMIT ?";
constexpr char kDeleteKey[] =
    "DELETE FROM idempotency_keys WHERE scope = ? AND request_id = ? "
    "AND created_at < FROM_UNIXTIME(?)";
constexpr char kNewestEvent[] = "SELECT MAX(sequence) FROM change_feed";
constexpr char kLastOldEvent[] =
    "SELECT sequence FROM change_feed WHERE committed_us < ? "
    "ORDER BY committed_us DESC, sequence DESC LIMIT 1";
constexpr char kDeleteEvents[] =
    "DELETE FROM change_feed WHERE sequence <= ? AND committed_us < ? ORDER BY sequence LIMIT ?";

bool KeepGoing(const SweepLimits& limits) {
  if (absl::Now() >= limits.deadline) return false;
  return !limits.keep_going || limits.keep_going();
}

absl::Status CheckBatch(const SweepLimits& limits) {
  if (limits.batch_size < 1) return absl::InvalidArgumentError("batch_size: must be positive");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> SweepIdempotencyKeys(ConnectionPool& pool, absl::Time cutoff,
                                             const SweepLimits& limits) {
  BG_RETURN_IF_ERROR(CheckBatch(limits));
  const int64_t cutoff_seconds = absl::ToUnixSeconds(cutoff);
  std::string after_scope;
  std::string after_request_id;
  int64_t deleted = 0;
  bool more = true;
  while (more && KeepGoing(limits)) {
    int64_t deleted_here = 0;
    std::string last_scope;
    std::string last_request_id;
    absl::Status status =
        RunTransaction(pool, "sweep idempotency keys", limits.deadline, [&](Connection& conn) {
          deleted_here = 0;
          std::vector<std::pair<std::string, std::string>> old_keys;
          sql::PreparedStatement& page = conn.Prepare(kKeyPage);
          Params(page)
              .Int(cutoff_seconds)
              .Str(after_scope)
              .Str(after_scope)
              .Str(after_request_id)
              .Int(limits.batch_size);
          const int64_t rows = ForEachRow(page, [&](const sql::ResultSet& rs) {
            last_scope = Str(rs, 1);
            last_request_id = Str(rs, 2);
            if (Bool(rs, 3)) old_keys.emplace_back(last_scope, last_request_id);
          });
          more = rows == limits.batch_size;
          sql::PreparedStatement& remove = conn.Prepare(kDeleteKey);
          for (const auto& [scope, request_id] : old_keys) {
            Params(remove).Str(scope).Str(request_id).Int(cutoff_seconds);
            deleted_here += remove.executeUpdate();
          }
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
    deleted += deleted_here;
    after_scope = std::move(last_scope);
    after_request_id = std::move(last_request_id);
  }
  return deleted;
}

absl::StatusOr<int64_t> SweepChangeFeed(ConnectionPool& pool, absl::Time cutoff,
                                        const SweepLimits& limits) {
  BG_RETURN_IF_ERROR(CheckBatch(limits));
  int64_t bound = 0;
  BG_RETURN_IF_ERROR(
      RunTransaction(pool, "sweep change feed", limits.deadline, [&](Connection& conn) {
        int64_t newest = 0;
        bound = 0;
        ForEachRow(conn.Prepare(kNewestEvent),
                   [&](const sql::ResultSet& rs) { newest = I64(rs, 1); });
        sql::PreparedStatement& last_old = conn.Prepare(kLastOldEvent);
        Params(last_old).Time(cutoff);
        ForEachRow(last_old, [&](const sql::ResultSet& rs) { bound = I64(rs, 1); });
        // The newest row stays whatever its age: it carries the feed's last sequence.
        bound = std::min(bound, newest - 1);
        return absl::OkStatus();
      }));
  int64_t deleted = 0;
  bool more = bound > 0;
  while (more && KeepGoing(limits)) {
    int64_t deleted_here = 0;
    BG_RETURN_IF_ERROR(
        RunTransaction(pool, "sweep change feed", limits.deadline, [&](Connection& conn) {
          sql::PreparedStatement& remove = conn.Prepare(kDeleteEvents);
          Params(remove).Int(bound).Time(cutoff).Int(limits.batch_size);
          deleted_here = remove.executeUpdate();
          return absl::OkStatus();
        }));
    deleted += deleted_here;
    more = deleted_here == limits.batch_size;
  }
  return deleted;
}

RetentionSweeper::RetentionSweeper(ConnectionPool* pool, JobLeases* leases,
                                   RetentionOptions options)
    : pool_(pool), lease_(&leases->Lease("retention_sweep")), options_(std::move(options)) {
  PeriodicTask::Options task_options;
  task_options.name = "retention_sweep";
  task_options.interval = options_.interval;
  task_options.run_at_start = true;
  task_options.gate = leases->Gate("retention_sweep");
  task_options.gate_retry = leases->retry();
  task_ = std::make_unique<PeriodicTask>(std::move(task_options),
                                         [this] { return SweepOnce(absl::Now()).status(); });
}

RetentionSweeper::~RetentionSweeper() { Stop(); }

void RetentionSweeper::Start() { task_->Start(); }

void RetentionSweeper::Stop() { task_->Stop(); }

absl::StatusOr<int64_t> RetentionSweeper::SweepOnce(absl::Time now) {
  if (options_.idempotency_retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("idempotency_retention: must be positive");
  }
  SweepLimits limits;
  limits.batch_size = options_.batch_size;
  limits.deadline = now + absl::Minutes(5);
  // Stop between batches once the lease has lapsed (another replica may be sweeping); a sweep
  // run by hand, without the lease, runs to the end.
  const bool leased = lease_->StillHeld(absl::Now());
  limits.keep_going = [this, leased] { return !leased || lease_->StillHeld(absl::Now()); };
  BG_ASSIGN_OR_RETURN(int64_t keys,
                      SweepIdempotencyKeys(*pool_, now - options_.idempotency_retention, limits));
  int64_t events = 0;
  if (options_.change_feed_retention > absl::ZeroDuration()) {
    BG_ASSIGN_OR_RETURN(events,
                        SweepChangeFeed(*pool_, now - options_.change_feed_retention, limits));
  }
  if (keys > 0 || events > 0) {
    LogInfo("retention_swept",
            {{"idempotency_keys", absl::StrCat(keys)}, {"change_feed", absl::StrCat(events)}});
  }
  return keys + events;
}

}  // namespace bloodgrid::db
