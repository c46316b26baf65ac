// The inventory's change feed against the real MariaDB through the real server: every write
// appears once, numbered 1..N without gaps in commit order, naming the rows it touched; two
// servers on one schema (two replicas) writing at once still make one gap-free feed in a valid
// commit order; ReadChangeFeed refuses bad inputs, long-polls, and reports a position that
// retention removed as OUT_OF_RANGE.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <latch>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/inventory_test_support.h"

namespace bloodgrid::inventory::testing {
namespace {

using Stub = v1::InventoryService::Stub;

class InventoryFeedTest : public InventoryServerTest {
 protected:
  InventoryFeedTest() : InventoryServerTest(/*pool_size=*/8, /*max_threads=*/64) {}

  // A second server on the same schema: another replica of the service.
  void StartReplica() {
    InventoryServer::Options options;
    options.server.name = "inventory_replica";
    options.server.listen_address = "127.0.0.1";
    options.server.port = 0;
    options.server.drain_timeout = absl::Seconds(2);
    options.server.health_probe_interval = absl::Seconds(1);
    options.db = schema_.options(8);
    options.db.acquire_timeout = absl::Seconds(10);
    options.policy_file = std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto";
    options.clock = &clock_;
    options.reservation_sweep_interval = absl::ZeroDuration();
    options.expiry_sweep_interval = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<InventoryServer>> server =
        InventoryServer::BuildAndStart(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    replica_ = *std::move(server);
    replica_stub_ = v1::InventoryService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", replica_->port()), grpc::InsecureChannelCredentials()));
  }

  ~InventoryFeedTest() override {
    replica_stub_.reset();
    if (replica_ != nullptr) replica_->Shutdown();
  }

  grpc::Status Read(Stub& stub, uint64_t after, int limit, v1::ReadChangeFeedResponse* out,
                    int wait_ms = 0) {
    v1::ReadChangeFeedRequest request;
    request.set_after_sequence(after);
    request.set_limit(limit);
    request.set_wait_ms(wait_ms);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(40));
    context.AddMetadata("x-bloodgrid-actor", "system:feed-reader");
    return stub.ReadChangeFeed(&context, request, out);
  }

  // The whole feed, read in pages of `page`, checking each page's promises on the way.
  std::vector<v1::ChangeEvent> ReadAll(Stub& stub, int page = 7) {
    std::vector<v1::ChangeEvent> all;
    uint64_t after = 0;
    while (true) {
      v1::ReadChangeFeedResponse response;
      grpc::Status status = Read(stub, after, page, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok() || response.events().empty()) break;
      EXPECT_LE(response.events_size(), page);
      for (const v1::ChangeEvent& event : response.events()) {
        EXPECT_EQ(event.sequence(), after + 1) << "a gap or a repeat in the feed";
        EXPECT_TRUE(event.has_committed_at());
        EXPECT_FALSE(event.actor().empty());
        after = event.sequence();
        all.push_back(event);
      }
      EXPECT_GE(response.head_sequence(), after);
    }
    return all;
  }

  v1::SetParLevelRequest Par(const std::string& station, int64_t minimum) {
    v1::SetParLevelRequest par;
    par.set_request_id(NextRequestId());
    par.set_station_id(station);
    par.set_component(v1::COMPONENT_WHOLE_BLOOD);
    *par.mutable_blood_type() = OPos();
    par.set_minimum(minimum);
    par.set_target(minimum + 2);
    return par;
  }

  static bool Names(const v1::StockChange& change, const std::string& station,
                    v1::Component component, const v1::BloodType& type) {
    for (const v1::StockRowKey& row : change.rows()) {
      if (row.station_id() == station && row.component() == component &&
          row.blood_type().abo() == type.abo() && row.blood_type().rhd() == type.rhd()) {
        return true;
      }
    }
    return false;
  }

  // A WatchStock stream, live once Open returned (the server sends initial metadata after it
  // subscribed).
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::StockEvent>> reader;
  };
  static std::unique_ptr<Stream> Open(Stub& stub, const std::string& token = "") {
    auto stream = std::make_unique<Stream>();
    stream->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream->context.AddMetadata("x-bloodgrid-actor", "system:watcher");
    v1::WatchStockRequest request;
    request.set_resume_token(token);
    stream->reader = stub.WatchStock(&stream->context, request);
    stream->reader->WaitForInitialMetadata();
    return stream;
  }
  // Reads until an event of feed sequence `last` (or the stream ends).
  static std::vector<v1::StockEvent> ReadThrough(Stream& stream, uint64_t last) {
    std::vector<v1::StockEvent> events;
    v1::StockEvent event;
    while (stream.reader->Read(&event)) {
      events.push_back(event);
      if (event.feed_sequence() >= last) break;
    }
    return events;
  }

  // The stock events of the feed after `after`.
  std::vector<uint64_t> StockSequences(uint64_t after) {
    std::vector<uint64_t> out;
    v1::ReadChangeFeedResponse response;
    EXPECT_TRUE(Read(*stub_, after, 1000, &response).ok());
    for (const v1::ChangeEvent& event : response.events()) {
      if (event.has_stock()) out.push_back(event.sequence());
    }
    return out;
  }

  void SetPar(Stub& stub, const std::string& station, int64_t minimum) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    context.AddMetadata("x-bloodgrid-actor", "admin:tester");
    v1::ParLevel level;
    grpc::Status status = stub.SetParLevel(&context, Par(station, minimum), &level);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  void AddStationVia(Stub& stub, const std::string& id) {
    v1::UpsertStationRequest request;
    request.set_request_id(NextRequestId());
    request.mutable_station()->set_station_id(id);
    request.mutable_station()->set_name(absl::StrCat("Station ", id));
    request.mutable_station()->set_kind(v1::STATION_KIND_BRANCH);
    request.mutable_station()->set_active(true);
    grpc::ClientContext context;
    context.AddMetadata("x-bloodgrid-actor", "admin:tester");
    v1::Station station;
    grpc::Status status = stub.UpsertStation(&context, request, &station);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  static bool Derived(const v1::StockEvent& event) {
    return event.has_alert() && (event.alert().kind() == v1::STOCK_ALERT_KIND_BELOW_PAR ||
                                 event.alert().kind() == v1::STOCK_ALERT_KIND_PAR_RESTORED ||
                                 event.alert().kind() == v1::STOCK_ALERT_KIND_OUT_OF_STOCK);
  }
  // What identifies an event across streams: where it stands and what it says.
  static std::string Identity(const v1::StockEvent& event) {
    return absl::StrCat(event.resume_token(), " ", event.feed_sequence(), " ",
                        event.has_level() ? absl::StrCat("level ", event.level().station_id())
                                          : absl::StrCat("alert ", event.alert().kind()));
  }

  std::unique_ptr<InventoryServer> replica_;
  std::unique_ptr<Stub> replica_stub_;
};

TEST_F(InventoryFeedTest, AMixOfWritesReadsOneToNInCommitOrder) {
  AddStation("CENTRAL");
  AddStation("BR-1");
  v1::ParLevel level;
  ASSERT_TRUE(Call(&Stub::SetParLevel, Par("CENTRAL", 1), &level).ok());
  const v1::Unit unit = AvailableUnit("CENTRAL", OPos());
  AvailableUnit("BR-1", ONeg());
  v1::Reservation reservation;
  ASSERT_TRUE(
      Call(&Stub::Reserve, ReserveRequest("F-1", {"CENTRAL"}, 1, {{OPos(), 0}}), &reservation)
          .ok());

  const std::vector<v1::ChangeEvent> events = ReadAll(*stub_, /*page=*/3);
  const int64_t rows = schema_.QueryInt("SELECT COUNT(*) FROM change_feed");
  ASSERT_EQ(static_cast<int64_t>(events.size()), rows);
  EXPECT_EQ(schema_.QueryInt("SELECT last_sequence FROM change_feed_head"), rows);
  v1::ReadChangeFeedResponse head;
  ASSERT_TRUE(Read(*stub_, 0, 1, &head).ok());
  EXPECT_EQ(head.head_sequence(), static_cast<uint64_t>(rows));
  // Commit order: the par level, then two units registered and released, then the reservation.
  ASSERT_TRUE(events.front().has_stock());
  EXPECT_TRUE(Names(events.front().stock(), "CENTRAL", v1::COMPONENT_WHOLE_BLOOD, OPos()));
  EXPECT_EQ(events.front().actor(), "admin:tester");
  const v1::ChangeEvent& last = events.back();
  ASSERT_TRUE(last.has_stock());
  EXPECT_TRUE(Names(last.stock(), "CENTRAL", v1::COMPONENT_WHOLE_BLOOD, OPos()));
  EXPECT_EQ(last.stock().rows_size(), 1);
  // A refused write and a read append nothing.
  v1::Reservation refused;
  EXPECT_FALSE(
      Call(&Stub::Reserve, ReserveRequest("F-2", {"NOWHERE"}, 1, {{OPos(), 0}}), &refused).ok());
  v1::Unit got;
  v1::GetUnitRequest get;
  get.set_unit_id(unit.unit_id());
  ASSERT_TRUE(Call(&Stub::GetUnit, get, &got).ok());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM change_feed"), rows);
}

TEST_F(InventoryFeedTest, TestResultsAndReservationsNameTheRowsTheyTouched) {
  AddStation("CENTRAL");
  const std::string din = NewDin();
  Collect(din, "D-1", "CENTRAL", APos());
  v1::ReadChangeFeedResponse before;
  ASSERT_TRUE(Read(*stub_, 0, 1, &before).ok());
  const v1::RecordTestResultsResponse released = ReleaseDin(din, APos());
  ASSERT_EQ(released.released_units_size(), 1);
  const v1::Unit& unit = released.released_units(0);

  v1::ReadChangeFeedResponse after_release;
  ASSERT_TRUE(Read(*stub_, before.head_sequence(), 100, &after_release).ok());
  bool named = false;
  for (const v1::ChangeEvent& event : after_release.events()) {
    if (event.has_stock() && Names(event.stock(), "CENTRAL", unit.component(), unit.blood_type())) {
      named = true;
    }
  }
  EXPECT_TRUE(named) << "the release names the unit's row";

  v1::Reservation reservation;
  v1::ReserveRequest reserve = ReserveRequest("T-1", {"CENTRAL"}, 1, {{APos(), 0}});
  reserve.set_component(unit.component());
  ASSERT_TRUE(Call(&Stub::Reserve, reserve, &reservation, "hospital:H001").ok());
  v1::ReadChangeFeedResponse after_reserve;
  ASSERT_TRUE(Read(*stub_, after_release.head_sequence(), 100, &after_reserve).ok());
  ASSERT_EQ(after_reserve.events_size(), 1);
  const v1::ChangeEvent& event = after_reserve.events(0);
  EXPECT_EQ(event.sequence(), after_release.head_sequence() + 1);
  EXPECT_EQ(event.actor(), "hospital:H001");
  ASSERT_TRUE(event.has_stock());
  EXPECT_TRUE(Names(event.stock(), "CENTRAL", unit.component(), unit.blood_type()));
}

TEST_F(InventoryFeedTest, BadInputsAreRefusedAndChangeNothing) {
  AddStation("CENTRAL");
  AvailableUnit("CENTRAL", OPos());
  const std::string fingerprint = TableFingerprint();
  const int64_t feed = schema_.QueryInt("SELECT COUNT(*) FROM change_feed");
  struct Case {
    int limit;
    int wait_ms;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {-1, 0, "limit"}, {1001, 0, "limit"}, {10, -1, "wait_ms"}, {10, 30001, "wait_ms"}}) {
    v1::ReadChangeFeedResponse response;
    grpc::Status status = Read(*stub_, 0, c.limit, &response, c.wait_ms);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.limit << " " << c.wait_ms;
    EXPECT_NE(status.error_message().find(c.field), std::string::npos) << status.error_message();
  }
  // The edges are accepted: 0 = 500, 1000, and a zero wait.
  v1::ReadChangeFeedResponse response;
  ASSERT_TRUE(Read(*stub_, 0, 0, &response).ok());
  EXPECT_EQ(response.events_size(), feed);
  ASSERT_TRUE(Read(*stub_, 0, 1000, &response).ok());
  EXPECT_EQ(TableFingerprint(), fingerprint);
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM change_feed"), feed);
}

TEST_F(InventoryFeedTest, ALongPollReturnsTheFirstEventCommittedWhileItWaits) {
  AddStation("CENTRAL");
  v1::ReadChangeFeedResponse head;
  ASSERT_TRUE(Read(*stub_, 0, 1, &head).ok());
  // Nothing new within a short wait: an empty answer with the head.
  v1::ReadChangeFeedResponse empty;
  ASSERT_TRUE(Read(*stub_, head.head_sequence(), 10, &empty, /*wait_ms=*/200).ok());
  EXPECT_EQ(empty.events_size(), 0);
  EXPECT_EQ(empty.head_sequence(), head.head_sequence());

  StartReplica();
  v1::ReadChangeFeedResponse waited;
  grpc::Status status;
  std::thread poll(
      [&] { status = Read(*stub_, head.head_sequence(), 10, &waited, /*wait_ms=*/30000); });
  // Written through the other replica: found by polling the table, not by a local wake-up.
  v1::ParLevel level;
  grpc::ClientContext context;
  context.AddMetadata("x-bloodgrid-actor", "admin:tester");
  ASSERT_TRUE(replica_stub_->SetParLevel(&context, Par("CENTRAL", 3), &level).ok());
  poll.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(waited.events_size(), 1);
  EXPECT_EQ(waited.events(0).sequence(), head.head_sequence() + 1);
}

TEST_F(InventoryFeedTest, APositionThatRetentionRemovedIsOutOfRange) {
  AddStation("CENTRAL");
  for (int i = 0; i < 5; ++i) AvailableUnit("CENTRAL", OPos());
  const int64_t head = schema_.QueryInt("SELECT last_sequence FROM change_feed_head");
  ASSERT_GE(head, 6);
  schema_.Exec("DELETE FROM change_feed WHERE sequence <= 3");  // what retention does
  v1::ReadChangeFeedResponse response;
  for (uint64_t after : {1, 2}) {
    EXPECT_EQ(Read(*stub_, after, 10, &response).error_code(), grpc::StatusCode::OUT_OF_RANGE)
        << after;
  }
  ASSERT_TRUE(Read(*stub_, 3, 10, &response).ok());
  ASSERT_FALSE(response.events().empty());
  EXPECT_EQ(response.events(0).sequence(), 4u);
  ASSERT_TRUE(Read(*stub_, 0, 10, &response).ok());  // 0 = from the oldest kept
  EXPECT_EQ(response.events(0).sequence(), 4u);
  // Everything removed: only the head itself is still a valid position.
  schema_.Exec("DELETE FROM change_feed");
  EXPECT_EQ(Read(*stub_, head - 1, 10, &response).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  ASSERT_TRUE(Read(*stub_, head, 10, &response).ok());
  EXPECT_EQ(response.events_size(), 0);
  EXPECT_EQ(response.head_sequence(), static_cast<uint64_t>(head));
}

// Two replicas, four writer threads each, every writer setting the par level of its own
// station again and again: the feed holds every write once, gap-free, and each writer's writes
// in the order it made them (its calls are sequential, so that is the only valid commit order).
TEST_F(InventoryFeedTest, TwoReplicasWritingAtOnceMakeOneGapFreeFeedInCommitOrder) {
  StartReplica();
  constexpr int kWriters = 8;
  constexpr int kWrites = 25;
  for (int w = 0; w < kWriters; ++w) AddStation(absl::StrCat("S-", w));
  v1::ReadChangeFeedResponse start;
  ASSERT_TRUE(Read(*stub_, 0, 1, &start).ok());

  std::latch go(kWriters);
  std::vector<std::thread> threads;
  std::vector<int> failures(kWriters, 0);
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      Stub& stub = w % 2 == 0 ? *stub_ : *replica_stub_;
      go.arrive_and_wait();
      for (int k = 1; k <= kWrites; ++k) {
        v1::SetParLevelRequest par = Par(absl::StrCat("S-", w), k);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        context.AddMetadata("x-bloodgrid-actor", absl::StrCat("admin:w", w, ".", k));
        v1::ParLevel level;
        if (!stub.SetParLevel(&context, par, &level).ok()) ++failures[w];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(failures[w], 0) << "writer " << w;

  const std::vector<v1::ChangeEvent> events = ReadAll(*replica_stub_, /*page=*/16);
  ASSERT_EQ(events.size(), start.head_sequence() + kWriters * kWrites);
  std::map<int, int> last_write;  // writer -> k of its last event seen
  for (size_t i = start.head_sequence(); i < events.size(); ++i) {
    const v1::ChangeEvent& event = events[i];
    std::vector<std::string> parts = absl::StrSplit(event.actor().substr(7), '.');
    ASSERT_EQ(parts.size(), 2u) << event.actor();
    int w = 0;
    int k = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &w) && absl::SimpleAtoi(parts[1], &k));
    EXPECT_EQ(k, last_write[w] + 1) << "writer " << w << " out of order at " << event.sequence();
    last_write[w] = k;
    ASSERT_TRUE(event.has_stock());
    EXPECT_TRUE(Names(event.stock(), absl::StrCat("S-", w), v1::COMPONENT_WHOLE_BLOOD, OPos()));
  }
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(last_write[w], kWrites) << "writer " << w;
  v1::ReadChangeFeedResponse head;
  ASSERT_TRUE(Read(*stub_, 0, 1, &head).ok());
  EXPECT_EQ(head.head_sequence(), events.size());
  EXPECT_EQ(schema_.QueryInt("SELECT COUNT(*) FROM change_feed"),
            static_cast<int64_t>(events.size()));
}

// A watcher connected to one replica sees every write made through the other, each once and in
// feed order.
TEST_F(InventoryFeedTest, AWatcherOnOneReplicaSeesTheOtherReplicasWritesOnceInOrder) {
  StartReplica();
  for (int i = 0; i < 4; ++i) AddStation(absl::StrCat("S-", i));
  v1::ReadChangeFeedResponse start;
  ASSERT_TRUE(Read(*stub_, 0, 1, &start).ok());
  std::unique_ptr<Stream> watcher = Open(*stub_);
  for (int k = 0; k < 5; ++k) {
    for (int i = 0; i < 4; ++i) SetPar(*replica_stub_, absl::StrCat("S-", i), k);
  }
  const std::vector<uint64_t> expected = StockSequences(start.head_sequence());
  ASSERT_EQ(expected.size(), 20u);
  std::vector<uint64_t> levels;
  uint64_t sequence = 0;
  for (const v1::StockEvent& event : ReadThrough(*watcher, expected.back())) {
    EXPECT_EQ(event.sequence(), ++sequence);
    if (event.has_level()) levels.push_back(event.feed_sequence());
  }
  EXPECT_EQ(levels, expected);
}

// A stream cut off when its replica goes down, resumed on the other replica with the last
// resume token it got, receives exactly the events after it: with the part before the cut it
// equals an uninterrupted stream (level alerts aside: those are derived per stream).
TEST_F(InventoryFeedTest, AStreamResumedOnTheOtherReplicaMissesNothingAndRepeatsNothing) {
  StartReplica();
  AddStation("CENTRAL");
  AddStation("BR-1");
  std::unique_ptr<Stream> reference = Open(*replica_stub_);
  std::unique_ptr<Stream> cut = Open(*stub_);
  for (int i = 0; i < 3; ++i) {
    AvailableUnit(i % 2 == 0 ? "CENTRAL" : "BR-1", OPos());  // through the first replica
    SetPar(*replica_stub_, "CENTRAL", i + 1);
  }
  v1::Reservation reservation;
  ASSERT_TRUE(
      Call(&Stub::Reserve, ReserveRequest("R-1", {"CENTRAL"}, 1, {{OPos(), 0}}), &reservation)
          .ok());
  // Read part of the stream, then lose the replica it is connected to.
  std::vector<v1::StockEvent> before;
  v1::StockEvent event;
  while (before.size() < 5 && cut->reader->Read(&event)) before.push_back(event);
  ASSERT_EQ(before.size(), 5u);
  server_->Shutdown();
  while (cut->reader->Read(&event)) {
  }
  EXPECT_EQ(cut->reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  // More writes while it is away, then a last one that makes a single event.
  AddStationVia(*replica_stub_, "BR-2");
  SetPar(*replica_stub_, "CENTRAL", 9);
  SetPar(*replica_stub_, "BR-1", 4);
  SetPar(*replica_stub_, "BR-2", 0);
  v1::ReadChangeFeedResponse head;
  ASSERT_TRUE(Read(*replica_stub_, 0, 1, &head).ok());

  std::unique_ptr<Stream> resumed = Open(*replica_stub_, before.back().resume_token());
  std::vector<v1::StockEvent> after = ReadThrough(*resumed, head.head_sequence());
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back().feed_sequence(), head.head_sequence());
  EXPECT_EQ(after.front().sequence(), 1u);
  const std::vector<v1::StockEvent> whole = ReadThrough(*reference, head.head_sequence());
  auto identities = [](const std::vector<v1::StockEvent>& events) {
    std::vector<std::string> out;
    for (const v1::StockEvent& e : events) {
      if (!Derived(e)) out.push_back(Identity(e));
    }
    return out;
  };
  std::vector<std::string> joined = identities(before);
  for (const std::string& id : identities(after)) joined.push_back(id);
  EXPECT_EQ(joined, identities(whole));
  // A token from nowhere is refused at once, on either replica.
  std::unique_ptr<Stream> bad = Open(*replica_stub_, "f1.nope.1");
  EXPECT_FALSE(bad->reader->Read(&event));
  EXPECT_EQ(bad->reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace bloodgrid::inventory::testing
