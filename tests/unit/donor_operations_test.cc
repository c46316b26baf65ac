// DonorOperations on the in-memory FakeDonorStore with an injected clock and the shipped
// cn-gb18467-2011 profile: the main flows of the service (register, eligibility, deferrals,
// donations, appeals, reimbursement) without a database or gRPC.
#include "donor_service/donor_operations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "common/din.h"
#include "common/policy.h"
#include "donor_service/donation_unit_reconciler.h"
#include "donor_service/fake_donor_store.h"
#include "tests/support/status_matchers.h"

namespace bloodgrid::donor {
namespace {

using ::bloodgrid::testing::IsOk;
using ::bloodgrid::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::TimeZone kUtc = absl::UTCTimeZone();

absl::Time At(int y, int m, int d, int hh = 9) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, 0, 0), kUtc);
}

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

std::string ChineseId(const std::string& birth, int seq) {
  std::string first17 = absl::StrCat("110105", birth, absl::StrFormat("%03d", seq % 1000));
  return first17 + ChineseIdCheckCharacter(first17);
}

std::string MakeDin(int sequence) {
  absl::StatusOr<Din> din = Din::Create("A9999", 26, sequence);
  return din.ok() ? din->ToString() : "";
}

class DonorOperationsTest : public ::testing::Test {
 protected:
  DonorOperationsTest() : clock_(At(2026, 11, 22)), ops_(LoadPolicy(), &store_, kUtc) {}

  // The context a handler would build for a call made now, as read from the injected clock.
  CallContext Call() const {
    CallContext call;
    call.actor = "admin:tester";
    call.now = clock_.Now();
    call.today = absl::ToCivilDay(call.now, kUtc);
    return call;
  }

  static v1::PolicyProfile LoadPolicy() {
    absl::StatusOr<v1::PolicyProfile> policy =
        LoadPolicyFile(absl::StrCat(BLOODGRID_POLICY_DIR, "/cn-gb18467-2011.textproto"));
    EXPECT_TRUE(policy.ok()) << policy.status();
    return policy.ok() ? *policy : v1::PolicyProfile();
  }

  std::string NextRequestId() { return absl::StrCat("req-", ++request_counter_); }

  v1::Donor Register(const std::string& name, int seq, const std::string& birth = "19900101") {
    v1::RegisterDonorRequest request;
    request.set_request_id(NextRequestId());
    v1::Donor* donor = request.mutable_donor();
    donor->set_national_id(ChineseId(birth, seq));
    donor->set_name(name);
    donor->set_sex(v1::SEX_MALE);
    donor->set_birth_date(
        absl::StrCat(birth.substr(0, 4), "-", birth.substr(4, 2), "-", birth.substr(6, 2)));
    donor->mutable_contact()->set_phone("138 0013 8000");
    donor->set_home_station_id("ST-01");
    absl::StatusOr<v1::Donor> registered = ops_.RegisterDonor(Call(), request);
    EXPECT_THAT(registered, IsOk());
    return registered.ok() ? *registered : v1::Donor();
  }

  v1::RecordDonationRequest DonationRequest(const std::string& donor_id, const std::string& din,
                                            absl::Time collected_at) {
    v1::RecordDonationRequest request;
    request.set_request_id(NextRequestId());
    request.set_donor_id(donor_id);
    request.set_din(din);
    request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
    request.set_volume_ml(400);
    request.set_station_id("ST-01");
    *request.mutable_collected_at() = Ts(collected_at);
    v1::DonorScreening* s = request.mutable_screening();
    s->set_weight_kg(65);
    s->set_hemoglobin_g_l(140);
    s->set_systolic_mmhg(120);
    s->set_diastolic_mmhg(80);
    s->set_pulse_bpm(72);
    return request;
  }

  absl::StatusOr<v1::CheckEligibilityResponse> Check(const std::string& donor_id,
                                                     const std::string& on_date = "") {
    v1::CheckEligibilityRequest request;
    request.set_donor_id(donor_id);
    request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
    request.set_on_date(on_date);
    return ops_.CheckEligibility(Call(), request);
  }

  FakeClock clock_;
  FakeDonorStore store_;
  DonorOperations ops_;
  int request_counter_ = 0;
};

TEST_F(DonorOperationsTest, RegisterNormalisesAndNamesTheFirstOfADuplicate) {
  v1::Donor donor = Register("Li Lei", 1);
  EXPECT_EQ(donor.contact().phone(), "13800138000");
  EXPECT_EQ(donor.version(), 1);

  v1::RegisterDonorRequest again;
  again.set_request_id(NextRequestId());
  *again.mutable_donor() = donor;
  again.mutable_donor()->clear_donor_id();
  EXPECT_THAT(ops_.RegisterDonor(Call(), again),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(donor.donor_id())));
  v1::RegisterDonorRequest bad;
  bad.set_request_id(NextRequestId());
  EXPECT_THAT(ops_.RegisterDonor(Call(), bad),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("donor: ")));
  ASSERT_EQ(store_.Events().size(), 1u);
  EXPECT_EQ(store_.Events()[0].actor, "admin:tester");
}

TEST_F(DonorOperationsTest, EligibilityThenADonationThenTheIntervalRule) {
  v1::Donor donor = Register("Zhou Jie", 1);
  BG_ASSERT_OK_AND_ASSIGN(v1::CheckEligibilityResponse eligibility, Check(donor.donor_id()));
  EXPECT_TRUE(eligibility.eligible());
  EXPECT_EQ(eligibility.next_eligible_date(), "2026-11-22");
  EXPECT_EQ(eligibility.unchecked_size(), 5);

  BG_ASSERT_OK_AND_ASSIGN(
      v1::RecordDonationResponse recorded,
      ops_.RecordDonation(
          Call(), DonationRequest(donor.donor_id(), MakeDin(100), clock_.Now() - absl::Hours(2))));
  EXPECT_TRUE(recorded.created());
  EXPECT_EQ(recorded.donation().collection_date(), "2026-11-22");

  BG_ASSERT_OK_AND_ASSIGN(eligibility, Check(donor.donor_id()));
  EXPECT_FALSE(eligibility.eligible());
  EXPECT_EQ(eligibility.reasons(0).code(), v1::ELIGIBILITY_REASON_INTERVAL_NOT_ELAPSED);
  EXPECT_EQ(eligibility.next_eligible_date(), "2027-05-22");
  EXPECT_THAT(
      ops_.RecordDonation(Call(), DonationRequest(donor.donor_id(), MakeDin(101), clock_.Now())),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               absl::StrCat("donor ", donor.donor_id(),
                            " not eligible: ELIGIBILITY_REASON_INTERVAL_NOT_ELAPSED")));

  clock_.Set(At(2027, 5, 22));
  EXPECT_THAT(
      ops_.RecordDonation(Call(), DonationRequest(donor.donor_id(), MakeDin(102), clock_.Now())),
      IsOk());
  v1::ListDonationsRequest list;
  list.set_donor_id(donor.donor_id());
  list.set_page_size(1);
  BG_ASSERT_OK_AND_ASSIGN(v1::ListDonationsResponse page, ops_.ListDonations(Call(), list));
  ASSERT_EQ(page.donations_size(), 1);
  EXPECT_EQ(page.donations(0).din(), MakeDin(102));
  list.set_page_token(page.next_page_token());
  BG_ASSERT_OK_AND_ASSIGN(page, ops_.ListDonations(Call(), list));
  ASSERT_EQ(page.donations_size(), 1);
  EXPECT_EQ(page.donations(0).din(), MakeDin(100));
  EXPECT_TRUE(page.next_page_token().empty());
}

TEST_F(DonorOperationsTest, DeferralsBlockUntilTheirEndOrAVoid) {
  v1::Donor donor = Register("Huang Bo", 1);
  v1::DeferDonorRequest defer;
  defer.set_request_id(NextRequestId());
  defer.set_donor_id(donor.donor_id());
  defer.set_reason_code("TOOTH_EXTRACTION");
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral tooth, ops_.DeferDonor(Call(), defer));
  EXPECT_EQ(tooth.ends_on(), "2026-12-07");
  EXPECT_TRUE(tooth.active());
  BG_ASSERT_OK_AND_ASSIGN(v1::CheckEligibilityResponse eligibility, Check(donor.donor_id()));
  ASSERT_EQ(eligibility.reasons_size(), 1);
  EXPECT_EQ(eligibility.reasons(0).code(), v1::ELIGIBILITY_REASON_DEFERRED_TEMPORARY);
  EXPECT_EQ(eligibility.reasons(0).deferral_id(), tooth.deferral_id());
  BG_ASSERT_OK_AND_ASSIGN(eligibility, Check(donor.donor_id(), "2026-12-07"));
  EXPECT_TRUE(eligibility.eligible());

  v1::DeferDonorRequest permanent;
  permanent.set_request_id(NextRequestId());
  permanent.set_donor_id(donor.donor_id());
  permanent.set_reason_code("HCV_REACTIVE");
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral hcv, ops_.DeferDonor(Call(), permanent));
  EXPECT_EQ(hcv.kind(), v1::DEFERRAL_KIND_PERMANENT);
  BG_ASSERT_OK_AND_ASSIGN(eligibility, Check(donor.donor_id()));
  EXPECT_EQ(eligibility.next_eligible_date(), "");

  v1::VoidDeferralRequest void_request;
  void_request.set_request_id(NextRequestId());
  void_request.set_deferral_id(hcv.deferral_id());
  void_request.set_voided_by("Dr. Lin");
  void_request.set_reason("confirmatory test negative");
  BG_ASSERT_OK_AND_ASSIGN(v1::Deferral voided, ops_.VoidDeferral(Call(), void_request));
  EXPECT_FALSE(voided.active());
  void_request.set_request_id(NextRequestId());
  EXPECT_THAT(ops_.VoidDeferral(Call(), void_request),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  v1::ListDeferralsRequest list;
  list.set_donor_id(donor.donor_id());
  list.set_active_only(true);
  BG_ASSERT_OK_AND_ASSIGN(v1::ListDeferralsResponse active, ops_.ListDeferrals(Call(), list));
  ASSERT_EQ(active.deferrals_size(), 1);
  EXPECT_EQ(active.deferrals(0).deferral_id(), tooth.deferral_id());
  defer.set_reason_code("NOT_IN_THE_CATALOGUE");
  EXPECT_THAT(ops_.DeferDonor(Call(), defer),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("reason_code: ")));
}

TEST_F(DonorOperationsTest, TypingAssignsThenAConflictWaitsForResolution) {
  v1::Donor donor = Register("Sun Li", 1);
  v1::RecordBloodTypingRequest typing;
  typing.set_request_id(NextRequestId());
  typing.set_donor_id(donor.donor_id());
  typing.set_din(MakeDin(1));
  typing.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
  typing.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
  BG_ASSERT_OK_AND_ASSIGN(v1::RecordBloodTypingResponse assigned,
                          ops_.RecordBloodTyping(Call(), typing));
  EXPECT_TRUE(assigned.donor().blood_type_confirmed());
  EXPECT_FALSE(assigned.has_conflict());
  typing.set_request_id(NextRequestId());
  typing.set_din(MakeDin(2));
  typing.mutable_blood_type()->set_abo(v1::ABO_GROUP_A);
  BG_ASSERT_OK_AND_ASSIGN(v1::RecordBloodTypingResponse conflicting,
                          ops_.RecordBloodTyping(Call(), typing));
  ASSERT_TRUE(conflicting.has_conflict());
  EXPECT_EQ(conflicting.donor().blood_type().abo(), v1::ABO_GROUP_O);
  v1::ResolveBloodTypeConflictRequest resolve;
  resolve.set_request_id(NextRequestId());
  resolve.set_conflict_id(conflicting.conflict().conflict_id());
  resolve.mutable_resolved_blood_type()->set_abo(v1::ABO_GROUP_A);
  resolve.mutable_resolved_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
  resolve.set_resolved_by("lab lead");
  BG_ASSERT_OK_AND_ASSIGN(v1::BloodTypeConflict resolved,
                          ops_.ResolveBloodTypeConflict(Call(), resolve));
  EXPECT_TRUE(resolved.resolved());
  v1::GetDonorRequest get;
  get.set_donor_id(donor.donor_id());
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor now, ops_.GetDonor(Call(), get));
  EXPECT_EQ(now.blood_type().abo(), v1::ABO_GROUP_A);
  EXPECT_FALSE(now.has_open_blood_type_conflict());
}

TEST_F(DonorOperationsTest, AppealCandidatesThenResponses) {
  v1::Donor eligible = Register("Appeal A", 1);
  v1::Donor deferred = Register("Appeal B", 2);
  for (const v1::Donor* donor : {&eligible, &deferred}) {
    v1::RecordBloodTypingRequest typing;
    typing.set_request_id(NextRequestId());
    typing.set_donor_id(donor->donor_id());
    typing.set_din(MakeDin(donor == &eligible ? 1 : 2));
    typing.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
    typing.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
    ASSERT_THAT(ops_.RecordBloodTyping(Call(), typing), IsOk());
  }
  v1::DeferDonorRequest defer;
  defer.set_request_id(NextRequestId());
  defer.set_donor_id(deferred.donor_id());
  defer.set_reason_code("TATTOO");
  ASSERT_THAT(ops_.DeferDonor(Call(), defer), IsOk());

  v1::FindAppealCandidatesRequest find;
  find.mutable_blood_type()->set_abo(v1::ABO_GROUP_O);
  find.mutable_blood_type()->set_rhd(v1::RH_D_NEGATIVE);
  find.set_station_id("ST-01");
  find.set_limit(10);
  BG_ASSERT_OK_AND_ASSIGN(v1::FindAppealCandidatesResponse candidates,
                          ops_.FindAppealCandidates(Call(), find));
  ASSERT_EQ(candidates.candidates_size(), 1);
  EXPECT_EQ(candidates.candidates(0).donor_id(), eligible.donor_id());
  EXPECT_EQ(candidates.candidates(0).rank(), 1);

  v1::CreateAppealRequest create;
  create.set_request_id(NextRequestId());
  create.set_station_id("ST-01");
  *create.mutable_blood_type() = find.blood_type();
  create.add_donor_ids(eligible.donor_id());
  BG_ASSERT_OK_AND_ASSIGN(v1::Appeal appeal, ops_.CreateAppeal(Call(), create));
  EXPECT_TRUE(appeal.open());
  EXPECT_EQ(appeal.created_by(), "admin:tester");
  EXPECT_EQ(appeal.closes_at().seconds(), absl::ToUnixSeconds(clock_.Now() + absl::Hours(72)));

  v1::RecordAppealResponseRequest respond;
  respond.set_request_id(NextRequestId());
  respond.set_appeal_id(appeal.appeal_id());
  respond.set_donor_id(eligible.donor_id());
  respond.set_response(v1::APPEAL_RESPONSE_DONATED);
  respond.set_din(MakeDin(9));
  BG_ASSERT_OK_AND_ASSIGN(v1::Appeal updated, ops_.RecordAppealResponse(Call(), respond));
  EXPECT_EQ(updated.counts().donated(), 1);
  EXPECT_EQ(updated.counts().pending(), 0);

  clock_.Advance(absl::Hours(73));
  respond.set_request_id(NextRequestId());
  respond.set_response(v1::APPEAL_RESPONSE_DECLINED);
  respond.clear_din();
  EXPECT_THAT(ops_.RecordAppealResponse(Call(), respond),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  v1::ListAppealsRequest list;
  list.set_open_only(true);
  BG_ASSERT_OK_AND_ASSIGN(v1::ListAppealsResponse open, ops_.ListAppeals(Call(), list));
  EXPECT_EQ(open.appeals_size(), 0);
}

TEST_F(DonorOperationsTest, ReimbursementBalanceAndClaims) {
  v1::Donor donor = Register("Fee Donor", 1);
  ASSERT_THAT(ops_.RecordDonation(Call(), DonationRequest(donor.donor_id(), MakeDin(1),
                                                          clock_.Now() - absl::Hours(1))),
              IsOk());
  v1::GetReimbursementBalanceRequest balance_request;
  balance_request.set_donor_id(donor.donor_id());
  BG_ASSERT_OK_AND_ASSIGN(v1::ReimbursementBalance balance,
                          ops_.GetReimbursementBalance(Call(), balance_request));
  EXPECT_EQ(balance.cumulative_donated_ml(), 400);
  EXPECT_EQ(balance.self_available_ml(), 1200);
  EXPECT_EQ(balance.relatives_available_ml(), 400);

  auto claim = [&](v1::ClaimantRelation relation, int volume, const std::string& invoice,
                   int64_t fee) {
    v1::ClaimReimbursementRequest request;
    request.set_request_id(NextRequestId());
    request.set_donor_id(donor.donor_id());
    request.set_claimant_relation(relation);
    request.set_volume_ml(volume);
    request.set_invoice_no(invoice);
    request.set_blood_fee(fee);
    return ops_.ClaimReimbursement(Call(), request);
  };
  BG_ASSERT_OK_AND_ASSIGN(v1::ClaimReimbursementResponse own,
                          claim(v1::CLAIMANT_RELATION_SELF, 300, " inv-2026-001 ", 30000));
  EXPECT_EQ(own.covered_volume_ml(), 300);
  EXPECT_EQ(own.entry().invoice_no(), "INV-2026-001");
  EXPECT_EQ(own.balance().self_available_ml(), 900);
  EXPECT_THAT(claim(v1::CLAIMANT_RELATION_SPOUSE, 100, "INV-2026-001", 100),
              StatusIs(absl::StatusCode::kAlreadyExists));
  BG_ASSERT_OK_AND_ASSIGN(v1::ClaimReimbursementResponse parent,
                          claim(v1::CLAIMANT_RELATION_PARENT, 600, "INV-2026-002", 60000));
  EXPECT_EQ(parent.covered_volume_ml(), 400);
  EXPECT_EQ(parent.reimbursed_amount(), 40000);
  EXPECT_THAT(claim(v1::CLAIMANT_RELATION_CHILD, 100, "INV-2026-003", 1000),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  v1::ListReimbursementLedgerRequest ledger_request;
  ledger_request.set_donor_id(donor.donor_id());
  BG_ASSERT_OK_AND_ASSIGN(v1::ListReimbursementLedgerResponse ledger,
                          ops_.ListReimbursementLedger(Call(), ledger_request));
  ASSERT_EQ(ledger.entries_size(), 3);
  EXPECT_EQ(ledger.entries(0).invoice_no(), "INV-2026-002");
  EXPECT_EQ(ledger.entries(2).kind(), v1::LEDGER_ENTRY_KIND_CREDIT);

  clock_.Set(At(2031, 11, 22));
  BG_ASSERT_OK_AND_ASSIGN(balance, ops_.GetReimbursementBalance(Call(), balance_request));
  EXPECT_EQ(balance.self_available_ml(), 100);
}

TEST_F(DonorOperationsTest, AVoidedDonationLeavesTheDonorEligible) {
  v1::Donor donor = Register("Void Donor", 2);
  const v1::RecordDonationRequest recorded =
      DonationRequest(donor.donor_id(), MakeDin(1), clock_.Now() - absl::Hours(1));
  ASSERT_THAT(ops_.RecordDonation(Call(), recorded), IsOk());
  v1::CheckEligibilityRequest check;
  check.set_donor_id(donor.donor_id());
  check.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  BG_ASSERT_OK_AND_ASSIGN(v1::CheckEligibilityResponse held, ops_.CheckEligibility(Call(), check));
  EXPECT_FALSE(held.eligible());

  // Bad input is refused naming the field, and writes nothing.
  const size_t events = store_.Events().size();
  auto void_with = [&](const std::string& din, const std::string& reason) {
    v1::VoidDonationRequest request;
    request.set_request_id(NextRequestId());
    request.set_din(din);
    request.set_reason(reason);
    return ops_.VoidDonation(Call(), request);
  };
  EXPECT_THAT(void_with("A99992", "refused"),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("din: ")));
  EXPECT_THAT(void_with(MakeDin(1), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("reason: ")));
  EXPECT_THAT(void_with(MakeDin(1), std::string(1001, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("reason: ")));
  EXPECT_THAT(void_with(MakeDin(2), "refused"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(store_.Events().size(), events);

  BG_ASSERT_OK_AND_ASSIGN(v1::Donation voided, void_with(MakeDin(1), "unit refused"));
  EXPECT_TRUE(voided.voided());
  EXPECT_EQ(voided.voided_by(), "admin:tester");
  BG_ASSERT_OK_AND_ASSIGN(v1::CheckEligibilityResponse free, ops_.CheckEligibility(Call(), check));
  EXPECT_TRUE(free.eligible());

  // A retry of the original request_id does not replay the donation as if it stood: the caller
  // would go on to register a unit for it.
  EXPECT_THAT(ops_.RecordDonation(Call(), recorded),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("was voided")));
}

// The inventory as the reconciler sees it: a unit per DIN, a refusal for chosen DINs, or down.
class FakeRegistrar : public CollectionRegistrar {
 public:
  grpc::Status RegisterCollection(const CallContext& /*call*/,
                                  const v1::RegisterCollectionRequest& request,
                                  v1::RegisterCollectionResponse* response) override {
    requests.push_back(request);
    if (down) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "inventory down");
    if (request.din() == refused_din) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "station 'ST-01' is inactive and takes no new stock");
    }
    response->mutable_unit()->set_din(request.din());
    return grpc::Status::OK;
  }
  std::vector<v1::RegisterCollectionRequest> requests;
  std::string refused_din;
  bool down = false;
};

TEST_F(DonorOperationsTest, TheReconcilerRegistersOrVoidsWhatTheGatewayLeftWithoutAUnit) {
  v1::Donor donor = Register("Left Donor", 3);
  v1::Donor other = Register("Other Donor", 4);
  v1::RecordDonationRequest kept =
      DonationRequest(donor.donor_id(), MakeDin(1), clock_.Now() - absl::Hours(1));
  kept.set_product_code("E0001V00");
  ASSERT_THAT(ops_.RecordDonation(Call(), kept), IsOk());
  ASSERT_THAT(ops_.RecordDonation(Call(), DonationRequest(other.donor_id(), MakeDin(2),
                                                          clock_.Now() - absl::Hours(1))),
              IsOk());
  FakeRegistrar inventory;
  inventory.refused_din = MakeDin(2);
  DonationUnitReconciler::Options options;
  options.grace = absl::Minutes(5);
  DonationUnitReconciler reconciler(&store_, &inventory, &clock_, options);

  // Within the grace the gateway's own call may still be under way: nothing is touched.
  BG_ASSERT_OK_AND_ASSIGN(DonationUnitReconciler::PassResult early, reconciler.RunPass());
  EXPECT_EQ(early.confirmed + early.voided, 0);
  EXPECT_TRUE(inventory.requests.empty());

  // The inventory down: the pass fails and settles nothing.
  clock_.Advance(absl::Minutes(6));
  inventory.down = true;
  EXPECT_THAT(reconciler.RunPass(), StatusIs(absl::StatusCode::kUnavailable));
  inventory.down = false;

  BG_ASSERT_OK_AND_ASSIGN(DonationUnitReconciler::PassResult pass, reconciler.RunPass());
  EXPECT_EQ(pass.confirmed, 1);
  EXPECT_EQ(pass.voided, 1);
  const v1::RegisterCollectionRequest& sent = inventory.requests.back();
  EXPECT_EQ(sent.din(), MakeDin(2));
  const v1::RegisterCollectionRequest& first = inventory.requests[inventory.requests.size() - 2];
  EXPECT_EQ(first.din(), MakeDin(1));
  EXPECT_EQ(first.request_id(), absl::StrCat("donor.collect.", MakeDin(1)));
  EXPECT_EQ(first.donor_id(), donor.donor_id());
  EXPECT_EQ(first.volume_ml(), 400);
  EXPECT_EQ(first.station_id(), "ST-01");
  EXPECT_EQ(first.product_code(), "E0001V00");

  v1::ListDonationsRequest list;
  list.set_donor_id(other.donor_id());
  BG_ASSERT_OK_AND_ASSIGN(v1::ListDonationsResponse refused, ops_.ListDonations(Call(), list));
  ASSERT_EQ(refused.donations_size(), 1);
  EXPECT_TRUE(refused.donations(0).voided());
  EXPECT_THAT(refused.donations(0).void_reason(), ::testing::HasSubstr("inactive"));
  EXPECT_EQ(refused.donations(0).voided_by(), "system:donation_units");
  list.set_donor_id(donor.donor_id());
  BG_ASSERT_OK_AND_ASSIGN(v1::ListDonationsResponse confirmed, ops_.ListDonations(Call(), list));
  EXPECT_FALSE(confirmed.donations(0).voided());

  // Settled donations are not looked at again.
  const size_t asked = inventory.requests.size();
  BG_ASSERT_OK_AND_ASSIGN(DonationUnitReconciler::PassResult again, reconciler.RunPass());
  EXPECT_EQ(again.confirmed + again.voided, 0);
  EXPECT_EQ(inventory.requests.size(), asked);
}

TEST_F(DonorOperationsTest, ARetryWithTheSameRequestIdReplays) {
  v1::RegisterDonorRequest request;
  request.set_request_id("same-id");
  v1::Donor* donor = request.mutable_donor();
  donor->set_national_id(ChineseId("19900101", 7));
  donor->set_name("Retry");
  donor->set_sex(v1::SEX_FEMALE);
  donor->set_birth_date("1990-01-01");
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor first, ops_.RegisterDonor(Call(), request));
  clock_.Advance(absl::Minutes(1));
  BG_ASSERT_OK_AND_ASSIGN(v1::Donor second, ops_.RegisterDonor(Call(), request));
  EXPECT_EQ(second.SerializeAsString(), first.SerializeAsString());
  request.mutable_donor()->set_name("Other");
  EXPECT_THAT(ops_.RegisterDonor(Call(), request),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("request_id: ")));
  EXPECT_EQ(store_.Events().size(), 1u);
}

}  // namespace
}  // namespace bloodgrid::donor
