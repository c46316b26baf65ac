#include "bench/bench_support.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace bloodgrid::bench {

void OpStats::Record(absl::Duration latency, const std::string& code) {
  absl::MutexLock lock(&mu_);
  ++count_;
  ++codes_[code];
  if (code == "OK") {
    ok_micros_.push_back(absl::ToInt64Microseconds(latency));
    sorted_ = false;
  }
}

int64_t OpStats::count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

int64_t OpStats::ok_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(ok_micros_.size());
}

std::map<std::string, int64_t> OpStats::codes() const {
  absl::MutexLock lock(&mu_);
  return codes_;
}

absl::Duration OpStats::Percentile(double p) const {
  absl::MutexLock lock(&mu_);
  if (ok_micros_.empty()) return absl::ZeroDuration();
  if (!sorted_) {
    std::sort(ok_micros_.begin(), ok_micros_.end());
    sorted_ = true;
  }
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  const double rank = std::ceil(p / 100.0 * static_cast<double>(ok_micros_.size()));
  const size_t index =
      std::min(ok_micros_.size() - 1, static_cast<size_t>(std::max(1.0, rank)) - 1);
  return absl::Microseconds(ok_micros_[index]);
}

absl::Duration OpStats::Max() const { return Percentile(100); }

absl::StatusOr<int64_t> ResidentKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  if (!status) return absl::NotFoundError(absl::StrCat("process ", pid, " is gone"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, "kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) return kib;
  }
  return absl::NotFoundError(absl::StrCat("no VmRSS for process ", pid));
}

RssSampler::RssSampler(std::map<std::string, pid_t> processes, absl::Duration period)
    : processes_(std::move(processes)), period_(period) {
  Sample();
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(period_)) Sample();
  });
}

RssSampler::~RssSampler() {
  stop_.Notify();
  thread_.join();
}

void RssSampler::Sample() {
  for (const auto& [name, pid] : processes_) {
    absl::StatusOr<int64_t> kib = ResidentKib(pid);
    if (!kib.ok()) continue;
    absl::MutexLock lock(&mu_);
    int64_t& peak = peak_kib_[name];
    peak = std::max(peak, *kib);
  }
}

std::map<std::string, int64_t> RssSampler::PeakKib() const {
  absl::MutexLock lock(&mu_);
  return peak_kib_;
}

void RssSampler::Reset() {
  {
    absl::MutexLock lock(&mu_);
    peak_kib_.clear();
  }
  Sample();
}

absl::StatusOr<Tokens> ReadTokensFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("tokens file '", path, "' cannot be read"));
  Tokens tokens;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(text, ' ', absl::SkipWhitespace());
    if (parts.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected 'role subject token'"));
    }
    if (parts[0] == "admin") {
      tokens.admin = parts[2];
    } else if (parts[0] == "dispatcher") {
      tokens.dispatcher = parts[2];
    } else if (parts[0] == "hospital") {
      tokens.hospitals.emplace_back(parts[1], parts[2]);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": unknown role '", parts[0], "'"));
    }
  }
  if (tokens.admin.empty() || tokens.dispatcher.empty() || tokens.hospitals.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": needs an admin, a dispatcher and at least one hospital token"));
  }
  return tokens;
}

ProgressLine::ProgressLine(std::function<std::string()> line, absl::Duration period)
    : line_(std::move(line)) {
  const bool tty = isatty(STDERR_FILENO) == 1;
  thread_ = std::thread([this, period, tty] {
    int ticks = 0;
    while (!stop_.load()) {
      absl::SleepFor(absl::Milliseconds(100));
      if (++ticks % std::max<int64_t>(1, period / absl::Milliseconds(100) * (tty ? 1 : 5)) != 0)
        continue;
      if (stop_.load()) break;
      const std::string text = line_();
      if (tty) {
        std::fprintf(stderr, "\r%-100s", text.c_str());
      } else {
        std::fprintf(stderr, "%s\n", text.c_str());
      }
      std::fflush(stderr);
    }
    if (tty) std::fprintf(stderr, "\r%-100s\r", "");
  });
}

ProgressLine::~ProgressLine() {
  stop_.store(true);
  thread_.join();
}

std::string FormatLatency(absl::Duration d) {
  const int64_t us = absl::ToInt64Microseconds(d);
  if (us < 1000) return absl::StrCat(us, " us");
  if (us < 10'000'000) return absl::StrFormat("%.2f ms", static_cast<double>(us) / 1000.0);
  return absl::StrFormat("%.1f s", static_cast<double>(us) / 1e6);
}

}  // namespace bloodgrid::bench
