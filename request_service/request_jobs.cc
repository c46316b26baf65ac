#include "request_service/request_jobs.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace bloodgrid::request {

RequestJobs::RequestJobs(RequestOperations* operations, InventoryClient* inventory,
                         JobOptions options)
    : operations_(operations), inventory_(inventory), options_(std::move(options)) {}

RequestJobs::~RequestJobs() { Stop(); }

void RequestJobs::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
  }
  main_thread_ = std::thread([this] { MainLoop(); });
  if (options_.watch_stock) watch_thread_ = std::thread([this] { WatchLoop(); });
}

void RequestJobs::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  watch_cancel_.Cancel();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (main_thread_.joinable()) main_thread_.join();
}

void RequestJobs::TriggerBackorderFill() {
  absl::MutexLock lock(&mu_);
  backorder_wanted_ = true;
}

int64_t RequestJobs::backorder_passes() const {
  absl::MutexLock lock(&mu_);
  return backorder_passes_;
}

int64_t RequestJobs::reconcile_passes() const {
  absl::MutexLock lock(&mu_);
  return reconcile_passes_;
}

void RequestJobs::MainLoop() {
  bool reconciled_all = false;  // the start-up pass looks at every order, whatever its age
  absl::Time next_reconcile = absl::Now();
  absl::Time next_backorder = absl::Now() + options_.backorder_interval;
  absl::Time next_presume = absl::Now();
  while (true) {
    bool backorder = false;
    std::deque<std::string> withdrawn;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time wake = std::min({next_reconcile, next_backorder, next_presume});
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || backorder_wanted_ || !withdrawn_keys_.empty();
      };
      mu_.AwaitWithDeadline(absl::Condition(&ready), wake);
      if (stopping_) return;
      backorder = backorder_wanted_;
      backorder_wanted_ = false;
      withdrawn.swap(withdrawn_keys_);
    }
    const absl::Time now = absl::Now();
    const absl::Time deadline = now + options_.pass_deadline;
    for (const std::string& key : withdrawn) {
      absl::Status status = operations_->HandleWithdrawnUnits(key, deadline);
      if (!status.ok()) {
        LogWarning("withdrawn_units_failed",
                   {{"reservation_key", key}, {"status", status.ToString()}});
      }
    }
    if (now >= next_reconcile) {
      absl::StatusOr<int> done = operations_->ReconcileOrders(!reconciled_all, deadline);
      if (done.ok()) {
        reconciled_all = true;
        if (*done > 0) LogInfo("orders_reconciled", {{"count", absl::StrCat(*done)}});
        absl::MutexLock lock(&mu_);
        ++reconcile_passes_;
      } else {
        LogWarning("reconcile_pass_failed", {{"status", done.status().ToString()}});
      }
      next_reconcile = absl::Now() + options_.reconcile_interval;
    }
    if (backorder || now >= next_backorder) {
      absl::StatusOr<int> done = operations_->FillBackorders(deadline);
      if (!done.ok()) {
        LogWarning("backorder_pass_failed", {{"status", done.status().ToString()}});
      }
      {
        absl::MutexLock lock(&mu_);
        ++backorder_passes_;
      }
      next_backorder = absl::Now() + options_.backorder_interval;
    }
    if (now >= next_presume) {
      absl::StatusOr<int> done = operations_->PresumeTransfusions(deadline);
      if (!done.ok()) {
        LogWarning("presume_pass_failed", {{"status", done.status().ToString()}});
      } else if (*done > 0) {
        LogInfo("units_presumed_transfused", {{"count", absl::StrCat(*done)}});
      }
      next_presume = absl::Now() + options_.presume_interval;
    }
  }
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
      absl::MutexLock lock(&mu_);
      withdrawn_keys_.push_back(alert.reservation_key());
    } else if (alert.kind() == v1::STOCK_ALERT_KIND_PAR_RESTORED) {
      more_stock = true;
    }
  }
  if (more_stock) TriggerBackorderFill();
}

}  // namespace bloodgrid::request
