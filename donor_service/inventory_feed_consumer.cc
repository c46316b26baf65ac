#include "donor_service/inventory_feed_consumer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/feed_cursor.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status.h"

namespace bloodgrid::donor {
namespace {

// How often a replica without the lease asks for it again: well inside the lease's TTL, so a
// replica takes over soon after the holder's lease lapses.
constexpr absl::Duration kLeaseRetryFloor = absl::Seconds(1);
// Margin on top of the long poll for the read's own deadline.
constexpr absl::Duration kReadMargin = absl::Seconds(10);
// Deadline of the cursor's load and save.
constexpr absl::Duration kCursorTimeout = absl::Seconds(5);

}  // namespace

bool IsTransientFeedError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

InventoryFeedConsumer::InventoryFeedConsumer(DonorOperations* operations, db::ConnectionPool* pool,
                                             db::JobLeases* leases,
                                             std::shared_ptr<grpc::Channel> inventory,
                                             const Clock* clock, absl::TimeZone time_zone,
                                             Options options)
    : operations_(operations),
      pool_(pool),
      leases_(leases),
      channel_(std::move(inventory)),
      stub_(v1::InventoryService::NewStub(channel_)),
      clock_(clock),
      time_zone_(time_zone),
      options_(options) {}

InventoryFeedConsumer::~InventoryFeedConsumer() { Stop(); }

void InventoryFeedConsumer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void InventoryFeedConsumer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

InventoryFeedConsumer::Stats InventoryFeedConsumer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool InventoryFeedConsumer::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool InventoryFeedConsumer::SleepUnlessStopping(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), duration);
  return !stopping_;
}

void InventoryFeedConsumer::Loop() {
  const std::function<bool()> gate = leases_->Gate(kInventoryFeedJob);
  const absl::Duration lease_retry = std::min(leases_->retry(), kLeaseRetryFloor);
  absl::Duration backoff = options_.min_backoff;
  while (!stopping()) {
    if (!gate()) {
      if (!SleepUnlessStopping(lease_retry)) return;
      continue;
    }
    absl::Status status = Step();
    if (status.ok()) {
      backoff = options_.min_backoff;
      continue;
    }
    if (stopping()) return;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.retries;
    }
    LogWarning("inventory_feed_retry",
               {{"status", status.ToString()}, {"backoff", absl::FormatDuration(backoff)}});
    if (!SleepUnlessStopping(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status InventoryFeedConsumer::ReadFeed(uint64_t after, v1::ReadChangeFeedResponse* response) {
  v1::ReadChangeFeedRequest request;
  request.set_after_sequence(after);
  request.set_limit(options_.batch_limit);
  request.set_wait_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(options_.wait)));
  grpc::ClientContext context;
  const absl::Duration timeout = options_.wait + kReadMargin;
  PrepareOutgoingCall(context, kInventoryFeedActor, absl::Now() + timeout, timeout);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("inventory feed consumer stopping");
    if (stats_.reads++ == 0) stats_.first_read_after = after;
    in_flight_ = &context;
  }
  grpc::Status status = stub_->ReadChangeFeed(&context, request, response);
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = nullptr;
  }
  return FromGrpcStatus(status);
}

absl::Status InventoryFeedConsumer::SaveCursor(uint64_t after) {
  absl::Status saved =
      db::RunTransaction(*pool_, "save inventory feed cursor", absl::Now() + kCursorTimeout,
                         [&](db::Connection& conn) {
                           db::SaveFeedCursor(conn, kInventoryFeedName, after, clock_->Now());
                           return absl::OkStatus();
                         });
  if (saved.ok()) {
    absl::MutexLock lock(&mu_);
    stats_.cursor = std::max(stats_.cursor, after);
  }
  return saved;
}

absl::Status InventoryFeedConsumer::Step() {
  uint64_t cursor = 0;
  BG_RETURN_IF_ERROR(db::RunTransaction(*pool_, "load inventory feed cursor",
                                        absl::Now() + kCursorTimeout, [&](db::Connection& conn) {
                                          cursor = db::LoadFeedCursor(conn, kInventoryFeedName);
                                          return absl::OkStatus();
                                        }));
  v1::ReadChangeFeedResponse response;
  absl::Status read = ReadFeed(cursor, &response);
  if (read.code() == absl::StatusCode::kOutOfRange) {
    // The events after the cursor are gone (retention; a cursor restored from an old backup):
    // whatever they did to donors is lost to this consumer. Reading restarts from the oldest
    // event kept (after_sequence 0) and the cursor moves there once those are applied; the
    // gateway's fast path normally applied the lost ones, and an operator should check the
    // deferrals of the results recorded in the gap.
    LogError("inventory_feed_cursor_lost",
             {{"cursor", std::to_string(cursor)}, {"status", read.ToString()}});
    {
      absl::MutexLock lock(&mu_);
      ++stats_.cursor_lost;
    }
    response.Clear();
    read = ReadFeed(0, &response);
  }
  if (!read.ok()) {
    // Every failed read is retried: skipping a read would skip its events.
    if (!IsTransientFeedError(read.code())) {
      LogError("inventory_feed_read_failed", {{"status", read.ToString()}});
      return absl::UnavailableError(absl::StrCat("inventory feed read: ", read.message()));
    }
    return read;
  }
  uint64_t applied_through = cursor;
  absl::Status outcome = absl::OkStatus();
  db::JobLease& lease = leases_->Lease(kInventoryFeedJob);
  for (const v1::ChangeEvent& event : response.events()) {
    // Another replica may hold the lease by now; it starts from the saved cursor.
    if (stopping() || !lease.StillHeld(absl::Now())) break;
    absl::Status applied = Apply(event);
    if (!applied.ok()) {
      outcome = applied;
      break;
    }
    applied_through = event.sequence();
  }
  if (applied_through > cursor) {
    BG_RETURN_IF_ERROR(SaveCursor(applied_through));
  }
  return outcome;
}

absl::Status InventoryFeedConsumer::Apply(const v1::ChangeEvent& event) {
  if (!event.has_testing() || event.testing().donor_id().empty()) {
    absl::MutexLock lock(&mu_);
    ++stats_.skipped;
    return absl::OkStatus();
  }
  const v1::TestingRecorded& testing = event.testing();
  const CallContext call =
      JobCallContext("inventory-feed", *clock_, time_zone_, absl::Now() + options_.apply_timeout);
  // A step refused for good is logged and passed; the event's other steps still run (a typing
  // the donor record cannot take must not cost the deferral).
  int refused = 0;
  auto refuse = [&](absl::string_view step, const absl::Status& status) {
    ++refused;
    LogError("inventory_feed_event_refused", {{"sequence", std::to_string(event.sequence())},
                                              {"din", testing.din()},
                                              {"donor_id", testing.donor_id()},
                                              {"step", std::string(step)},
                                              {"status", status.ToString()}});
  };
  if (testing.has_typed_blood_type() &&
      testing.typed_blood_type().abo() != v1::ABO_GROUP_UNSPECIFIED) {
    v1::RecordBloodTypingRequest typing;
    // The type is part of the key: a corrected typing of the DIN is another request (the
    // operation keeps the DIN's first typing either way).
    typing.set_request_id(absl::StrCat("feed.typing.", testing.din(), ".",
                                       testing.typed_blood_type().abo(), ".",
                                       testing.typed_blood_type().rhd()));
    typing.set_donor_id(testing.donor_id());
    *typing.mutable_blood_type() = testing.typed_blood_type();
    typing.set_din(testing.din());
    absl::StatusOr<v1::RecordBloodTypingResponse> typed =
        operations_->RecordBloodTyping(call, typing);
    if (!typed.ok() && IsTransientFeedError(typed.status().code())) return typed.status();
    if (!typed.ok()) {
      refuse("typing", typed.status());
    } else if (typed->has_conflict()) {
      LogWarning("inventory_feed_blood_type_conflict",
                 {{"din", testing.din()},
                  {"donor_id", testing.donor_id()},
                  {"conflict_id", typed->conflict().conflict_id()}});
    }
  }
  if (testing.outcome() == v1::TESTING_OUTCOME_REACTIVE) {
    // DOMAIN.md section 5: every reactive marker defers the donor per its catalogue entry.
    for (int test : testing.reactive_tests()) {
      const std::string marker = v1::ScreeningTest_Name(static_cast<v1::ScreeningTest>(test));
      v1::MarkDonorReactiveRequest reactive;
      reactive.set_request_id(absl::StrCat("feed.reactive.", testing.din(), ".", marker));
      reactive.set_donor_id(testing.donor_id());
      reactive.set_din(testing.din());
      reactive.set_test(static_cast<v1::ScreeningTest>(test));
      absl::StatusOr<v1::MarkDonorReactiveResponse> deferred =
          operations_->MarkDonorReactive(call, reactive);
      if (!deferred.ok() && IsTransientFeedError(deferred.status().code())) {
        return deferred.status();
      }
      if (!deferred.ok()) {
        refuse(absl::StrCat("reactive ", marker), deferred.status());
      } else if (deferred->newly_deferred()) {
        LogInfo("inventory_feed_donor_deferred",
                {{"din", testing.din()}, {"donor_id", testing.donor_id()}, {"test", marker}});
      }
    }
  }
  absl::MutexLock lock(&mu_);
  ++(refused > 0 ? stats_.refused : stats_.applied);
  return absl::OkStatus();
}

}  // namespace bloodgrid::donor
