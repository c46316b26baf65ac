// FakeDonorStore's internals, shared by fake_donor_store.cc and fake_donor_store_appeals.cc and
// included by nothing else.
#ifndef BLOODGRID_DONOR_SERVICE_FAKE_DONOR_STORE_INTERNAL_H_
#define BLOODGRID_DONOR_SERVICE_FAKE_DONOR_STORE_INTERNAL_H_

#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "donor_service/fake_donor_store.h"

namespace bloodgrid::donor {
namespace fake_internal {

using State = FakeDonorStore::State;

// A stored instant in Unix microseconds (the keyset cursors' key). Instants are stored with
// ToTimestamp (common/proto_time.h): to the microsecond, as DATETIME(6) keeps them.
inline int64_t Micros(const google::protobuf::Timestamp& ts) {
  return absl::ToUnixMicros(FromTimestamp(ts));
}

std::optional<int64_t> ParseRowId(const std::string& id);

int64_t CursorRowId(const v1::PageCursor& cursor);

v1::PageCursor Cursor(int64_t key, const std::string& id);

absl::Status DonorNotFound(const std::string& donor_id);

void Audit(State& state, const CallContext& call, const std::string& action,
           const std::string& donor_id, const std::string& entity, const std::string& entity_id,
           const std::string& detail);

bool DonorExists(const State& state, const std::string& donor_id);

// The donor with its output-only flags as of `day`.
v1::Donor DonorAsOf(const State& state, const v1::Donor& stored, absl::CivilDay day);

std::vector<PastDonation> HistoryOf(const State& state, const std::string& donor_id);

// The deferrals of one donor in force on `day`, by start_date then deferral_id.
std::vector<DeferralInForce> DeferralsInForce(const State& state, const std::string& donor_id,
                                              absl::CivilDay day);

// A keyset page of `items` (already in list order), after the cursor when `is_after` says so.
template <typename T, typename IsAfter, typename CursorOf>
Page<T> PageOf(std::vector<T> items, const PageQuery& page, IsAfter is_after, CursorOf cursor_of) {
  Page<T> out;
  for (T& item : items) {
    if (page.after && !is_after(item, *page.after)) continue;
    if (static_cast<int>(out.items.size()) == page.page_size) {
      out.next = cursor_of(out.items.back());
      break;
    }
    out.items.push_back(std::move(item));
  }
  return out;
}

// Newest first by (key, row id), keyset cursor (key, id).
template <typename T>
Page<T> NewestFirstPage(std::vector<T> items, const PageQuery& page,
                        std::function<int64_t(const T&)> key_of,
                        std::function<std::string(const T&)> id_of) {
  auto id_number = [&](const T& item) { return ParseRowId(id_of(item)).value_or(0); };
  std::sort(items.begin(), items.end(), [&](const T& a, const T& b) {
    return std::make_pair(key_of(a), id_number(a)) > std::make_pair(key_of(b), id_number(b));
  });
  return PageOf(
      std::move(items), page,
      [&](const T& item, const v1::PageCursor& after) {
        return std::make_pair(key_of(item), id_number(item)) <
               std::make_pair(after.after_key(), CursorRowId(after));
      },
      [&](const T& item) { return Cursor(key_of(item), id_of(item)); });
}

}  // namespace fake_internal

template <typename Response, typename Body>
absl::StatusOr<Response> FakeDonorStore::Idempotent(const CallContext& call,
                                                    const db::IdempotencyKey& key, Body body) {
  absl::MutexLock lock(&mu_);
  if (absl::Now() >= call.deadline) return absl::DeadlineExceededError("deadline exceeded");
  const auto key_id = std::make_pair(key.scope, key.request_id);
  if (auto it = state_.keys.find(key_id); it != state_.keys.end()) {
    if (it->second.request_hash != key.request_hash) {
      return InvalidField("request_id",
                          absl::StrCat("'", key.request_id, "' was already used for a different ",
                                       key.scope, " request"));
    }
    Response response;
    if (!response.ParseFromString(it->second.response)) {
      return absl::InternalError("stored response of request_id cannot be parsed");
    }
    return response;
  }
  State next = state_;
  Response response;
  BG_RETURN_IF_ERROR(body(next, response));
  next.keys[key_id] = Completed{key.request_hash, response.SerializeAsString()};
  state_ = std::move(next);
  return response;
}

template <typename Result, typename Body>
absl::StatusOr<Result> FakeDonorStore::Read(const CallContext& call, Body body) const {
  absl::MutexLock lock(&mu_);
  if (absl::Now() >= call.deadline) return absl::DeadlineExceededError("deadline exceeded");
  Result result;
  BG_RETURN_IF_ERROR(body(state_, result));
  return result;
}

template <typename Body>
absl::Status FakeDonorStore::Write(const CallContext& call, Body body) {
  absl::MutexLock lock(&mu_);
  if (absl::Now() >= call.deadline) return absl::DeadlineExceededError("deadline exceeded");
  State next = state_;
  BG_RETURN_IF_ERROR(body(next));
  state_ = std::move(next);
  return absl::OkStatus();
}

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_FAKE_DONOR_STORE_INTERNAL_H_
