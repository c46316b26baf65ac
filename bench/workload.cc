#include "bench/workload.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "common/din.h"
#include "common/national_id.h"
#include "common/status.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace bloodgrid::bench {
namespace {

// National id (GB 11643) with a valid check digit, unique per `n`.
std::string NationalId(int64_t n) {
  const absl::CivilDay birth = absl::CivilDay(1972, 1, 1) + (n / 1000) % 9000;
  return WithChineseIdCheckCharacter(absl::StrFormat("110105%04d%02d%02d%03d", birth.year(),
                                                     birth.month(), birth.day(), n % 1000));
}

}  // namespace

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string StatusName(v1::OrderStatus status) {
  std::string name = v1::OrderStatus_Name(status);
  absl::string_view view = name;
  absl::ConsumePrefix(&view, "ORDER_STATUS_");
  return std::string(view);
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1'000'000);
  ts.set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  return ts;
}

std::string NextRequestId(const std::string& prefix) {
  static std::atomic<int64_t> counter{0};
  static const int64_t run = absl::ToUnixMicros(absl::Now());
  return absl::StrCat(prefix, "-", run, "-", ++counter);
}

std::unique_ptr<grpc::ClientContext> Context(const Region& region, const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + region.call_timeout));
  context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return context;
}

std::unique_ptr<grpc::ClientContext> DirectContext(const Region& region, const std::string& actor) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + region.call_timeout));
  context->AddMetadata("x-bloodgrid-actor", actor);
  return context;
}

absl::Status Check(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

absl::Status WaitServing(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  const absl::Time give_up = absl::Now() + timeout;
  std::string last = "no answer";
  while (absl::Now() < give_up) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    grpc::health::v1::HealthCheckRequest request;
    // The region is ready when AdminApi (every backend) is; "" is the gateway alone.
    request.set_service("bloodgrid.v1.AdminApi");
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = status.ok() ? "NOT_SERVING" : status.error_message();
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::UnavailableError(absl::StrCat("gateway not serving: ", last));
}

absl::Status SetUpRegion(Region& region, int station_count) {
  for (int i = 1; i <= station_count; ++i) {
    v1::UpsertStationRequest request;
    request.set_request_id(NextRequestId("bench-station"));
    v1::Station& station = *request.mutable_station();
    station.set_station_id(absl::StrFormat("BS%02d", i));
    station.set_name(absl::StrFormat("Bench station %02d", i));
    station.set_kind(i == 1 ? v1::STATION_KIND_CENTRAL : v1::STATION_KIND_BRANCH);
    station.set_active(true);
    v1::Station reply;
    BG_RETURN_IF_ERROR(Check(region.admin_api->UpsertStation(
                                 Context(region, region.tokens.admin).get(), request, &reply),
                             "UpsertStation"));
    region.stations.push_back(station.station_id());
  }
  for (size_t h = 0; h < region.tokens.hospitals.size(); ++h) {
    const std::string& id = region.tokens.hospitals[h].first;
    v1::UpsertHospitalRequest request;
    request.set_request_id(NextRequestId("bench-hospital"));
    v1::Hospital& hospital = *request.mutable_hospital();
    hospital.set_hospital_id(id);
    hospital.set_name(absl::StrCat("Bench hospital ", id));
    const size_t serving = h % region.stations.size();
    hospital.set_serving_station_id(region.stations[serving]);
    for (size_t k = 1; k < std::min<size_t>(3, region.stations.size()); ++k) {
      hospital.add_fallback_station_ids(region.stations[(serving + k) % region.stations.size()]);
    }
    hospital.set_active(true);
    v1::Hospital reply;
    BG_RETURN_IF_ERROR(Check(region.admin_api->UpsertHospital(
                                 Context(region, region.tokens.admin).get(), request, &reply),
                             absl::StrCat("UpsertHospital ", id)));
    region.serving_station[id] = region.stations[serving];
  }
  return absl::OkStatus();
}

OrderMix::OrderMix(const std::vector<TypeShare>& mix) {
  std::vector<double> weights;
  for (const TypeShare& share : mix) weights.push_back(share.percent);
  type = std::discrete_distribution<int>(weights.begin(), weights.end());
}

OrderShape NextShape(OrderMix& mix, const Region& region, std::mt19937_64& rng) {
  OrderShape shape;
  switch (mix.component(rng)) {
    case 0:
      shape.component = v1::COMPONENT_RED_CELLS;
      shape.quantity = 1 + mix.red_units(rng);
      break;
    case 1:
      shape.component = v1::COMPONENT_PLASMA;
      shape.quantity = 200 * mix.plasma_bags(rng);
      break;
    default:
      shape.component = v1::COMPONENT_PLATELETS;
      shape.quantity = 1;
      break;
  }
  shape.type = region.mix[mix.type(rng)].type;
  const double p = mix.unit(rng);
  const double emergency = region.options->emergency_share;
  shape.priority = p < emergency                                  ? v1::PRIORITY_EMERGENCY
                   : p < emergency + region.options->urgent_share ? v1::PRIORITY_URGENT
                                                                  : v1::PRIORITY_ROUTINE;
  return shape;
}

v1::PlaceOrderRequest OrderRequest(const OrderShape& shape) {
  v1::PlaceOrderRequest request;
  request.set_request_id(NextRequestId("bench-order"));
  v1::Patient& patient = *request.mutable_patient();
  patient.set_patient_ref(NextRequestId("MRN"));
  *patient.mutable_blood_type() = shape.type.ToProto();
  patient.set_sex(v1::SEX_MALE);
  patient.set_age_years(58);
  switch (shape.component) {
    case v1::COMPONENT_RED_CELLS:
      patient.set_hemoglobin_g_l(62);
      request.set_indication("symptomatic anaemia, Hb 62 g/L");
      break;
    case v1::COMPONENT_PLASMA:
      patient.set_inr(2.1);
      patient.set_bleeding(true);
      request.set_indication("active bleeding with INR 2.1");
      break;
    default:
      patient.set_platelet_count_e9_l(15);
      request.set_indication("platelets 15 x10^9/L before a procedure");
      break;
  }
  v1::OrderLineRequest& line = *request.add_lines();
  line.set_component(shape.component);
  line.set_quantity(shape.quantity);
  request.set_priority(shape.priority);
  request.mutable_approvals()->set_physician("Dr. Bench");
  // DOMAIN.md section 7: from 800 mL a day the department head signs too (a red-cell unit
  // counts as 200 mL).
  const int32_t volume_ml = shape.component == v1::COMPONENT_RED_CELLS ? 200 * shape.quantity
                            : shape.component == v1::COMPONENT_PLASMA  ? shape.quantity
                                                                       : 0;
  if (volume_ml >= 800) request.mutable_approvals()->set_department_head("Dr. Head");
  if (shape.priority != v1::PRIORITY_EMERGENCY) {
    *request.mutable_needed_by() = ToProto(absl::Now() + absl::Hours(6));
  }
  return request;
}

OrderClient::OrderClient(const Region& region, int index, bool direct, PhaseResult& result,
                         absl::Mutex& result_mu)
    : region_(region),
      direct_(direct),
      hospital_(region.tokens.hospitals[index % region.tokens.hospitals.size()]),
      rng_(region.options->seed * 7919 + static_cast<uint64_t>(index)),
      mix_(region.mix),
      result_(result),
      result_mu_(result_mu) {}

// One order and its clean-up; `measure` says whether the latencies count.
void OrderClient::RunOnce(bool measure) {
  const OrderShape shape = NextShape(mix_, region_, rng_);
  v1::PlaceOrderRequest request = OrderRequest(shape);
  v1::Order order;
  const absl::Time start = absl::Now();
  grpc::Status status;
  if (direct_) {
    request.set_hospital_id(hospital_.first);
    status = region_.request_service->PlaceOrder(
        DirectContext(region_, absl::StrCat("hospital:", hospital_.first)).get(), request, &order);
  } else {
    status =
        region_.hospital_api->PlaceOrder(Context(region_, hospital_.second).get(), request, &order);
  }
  const absl::Duration latency = absl::Now() - start;
  if (measure) Record("place-order", latency, status.error_code());
  if (!status.ok()) return;
  if (measure) CountStatus(order.status());
  CleanUp(order, measure);
}

void OrderClient::Record(const std::string& op, absl::Duration latency, grpc::StatusCode code) {
  OpStats* stats;
  {
    absl::MutexLock lock(&result_mu_);
    stats = &result_.Op(op);
  }
  stats->Record(latency, CodeName(code));
}
void OrderClient::CountStatus(v1::OrderStatus status) {
  absl::MutexLock lock(&result_mu_);
  ++result_.order_statuses[StatusName(status)];
}

void OrderClient::CleanUp(const v1::Order& order, bool measure) {
  const bool dispatch = order.status() == v1::ORDER_STATUS_ALLOCATED &&
                        mix_.unit(rng_) < region_.options->dispatch_share;
  if (dispatch) {
    v1::DispatchOrderRequest request;
    request.set_request_id(NextRequestId("bench-dispatch"));
    request.set_order_id(order.order_id());
    v1::Order reply;
    const absl::Time start = absl::Now();
    grpc::Status status =
        direct_ ? region_.request_service->DispatchOrder(
                      DirectContext(region_, "dispatcher:bench").get(), request, &reply)
                : region_.dispatch_api->DispatchOrder(
                      Context(region_, region_.tokens.dispatcher).get(), request, &reply);
    if (measure) Record("dispatch-order", absl::Now() - start, status.error_code());
    if (status.ok()) return;
    // Not dispatchable after all (a unit on a transfer, say): cancel instead.
  }
  if (order.status() == v1::ORDER_STATUS_CANCELLED || order.status() == v1::ORDER_STATUS_REJECTED) {
    return;
  }
  v1::CancelOrderRequest request;
  request.set_request_id(NextRequestId("bench-cancel"));
  request.set_order_id(order.order_id());
  request.set_reason("benchmark clean-up");
  v1::Order reply;
  const absl::Time start = absl::Now();
  grpc::Status status;
  if (direct_) {
    request.set_hospital_id(hospital_.first);
    status = region_.request_service->CancelOrder(
        DirectContext(region_, absl::StrCat("hospital:", hospital_.first)).get(), request, &reply);
  } else {
    status = region_.hospital_api->CancelOrder(Context(region_, hospital_.second).get(), request,
                                               &reply);
  }
  if (measure) Record("cancel-order", absl::Now() - start, status.error_code());
}

MixedClient::MixedClient(Region& region, int index, PhaseResult& result, absl::Mutex& mu,
                         int64_t id_base)
    : region_(region),
      orders_(region, index, false, result, mu),
      hospital_(region.tokens.hospitals[index % region.tokens.hospitals.size()]),
      rng_(region.options->seed * 15485863 + static_cast<uint64_t>(index)),
      mix_(region.mix),
      result_(result),
      mu_(mu),
      id_base_(id_base) {}

// Ratio per 100 operations: 55 orders, 15 availability, 5 stock summaries, 10 donations,
// 10 test results with processing, 5 transfers.
void MixedClient::RunOnce(bool measure) {
  const int pick = std::uniform_int_distribution<int>(0, 99)(rng_);
  if (pick < 55) return orders_.RunOnce(measure);
  if (pick < 70) return Availability(measure);
  if (pick < 75) return StockSummary(measure);
  if (pick < 85) return Donation(measure);
  if (pick < 95) return TestAndProcess(measure);
  return Transfer(measure);
}

void MixedClient::Record(const std::string& op, absl::Time start, const grpc::Status& status,
                         bool measure) {
  if (!measure) return;
  OpStats* stats;
  {
    absl::MutexLock lock(&mu_);
    stats = &result_.Op(op);
  }
  stats->Record(absl::Now() - start, CodeName(status.error_code()));
}

void MixedClient::Availability(bool measure) {
  v1::GetAvailabilityRequest request;
  v1::GetAvailabilityResponse reply;
  const absl::Time start = absl::Now();
  grpc::Status status = region_.hospital_api->GetAvailability(
      Context(region_, hospital_.second).get(), request, &reply);
  Record("availability", start, status, measure);
}

void MixedClient::StockSummary(bool measure) {
  v1::GetStockSummaryRequest request;
  request.set_station_id(region_.serving_station.at(hospital_.first));
  v1::GetStockSummaryResponse reply;
  const absl::Time start = absl::Now();
  grpc::Status status = region_.admin_api->GetStockSummary(
      Context(region_, region_.tokens.admin).get(), request, &reply);
  Record("stock-summary", start, status, measure);
}

void MixedClient::Donation(bool measure) {
  const int64_t n = id_base_ + (++donations_);
  const BloodType type = region_.mix[mix_.type(rng_)].type;
  v1::RegisterDonorRequest donor_request;
  donor_request.set_request_id(NextRequestId("bench-donor"));
  v1::Donor& donor = *donor_request.mutable_donor();
  donor.set_national_id(NationalId(n));
  donor.set_name("Bench Donor");
  donor.set_sex(v1::SEX_MALE);
  donor.set_birth_date(donor.national_id().substr(6, 4) + "-" + donor.national_id().substr(10, 2) +
                       "-" + donor.national_id().substr(12, 2));
  *donor.mutable_blood_type() = type.ToProto();
  donor.mutable_contact()->set_phone("13800138000");
  const std::string station = region_.serving_station.at(hospital_.first);
  donor.set_home_station_id(station);
  v1::Donor created;
  absl::Time start = absl::Now();
  grpc::Status status = region_.admin_api->RegisterDonor(
      Context(region_, region_.tokens.admin).get(), donor_request, &created);
  Record("register-donor", start, status, measure);
  if (!status.ok()) return;

  absl::StatusOr<Din> din = Din::Create(absl::StrFormat("ZC0%02d", (n / 1'000'000) % 100), 26,
                                        static_cast<int>(n % 1'000'000));
  if (!din.ok()) return;
  v1::RecordDonationRequest request;
  request.set_request_id(NextRequestId("bench-donation"));
  request.set_donor_id(created.donor_id());
  request.set_din(din->ToString());
  request.set_donation_type(v1::DONATION_TYPE_WHOLE_BLOOD);
  request.set_volume_ml(400);
  request.set_station_id(station);
  *request.mutable_collected_at() = ToProto(absl::Now() - absl::Minutes(30));
  v1::DonorScreening& screening = *request.mutable_screening();
  screening.set_weight_kg(72);
  screening.set_hemoglobin_g_l(145);
  screening.set_systolic_mmhg(118);
  screening.set_diastolic_mmhg(76);
  screening.set_pulse_bpm(72);
  v1::AdminRecordDonationResponse reply;
  start = absl::Now();
  status = region_.admin_api->RecordDonation(Context(region_, region_.tokens.admin).get(), request,
                                             &reply);
  Record("record-donation", start, status, measure);
  if (status.ok()) pending_.emplace_back(din->ToString(), type);
}

void MixedClient::TestAndProcess(bool measure) {
  if (pending_.empty()) return Donation(measure);
  const auto [din, type] = pending_.back();
  pending_.pop_back();
  v1::RecordTestResultsRequest request;
  request.set_request_id(NextRequestId("bench-tests"));
  request.set_din(din);
  for (v1::ScreeningTest test :
       {v1::SCREENING_TEST_ALT, v1::SCREENING_TEST_HBSAG, v1::SCREENING_TEST_ANTI_HCV,
        v1::SCREENING_TEST_ANTI_HIV, v1::SCREENING_TEST_SYPHILIS}) {
    v1::TestResultInput& result = *request.add_results();
    result.set_test(test);
    result.set_reactive(false);
  }
  v1::TestResultInput& typing = *request.add_results();
  typing.set_test(v1::SCREENING_TEST_ABO_RHD);
  *typing.mutable_blood_type() = type.ToProto();
  v1::AdminRecordTestResultsResponse reply;
  absl::Time start = absl::Now();
  grpc::Status status = region_.admin_api->RecordTestResults(
      Context(region_, region_.tokens.admin).get(), request, &reply);
  Record("record-test-results", start, status, measure);
  if (!status.ok()) return;
  v1::ProcessDonationRequest process;
  process.set_request_id(NextRequestId("bench-process"));
  process.set_din(din);
  process.add_components()->set_component(v1::COMPONENT_RED_CELLS);
  v1::ComponentSpec& plasma = *process.add_components();
  plasma.set_component(v1::COMPONENT_PLASMA);
  plasma.set_volume_ml(200);
  v1::ProcessDonationResponse processed;
  start = absl::Now();
  status = region_.admin_api->ProcessDonation(Context(region_, region_.tokens.admin).get(), process,
                                              &processed);
  Record("process-donation", start, status, measure);
}

void MixedClient::Transfer(bool measure) {
  const std::string from = region_.serving_station.at(hospital_.first);
  const std::string to =
      region_.stations[(std::find(region_.stations.begin(), region_.stations.end(), from) -
                        region_.stations.begin() + 1) %
                       region_.stations.size()];
  if (from == to) return;
  v1::CreateTransferRequest request;
  request.set_request_id(NextRequestId("bench-transfer"));
  request.set_from_station_id(from);
  request.set_to_station_id(to);
  request.set_reason("benchmark rebalancing");
  v1::TransferLot& lot = *request.add_items()->mutable_lot();
  lot.set_component(v1::COMPONENT_RED_CELLS);
  *lot.mutable_blood_type() = region_.mix[mix_.type(rng_)].type.ToProto();
  lot.set_quantity(2);
  v1::Transfer transfer;
  absl::Time start = absl::Now();
  grpc::Status status = region_.dispatch_api->CreateTransfer(
      Context(region_, region_.tokens.dispatcher).get(), request, &transfer);
  Record("create-transfer", start, status, measure);
  if (!status.ok()) return;
  v1::ReceiveTransferRequest receive;
  receive.set_request_id(NextRequestId("bench-receive"));
  receive.set_transfer_id(transfer.transfer_id());
  v1::Transfer received;
  start = absl::Now();
  status = region_.dispatch_api->ReceiveTransfer(Context(region_, region_.tokens.dispatcher).get(),
                                                 receive, &received);
  Record("receive-transfer", start, status, measure);
}

}  // namespace bloodgrid::bench
