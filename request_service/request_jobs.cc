#include "request_service/request_jobs.h"

#include <algorithm>
#include <utility>

#include <cppconn/prepared_statement.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/feed_cursor.h"
#include "common/log.h"
#include "common/sql_toolkit.h"
#include "common/status.h"

namespace bloodgrid::request {

namespace {

// Only a cursor the feed refused is dropped (SaveFeedCursor never moves one back).
constexpr char kDropCursor[] = "DELETE FROM feed_cursors WHERE feed = ?";

// The task options of one job, gated on its lease when the service runs with leases.
PeriodicTask::Options JobTask(const JobOptions& options, const char* name, absl::Duration interval,
                              bool run_at_start) {
  PeriodicTask::Options task{.name = name, .interval = interval, .run_at_start = run_at_start};
  if (options.leases != nullptr) {
    task.gate = options.leases->Gate(name);
    task.gate_retry = options.leases->retry();
  }
  return task;
}

}  // namespace

RequestJobs::RequestJobs(RequestOperations* operations, InventoryClient* inventory,
                         JobOptions options)
    : operations_(operations),
      inventory_(inventory),
      options_(std::move(options)),
      reconcile_task_(JobTask(options_, "reconcile_pass", options_.reconcile_interval, true),
                      [this] { return ReconcilePass(); }),
      backorder_task_(JobTask(options_, "backorder_pass", options_.backorder_interval, false),
                      [this] { return BackorderPass(); }),
      presume_task_(JobTask(options_, "presume_pass", options_.presume_interval, true),
                    [this] { return PresumePass(); }),
      // Not leased: it applies what this replica's consumer received while it held the
      // consumer's lease, and both steps are idempotent, so a replica that has just lost the
      // lease finishing its last events changes nothing the new holder would not.
      stock_events_task_({"stock_events_pass", options_.stock_events_interval,
                          /*run_at_start=*/false},
                         [this] { return StockEventsPass(); }) {}

RequestJobs::~RequestJobs() { Stop(); }

void RequestJobs::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
  }
  stock_events_task_.Start();
  reconcile_task_.Start();
  backorder_task_.Start();
  presume_task_.Start();
  if (options_.watch_stock) watch_thread_ = std::thread([this] { WatchLoop(); });
}

void RequestJobs::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  CancelWatch();
  if (watch_thread_.joinable()) watch_thread_.join();
  reconcile_task_.Stop();
  backorder_task_.Stop();
  presume_task_.Stop();
  stock_events_task_.Stop();
}

void RequestJobs::TriggerBackorderFill() { backorder_task_.Trigger(); }

int64_t RequestJobs::backorder_passes() const { return backorder_task_.passes(); }

int64_t RequestJobs::reconcile_passes() const {
  absl::MutexLock lock(&mu_);
  return reconcile_passes_;
}

int64_t RequestJobs::stock_resumes() const {
  absl::MutexLock lock(&mu_);
  return stock_resumes_;
}

int64_t RequestJobs::stock_sweeps() const {
  absl::MutexLock lock(&mu_);
  return stock_sweeps_;
}

int64_t RequestJobs::stock_event_fills() const {
  absl::MutexLock lock(&mu_);
  return stock_event_fills_;
}

bool RequestJobs::stock_consuming() const {
  absl::MutexLock lock(&mu_);
  return watch_cancel_ != nullptr;
}

absl::Status RequestJobs::ReconcilePass() {
  // The start-up pass looks at every order, whatever its age, until one succeeds.
  const bool all = !reconciled_all_.load();
  absl::StatusOr<int> done =
      operations_->ReconcileOrders(all, absl::Now() + options_.pass_deadline);
  if (!done.ok()) return done.status();
  reconciled_all_.store(true);
  if (*done > 0) LogInfo("orders_reconciled", {{"count", absl::StrCat(*done)}});
  absl::MutexLock lock(&mu_);
  ++reconcile_passes_;
  return absl::OkStatus();
}

absl::Status RequestJobs::BackorderPass() {
  absl::MutexLock fill(&fill_mu_);
  return operations_->FillBackorders(absl::Now() + options_.pass_deadline).status();
}

absl::Status RequestJobs::PresumePass() {
  absl::StatusOr<int> done = operations_->PresumeTransfusions(absl::Now() + options_.pass_deadline);
  if (!done.ok()) return done.status();
  if (*done > 0) LogInfo("units_presumed_transfused", {{"count", absl::StrCat(*done)}});
  return absl::OkStatus();
}

absl::Status RequestJobs::StockEventsPass() {
  if (options_.leases != nullptr &&
      !options_.leases->Lease(kStockConsumerJob).StillHeld(absl::Now())) {
    CancelWatch();  // another replica consumes now; this one's stream must end
  }
  absl::MutexLock apply(&apply_mu_);
  std::deque<std::string> withdrawn;
  bool fill = false;
  bool sweep = false;
  uint64_t sequence = 0;
  {
    absl::MutexLock lock(&mu_);
    withdrawn.swap(withdrawn_keys_);
    fill = std::exchange(pending_fill_, false);
    sweep = std::exchange(pending_sweep_, false);
    sequence = std::exchange(pending_sequence_, 0);
  }
  if (withdrawn.empty() && !fill && !sweep && sequence == 0) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + options_.pass_deadline;
  absl::Status status = absl::OkStatus();
  std::deque<std::string> retry;
  for (const std::string& key : withdrawn) {
    absl::Status handled = operations_->HandleWithdrawnUnits(key, deadline);
    if (handled.ok()) continue;
    LogWarning("withdrawn_units_failed",
               {{"reservation_key", key}, {"status", handled.ToString()}});
    // Inventory or the database did not answer: try again. Anything else is about the order
    // itself (gone, settled) and a repeat would answer the same.
    if (absl::IsUnavailable(handled) || absl::IsDeadlineExceeded(handled) ||
        absl::IsAborted(handled)) {
      retry.push_back(key);
      status.Update(handled);
    }
  }
  if (fill || sweep) {
    absl::MutexLock lock(&fill_mu_);
    absl::Status filled = operations_->FillBackorders(deadline).status();
    if (filled.ok()) {
      absl::MutexLock counters(&mu_);
      if (sweep) {
        ++stock_sweeps_;
      } else {
        ++stock_event_fills_;
      }
    } else {
      status.Update(filled);
    }
  }
  if (status.ok() && sequence > 0) status = SaveCursor(sequence);
  if (!status.ok()) {
    // Put back what is not applied yet (with what arrived meanwhile); the next pass repeats it.
    absl::MutexLock lock(&mu_);
    for (auto it = retry.rbegin(); it != retry.rend(); ++it) withdrawn_keys_.push_front(*it);
    pending_fill_ = pending_fill_ || fill;
    pending_sweep_ = pending_sweep_ || sweep;
    pending_sequence_ = std::max(pending_sequence_, sequence);
  }
  return status;
}

bool RequestJobs::Pause(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), delay);
  return !stopping_;
}

void RequestJobs::CancelWatch() {
  absl::MutexLock lock(&mu_);
  if (watch_cancel_ != nullptr) watch_cancel_->Cancel();
}

void RequestJobs::WatchLoop() {
  std::function<bool()> gate;
  if (options_.leases != nullptr) gate = options_.leases->Gate(kStockConsumerJob);
  absl::Duration backoff = options_.watch_backoff_min;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (gate && !gate()) {
      if (!Pause(options_.leases->retry())) return;
      continue;
    }
    absl::StatusOr<uint64_t> cursor = LoadCursor();
    if (!cursor.ok()) {
      LogWarning("stock_cursor_load_failed", {{"status", cursor.status().ToString()}});
      if (!Pause(backoff)) return;
      backoff = std::min(backoff * 2, options_.watch_backoff_max);
      continue;
    }
    v1::WatchStockRequest request;
    // From the start of the last feed event applied: its events may not all have been.
    if (*cursor > 0) {
      request.set_resume_token(absl::StrCat("f1.", *cursor, ".0"));
    } else {
      request.set_include_snapshot(true);
    }
    bool sweep_on_first = *cursor == 0;
    bool any_event = false;
    WatchCancellation cancel;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      watch_cancel_ = &cancel;
      if (*cursor > 0) ++stock_resumes_;
    }
    LogInfo("stock_consumer_subscribed", {{"cursor", absl::StrCat(*cursor)}});
    const absl::Status status = inventory_->WatchStock(
        request,
        [&](const v1::StockEvent& event) {
          any_event = true;
          OnStockEvent(event, &sweep_on_first);
        },
        &cancel);
    {
      absl::MutexLock lock(&mu_);
      watch_cancel_ = nullptr;
      if (stopping_) return;
    }
    if (any_event) backoff = options_.watch_backoff_min;
    const bool unusable =
        absl::IsOutOfRange(status) || (*cursor > 0 && absl::IsInvalidArgument(status) &&
                                       absl::StartsWith(status.message(), "resume_token"));
    if (unusable) {
      // Past the feed's retention, or ahead of it (inventory's database restored): what
      // happened in between is unknown, so start again at the head with a full sweep.
      LogWarning("stock_cursor_unusable",
                 {{"cursor", absl::StrCat(*cursor)}, {"status", status.ToString()}});
      absl::Status dropped = DropCursor();
      if (dropped.ok()) continue;
      LogWarning("stock_cursor_drop_failed", {{"status", dropped.ToString()}});
    } else {
      LogWarning("stock_watch_ended", {{"status", status.ToString()}});
    }
    if (!Pause(backoff)) return;
    backoff = std::min(backoff * 2, options_.watch_backoff_max);
  }
}

void RequestJobs::OnStockEvent(const v1::StockEvent& event, bool* sweep_on_first) {
  bool more_stock = false;
  bool sweep = false;
  if (*sweep_on_first) {
    // Subscribed without a cursor: stock may have arrived before, unseen.
    *sweep_on_first = false;
    sweep = true;
  }
  std::string withdrawn;
  if (event.has_level()) {
    const v1::StockLevel& level = event.level();
    const std::string key = absl::StrCat(level.station_id(), "|", level.component(), "|",
                                         level.blood_type().abo(), "|", level.blood_type().rhd());
    const int64_t available = level.available().quantity();
    auto [it, inserted] = last_available_.emplace(key, available);
    if (inserted) {
      if (!event.snapshot() && available > 0) more_stock = true;
    } else {
      if (available > it->second) more_stock = true;
      it->second = available;
    }
  } else if (event.has_alert()) {
    const v1::StockAlert& alert = event.alert();
    if (alert.kind() == v1::STOCK_ALERT_KIND_RESERVED_UNIT_WITHDRAWN &&
        !alert.reservation_key().empty()) {
      withdrawn = alert.reservation_key();
    } else if (alert.kind() == v1::STOCK_ALERT_KIND_PAR_RESTORED) {
      more_stock = true;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (!withdrawn.empty()) withdrawn_keys_.push_back(std::move(withdrawn));
    pending_fill_ = pending_fill_ || more_stock;
    pending_sweep_ = pending_sweep_ || sweep;
    pending_sequence_ = std::max(pending_sequence_, event.feed_sequence());
  }
  stock_events_task_.Trigger();
}

absl::StatusOr<uint64_t> RequestJobs::LoadCursor() {
  if (options_.cursor_pool == nullptr) return 0;
  uint64_t cursor = 0;
  BG_RETURN_IF_ERROR(db::RunTransaction(*options_.cursor_pool, "load stock cursor",
                                        absl::Now() + absl::Seconds(5), [&](db::Connection& conn) {
                                          cursor = db::LoadFeedCursor(conn, kStockFeed);
                                          return absl::OkStatus();
                                        }));
  return cursor;
}

absl::Status RequestJobs::SaveCursor(uint64_t sequence) {
  if (options_.cursor_pool == nullptr) return absl::OkStatus();
  return db::RunTransaction(*options_.cursor_pool, "save stock cursor",
                            absl::Now() + absl::Seconds(5), [&](db::Connection& conn) {
                              db::SaveFeedCursor(conn, kStockFeed, sequence, absl::Now());
                              return absl::OkStatus();
                            });
}

absl::Status RequestJobs::DropCursor() {
  if (options_.cursor_pool == nullptr) return absl::OkStatus();
  // After the pass under way, whose save would otherwise bring the dropped cursor back.
  absl::MutexLock apply(&apply_mu_);
  {
    absl::MutexLock lock(&mu_);
    pending_sequence_ = 0;
  }
  return db::RunTransaction(*options_.cursor_pool, "drop stock cursor",
                            absl::Now() + absl::Seconds(5), [&](db::Connection& conn) {
                              sql::PreparedStatement& drop = conn.Prepare(kDropCursor);
                              db::Params(drop).Str(kStockFeed);
                              drop.executeUpdate();
                              return absl::OkStatus();
                            });
}

}  // namespace bloodgrid::request
