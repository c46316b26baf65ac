#include "request_service/request_jobs.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace bloodgrid::request {

namespace {

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
      // Not leased: it drains the withdrawals this replica's stock stream queued, and
      // HandleWithdrawnUnits only re-verifies the order against inventory, so a second
      // replica doing the same changes nothing more.
      withdrawn_task_({"withdrawn_units_pass", options_.backorder_interval,
                       /*run_at_start=*/false},
                      [this] { return WithdrawnPass(); }) {}

RequestJobs::~RequestJobs() { Stop(); }

void RequestJobs::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
  }
  withdrawn_task_.Start();
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
  watch_cancel_.Cancel();
  if (watch_thread_.joinable()) watch_thread_.join();
  reconcile_task_.Stop();
  backorder_task_.Stop();
  presume_task_.Stop();
  withdrawn_task_.Stop();
}

void RequestJobs::TriggerBackorderFill() { backorder_task_.Trigger(); }

int64_t RequestJobs::backorder_passes() const { return backorder_task_.passes(); }

int64_t RequestJobs::reconcile_passes() const {
  absl::MutexLock lock(&mu_);
  return reconcile_passes_;
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
  return operations_->FillBackorders(absl::Now() + options_.pass_deadline).status();
}

absl::Status RequestJobs::PresumePass() {
  absl::StatusOr<int> done = operations_->PresumeTransfusions(absl::Now() + options_.pass_deadline);
  if (!done.ok()) return done.status();
  if (*done > 0) LogInfo("units_presumed_transfused", {{"count", absl::StrCat(*done)}});
  return absl::OkStatus();
}

absl::Status RequestJobs::WithdrawnPass() {
  std::deque<std::string> withdrawn;
  {
    absl::MutexLock lock(&mu_);
    withdrawn.swap(withdrawn_keys_);
  }
  const absl::Time deadline = absl::Now() + options_.pass_deadline;
  for (const std::string& key : withdrawn) {
    absl::Status status = operations_->HandleWithdrawnUnits(key, deadline);
    if (!status.ok()) {
      LogWarning("withdrawn_units_failed",
                 {{"reservation_key", key}, {"status", status.ToString()}});
    }
  }
  return absl::OkStatus();
}

void RequestJobs::WatchLoop() {
  absl::Duration backoff = options_.watch_backoff_min;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    v1::WatchStockRequest request;
    request.set_include_snapshot(true);
    bool first_event = true;
    bool any_event = false;
    absl::Status status = inventory_->WatchStock(
        request,
        [&](const v1::StockEvent& event) {
          any_event = true;
          OnStockEvent(event, &first_event);
        },
        &watch_cancel_);
    if (any_event) backoff = options_.watch_backoff_min;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    LogWarning("stock_watch_ended", {{"status", status.ToString()}});
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
      if (stopping_) return;
    }
    backoff = std::min(backoff * 2, options_.watch_backoff_max);
  }
}

void RequestJobs::OnStockEvent(const v1::StockEvent& event, bool* first_event) {
  bool more_stock = false;
  if (*first_event) {
    // (Re)connected: stock may have arrived while the stream was down.
    *first_event = false;
    more_stock = true;
  }
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
      {
        absl::MutexLock lock(&mu_);
        withdrawn_keys_.push_back(alert.reservation_key());
      }
      withdrawn_task_.Trigger();
    } else if (alert.kind() == v1::STOCK_ALERT_KIND_PAR_RESTORED) {
      more_stock = true;
    }
  }
  if (more_stock) TriggerBackorderFill();
}

}  // namespace bloodgrid::request
