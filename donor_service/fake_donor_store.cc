#include "donor_service/fake_donor_store.h"

#include <algorithm>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "donor_service/fake_donor_store_internal.h"

namespace bloodgrid::donor {
namespace {

using State = FakeDonorStore::State;
using fake_internal::Audit;
using fake_internal::Cursor;
using fake_internal::CursorRowId;
using fake_internal::DeferralsInForce;
using fake_internal::DonorAsOf;
using fake_internal::DonorExists;
using fake_internal::DonorNotFound;
using fake_internal::HistoryOf;
using fake_internal::Micros;
using fake_internal::NewestFirstPage;
using fake_internal::PageOf;
using fake_internal::ParseRowId;

absl::CivilDay ParseDay(const std::string& text) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day)) return absl::CivilDay(1970, 1, 1);
  return day;
}

int64_t DayNumber(absl::CivilDay day) { return day - absl::CivilDay(1970, 1, 1); }

absl::Status NationalIdTaken(const std::string& existing_donor_id) {
  return absl::AlreadyExistsError(
      absl::StrCat("national_id already registered: existing_donor_id=", existing_donor_id));
}

std::optional<std::string> DonorIdWithNationalId(const State& state,
                                                 const std::string& national_id) {
  for (const auto& [id, donor] : state.donors) {
    if (donor.national_id() == national_id) return id;
  }
  return std::nullopt;
}

DeferralSpan SpanOf(const v1::Deferral& deferral) {
  DeferralSpan span;
  span.voided = deferral.voided();
  span.start_date = ParseDay(deferral.start_date());
  if (!deferral.ends_on().empty()) span.ends_on = ParseDay(deferral.ends_on());
  return span;
}

v1::Deferral DeferralAsOf(const v1::Deferral& stored, absl::CivilDay today) {
  v1::Deferral deferral = stored;
  deferral.set_active(DeferralInForceOn(SpanOf(stored), today));
  return deferral;
}

std::optional<v1::Donor> FindDonor(const State& state, const std::string& donor_id,
                                   absl::CivilDay day) {
  auto it = state.donors.find(donor_id);
  if (it == state.donors.end()) return std::nullopt;
  return DonorAsOf(state, it->second, day);
}

// The input columns RegisterDonor and UpdateDonor write.
void CopyInputColumns(const v1::Donor& from, v1::Donor& to) {
  to.set_national_id(from.national_id());
  to.set_name(from.name());
  to.set_sex(from.sex());
  to.set_birth_date(from.birth_date());
  to.mutable_contact()->set_phone(from.contact().phone());
  to.mutable_contact()->set_email(from.contact().email());
  to.mutable_contact()->set_address(from.contact().address());
  to.set_home_station_id(from.home_station_id());
  to.clear_panels();
  for (int panel : from.panels()) to.add_panels(static_cast<v1::DonorPanel>(panel));
}

void SetBloodType(v1::Donor& donor, BloodType type, absl::Time now) {
  donor.mutable_blood_type()->set_abo(type.abo);
  donor.mutable_blood_type()->set_rhd(type.rhd);
  donor.set_blood_type_confirmed(true);
  donor.set_version(donor.version() + 1);
  *donor.mutable_updated_at() = ToTimestamp(now);
}

// ASCII case-insensitive ordering and prefix, as the name column's collation does.
std::string Folded(const std::string& name) { return absl::AsciiStrToLower(name); }

}  // namespace

namespace fake_internal {

std::optional<int64_t> ParseRowId(const std::string& id) {
  int64_t value = 0;
  if (id.empty() || id.size() > 19 || !absl::SimpleAtoi(id, &value) || value <= 0) {
    return std::nullopt;
  }
  return value;
}

int64_t CursorRowId(const v1::PageCursor& cursor) {
  return ParseRowId(cursor.after_id()).value_or(0);
}

v1::PageCursor Cursor(int64_t key, const std::string& id) {
  v1::PageCursor cursor;
  cursor.set_after_key(key);
  cursor.set_after_id(id);
  return cursor;
}

absl::Status DonorNotFound(const std::string& donor_id) {
  return absl::NotFoundError(absl::StrCat("donor ", donor_id, " not found"));
}

void Audit(State& state, const CallContext& call, const std::string& action,
           const std::string& donor_id, const std::string& entity, const std::string& entity_id,
           const std::string& detail) {
  state.events.push_back(StoreEvent{call.actor.substr(0, 128), call.request_id, action, donor_id,
                                    entity, entity_id, detail.substr(0, 2000)});
}

bool DonorExists(const State& state, const std::string& donor_id) {
  return state.donors.count(donor_id) > 0;
}

// The donor with its output-only flags as of `day`.
v1::Donor DonorAsOf(const State& state, const v1::Donor& stored, absl::CivilDay day) {
  v1::Donor donor = stored;
  std::vector<int> panels(donor.panels().begin(), donor.panels().end());
  std::sort(panels.begin(), panels.end());
  donor.clear_panels();
  for (int panel : panels) donor.add_panels(static_cast<v1::DonorPanel>(panel));
  for (const auto& [id, deferral] : state.deferrals) {
    if (deferral.donor_id() != donor.donor_id()) continue;
    const DeferralSpan span = SpanOf(deferral);
    if (DeferralInForceOn(span, day)) donor.set_deferred(true);
    if (PermanentDeferralInForceOn(deferral.kind(), span, day)) {
      donor.set_permanently_deferred(true);
    }
  }
  for (const auto& [id, conflict] : state.conflicts) {
    if (conflict.donor_id() == donor.donor_id() && !conflict.resolved()) {
      donor.set_has_open_blood_type_conflict(true);
    }
  }
  return donor;
}

std::vector<PastDonation> HistoryOf(const State& state, const std::string& donor_id) {
  std::vector<PastDonation> history;
  for (const auto& [id, donation] : state.donations) {
    if (donation.donor_id() != donor_id || donation.voided()) continue;
    history.push_back(PastDonation{ParseDay(donation.collection_date()), donation.donation_type(),
                                   donation.volume_ml()});
  }
  std::stable_sort(history.begin(), history.end(),
                   [](const PastDonation& a, const PastDonation& b) { return a.date < b.date; });
  return history;
}

// The deferrals of one donor in force on `day`, by start_date then deferral_id.
std::vector<DeferralInForce> DeferralsInForce(const State& state, const std::string& donor_id,
                                              absl::CivilDay day) {
  std::vector<std::pair<std::pair<absl::CivilDay, int64_t>, DeferralInForce>> found;
  for (const auto& [id, deferral] : state.deferrals) {
    if (deferral.donor_id() != donor_id || !DeferralInForceOn(SpanOf(deferral), day)) continue;
    DeferralInForce d;
    d.deferral_id = deferral.deferral_id();
    d.deferral.code = deferral.reason_code();
    if (!deferral.ends_on().empty()) d.deferral.until = ParseDay(deferral.ends_on());
    found.push_back({{ParseDay(deferral.start_date()), id}, std::move(d)});
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<DeferralInForce> out;
  for (auto& entry : found) out.push_back(std::move(entry.second));
  return out;
}

}  // namespace fake_internal

std::vector<StoreEvent> FakeDonorStore::Events() const {
  absl::MutexLock lock(&mu_);
  return state_.events;
}

// ---------------------------------------------------------------------------------------------
// Registry

absl::StatusOr<v1::Donor> FakeDonorStore::RegisterDonor(const CallContext& call,
                                                        const db::IdempotencyKey& key,
                                                        const v1::Donor& donor) {
  return Idempotent<v1::Donor>(call, key, [&](State& state, v1::Donor& out) -> absl::Status {
    if (auto existing = DonorIdWithNationalId(state, donor.national_id())) {
      return NationalIdTaken(*existing);
    }
    const std::string donor_id = absl::StrFormat("D%016X", state.next_donor++);
    v1::Donor row;
    row.set_donor_id(donor_id);
    CopyInputColumns(donor, row);
    row.mutable_blood_type()->set_abo(donor.blood_type().abo());
    row.mutable_blood_type()->set_rhd(donor.blood_type().rhd());
    row.set_version(1);
    *row.mutable_created_at() = ToTimestamp(call.now);
    *row.mutable_updated_at() = ToTimestamp(call.now);
    state.donors[donor_id] = row;
    state.accounts[donor_id] = Account{};
    Audit(state, call, "RegisterDonor", donor_id, "donor", donor_id, "registered");
    out = DonorAsOf(state, row, call.today);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Donor> FakeDonorStore::GetDonor(const CallContext& call,
                                                   const std::string& donor_id) {
  return Read<v1::Donor>(call, [&](const State& state, v1::Donor& out) -> absl::Status {
    std::optional<v1::Donor> donor = FindDonor(state, donor_id, call.today);
    if (!donor) return DonorNotFound(donor_id);
    out = *std::move(donor);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Donor> FakeDonorStore::UpdateDonor(const CallContext& call,
                                                      const db::IdempotencyKey& key,
                                                      const std::string& donor_id,
                                                      std::optional<int64_t> expected_version,
                                                      DonorUpdateFn update) {
  return Idempotent<v1::Donor>(call, key, [&](State& state, v1::Donor& out) -> absl::Status {
    std::optional<v1::Donor> current = FindDonor(state, donor_id, call.today);
    if (!current) return DonorNotFound(donor_id);
    BG_RETURN_IF_ERROR(CheckExpectedVersion(*current, expected_version));
    BG_ASSIGN_OR_RETURN(v1::Donor next, update(*current));
    const std::vector<std::string> changed = ChangedDonorFields(*current, next);
    if (changed.empty()) {
      out = *std::move(current);
      return absl::OkStatus();
    }
    if (next.national_id() != current->national_id()) {
      if (auto existing = DonorIdWithNationalId(state, next.national_id())) {
        return NationalIdTaken(*existing);
      }
    }
    v1::Donor& row = state.donors[donor_id];
    const std::vector<int> old_panels(row.panels().begin(), row.panels().end());
    CopyInputColumns(next, row);
    if (std::find(changed.begin(), changed.end(), "panels") == changed.end()) {
      row.clear_panels();
      for (int panel : old_panels) row.add_panels(static_cast<v1::DonorPanel>(panel));
    }
    row.set_version(row.version() + 1);
    *row.mutable_updated_at() = ToTimestamp(call.now);
    Audit(state, call, "UpdateDonor", donor_id, "donor", donor_id,
          absl::StrCat("fields=", absl::StrJoin(changed, ",")));
    out = DonorAsOf(state, row, call.today);
    return absl::OkStatus();
  });
}

absl::StatusOr<Page<v1::Donor>> FakeDonorStore::SearchDonors(const CallContext& call,
                                                             const DonorFilter& filter,
                                                             const PageQuery& page) {
  return Read<Page<v1::Donor>>(call, [&](const State& state, Page<v1::Donor>& out) {
    std::vector<v1::Donor> found;
    for (const auto& [id, stored] : state.donors) {
      if (!filter.national_id.empty() && stored.national_id() != filter.national_id) continue;
      if (!filter.name_prefix.empty() &&
          !absl::StartsWith(Folded(stored.name()), Folded(filter.name_prefix))) {
        continue;
      }
      if (!filter.phone.empty() && stored.contact().phone() != filter.phone) continue;
      if (filter.blood_type && (stored.blood_type().abo() != filter.blood_type->abo ||
                                stored.blood_type().rhd() != filter.blood_type->rhd)) {
        continue;
      }
      if (filter.panel != v1::DONOR_PANEL_UNSPECIFIED &&
          std::find(stored.panels().begin(), stored.panels().end(), filter.panel) ==
              stored.panels().end()) {
        continue;
      }
      if (!filter.home_station_id.empty() && stored.home_station_id() != filter.home_station_id) {
        continue;
      }
      found.push_back(DonorAsOf(state, stored, call.today));
    }
    auto sort_key = [](const v1::Donor& d) {
      return std::make_pair(Folded(d.name()), d.donor_id());
    };
    std::sort(found.begin(), found.end(),
              [&](const v1::Donor& a, const v1::Donor& b) { return sort_key(a) < sort_key(b); });
    out = PageOf(
        std::move(found), page,
        [&](const v1::Donor& d, const v1::PageCursor& after) {
          // after_id is "<name>\n<donor_id>".
          std::pair<std::string, std::string> parts =
              absl::StrSplit(after.after_id(), absl::MaxSplits('\n', 1));
          return sort_key(d) > std::make_pair(Folded(parts.first), parts.second);
        },
        [](const v1::Donor& d) { return Cursor(0, absl::StrCat(d.name(), "\n", d.donor_id())); });
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------------------------------------
// Blood typing

absl::StatusOr<v1::RecordBloodTypingResponse> FakeDonorStore::RecordBloodTyping(
    const CallContext& call, const db::IdempotencyKey& key, const std::string& donor_id,
    const std::string& din, std::optional<absl::Time> /*typed_at*/, TypingFn decide) {
  return Idempotent<v1::RecordBloodTypingResponse>(
      call, key, [&](State& state, v1::RecordBloodTypingResponse& out) -> absl::Status {
        std::optional<v1::Donor> donor = FindDonor(state, donor_id, call.today);
        if (!donor) return DonorNotFound(donor_id);
        const auto typing_key = std::make_pair(donor_id, din);
        std::optional<int64_t> conflict_id;
        if (auto it = state.typings.find(typing_key); it != state.typings.end()) {
          conflict_id = it->second.conflict_id;
        } else {
          const TypingChange change = decide(*donor);
          std::string detail;
          if (change.open_conflict) {
            conflict_id = state.next_row++;
            v1::BloodTypeConflict conflict;
            conflict.set_conflict_id(std::to_string(*conflict_id));
            conflict.set_donor_id(donor_id);
            conflict.set_din(din);
            *conflict.mutable_recorded_blood_type() = change.recorded.ToProto();
            *conflict.mutable_typed_blood_type() = change.typed.ToProto();
            *conflict.mutable_created_at() = ToTimestamp(call.now);
            state.conflicts[*conflict_id] = conflict;
            detail =
                absl::StrCat("conflict ", *conflict_id, ": recorded ", change.recorded.ToString(),
                             ", typed ", change.typed.ToString(), " on ", din);
          } else if (change.set_blood_type) {
            SetBloodType(state.donors[donor_id], change.typed, call.now);
            detail = absl::StrCat(
                change.outcome == TypingOutcome::kAssigned ? "assigned " : "confirmed ",
                change.typed.ToString(), " from ", din);
          } else {
            detail = absl::StrCat("agrees with ", change.typed.ToString(), " on ", din);
          }
          state.typings[typing_key] = Typing{change.outcome, conflict_id};
          Audit(state, call, "RecordBloodTyping", donor_id, "donor", donor_id, detail);
        }
        *out.mutable_donor() = *FindDonor(state, donor_id, call.today);
        if (conflict_id) *out.mutable_conflict() = state.conflicts.at(*conflict_id);
        return absl::OkStatus();
      });
}

absl::StatusOr<Page<v1::BloodTypeConflict>> FakeDonorStore::ListBloodTypeConflicts(
    const CallContext& call, const std::string& donor_id, bool open_only, const PageQuery& page) {
  return Read<Page<v1::BloodTypeConflict>>(
      call, [&](const State& state, Page<v1::BloodTypeConflict>& out) {
        std::vector<v1::BloodTypeConflict> found;
        for (const auto& [id, conflict] : state.conflicts) {
          if (!donor_id.empty() && conflict.donor_id() != donor_id) continue;
          if (open_only && conflict.resolved()) continue;
          found.push_back(conflict);
        }
        out = NewestFirstPage<v1::BloodTypeConflict>(
            std::move(found), page,
            [](const v1::BloodTypeConflict& c) { return Micros(c.created_at()); },
            [](const v1::BloodTypeConflict& c) { return c.conflict_id(); });
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::BloodTypeConflict> FakeDonorStore::ResolveBloodTypeConflict(
    const CallContext& call, const db::IdempotencyKey& key, const std::string& conflict_id,
    BloodType resolved, const std::string& resolved_by, const std::string& note) {
  return Idempotent<v1::BloodTypeConflict>(
      call, key, [&](State& state, v1::BloodTypeConflict& out) -> absl::Status {
        const std::optional<int64_t> id = ParseRowId(conflict_id);
        auto it = id ? state.conflicts.find(*id) : state.conflicts.end();
        if (it == state.conflicts.end()) {
          return absl::NotFoundError(
              absl::StrCat("blood type conflict ", conflict_id, " not found"));
        }
        v1::BloodTypeConflict& conflict = it->second;
        if (conflict.resolved()) {
          return absl::FailedPreconditionError(
              absl::StrCat("blood type conflict ", conflict_id, " is already resolved"));
        }
        conflict.set_resolved(true);
        *conflict.mutable_resolved_blood_type() = resolved.ToProto();
        conflict.set_resolved_by(resolved_by);
        conflict.set_resolution_note(note);
        *conflict.mutable_resolved_at() = ToTimestamp(call.now);
        SetBloodType(state.donors[conflict.donor_id()], resolved, call.now);
        Audit(state, call, "ResolveBloodTypeConflict", conflict.donor_id(), "blood_type_conflict",
              conflict_id, absl::StrCat("resolved as ", resolved.ToString(), " by ", resolved_by));
        out = conflict;
        return absl::OkStatus();
      });
}

// ---------------------------------------------------------------------------------------------
// Eligibility

absl::StatusOr<EligibilityInputs> FakeDonorStore::LoadEligibilityInputs(const CallContext& call,
                                                                        const std::string& donor_id,
                                                                        absl::CivilDay on_date) {
  return Read<EligibilityInputs>(
      call, [&](const State& state, EligibilityInputs& out) -> absl::Status {
        std::optional<v1::Donor> donor = FindDonor(state, donor_id, call.today);
        if (!donor) return DonorNotFound(donor_id);
        out.donor = *std::move(donor);
        out.history = HistoryOf(state, donor_id);
        out.deferrals = DeferralsInForce(state, donor_id, on_date);
        return absl::OkStatus();
      });
}

// ---------------------------------------------------------------------------------------------
// Deferrals

namespace {

int64_t InsertDeferral(State& state, const CallContext& call, const DeferralDraft& draft) {
  const int64_t id = state.next_row++;
  v1::Deferral deferral;
  deferral.set_deferral_id(std::to_string(id));
  deferral.set_donor_id(draft.donor_id);
  deferral.set_kind(draft.kind);
  deferral.set_reason_code(draft.reason_code);
  deferral.set_note(draft.note);
  deferral.set_start_date(FormatDate(draft.start_date));
  if (draft.ends_on) deferral.set_ends_on(FormatDate(*draft.ends_on));
  deferral.set_reactive_test(draft.reactive_test);
  deferral.set_din(draft.din);
  deferral.set_deferred_by(draft.deferred_by);
  *deferral.mutable_created_at() = ToTimestamp(call.now);
  state.deferrals[id] = deferral;
  return id;
}

}  // namespace

absl::StatusOr<v1::Deferral> FakeDonorStore::DeferDonor(const CallContext& call,
                                                        const db::IdempotencyKey& key,
                                                        const DeferralDraft& draft) {
  return Idempotent<v1::Deferral>(call, key, [&](State& state, v1::Deferral& out) -> absl::Status {
    if (!DonorExists(state, draft.donor_id)) return DonorNotFound(draft.donor_id);
    const int64_t id = InsertDeferral(state, call, draft);
    Audit(state, call, "DeferDonor", draft.donor_id, "deferral", std::to_string(id),
          absl::StrCat(draft.reason_code, " from ", FormatDate(draft.start_date),
                       draft.ends_on ? absl::StrCat(" until ", FormatDate(*draft.ends_on))
                                     : std::string(" permanently")));
    out = DeferralAsOf(state.deferrals.at(id), call.today);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Deferral> FakeDonorStore::VoidDeferral(const CallContext& call,
                                                          const db::IdempotencyKey& key,
                                                          const std::string& deferral_id,
                                                          const std::string& voided_by,
                                                          const std::string& reason) {
  return Idempotent<v1::Deferral>(call, key, [&](State& state, v1::Deferral& out) -> absl::Status {
    const std::optional<int64_t> id = ParseRowId(deferral_id);
    auto it = id ? state.deferrals.find(*id) : state.deferrals.end();
    if (it == state.deferrals.end()) {
      return absl::NotFoundError(absl::StrCat("deferral ", deferral_id, " not found"));
    }
    v1::Deferral& deferral = it->second;
    if (deferral.voided()) {
      return absl::FailedPreconditionError(
          absl::StrCat("deferral ", deferral_id, " is already voided"));
    }
    deferral.set_voided(true);
    deferral.set_voided_by(voided_by);
    deferral.set_void_reason(reason);
    *deferral.mutable_voided_at() = ToTimestamp(call.now);
    Audit(state, call, "VoidDeferral", deferral.donor_id(), "deferral", deferral_id,
          absl::StrCat("voided by ", voided_by));
    out = DeferralAsOf(deferral, call.today);
    return absl::OkStatus();
  });
}

absl::StatusOr<Page<v1::Deferral>> FakeDonorStore::ListDeferrals(const CallContext& call,
                                                                 const std::string& donor_id,
                                                                 bool active_only,
                                                                 const PageQuery& page) {
  return Read<Page<v1::Deferral>>(
      call, [&](const State& state, Page<v1::Deferral>& out) -> absl::Status {
        if (!DonorExists(state, donor_id)) return DonorNotFound(donor_id);
        std::vector<v1::Deferral> found;
        for (const auto& [id, stored] : state.deferrals) {
          if (stored.donor_id() != donor_id) continue;
          v1::Deferral deferral = DeferralAsOf(stored, call.today);
          if (active_only && !deferral.active()) continue;
          found.push_back(std::move(deferral));
        }
        out = NewestFirstPage<v1::Deferral>(
            std::move(found), page,
            [](const v1::Deferral& d) { return DayNumber(ParseDay(d.start_date())); },
            [](const v1::Deferral& d) { return d.deferral_id(); });
        return absl::OkStatus();
      });
}

// ---------------------------------------------------------------------------------------------
// Donations

absl::StatusOr<v1::RecordDonationResponse> FakeDonorStore::RecordDonation(
    const CallContext& call, const db::IdempotencyKey& key, const DonationDraft& draft,
    EligibilityFn check) {
  const v1::Donation& donation = draft.donation;
  const std::string& donor_id = donation.donor_id();
  return Idempotent<v1::RecordDonationResponse>(
      call, key, [&](State& state, v1::RecordDonationResponse& out) -> absl::Status {
        if (!DonorExists(state, donor_id)) return DonorNotFound(donor_id);
        const v1::Donation* existing = nullptr;
        for (const auto& [id, stored] : state.donations) {
          if (stored.din() == donation.din()) existing = &stored;
        }
        if (existing != nullptr) {
          if (existing->donor_id() != donor_id) {
            return absl::AlreadyExistsError(
                absl::StrCat("din: ", donation.din(), " is already recorded for another donor"));
          }
          if (existing->voided()) return VoidedDinStatus(*existing);
          v1::CheckEligibilityResponse* eligibility = out.mutable_eligibility();
          eligibility->set_eligible(true);
          eligibility->set_next_eligible_date(existing->collection_date());
          eligibility->set_policy_profile(draft.policy_label);
          *out.mutable_donation() = *existing;
          out.set_created(false);
        } else {
          EligibilityInputs inputs;
          inputs.donor = *FindDonor(state, donor_id, call.today);
          inputs.history = HistoryOf(state, donor_id);
          inputs.deferrals =
              DeferralsInForce(state, donor_id, ParseDay(donation.collection_date()));
          BG_ASSIGN_OR_RETURN(*out.mutable_eligibility(), check(inputs));
          const int64_t id = state.next_row++;
          v1::Donation row;
          row.set_donation_id(std::to_string(id));
          row.set_donor_id(donor_id);
          row.set_din(donation.din());
          row.set_donation_type(donation.donation_type());
          row.set_volume_ml(donation.volume_ml());
          row.set_station_id(donation.station_id());
          *row.mutable_collected_at() = ToTimestamp(FromTimestamp(donation.collected_at()));
          row.set_collection_date(donation.collection_date());
          *row.mutable_screening() = donation.screening();
          row.set_adverse_reaction(donation.adverse_reaction());
          row.set_anticoagulant(donation.anticoagulant());
          *row.mutable_recorded_at() = ToTimestamp(call.now);
          state.donations[id] = row;
          state.product_codes[id] = draft.product_code;
          v1::Donor& donor = state.donors[donor_id];
          donor.set_donation_count(donor.donation_count() + 1);
          if (donor.last_donation_date().empty() ||
              donor.last_donation_date() < donation.collection_date()) {
            donor.set_last_donation_date(donation.collection_date());
          }
          donor.set_had_adverse_reaction(donor.had_adverse_reaction() ||
                                         donation.adverse_reaction());
          donor.set_version(donor.version() + 1);
          *donor.mutable_updated_at() = ToTimestamp(call.now);
          if (draft.credit_ml) {
            LedgerRow credit;
            const int64_t entry_id = state.next_row++;
            credit.entry.set_entry_id(std::to_string(entry_id));
            credit.entry.set_donor_id(donor_id);
            credit.entry.set_kind(v1::LEDGER_ENTRY_KIND_CREDIT);
            credit.entry.set_din(donation.din());
            credit.entry.set_volume_ml(*draft.credit_ml);
            *credit.entry.mutable_created_at() = ToTimestamp(call.now);
            credit.entry.set_created_by(call.actor.substr(0, 128));
            credit.donation_date = ParseDay(donation.collection_date());
            state.ledger[entry_id] = credit;
          }
          Audit(state, call, "RecordDonation", donor_id, "donation", std::to_string(id),
                absl::StrCat(v1::DonationType_Name(donation.donation_type()), " ",
                             donation.volume_ml(), " mL, din ", donation.din()));
          *out.mutable_donation() = row;
          out.set_created(true);
        }
        *out.mutable_donor_blood_type() = state.donors[donor_id].blood_type();
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Donation> FakeDonorStore::VoidDonation(const CallContext& call,
                                                          const db::IdempotencyKey& key,
                                                          const std::string& din,
                                                          const std::string& reason) {
  return Idempotent<v1::Donation>(call, key, [&](State& state, v1::Donation& out) -> absl::Status {
    v1::Donation* donation = nullptr;
    for (auto& [id, stored] : state.donations) {
      if (stored.din() == din) donation = &stored;
    }
    if (donation == nullptr) return DonationNotFound(din);
    if (!donation->voided()) {
      donation->set_voided(true);
      donation->set_voided_by(call.actor.substr(0, 128));
      donation->set_void_reason(reason);
      *donation->mutable_voided_at() = ToTimestamp(call.now);
      v1::Donor& donor = state.donors[donation->donor_id()];
      donor.set_donation_count(std::max(0, donor.donation_count() - 1));
      if (donor.last_donation_date() == donation->collection_date()) {
        std::string last;
        for (const auto& [id, other] : state.donations) {
          if (other.donor_id() == donor.donor_id() && !other.voided() &&
              other.collection_date() > last) {
            last = other.collection_date();
          }
        }
        donor.set_last_donation_date(last);
      }
      donor.set_version(donor.version() + 1);
      *donor.mutable_updated_at() = ToTimestamp(call.now);
      Audit(state, call, "VoidDonation", donation->donor_id(), "donation", donation->donation_id(),
            absl::StrCat("din ", din, ": ", reason));
    }
    out = *donation;
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<UnconfirmedDonation>> FakeDonorStore::ListUnconfirmedDonations(
    const CallContext& call, absl::Time recorded_before, int limit) {
  return Read<std::vector<UnconfirmedDonation>>(
      call, [&](const State& state, std::vector<UnconfirmedDonation>& out) -> absl::Status {
        std::vector<std::pair<int64_t, int64_t>> order;  // (recorded_at, id)
        for (const auto& [id, donation] : state.donations) {
          if (donation.voided() || state.units_confirmed.count(id) > 0 ||
              FromTimestamp(donation.recorded_at()) >= recorded_before) {
            continue;
          }
          order.emplace_back(Micros(donation.recorded_at()), id);
        }
        std::sort(order.begin(), order.end());
        for (const auto& [recorded, id] : order) {
          if (static_cast<int>(out.size()) >= limit) break;
          UnconfirmedDonation d;
          d.donation = state.donations.at(id);
          auto code = state.product_codes.find(id);
          if (code != state.product_codes.end()) d.product_code = code->second;
          d.donor_blood_type = state.donors.at(d.donation.donor_id()).blood_type();
          out.push_back(std::move(d));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Donation> FakeDonorStore::GetDonation(const CallContext& call,
                                                         const std::string& din) {
  return Read<v1::Donation>(call, [&](const State& state, v1::Donation& out) -> absl::Status {
    for (const auto& [id, donation] : state.donations) {
      if (donation.din() != din) continue;
      out = donation;
      return absl::OkStatus();
    }
    return DonationNotFound(din);
  });
}

absl::Status FakeDonorStore::ConfirmDonationUnit(const CallContext& call, const std::string& din) {
  return Write(call, [&](State& state) -> absl::Status {
    for (const auto& [id, donation] : state.donations) {
      if (donation.din() != din) continue;
      state.units_confirmed.insert(id);
      return absl::OkStatus();
    }
    return DonationNotFound(din);
  });
}

absl::StatusOr<Page<v1::Donation>> FakeDonorStore::ListDonations(const CallContext& call,
                                                                 const std::string& donor_id,
                                                                 const PageQuery& page) {
  return Read<Page<v1::Donation>>(
      call, [&](const State& state, Page<v1::Donation>& out) -> absl::Status {
        if (!DonorExists(state, donor_id)) return DonorNotFound(donor_id);
        std::vector<v1::Donation> found;
        for (const auto& [id, donation] : state.donations) {
          if (donation.donor_id() == donor_id) found.push_back(donation);
        }
        out = NewestFirstPage<v1::Donation>(
            std::move(found), page, [](const v1::Donation& d) { return Micros(d.collected_at()); },
            [](const v1::Donation& d) { return d.donation_id(); });
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::MarkDonorReactiveResponse> FakeDonorStore::MarkDonorReactive(
    const CallContext& call, const db::IdempotencyKey& key, const DeferralDraft& draft) {
  return Idempotent<v1::MarkDonorReactiveResponse>(
      call, key, [&](State& state, v1::MarkDonorReactiveResponse& out) -> absl::Status {
        if (!DonorExists(state, draft.donor_id)) return DonorNotFound(draft.donor_id);
        v1::Donation* donation = nullptr;
        for (auto& [id, stored] : state.donations) {
          if (stored.din() == draft.din && stored.donor_id() == draft.donor_id) donation = &stored;
        }
        out.set_donation_found(donation != nullptr);
        for (const auto& [id, deferral] : state.deferrals) {
          if (deferral.donor_id() == draft.donor_id && !draft.din.empty() &&
              deferral.din() == draft.din && deferral.reactive_test() == draft.reactive_test) {
            *out.mutable_deferral() = DeferralAsOf(deferral, call.today);
            out.set_newly_deferred(false);
            return absl::OkStatus();
          }
        }
        if (donation != nullptr) donation->set_reactive(true);
        const int64_t id = InsertDeferral(state, call, draft);
        Audit(state, call, "MarkDonorReactive", draft.donor_id, "deferral", std::to_string(id),
              absl::StrCat(v1::ScreeningTest_Name(draft.reactive_test), " reactive on ", draft.din,
                           ": ", draft.reason_code));
        *out.mutable_deferral() = DeferralAsOf(state.deferrals.at(id), call.today);
        out.set_newly_deferred(true);
        return absl::OkStatus();
      });
}

}  // namespace bloodgrid::donor
