// InventoryFeedConsumer: the donor service's reader of the inventory's change feed
// (InventoryService.ReadChangeFeed; DESIGN.md "Change feeds instead of chained calls"). For each
// TestingRecorded event it applies to the donor record what the gateway's RecordTestResults fast
// path applies, so a test result reaches the donor even when that fast path never ran:
//  - a typing (typed_blood_type set): RecordBloodTyping with the confirmed ABO/RhD (an untyped
//    donor takes it, an agreeing one is confirmed, a disagreeing one gets a BloodTypeConflict,
//    logged as "inventory_feed_blood_type_conflict");
//  - a REACTIVE outcome: MarkDonorReactive once per reactive marker (the policy's deferral for
//    that marker).
// Both go through DonorOperations as actor "system:inventory-feed", with request ids derived
// from the DIN and the step ("feed.typing.<din>.<abo>.<rhd>", "feed.reactive.<din>.<test>"); the
// operations are idempotent per DIN (and per marker), so an event applied again, or one the
// gateway's fast path applied first, changes nothing. Other events, and testing events of a
// unit registered without a donor reference, are skipped.
//
// Delivery: the cursor ("inventory" in the donor schema's feed_cursors, common/feed_cursor.h)
// is the last sequence applied; it is saved only after the events up to it were applied, so a
// crash repeats events (harmless) and never skips one.
//  - A permanent refusal of one event (NOT_FOUND donor, INVALID_ARGUMENT, FAILED_PRECONDITION,
//    anything IsTransientFeedError rejects) is logged with the DIN as
//    "inventory_feed_event_refused" and the event is passed, so one bad event does not stall
//    the feed.
//  - A transient error (IsTransientFeedError), from the inventory or the donor database, is
//    retried with exponential backoff without advancing the cursor. An inventory that is not up
//    yet is just such an error.
//  - OUT_OF_RANGE (the cursor is older than the feed's retention) is logged as
//    "inventory_feed_cursor_lost" and reading restarts from the oldest event the feed keeps.
//
// One replica at a time: each read runs only while this process holds the job lease
// "inventory_feed" (common/job_lease.h); a replica that dies is replaced within about one TTL.
//
// Thread-safe. Start() at most once; Stop() (or the destructor) cancels a long poll in flight and
// waits for the thread.
#ifndef BLOODGRID_DONOR_SERVICE_INVENTORY_FEED_CONSUMER_H_
#define BLOODGRID_DONOR_SERVICE_INVENTORY_FEED_CONSUMER_H_

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "common/clock.h"
#include "common/job_lease.h"
#include "common/mysql_pool.h"
#include "donor_service/donor_operations.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace bloodgrid::donor {

// The feed's name in feed_cursors and the job's name in job_leases.
inline constexpr char kInventoryFeedName[] = "inventory";
inline constexpr char kInventoryFeedJob[] = "inventory_feed";
// The actor of the donor changes the consumer makes.
inline constexpr char kInventoryFeedActor[] = "system:inventory-feed";

// True for the codes retried without advancing the cursor: UNAVAILABLE, DEADLINE_EXCEEDED,
// ABORTED, RESOURCE_EXHAUSTED and CANCELLED (the consumer stopping). Every other error code is a
// permanent refusal of the event.
bool IsTransientFeedError(absl::StatusCode code);

class InventoryFeedConsumer {
 public:
  struct Options {
    // How long one ReadChangeFeed waits for a first event (the long poll), at most 30 s.
    absl::Duration wait = absl::Seconds(5);
    // Events per read, 1..1000.
    int batch_limit = 200;
    // Backoff after a transient error: starts at min, doubles, capped at max.
    absl::Duration min_backoff = absl::Milliseconds(200);
    absl::Duration max_backoff = absl::Seconds(5);
    // Deadline of each donor operation applied.
    absl::Duration apply_timeout = absl::Seconds(10);
  };

  // Counters, for tests and logs.
  struct Stats {
    // ReadChangeFeed calls made, failed ones included.
    int64_t reads = 0;
    // after_sequence of the first read since Start().
    uint64_t first_read_after = 0;
    // Testing events applied in full (whether or not they changed anything).
    int64_t applied = 0;
    // Events passed over: not testing, or a unit without a donor reference.
    int64_t skipped = 0;
    // Testing events with a step refused permanently (logged and passed).
    int64_t refused = 0;
    // Transient errors that made the consumer back off.
    int64_t retries = 0;
    // Times the cursor was older than the feed's retention.
    int64_t cursor_lost = 0;
    // The last cursor saved (0 before the first save).
    uint64_t cursor = 0;
  };

  // Everything passed must outlive this object. `inventory` is the inventory service's channel
  // (common/service_channel.h); `pool` is the donor schema's; `clock` gives the operations'
  // "now", in `time_zone`.
  InventoryFeedConsumer(DonorOperations* operations, db::ConnectionPool* pool,
                        db::JobLeases* leases, std::shared_ptr<grpc::Channel> inventory,
                        const Clock* clock, absl::TimeZone time_zone, Options options);
  ~InventoryFeedConsumer();
  InventoryFeedConsumer(const InventoryFeedConsumer&) = delete;
  InventoryFeedConsumer& operator=(const InventoryFeedConsumer&) = delete;

  void Start();
  void Stop();

  Stats stats() const;

 private:
  void Loop();
  // One read from the stored cursor and the apply of what it returned; saves the cursor after
  // the events applied. A transient error is returned (the caller backs off).
  absl::Status Step();
  // Applies one event: OK when applied, skipped, or refused for good (logged), else the
  // transient error that stopped it.
  absl::Status Apply(const v1::ChangeEvent& event);
  absl::Status ReadFeed(uint64_t after, v1::ReadChangeFeedResponse* response);
  absl::Status SaveCursor(uint64_t after);
  // Sleeps up to `duration`; false when Stop() was called.
  bool SleepUnlessStopping(absl::Duration duration);
  bool stopping() const;

  DonorOperations* const operations_;
  db::ConnectionPool* const pool_;
  db::JobLeases* const leases_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::InventoryService::Stub> stub_;
  const Clock* const clock_;
  const absl::TimeZone time_zone_;
  const Options options_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The read in flight, cancelled by Stop().
  grpc::ClientContext* in_flight_ ABSL_GUARDED_BY(mu_) = nullptr;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_INVENTORY_FEED_CONSUMER_H_
