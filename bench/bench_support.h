// Measuring pieces of bloodgrid_bench: latency samples and their percentiles, outcomes by
// status code, resident memory of the processes under test, a progress line, and the token
// file the bench reads its callers from.
#ifndef BLOODGRID_BENCH_BENCH_SUPPORT_H_
#define BLOODGRID_BENCH_BENCH_SUPPORT_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace bloodgrid::bench {

// Latencies and outcomes of one kind of operation. Thread-safe; Record is cheap enough to call
// per operation (one short critical section).
class OpStats {
 public:
  void Record(absl::Duration latency, const std::string& code);

  int64_t count() const;
  int64_t ok_count() const;
  // Outcome counts by gRPC code name ("OK", "UNAVAILABLE", ...).
  std::map<std::string, int64_t> codes() const;
  // Percentile (0-100) of the successful operations' latencies; zero when there are none.
  absl::Duration Percentile(double p) const;
  absl::Duration Max() const;

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<int64_t> ok_micros_ ABSL_GUARDED_BY(mu_);
  mutable bool sorted_ ABSL_GUARDED_BY(mu_) = true;
  std::map<std::string, int64_t> codes_ ABSL_GUARDED_BY(mu_);
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Peak and last resident set size of processes, sampled from /proc/<pid>/status every
// `period` on a thread of its own while it lives.
class RssSampler {
 public:
  RssSampler(std::map<std::string, pid_t> processes, absl::Duration period);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // Peak RSS seen per process name, in KiB, since construction or the last Reset().
  std::map<std::string, int64_t> PeakKib() const;
  void Reset();

 private:
  void Sample();

  const std::map<std::string, pid_t> processes_;
  const absl::Duration period_;
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> peak_kib_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

// VmRSS of a process in KiB, read from /proc; NOT_FOUND when it has gone.
absl::StatusOr<int64_t> ResidentKib(pid_t pid);

// Callers of the gateway, from a file of lines "role subject token" ('#' starts a comment):
// role is admin, dispatcher or hospital; subject names the hospital for hospital tokens.
struct Tokens {
  std::string admin;
  std::string dispatcher;
  std::vector<std::pair<std::string, std::string>> hospitals;  // hospital id, token
};
absl::StatusOr<Tokens> ReadTokensFile(const std::string& path);

// Prints "\r<line>" to stderr every `period` while it lives (when stderr is a terminal, else a
// plain line every 5 periods), asking `line` for the text.
class ProgressLine {
 public:
  ProgressLine(std::function<std::string()> line, absl::Duration period);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

 private:
  std::function<std::string()> line_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// "12.3 ms", "850 us".
std::string FormatLatency(absl::Duration d);

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_BENCH_SUPPORT_H_
