#include "tests/support/donor_store_contract.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/din.h"
#include "tests/support/status_matchers.h"

namespace bloodgrid::donor::testing {
namespace {

using ::bloodgrid::testing::IsOk;
using ::bloodgrid::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::CivilDay kToday(2026, 11, 22);
const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2026, 11, 22, 9, 30, 0), absl::UTCTimeZone()) +
    absl::Microseconds(123456);
const BloodType kONeg{v1::ABO_GROUP_O, v1::RH_D_NEGATIVE};
const BloodType kAPos{v1::ABO_GROUP_A, v1::RH_D_POSITIVE};

CallContext Call(const std::string& request_id = "", absl::Time now = kNow) {
  CallContext call;
  call.actor = "admin:contract";
  call.request_id = request_id;
  call.now = now;
  call.today = absl::ToCivilDay(now, absl::UTCTimeZone());
  return call;
}

db::IdempotencyKey Key(const std::string& scope, const std::string& request_id,
                       const std::string& hash = "0000000000000001") {
  return db::IdempotencyKey{scope, request_id, hash};
}

v1::Donor NewDonor(const std::string& national_id, const std::string& name) {
  v1::Donor donor;
  donor.set_national_id(national_id);
  donor.set_name(name);
  donor.set_sex(v1::SEX_FEMALE);
  donor.set_birth_date("1990-05-17");
  donor.mutable_contact()->set_phone("13800138000");
  donor.set_home_station_id("ST-01");
  donor.add_panels(v1::DONOR_PANEL_REGULAR);
  return donor;
}

std::string MakeDin(int sequence) {
  absl::StatusOr<Din> din = Din::Create("A9999", 26, sequence);
  return din.ok() ? din->ToString() : "";
}

// Element counts are compared as numbers: gMock's container matchers would print messages.
template <typename Container>
int Count(const Container& c) {
  return static_cast<int>(c.size());
}

bool Same(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// "action donor entity entity_id" of each event, for compact expectations.
std::vector<std::string> Summaries(const std::vector<StoreEvent>& events) {
  std::vector<std::string> out;
  for (const StoreEvent& e : events) {
    out.push_back(absl::StrCat(e.action, " ", e.donor_id, " ", e.entity, " ", e.entity_id));
  }
  return out;
}

DeferralDraft Deferral(const std::string& donor_id, absl::CivilDay start,
                       std::optional<absl::CivilDay> ends_on) {
  DeferralDraft draft;
  draft.donor_id = donor_id;
  draft.kind = ends_on ? v1::DEFERRAL_KIND_TEMPORARY : v1::DEFERRAL_KIND_PERMANENT;
  draft.reason_code = ends_on ? "TATTOO" : "HIV";
  draft.note = "contract";
  draft.start_date = start;
  draft.ends_on = ends_on;
  draft.deferred_by = "dr-wang";
  return draft;
}

DonationDraft Donation(const std::string& donor_id, const std::string& din, absl::CivilDay day) {
  DonationDraft draft;
  v1::Donation& d = draft.donation;
  d.set_donor_id(donor_id);
  d.set_din(din);
  d.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  d.set_volume_ml(400);
  d.set_station_id("ST-01");
  *d.mutable_collected_at() = [&] {
    google::protobuf::Timestamp ts;
    ts.set_seconds(absl::ToUnixSeconds(
        absl::FromCivil(absl::CivilSecond(day), absl::UTCTimeZone()) + absl::Hours(9)));
    return ts;
  }();
  d.set_collection_date(FormatDate(day));
  d.mutable_screening()->set_weight_kg(65);
  d.mutable_screening()->set_hemoglobin_g_l(140);
  draft.product_code = "E0001";
  draft.credit_ml = 400;
  draft.policy_label = "cn-gb18467-2011@1";
  return draft;
}

v1::CheckEligibilityResponse Eligible() {
  v1::CheckEligibilityResponse response;
  response.set_eligible(true);
  response.set_policy_profile("cn-gb18467-2011@1");
  return response;
}

}  // namespace

std::string DonorStoreBackendName(const ::testing::TestParamInfo<DonorStoreBackend>& info) {
  return info.param.name;
}

void DonorStoreContractTest::SetUp() { harness_ = GetParam().make(); }

namespace {

// Registers a donor (key "reg-<national_id>") and returns it.
v1::Donor Register(DonorStore& store, const std::string& national_id,
                   const std::string& name = "Wang Fang") {
  absl::StatusOr<v1::Donor> donor = store.RegisterDonor(
      Call(absl::StrCat("reg-", national_id)),
      Key("RegisterDonor", absl::StrCat("reg-", national_id)), NewDonor(national_id, name));
  EXPECT_THAT(donor, IsOk());
  return donor.ok() ? *donor : v1::Donor();
}

// ---------------------------------------------------------------------------------------------
// Registry

TEST_P(DonorStoreContractTest, RegisterDonorStoresReplaysAndRefusesATakenNationalId) {
  const db::IdempotencyKey key = Key("RegisterDonor", "r1");
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor donor,
                          store().RegisterDonor(Call("r1"), key, NewDonor("N-1", "Wang Fang")));
  EXPECT_FALSE(donor.donor_id().empty());
  EXPECT_EQ(donor.name(), "Wang Fang");
  EXPECT_EQ(donor.version(), 1);
  EXPECT_EQ(donor.donation_count(), 0);
  EXPECT_FALSE(donor.deferred());
  EXPECT_EQ(donor.created_at().seconds(), absl::ToUnixSeconds(kNow));
  EXPECT_EQ(donor.created_at().nanos(), 123456000);
  EXPECT_THAT(donor.panels(), ElementsAre(v1::DONOR_PANEL_REGULAR));

  // The same key replays the first answer and writes nothing.
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor replayed,
                          store().RegisterDonor(Call("r1"), key, NewDonor("N-1", "Wang Fang")));
  EXPECT_TRUE(Same(replayed, donor));
  // The same request_id for other content is refused.
  EXPECT_THAT(store().RegisterDonor(Call("r1"), Key("RegisterDonor", "r1", "0000000000000002"),
                                    NewDonor("N-2", "Li Na")),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("request_id: ")));
  EXPECT_THAT(store().RegisterDonor(Call("r2"), Key("RegisterDonor", "r2"),
                                    NewDonor("N-1", "Someone Else")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       absl::StrCat("national_id already registered: existing_donor_id=",
                                    donor.donor_id())));

  const std::vector<StoreEvent> events = Events();
  ASSERT_EQ(Count(events), 1);
  EXPECT_EQ(events[0].action, "RegisterDonor");
  EXPECT_EQ(events[0].donor_id, donor.donor_id());
  EXPECT_EQ(events[0].entity, "donor");
  EXPECT_EQ(events[0].entity_id, donor.donor_id());
  EXPECT_EQ(events[0].actor, "admin:contract");
  EXPECT_EQ(events[0].request_id, "r1");

  BG_ASSERT_OK_AND_ASSIGN(v1::Donor got, store().GetDonor(Call(), donor.donor_id()));
  EXPECT_TRUE(Same(got, donor));
  EXPECT_THAT(store().GetDonor(Call(), "D-NOBODY"),
              StatusIs(absl::StatusCode::kNotFound, "donor D-NOBODY not found"));
}

TEST_P(DonorStoreContractTest, UpdateDonorChecksTheVersionAndWritesOnlyAChange) {
  const v1::Donor donor = Register(store(), "N-1");
  const v1::Donor other = Register(store(), "N-2");
  auto rename = [](const v1::Donor& current) -> absl::StatusOr<v1::Donor> {
    v1::Donor next = current;
    next.set_name("Wang Li");
    return next;
  };
  EXPECT_THAT(
      store().UpdateDonor(Call("u0"), Key("UpdateDonor", "u0"), donor.donor_id(), 7, rename),
      StatusIs(absl::StatusCode::kAborted, HasSubstr("is at version 1")));
  EXPECT_THAT(
      store().UpdateDonor(Call("u0"), Key("UpdateDonor", "u0"), "D-NOBODY", std::nullopt, rename),
      StatusIs(absl::StatusCode::kNotFound));
  // The rule's error comes back unchanged.
  EXPECT_THAT(
      store().UpdateDonor(Call("u0"), Key("UpdateDonor", "u0"), donor.donor_id(), std::nullopt,
                          [](const v1::Donor&) -> absl::StatusOr<v1::Donor> {
                            return absl::InvalidArgumentError("donor.name: no");
                          }),
      StatusIs(absl::StatusCode::kInvalidArgument, "donor.name: no"));

  BG_ASSERT_OK_AND_ASSIGN(
      v1::Donor renamed,
      store().UpdateDonor(Call("u1"), Key("UpdateDonor", "u1"), donor.donor_id(), 1, rename));
  EXPECT_EQ(renamed.name(), "Wang Li");
  EXPECT_EQ(renamed.version(), 2);
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Donor replayed,
      store().UpdateDonor(Call("u1"), Key("UpdateDonor", "u1"), donor.donor_id(), 1, rename));
  EXPECT_TRUE(Same(replayed, renamed));
  // No change: nothing written, the version stays.
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor same, store().UpdateDonor(Call("u2"), Key("UpdateDonor", "u2"),
                                                              donor.donor_id(), 2, rename));
  EXPECT_EQ(same.version(), 2);
  EXPECT_THAT(
      store().UpdateDonor(Call("u3"), Key("UpdateDonor", "u3"), donor.donor_id(), std::nullopt,
                          [&](const v1::Donor& current) -> absl::StatusOr<v1::Donor> {
                            v1::Donor next = current;
                            next.set_national_id("N-2");
                            return next;
                          }),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(other.donor_id())));

  const std::vector<StoreEvent> events = Events();
  ASSERT_EQ(Count(events), 3);
  EXPECT_EQ(events[2].action, "UpdateDonor");
  EXPECT_EQ(events[2].entity_id, donor.donor_id());
  EXPECT_EQ(events[2].detail, "fields=name");
}

TEST_P(DonorStoreContractTest, SearchDonorsPagesByNameThenId) {
  for (const char* name : {"Chen E", "Chen B", "Li X", "Chen A", "Chen D", "Chen C"}) {
    Register(store(), absl::StrCat("N-", name), name);
  }
  DonorFilter filter;
  filter.name_prefix = "Chen";
  PageQuery page;
  page.page_size = 2;
  std::vector<std::string> names;
  int pages = 0;
  while (true) {
    BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donor> found, store().SearchDonors(Call(), filter, page));
    ++pages;
    for (const v1::Donor& d : found.items) names.push_back(d.name());
    if (!found.next) break;
    page.after = found.next;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(names, ElementsAre("Chen A", "Chen B", "Chen C", "Chen D", "Chen E"));

  DonorFilter by_station;
  by_station.home_station_id = "ST-02";
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donor> none, store().SearchDonors(Call(), by_station, {}));
  EXPECT_EQ(Count(none.items), 0);
  EXPECT_FALSE(none.next);
  DonorFilter by_id;
  by_id.national_id = "N-Li X";
  by_id.panel = v1::DONOR_PANEL_REGULAR;
  by_id.phone = "13800138000";
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donor> one, store().SearchDonors(Call(), by_id, {}));
  ASSERT_EQ(Count(one.items), 1);
  EXPECT_EQ(one.items[0].name(), "Li X");
  DonorFilter by_type;
  by_type.blood_type = kONeg;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donor> untyped, store().SearchDonors(Call(), by_type, {}));
  EXPECT_EQ(Count(untyped.items), 0);
}

// ---------------------------------------------------------------------------------------------
// Blood typing

TEST_P(DonorStoreContractTest, BloodTypingAssignsThenOpensAndResolvesAConflict) {
  const v1::Donor donor = Register(store(), "N-1");
  int decisions = 0;
  auto decide = [&](BloodType typed) {
    return [&decisions, typed](const v1::Donor& current) {
      ++decisions;
      return DecideTypingChange(current, typed);
    };
  };
  EXPECT_THAT(store().RecordBloodTyping(Call("t0"), Key("RecordBloodTyping", "t0"), "D-NOBODY",
                                        MakeDin(1), std::nullopt, decide(kONeg)),
              StatusIs(absl::StatusCode::kNotFound));
  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordBloodTypingResponse assigned,
      store().RecordBloodTyping(Call("t1"), Key("RecordBloodTyping", "t1"), donor.donor_id(),
                                MakeDin(1), kNow, decide(kONeg)));
  EXPECT_EQ(decisions, 1);
  EXPECT_TRUE(Same(assigned.donor().blood_type(), kONeg.ToProto()));
  EXPECT_TRUE(assigned.donor().blood_type_confirmed());
  EXPECT_FALSE(assigned.has_conflict());
  // The same (donor, DIN) again, under another key: the first outcome, no new decision.
  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordBloodTypingResponse again,
      store().RecordBloodTyping(Call("t2"), Key("RecordBloodTyping", "t2"), donor.donor_id(),
                                MakeDin(1), std::nullopt, decide(kAPos)));
  EXPECT_EQ(decisions, 1);
  EXPECT_TRUE(Same(again.donor().blood_type(), kONeg.ToProto()));

  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordBloodTypingResponse conflicting,
      store().RecordBloodTyping(Call("t3"), Key("RecordBloodTyping", "t3"), donor.donor_id(),
                                MakeDin(2), std::nullopt, decide(kAPos)));
  ASSERT_TRUE(conflicting.has_conflict());
  const v1::BloodTypeConflict& conflict = conflicting.conflict();
  EXPECT_TRUE(Same(conflicting.donor().blood_type(), kONeg.ToProto()));
  EXPECT_TRUE(conflicting.donor().has_open_blood_type_conflict());
  EXPECT_TRUE(Same(conflict.recorded_blood_type(), kONeg.ToProto()));
  EXPECT_TRUE(Same(conflict.typed_blood_type(), kAPos.ToProto()));
  EXPECT_EQ(conflict.din(), MakeDin(2));
  EXPECT_FALSE(conflict.resolved());
  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordBloodTypingResponse replayed,
      store().RecordBloodTyping(Call("t3"), Key("RecordBloodTyping", "t3"), donor.donor_id(),
                                MakeDin(2), std::nullopt, decide(kAPos)));
  EXPECT_TRUE(Same(replayed, conflicting));

  BG_ASSERT_OK_AND_ASSIGN(Page<v1::BloodTypeConflict> open,
                          store().ListBloodTypeConflicts(Call(), donor.donor_id(), true, {}));
  ASSERT_EQ(Count(open.items), 1);
  EXPECT_TRUE(Same(open.items[0], conflict));

  EXPECT_THAT(store().ResolveBloodTypeConflict(Call("x0"), Key("Resolve", "x0"), "999999", kAPos,
                                               "lab", ""),
              StatusIs(absl::StatusCode::kNotFound, "blood type conflict 999999 not found"));
  BG_ASSERT_OK_AND_ASSIGN(
      v1::BloodTypeConflict resolved,
      store().ResolveBloodTypeConflict(Call("x1"), Key("Resolve", "x1"), conflict.conflict_id(),
                                       kAPos, "lab", "retyped"));
  EXPECT_TRUE(resolved.resolved());
  EXPECT_TRUE(Same(resolved.resolved_blood_type(), kAPos.ToProto()));
  EXPECT_EQ(resolved.resolved_by(), "lab");
  EXPECT_EQ(resolved.resolution_note(), "retyped");
  EXPECT_THAT(store().ResolveBloodTypeConflict(Call("x2"), Key("Resolve", "x2"),
                                               conflict.conflict_id(), kAPos, "lab", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already resolved")));
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor now, store().GetDonor(Call(), donor.donor_id()));
  EXPECT_TRUE(Same(now.blood_type(), kAPos.ToProto()));
  EXPECT_FALSE(now.has_open_blood_type_conflict());
  BG_ASSERT_OK_AND_ASSIGN(open, store().ListBloodTypeConflicts(Call(), "", true, {}));
  EXPECT_EQ(Count(open.items), 0);

  const std::vector<StoreEvent> events = Events();
  ASSERT_EQ(Count(events), 4);
  EXPECT_THAT(events[1].detail, StartsWith("assigned O-"));
  EXPECT_THAT(events[2].detail, StartsWith(absl::StrCat("conflict ", conflict.conflict_id())));
  EXPECT_EQ(Summaries(events)[3], absl::StrCat("ResolveBloodTypeConflict ", donor.donor_id(),
                                               " blood_type_conflict ", conflict.conflict_id()));
}

TEST_P(DonorStoreContractTest, ATypingThatAgreesConfirmsOnce) {
  v1::Donor input = NewDonor("N-1", "Wang Fang");
  *input.mutable_blood_type() = kONeg.ToProto();
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor donor,
                          store().RegisterDonor(Call("r"), Key("RegisterDonor", "r"), input));
  EXPECT_FALSE(donor.blood_type_confirmed());
  auto agree = [](const v1::Donor& current) { return DecideTypingChange(current, kONeg); };
  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordBloodTypingResponse confirmed,
      store().RecordBloodTyping(Call("t1"), Key("RecordBloodTyping", "t1"), donor.donor_id(),
                                MakeDin(1), std::nullopt, agree));
  EXPECT_TRUE(confirmed.donor().blood_type_confirmed());
  EXPECT_EQ(confirmed.donor().version(), 2);
  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordBloodTypingResponse agreed,
      store().RecordBloodTyping(Call("t2"), Key("RecordBloodTyping", "t2"), donor.donor_id(),
                                MakeDin(2), std::nullopt, agree));
  EXPECT_EQ(agreed.donor().version(), 2);
  const std::vector<StoreEvent> events = Events();
  ASSERT_EQ(Count(events), 3);
  EXPECT_THAT(events[1].detail, StartsWith("confirmed O-"));
  EXPECT_THAT(events[2].detail, StartsWith("agrees with O-"));
}

// ---------------------------------------------------------------------------------------------
// Deferrals

TEST_P(DonorStoreContractTest, DeferralsAreInForceFromTheStartDayUntilTheEndDay) {
  const v1::Donor donor = Register(store(), "N-1");
  const std::string& id = donor.donor_id();
  EXPECT_THAT(store().DeferDonor(Call("d0"), Key("DeferDonor", "d0"),
                                 Deferral("D-NOBODY", kToday, kToday + 5)),
              StatusIs(absl::StatusCode::kNotFound));
  // Ended today (exclusive end), in force until tomorrow, starting tomorrow.
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Deferral ended,
      store().DeferDonor(Call("d1"), Key("DeferDonor", "d1"), Deferral(id, kToday - 30, kToday)));
  EXPECT_FALSE(ended.active());
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral future,
                          store().DeferDonor(Call("d2"), Key("DeferDonor", "d2"),
                                             Deferral(id, kToday + 1, kToday + 10)));
  EXPECT_FALSE(future.active());
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor not_yet, store().GetDonor(Call(), id));
  EXPECT_FALSE(not_yet.deferred());
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Deferral current,
      store().DeferDonor(Call("d3"), Key("DeferDonor", "d3"), Deferral(id, kToday, kToday + 1)));
  EXPECT_TRUE(current.active());
  EXPECT_EQ(current.reason_code(), "TATTOO");
  EXPECT_EQ(current.start_date(), FormatDate(kToday));
  EXPECT_EQ(current.ends_on(), FormatDate(kToday + 1));
  EXPECT_EQ(current.deferred_by(), "dr-wang");
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Deferral replayed,
      store().DeferDonor(Call("d3"), Key("DeferDonor", "d3"), Deferral(id, kToday, kToday + 1)));
  EXPECT_TRUE(Same(replayed, current));

  BG_ASSERT_OK_AND_ASSIGN(v1::Donor deferred, store().GetDonor(Call(), id));
  EXPECT_TRUE(deferred.deferred());
  EXPECT_FALSE(deferred.permanently_deferred());
  // What eligibility sees, day by day.
  auto in_force_on = [&](absl::CivilDay day) {
    absl::StatusOr<EligibilityInputs> inputs = store().LoadEligibilityInputs(Call(), id, day);
    EXPECT_THAT(inputs, IsOk());
    std::vector<std::string> ids;
    if (inputs.ok()) {
      for (const DeferralInForce& d : inputs->deferrals) ids.push_back(d.deferral_id);
    }
    return ids;
  };
  EXPECT_EQ(Count(in_force_on(kToday - 31)), 0);
  EXPECT_THAT(in_force_on(kToday - 1), ElementsAre(ended.deferral_id()));
  EXPECT_THAT(in_force_on(kToday), ElementsAre(current.deferral_id()));
  EXPECT_THAT(in_force_on(kToday + 1), ElementsAre(future.deferral_id()));
  EXPECT_EQ(Count(in_force_on(kToday + 10)), 0);
  EXPECT_THAT(store().LoadEligibilityInputs(Call(), "D-NOBODY", kToday),
              StatusIs(absl::StatusCode::kNotFound));

  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Deferral> active, store().ListDeferrals(Call(), id, true, {}));
  ASSERT_EQ(Count(active.items), 1);
  EXPECT_TRUE(Same(active.items[0], current));
  // Every deferral, newest start first, two to a page.
  PageQuery page;
  page.page_size = 2;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Deferral> first, store().ListDeferrals(Call(), id, false, page));
  ASSERT_EQ(Count(first.items), 2);
  EXPECT_EQ(first.items[0].deferral_id(), future.deferral_id());
  EXPECT_EQ(first.items[1].deferral_id(), current.deferral_id());
  ASSERT_TRUE(first.next);
  page.after = first.next;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Deferral> second,
                          store().ListDeferrals(Call(), id, false, page));
  ASSERT_EQ(Count(second.items), 1);
  EXPECT_EQ(second.items[0].deferral_id(), ended.deferral_id());
  EXPECT_FALSE(second.next);
  EXPECT_THAT(store().ListDeferrals(Call(), "D-NOBODY", false, {}),
              StatusIs(absl::StatusCode::kNotFound));

  EXPECT_THAT(Summaries(Events()),
              ElementsAre(StartsWith("RegisterDonor"),
                          absl::StrCat("DeferDonor ", id, " deferral ", ended.deferral_id()),
                          absl::StrCat("DeferDonor ", id, " deferral ", future.deferral_id()),
                          absl::StrCat("DeferDonor ", id, " deferral ", current.deferral_id())));
}

TEST_P(DonorStoreContractTest, APermanentDeferralUntilVoided) {
  const v1::Donor donor = Register(store(), "N-1");
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral permanent,
                          store().DeferDonor(Call("d1"), Key("DeferDonor", "d1"),
                                             Deferral(donor.donor_id(), kToday, std::nullopt)));
  EXPECT_TRUE(permanent.active());
  EXPECT_TRUE(permanent.ends_on().empty());
  EXPECT_EQ(permanent.kind(), v1::DEFERRAL_KIND_PERMANENT);
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor deferred, store().GetDonor(Call(), donor.donor_id()));
  EXPECT_TRUE(deferred.deferred());
  EXPECT_TRUE(deferred.permanently_deferred());

  EXPECT_THAT(store().VoidDeferral(Call("v0"), Key("VoidDeferral", "v0"), "999999", "dr-li", "x"),
              StatusIs(absl::StatusCode::kNotFound, "deferral 999999 not found"));
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral voided,
                          store().VoidDeferral(Call("v1"), Key("VoidDeferral", "v1"),
                                               permanent.deferral_id(), "dr-li", "wrong donor"));
  EXPECT_TRUE(voided.voided());
  EXPECT_FALSE(voided.active());
  EXPECT_EQ(voided.voided_by(), "dr-li");
  EXPECT_EQ(voided.void_reason(), "wrong donor");
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral replayed,
                          store().VoidDeferral(Call("v1"), Key("VoidDeferral", "v1"),
                                               permanent.deferral_id(), "dr-li", "wrong donor"));
  EXPECT_TRUE(Same(replayed, voided));
  EXPECT_THAT(store().VoidDeferral(Call("v2"), Key("VoidDeferral", "v2"), permanent.deferral_id(),
                                   "dr-li", "again"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already voided")));
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor cleared, store().GetDonor(Call(), donor.donor_id()));
  EXPECT_FALSE(cleared.deferred());
  EXPECT_FALSE(cleared.permanently_deferred());
  EXPECT_THAT(Summaries(Events()),
              ElementsAre(StartsWith("RegisterDonor"), StartsWith("DeferDonor"),
                          absl::StrCat("VoidDeferral ", donor.donor_id(), " deferral ",
                                       permanent.deferral_id())));
}

// ---------------------------------------------------------------------------------------------
// Donations

TEST_P(DonorStoreContractTest, RecordDonationChecksWritesAndAnswersARepeatedDin) {
  const v1::Donor donor = Register(store(), "N-1");
  const v1::Donor other = Register(store(), "N-2");
  const std::string& id = donor.donor_id();
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral old_deferral,
                          store().DeferDonor(Call("d1"), Key("DeferDonor", "d1"),
                                             Deferral(id, kToday - 100, kToday - 50)));
  int checks = 0;
  auto check =
      [&](const EligibilityInputs& inputs) -> absl::StatusOr<v1::CheckEligibilityResponse> {
    ++checks;
    EXPECT_EQ(inputs.donor.donor_id(), id);
    // As of the collection day (60 days ago): the old deferral was in force then.
    EXPECT_EQ(Count(inputs.deferrals), 1);
    return Eligible();
  };
  const DonationDraft draft = Donation(id, MakeDin(1), kToday - 60);
  EXPECT_THAT(store().RecordDonation(Call("n0"), Key("RecordDonation", "n0"),
                                     Donation("D-NOBODY", MakeDin(1), kToday), check),
              StatusIs(absl::StatusCode::kNotFound));
  // The rule's refusal comes back unchanged and nothing is written.
  EXPECT_THAT(store().RecordDonation(
                  Call("n0"), Key("RecordDonation", "n0"), draft,
                  [](const EligibilityInputs&) -> absl::StatusOr<v1::CheckEligibilityResponse> {
                    return absl::FailedPreconditionError("not eligible");
                  }),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not eligible"));

  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordDonationResponse recorded,
      store().RecordDonation(Call("n1"), Key("RecordDonation", "n1"), draft, check));
  EXPECT_EQ(checks, 1);
  EXPECT_TRUE(recorded.created());
  EXPECT_TRUE(Same(recorded.eligibility(), Eligible()));
  EXPECT_EQ(recorded.donation().din(), MakeDin(1));
  EXPECT_EQ(recorded.donation().donor_id(), id);
  EXPECT_EQ(recorded.donation().collection_date(), FormatDate(kToday - 60));
  EXPECT_EQ(recorded.donation().volume_ml(), 400);
  EXPECT_DOUBLE_EQ(recorded.donation().screening().weight_kg(), 65);
  EXPECT_FALSE(recorded.donation().screening().has_pulse_bpm());
  EXPECT_FALSE(recorded.donation().reactive());
  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordDonationResponse replayed,
      store().RecordDonation(Call("n1"), Key("RecordDonation", "n1"), draft, check));
  EXPECT_TRUE(Same(replayed, recorded));
  EXPECT_EQ(checks, 1);

  BG_ASSERT_OK_AND_ASSIGN(v1::Donor counted, store().GetDonor(Call(), id));
  EXPECT_EQ(counted.donation_count(), 1);
  EXPECT_EQ(counted.last_donation_date(), FormatDate(kToday - 60));
  EXPECT_EQ(counted.version(), 2);

  // The same DIN again for this donor: the stored donation, not checked again.
  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordDonationResponse repeated,
      store().RecordDonation(Call("n2"), Key("RecordDonation", "n2"), draft, check));
  EXPECT_EQ(checks, 1);
  EXPECT_FALSE(repeated.created());
  EXPECT_TRUE(Same(repeated.donation(), recorded.donation()));
  EXPECT_TRUE(repeated.eligibility().eligible());
  EXPECT_EQ(repeated.eligibility().next_eligible_date(), FormatDate(kToday - 60));
  EXPECT_EQ(repeated.eligibility().policy_profile(), "cn-gb18467-2011@1");
  // ... and for another donor.
  EXPECT_THAT(store().RecordDonation(Call("n3"), Key("RecordDonation", "n3"),
                                     Donation(other.donor_id(), MakeDin(1), kToday), check),
              StatusIs(absl::StatusCode::kAlreadyExists, StartsWith("din: ")));

  BG_ASSERT_OK_AND_ASSIGN(LedgerState ledger, store().LoadLedgerState(Call(), id));
  ASSERT_EQ(Count(ledger.credits), 1);
  EXPECT_EQ(ledger.credits[0].din, MakeDin(1));
  EXPECT_EQ(ledger.credits[0].donation_date, kToday - 60);
  EXPECT_EQ(ledger.credits[0].counted_volume_ml, 400);

  BG_ASSERT_OK_AND_ASSIGN(EligibilityInputs inputs,
                          store().LoadEligibilityInputs(Call(), id, kToday));
  ASSERT_EQ(Count(inputs.history), 1);
  EXPECT_EQ(inputs.history[0].date, kToday - 60);
  EXPECT_EQ(inputs.history[0].type, v1::DONATION_TYPE_WHOLE_BLOOD);
  EXPECT_EQ(inputs.history[0].volume_ml, 400);

  EXPECT_THAT(
      Summaries(Events()),
      ElementsAre(
          StartsWith("RegisterDonor"), StartsWith("RegisterDonor"), StartsWith("DeferDonor"),
          absl::StrCat("RecordDonation ", id, " donation ", recorded.donation().donation_id())));
  (void)old_deferral;
}

TEST_P(DonorStoreContractTest, ListDonationsNewestFirstInPages) {
  const v1::Donor donor = Register(store(), "N-1");
  auto eligible = [](const EligibilityInputs&) -> absl::StatusOr<v1::CheckEligibilityResponse> {
    return Eligible();
  };
  for (int i = 1; i <= 3; ++i) {
    ASSERT_THAT(store().RecordDonation(
                    Call(absl::StrCat("n", i)), Key("RecordDonation", absl::StrCat("n", i)),
                    Donation(donor.donor_id(), MakeDin(i), kToday - 200 * i), eligible),
                IsOk());
  }
  PageQuery page;
  page.page_size = 2;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donation> first,
                          store().ListDonations(Call(), donor.donor_id(), page));
  ASSERT_EQ(Count(first.items), 2);
  EXPECT_EQ(first.items[0].din(), MakeDin(1));
  EXPECT_EQ(first.items[1].din(), MakeDin(2));
  ASSERT_TRUE(first.next);
  page.after = first.next;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donation> second,
                          store().ListDonations(Call(), donor.donor_id(), page));
  ASSERT_EQ(Count(second.items), 1);
  EXPECT_EQ(second.items[0].din(), MakeDin(3));
  EXPECT_FALSE(second.next);
  EXPECT_THAT(store().ListDonations(Call(), "D-NOBODY", {}), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(DonorStoreContractTest, MarkDonorReactiveDefersOncePerDinAndTest) {
  const v1::Donor donor = Register(store(), "N-1");
  ASSERT_THAT(store().RecordDonation(
                  Call("n1"), Key("RecordDonation", "n1"),
                  Donation(donor.donor_id(), MakeDin(1), kToday - 3),
                  [](const EligibilityInputs&) -> absl::StatusOr<v1::CheckEligibilityResponse> {
                    return Eligible();
                  }),
              IsOk());
  DeferralDraft draft = Deferral(donor.donor_id(), kToday, std::nullopt);
  draft.reactive_test = v1::SCREENING_TEST_ANTI_HIV;
  draft.din = MakeDin(1);
  EXPECT_THAT(store().MarkDonorReactive(Call("m0"), Key("MarkDonorReactive", "m0"),
                                        [&] {
                                          DeferralDraft nobody = draft;
                                          nobody.donor_id = "D-NOBODY";
                                          return nobody;
                                        }()),
              StatusIs(absl::StatusCode::kNotFound));
  BG_ASSERT_OK_AND_ASSIGN(
      v1::MarkDonorReactiveResponse marked,
      store().MarkDonorReactive(Call("m1"), Key("MarkDonorReactive", "m1"), draft));
  EXPECT_TRUE(marked.donation_found());
  EXPECT_TRUE(marked.newly_deferred());
  EXPECT_EQ(marked.deferral().din(), MakeDin(1));
  EXPECT_EQ(marked.deferral().reactive_test(), v1::SCREENING_TEST_ANTI_HIV);
  EXPECT_TRUE(marked.deferral().active());
  BG_ASSERT_OK_AND_ASSIGN(
      v1::MarkDonorReactiveResponse again,
      store().MarkDonorReactive(Call("m2"), Key("MarkDonorReactive", "m2"), draft));
  EXPECT_FALSE(again.newly_deferred());
  EXPECT_EQ(again.deferral().deferral_id(), marked.deferral().deferral_id());
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donation> donations,
                          store().ListDonations(Call(), donor.donor_id(), {}));
  ASSERT_EQ(Count(donations.items), 1);
  EXPECT_TRUE(donations.items[0].reactive());
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor deferred, store().GetDonor(Call(), donor.donor_id()));
  EXPECT_TRUE(deferred.permanently_deferred());
  // A DIN this donor never gave: deferred all the same, no donation marked.
  draft.din = MakeDin(9);
  BG_ASSERT_OK_AND_ASSIGN(
      v1::MarkDonorReactiveResponse unknown_din,
      store().MarkDonorReactive(Call("m3"), Key("MarkDonorReactive", "m3"), draft));
  EXPECT_FALSE(unknown_din.donation_found());
  EXPECT_TRUE(unknown_din.newly_deferred());
  EXPECT_THAT(Summaries(Events()),
              ElementsAre(StartsWith("RegisterDonor"), StartsWith("RecordDonation"),
                          absl::StrCat("MarkDonorReactive ", donor.donor_id(), " deferral ",
                                       marked.deferral().deferral_id()),
                          absl::StrCat("MarkDonorReactive ", donor.donor_id(), " deferral ",
                                       unknown_din.deferral().deferral_id())));
}

// ---------------------------------------------------------------------------------------------
// Appeals

v1::Appeal NewAppeal(const std::string& station, absl::Time closes_at) {
  v1::Appeal appeal;
  appeal.set_station_id(station);
  *appeal.mutable_blood_type() = kONeg.ToProto();
  appeal.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  appeal.set_donations_needed(3);
  appeal.set_reason("trauma");
  appeal.set_created_by("dispatcher");
  appeal.mutable_closes_at()->set_seconds(absl::ToUnixSeconds(closes_at));
  return appeal;
}

TEST_P(DonorStoreContractTest, AppealsTakeResponsesUntilTheyClose) {
  const v1::Donor a = Register(store(), "N-1", "Chen A");
  const v1::Donor b = Register(store(), "N-2", "Chen B");
  const v1::Donor c = Register(store(), "N-3", "Chen C");
  EXPECT_THAT(
      store().CreateAppeal(Call("a0"), Key("CreateAppeal", "a0"),
                           NewAppeal("ST-01", kNow + absl::Hours(1)), {a.donor_id(), "D-NOBODY"}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("donor_ids[1]: ")));
  BG_ASSERT_OK_AND_ASSIGN(v1::Appeal appeal,
                          store().CreateAppeal(Call("a1"), Key("CreateAppeal", "a1"),
                                               NewAppeal("ST-01", kNow + absl::Hours(1)),
                                               {b.donor_id(), a.donor_id()}));
  EXPECT_TRUE(appeal.open());
  EXPECT_EQ(appeal.station_id(), "ST-01");
  EXPECT_EQ(appeal.reason(), "trauma");
  EXPECT_EQ(appeal.counts().total(), 2);
  EXPECT_EQ(appeal.counts().pending(), 2);
  ASSERT_EQ(Count(appeal.contacts()), 2);
  EXPECT_EQ(appeal.contacts(0).donor_id(), b.donor_id());
  EXPECT_EQ(appeal.contacts(0).name(), "Chen B");
  EXPECT_EQ(appeal.contacts(0).response(), v1::APPEAL_RESPONSE_PENDING);
  EXPECT_FALSE(appeal.contacts(0).has_responded_at());
  BG_ASSERT_OK_AND_ASSIGN(v1::Appeal replayed,
                          store().CreateAppeal(Call("a1"), Key("CreateAppeal", "a1"),
                                               NewAppeal("ST-01", kNow + absl::Hours(1)),
                                               {b.donor_id(), a.donor_id()}));
  EXPECT_TRUE(Same(replayed, appeal));

  const std::string& id = appeal.appeal_id();
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Appeal accepted,
      store().RecordAppealResponse(Call("p1"), Key("RecordAppealResponse", "p1"), id, a.donor_id(),
                                   v1::APPEAL_RESPONSE_ACCEPTED, "", "coming"));
  EXPECT_EQ(accepted.counts().pending(), 1);
  EXPECT_EQ(accepted.counts().accepted(), 1);
  EXPECT_EQ(accepted.contacts(1).note(), "coming");
  EXPECT_TRUE(accepted.contacts(1).has_responded_at());
  // A donor not on the list joins it.
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Appeal donated,
      store().RecordAppealResponse(Call("p2"), Key("RecordAppealResponse", "p2"), id, c.donor_id(),
                                   v1::APPEAL_RESPONSE_DONATED, MakeDin(5), ""));
  ASSERT_EQ(Count(donated.contacts()), 3);
  EXPECT_EQ(donated.contacts(2).donor_id(), c.donor_id());
  EXPECT_EQ(donated.contacts(2).din(), MakeDin(5));
  EXPECT_EQ(donated.counts().donated(), 1);
  EXPECT_EQ(donated.counts().total(), 3);

  EXPECT_THAT(store().RecordAppealResponse(Call("p3"), Key("RecordAppealResponse", "p3"), "999999",
                                           a.donor_id(), v1::APPEAL_RESPONSE_DECLINED, "", ""),
              StatusIs(absl::StatusCode::kNotFound, "appeal 999999 not found"));
  EXPECT_THAT(store().RecordAppealResponse(Call("p3"), Key("RecordAppealResponse", "p3"), id,
                                           "D-NOBODY", v1::APPEAL_RESPONSE_DECLINED, "", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("donor_id: ")));
  EXPECT_THAT(store().RecordAppealResponse(Call("p3", kNow + absl::Hours(1)),
                                           Key("RecordAppealResponse", "p3"), id, a.donor_id(),
                                           v1::APPEAL_RESPONSE_DECLINED, "", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed at")));

  BG_ASSERT_OK_AND_ASSIGN(v1::Appeal got, store().GetAppeal(Call(), id));
  EXPECT_TRUE(Same(got, donated));
  BG_ASSERT_OK_AND_ASSIGN(v1::Appeal closed,
                          store().GetAppeal(Call("", kNow + absl::Hours(2)), id));
  EXPECT_FALSE(closed.open());
  EXPECT_THAT(store().GetAppeal(Call(), "999999"), StatusIs(absl::StatusCode::kNotFound));

  EXPECT_THAT(Summaries(Events()),
              ElementsAre(StartsWith("RegisterDonor"), StartsWith("RegisterDonor"),
                          StartsWith("RegisterDonor"), absl::StrCat("CreateAppeal  appeal ", id),
                          absl::StrCat("RecordAppealResponse ", a.donor_id(), " appeal ", id),
                          absl::StrCat("RecordAppealResponse ", c.donor_id(), " appeal ", id)));
}

TEST_P(DonorStoreContractTest, ListAppealsNewestFirstByStationAndOpenness) {
  const v1::Donor a = Register(store(), "N-1");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    BG_ASSERT_OK_AND_ASSIGN(
        v1::Appeal appeal,
        store().CreateAppeal(Call(absl::StrCat("a", i), kNow + absl::Minutes(i)),
                             Key("CreateAppeal", absl::StrCat("a", i)),
                             NewAppeal(i == 2 ? "ST-02" : "ST-01", kNow + absl::Hours(i + 1)),
                             {a.donor_id()}));
    ids.push_back(appeal.appeal_id());
  }
  PageQuery page;
  page.page_size = 2;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Appeal> first, store().ListAppeals(Call(), "", false, page));
  ASSERT_EQ(Count(first.items), 2);
  EXPECT_EQ(first.items[0].appeal_id(), ids[2]);
  EXPECT_EQ(first.items[1].appeal_id(), ids[1]);
  EXPECT_EQ(Count(first.items[0].contacts()), 0);
  EXPECT_EQ(first.items[0].counts().total(), 1);
  ASSERT_TRUE(first.next);
  page.after = first.next;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Appeal> second, store().ListAppeals(Call(), "", false, page));
  ASSERT_EQ(Count(second.items), 1);
  EXPECT_EQ(second.items[0].appeal_id(), ids[0]);
  EXPECT_FALSE(second.next);

  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Appeal> station,
                          store().ListAppeals(Call(), "ST-01", false, {}));
  EXPECT_EQ(Count(station.items), 2);
  // 90 minutes on, only the appeals closing after 2 and 3 hours are open.
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Appeal> open,
                          store().ListAppeals(Call("", kNow + absl::Minutes(90)), "", true, {}));
  ASSERT_EQ(Count(open.items), 2);
  EXPECT_EQ(open.items[0].appeal_id(), ids[2]);
  EXPECT_EQ(open.items[1].appeal_id(), ids[1]);
}

TEST_P(DonorStoreContractTest, AVoidedDonationStaysButCountsForNothing) {
  v1::Donor input = NewDonor("N-1", "Chen A");
  *input.mutable_blood_type() = kONeg.ToProto();
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor donor,
                          store().RegisterDonor(Call("r1"), Key("RegisterDonor", "r1"), input));
  const std::string& id = donor.donor_id();
  auto eligible = [](const EligibilityInputs&) -> absl::StatusOr<v1::CheckEligibilityResponse> {
    return Eligible();
  };
  ASSERT_THAT(store().RecordDonation(Call("n1"), Key("RecordDonation", "n1"),
                                     Donation(id, MakeDin(1), kToday - 300), eligible),
              IsOk());
  BG_ASSERT_OK_AND_ASSIGN(v1::RecordDonationResponse second,
                          store().RecordDonation(Call("n2"), Key("RecordDonation", "n2"),
                                                 Donation(id, MakeDin(2), kToday - 10), eligible));
  EXPECT_FALSE(second.donation().voided());

  EXPECT_THAT(store().VoidDonation(Call("v0"), Key("VoidDonation", "v0"), MakeDin(9), "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(MakeDin(9))));
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Donation voided,
      store().VoidDonation(Call("v1"), Key("VoidDonation", "v1"), MakeDin(2), "unit refused"));
  EXPECT_TRUE(voided.voided());
  EXPECT_EQ(voided.void_reason(), "unit refused");
  EXPECT_EQ(voided.voided_by(), "admin:contract");
  EXPECT_EQ(voided.voided_at().seconds(), absl::ToUnixSeconds(kNow));
  EXPECT_EQ(voided.donation_id(), second.donation().donation_id());
  EXPECT_EQ(voided.din(), MakeDin(2));

  // Voiding again, under a new key or the same one: the same record, the first reason.
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Donation again,
      store().VoidDonation(Call("v2"), Key("VoidDonation", "v2"), MakeDin(2), "other reason"));
  EXPECT_TRUE(Same(again, voided));
  BG_ASSERT_OK_AND_ASSIGN(
      v1::Donation replayed,
      store().VoidDonation(Call("v1"), Key("VoidDonation", "v1"), MakeDin(2), "unit refused"));
  EXPECT_TRUE(Same(replayed, voided));

  // The donor's counters, eligibility history and appeal pool skip it; reads show it voided.
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor counted, store().GetDonor(Call(), id));
  EXPECT_EQ(counted.donation_count(), 1);
  EXPECT_EQ(counted.last_donation_date(), FormatDate(kToday - 300));
  BG_ASSERT_OK_AND_ASSIGN(EligibilityInputs inputs,
                          store().LoadEligibilityInputs(Call(), id, kToday));
  ASSERT_EQ(Count(inputs.history), 1);
  EXPECT_EQ(inputs.history[0].date, kToday - 300);
  BG_ASSERT_OK_AND_ASSIGN(std::vector<AppealPoolEntry> pool,
                          store().LoadAppealPool(Call(), kONeg, kToday, kToday - 365));
  ASSERT_EQ(Count(pool), 1);
  ASSERT_EQ(Count(pool[0].history), 1);
  EXPECT_EQ(pool[0].history[0].date, kToday - 300);
  PageQuery page;
  page.page_size = 10;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::Donation> listed, store().ListDonations(Call(), id, page));
  ASSERT_EQ(Count(listed.items), 2);
  EXPECT_TRUE(Same(listed.items[0], voided));
  EXPECT_FALSE(listed.items[1].voided());

  // Read by DIN: as stored now.
  BG_ASSERT_OK_AND_ASSIGN(v1::Donation read, store().GetDonation(Call(), MakeDin(2)));
  EXPECT_TRUE(Same(read, voided));
  BG_ASSERT_OK_AND_ASSIGN(v1::Donation standing, store().GetDonation(Call(), MakeDin(1)));
  EXPECT_FALSE(standing.voided());
  EXPECT_THAT(store().GetDonation(Call(), MakeDin(9)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(MakeDin(9))));

  // Its DIN cannot be recorded again.
  EXPECT_THAT(store().RecordDonation(Call("n3"), Key("RecordDonation", "n3"),
                                     Donation(id, MakeDin(2), kToday - 10), eligible),
              StatusIs(absl::StatusCode::kFailedPrecondition, StartsWith("din: ")));

  // Voiding the only donation of a day clears the last donation date back to the one before.
  ASSERT_THAT(store().VoidDonation(Call("v3"), Key("VoidDonation", "v3"), MakeDin(1), "refused"),
              IsOk());
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor none, store().GetDonor(Call(), id));
  EXPECT_EQ(none.donation_count(), 0);
  EXPECT_EQ(none.last_donation_date(), "");
  EXPECT_THAT(Summaries(Events()),
              ElementsAre(StartsWith("RegisterDonor"), StartsWith("RecordDonation"),
                          StartsWith("RecordDonation"),
                          absl::StrCat("VoidDonation ", id, " donation ", voided.donation_id()),
                          StartsWith("VoidDonation")));
}

TEST_P(DonorStoreContractTest, UnconfirmedDonationsAreListedUntilConfirmedOrVoided) {
  v1::Donor input = NewDonor("N-1", "Chen A");
  *input.mutable_blood_type() = kONeg.ToProto();
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor donor,
                          store().RegisterDonor(Call("r1"), Key("RegisterDonor", "r1"), input));
  auto eligible = [](const EligibilityInputs&) -> absl::StatusOr<v1::CheckEligibilityResponse> {
    return Eligible();
  };
  for (int i = 1; i <= 3; ++i) {
    ASSERT_THAT(
        store().RecordDonation(Call(absl::StrCat("n", i), kNow + absl::Seconds(i)),
                               Key("RecordDonation", absl::StrCat("n", i)),
                               Donation(donor.donor_id(), MakeDin(i), kToday - 300 * i), eligible),
        IsOk());
  }
  auto dins = [&](absl::Time before, int limit) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<UnconfirmedDonation>> listed =
        store().ListUnconfirmedDonations(Call(), before, limit);
    EXPECT_THAT(listed, IsOk());
    if (listed.ok()) {
      for (const UnconfirmedDonation& d : *listed) out.push_back(d.donation.din());
    }
    return out;
  };
  // Oldest recorded first, only those recorded before the bound, at most `limit`.
  EXPECT_THAT(dins(kNow + absl::Seconds(3), 10), ElementsAre(MakeDin(1), MakeDin(2)));
  EXPECT_THAT(dins(kNow + absl::Hours(1), 2), ElementsAre(MakeDin(1), MakeDin(2)));
  BG_ASSERT_OK_AND_ASSIGN(std::vector<UnconfirmedDonation> first,
                          store().ListUnconfirmedDonations(Call(), kNow + absl::Hours(1), 1));
  ASSERT_EQ(Count(first), 1);
  EXPECT_EQ(first[0].product_code, "E0001");
  EXPECT_EQ(first[0].donor_blood_type.abo(), v1::ABO_GROUP_O);
  EXPECT_EQ(first[0].donor_blood_type.rhd(), v1::RH_D_NEGATIVE);
  EXPECT_EQ(first[0].donation.volume_ml(), 400);

  ASSERT_THAT(store().ConfirmDonationUnit(Call(), MakeDin(1)), IsOk());
  ASSERT_THAT(store().ConfirmDonationUnit(Call(), MakeDin(1)), IsOk());
  EXPECT_THAT(store().ConfirmDonationUnit(Call(), MakeDin(9)),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(store().VoidDonation(Call("v1"), Key("VoidDonation", "v1"), MakeDin(2), "refused"),
              IsOk());
  EXPECT_THAT(dins(kNow + absl::Hours(1), 10), ElementsAre(MakeDin(3)));
}

TEST_P(DonorStoreContractTest, AppealPoolHoldsTheTypeWithRecentHistoryAndDeferrals) {
  v1::Donor input = NewDonor("N-1", "Chen A");
  *input.mutable_blood_type() = kONeg.ToProto();
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor typed,
                          store().RegisterDonor(Call("r1"), Key("RegisterDonor", "r1"), input));
  Register(store(), "N-2", "Chen B");  // no blood type: not in the pool
  auto eligible = [](const EligibilityInputs&) -> absl::StatusOr<v1::CheckEligibilityResponse> {
    return Eligible();
  };
  ASSERT_THAT(
      store().RecordDonation(Call("n1"), Key("RecordDonation", "n1"),
                             Donation(typed.donor_id(), MakeDin(1), kToday - 400), eligible),
      IsOk());
  ASSERT_THAT(
      store().RecordDonation(Call("n2"), Key("RecordDonation", "n2"),
                             Donation(typed.donor_id(), MakeDin(2), kToday - 100), eligible),
      IsOk());
  ASSERT_THAT(store().DeferDonor(Call("d1"), Key("DeferDonor", "d1"),
                                 Deferral(typed.donor_id(), kToday - 1, kToday + 1)),
              IsOk());
  ASSERT_THAT(store().DeferDonor(Call("d2"), Key("DeferDonor", "d2"),
                                 Deferral(typed.donor_id(), kToday - 10, kToday)),
              IsOk());
  BG_ASSERT_OK_AND_ASSIGN(std::vector<AppealPoolEntry> pool,
                          store().LoadAppealPool(Call(), kONeg, kToday, kToday - 365));
  ASSERT_EQ(Count(pool), 1);
  EXPECT_EQ(pool[0].donor.donor_id(), typed.donor_id());
  EXPECT_TRUE(pool[0].donor.deferred());
  ASSERT_EQ(Count(pool[0].history), 1);
  EXPECT_EQ(pool[0].history[0].date, kToday - 100);
  ASSERT_EQ(Count(pool[0].deferrals), 1);
  EXPECT_EQ(pool[0].deferrals[0].deferral.code, "TATTOO");
  EXPECT_EQ(pool[0].deferrals[0].deferral.until, kToday + 1);
  BG_ASSERT_OK_AND_ASSIGN(std::vector<AppealPoolEntry> none,
                          store().LoadAppealPool(Call(), kAPos, kToday, kToday - 365));
  EXPECT_EQ(Count(none), 0);
}

// ---------------------------------------------------------------------------------------------
// Reimbursement

ClaimDraft Claim(const std::string& donor_id, const std::string& invoice,
                 v1::ClaimantRelation relation = v1::CLAIMANT_RELATION_SELF) {
  ClaimDraft claim;
  claim.donor_id = donor_id;
  claim.relation = relation;
  claim.volume_ml = 300;
  claim.invoice_no = invoice;
  claim.blood_fee = 60000;
  claim.recipient_name = "Wang Fang";
  claim.hospital_name = "People's Hospital";
  claim.invoice_date = kToday;
  return claim;
}

TEST_P(DonorStoreContractTest, ClaimsDebitTheLedgerOncePerInvoice) {
  const v1::Donor donor = Register(store(), "N-1");
  const v1::Donor other = Register(store(), "N-2");
  const std::string& id = donor.donor_id();
  ASSERT_THAT(store().RecordDonation(
                  Call("n1"), Key("RecordDonation", "n1"), Donation(id, MakeDin(1), kToday - 30),
                  [](const EligibilityInputs&) -> absl::StatusOr<v1::CheckEligibilityResponse> {
                    return Eligible();
                  }),
              IsOk());
  auto decide = [](int32_t covered) {
    return [covered](const LedgerState& state) -> absl::StatusOr<ClaimOutcome> {
      EXPECT_EQ(Count(state.credits), 1);
      ClaimOutcome outcome;
      outcome.decision.covered_volume_ml = covered;
      outcome.decision.reimbursed_amount = covered * 200;
      outcome.balance_after.set_donor_id("balance-after");
      return outcome;
    };
  };
  EXPECT_THAT(store().ClaimReimbursement(Call("c0"), Key("ClaimReimbursement", "c0"),
                                         Claim("D-NOBODY", "INV-1"), decide(300)),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(
      store().ClaimReimbursement(Call("c0"), Key("ClaimReimbursement", "c0"), Claim(id, "INV-1"),
                                 [](const LedgerState&) -> absl::StatusOr<ClaimOutcome> {
                                   return absl::FailedPreconditionError("nothing left");
                                 }),
      StatusIs(absl::StatusCode::kFailedPrecondition, "nothing left"));
  BG_ASSERT_OK_AND_ASSIGN(v1::ClaimReimbursementResponse claimed,
                          store().ClaimReimbursement(Call("c1"), Key("ClaimReimbursement", "c1"),
                                                     Claim(id, "INV-1"), decide(300)));
  EXPECT_EQ(claimed.covered_volume_ml(), 300);
  EXPECT_EQ(claimed.reimbursed_amount(), 60000);
  EXPECT_EQ(claimed.balance().donor_id(), "balance-after");
  EXPECT_EQ(claimed.entry().kind(), v1::LEDGER_ENTRY_KIND_DEBIT);
  EXPECT_EQ(claimed.entry().invoice_no(), "INV-1");
  EXPECT_EQ(claimed.entry().volume_ml(), 300);
  EXPECT_EQ(claimed.entry().invoice_volume_ml(), 300);
  EXPECT_EQ(claimed.entry().blood_fee(), 60000);
  EXPECT_EQ(claimed.entry().created_by(), "admin:contract");
  BG_ASSERT_OK_AND_ASSIGN(v1::ClaimReimbursementResponse replayed,
                          store().ClaimReimbursement(Call("c1"), Key("ClaimReimbursement", "c1"),
                                                     Claim(id, "INV-1"), decide(300)));
  EXPECT_TRUE(Same(replayed, claimed));
  // The invoice is taken for every donor.
  EXPECT_THAT(store().ClaimReimbursement(Call("c2"), Key("ClaimReimbursement", "c2"),
                                         Claim(other.donor_id(), "INV-1"), decide(100)),
              StatusIs(absl::StatusCode::kAlreadyExists, "invoice_no: INV-1 was already claimed"));
  ASSERT_THAT(
      store().ClaimReimbursement(Call("c3"), Key("ClaimReimbursement", "c3"),
                                 Claim(id, "INV-2", v1::CLAIMANT_RELATION_PARENT), decide(120)),
      IsOk());
  BG_ASSERT_OK_AND_ASSIGN(LedgerState ledger, store().LoadLedgerState(Call(), id));
  EXPECT_EQ(ledger.self_claimed_ml, 300);
  EXPECT_EQ(ledger.relatives_claimed_ml, 120);
  EXPECT_THAT(store().LoadLedgerState(Call(), "D-NOBODY"), StatusIs(absl::StatusCode::kNotFound));

  // Newest first: the parent's claim, the own claim, the donation's credit.
  PageQuery page;
  page.page_size = 2;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::LedgerEntry> first, store().ListLedger(Call(), id, page));
  ASSERT_EQ(Count(first.items), 2);
  EXPECT_EQ(first.items[0].invoice_no(), "INV-2");
  EXPECT_EQ(first.items[1].invoice_no(), "INV-1");
  ASSERT_TRUE(first.next);
  page.after = first.next;
  BG_ASSERT_OK_AND_ASSIGN(Page<v1::LedgerEntry> second, store().ListLedger(Call(), id, page));
  ASSERT_EQ(Count(second.items), 1);
  EXPECT_EQ(second.items[0].kind(), v1::LEDGER_ENTRY_KIND_CREDIT);
  EXPECT_EQ(second.items[0].din(), MakeDin(1));
  EXPECT_EQ(second.items[0].volume_ml(), 400);
  EXPECT_FALSE(second.next);
  EXPECT_THAT(store().ListLedger(Call(), "D-NOBODY", {}), StatusIs(absl::StatusCode::kNotFound));

  const std::vector<StoreEvent> events = Events();
  ASSERT_EQ(Count(events), 5);
  EXPECT_EQ(Summaries(events)[3],
            absl::StrCat("ClaimReimbursement ", id, " ledger_entry ", claimed.entry().entry_id()));
  EXPECT_EQ(events[3].detail,
            "CLAIMANT_RELATION_SELF invoice INV-1: 300 of 300 mL covered, 60000 reimbursed");
}

}  // namespace
}  // namespace bloodgrid::donor::testing
