// Histogram arithmetic, doc_stats merging and /proc readers; see stats.hpp.
//
// Bucket layout: values below 128 ns have a bucket each; above, a value with
// its highest bit at position m >= 7 falls into one of 64 buckets of width
// 2^(m-6) in [2^m, 2^(m+1)). Values are clamped to 2^40 ns (about 18 min).
#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace collab::bench {

namespace {
constexpr int max_bit = 40;
constexpr size_t bucket_count = 128 + size_t(max_bit - 6) * 64;
} // namespace

namespace {
thread_local latency_sink* tl_sink = nullptr;
thread_local latency_sink tl_discard;
} // namespace

latency_sink& thread_latency() {
  return tl_sink ? *tl_sink : tl_discard;
}
void set_thread_latency(latency_sink* sink) {
  tl_sink = sink;
}

size_t histogram::index_of(uint64_t v) {
  if (v < 128)
    return size_t(v);
  v = std::min<uint64_t>(v, (uint64_t(1) << max_bit) - 1);
  const int msb = 63 - __builtin_clzll(v);
  const int shift = msb - 6;
  return 128 + size_t(shift - 1) * 64 + size_t((v >> shift) - 64);
}

uint64_t histogram::middle_of(size_t idx) {
  if (idx < 128)
    return idx;
  const int shift = int((idx - 128) / 64) + 1;
  const uint64_t m = (idx - 128) % 64 + 64;
  const uint64_t lo = m << shift;
  const uint64_t hi = ((m + 1) << shift) - 1;
  return lo + (hi - lo) / 2;
}

void histogram::record(int64_t ns) {
  if (ns < 0)
    ns = 0;
  if (buckets_.empty())
    buckets_.assign(bucket_count, 0);
  ++buckets_[index_of(uint64_t(ns))];
  if (count_ == 0 || ns < min_)
    min_ = ns;
  if (ns > max_)
    max_ = ns;
  ++count_;
  sum_ += ns;
}

void histogram::merge(const histogram& o) {
  if (o.count_ == 0)
    return;
  if (buckets_.empty())
    buckets_.assign(bucket_count, 0);
  for (size_t i = 0; i < bucket_count; ++i)
    buckets_[i] += o.buckets_[i];
  min_ = count_ == 0 ? o.min_ : std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
  count_ += o.count_;
  sum_ += o.sum_;
}

int64_t histogram::quantile(double q) const {
  if (count_ == 0)
    return 0;
  const auto want = std::max<uint64_t>(
    1, static_cast<uint64_t>(std::ceil(q * double(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= want)
      return std::clamp<int64_t>(int64_t(middle_of(i)), min_, max_);
  }
  return max_;
}

void doc_stats::merge(const doc_stats& o) {
  ack_latency.merge(o.ack_latency);
  remote_latency.merge(o.remote_latency);
  window_acks += o.window_acks;
  window_edits += o.window_edits;
  window_sends += o.window_sends;
  total_acks += o.total_acks;
  total_edits += o.total_edits;
  total_sends += o.total_sends;
  resends += o.resends;
  remote_ops += o.remote_ops;
  presence += o.presence;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  for (const auto& [k, v] : o.errors)
    errors[k] += v;
  for (const auto& [k, v] : o.disconnects)
    disconnects[k] += v;
  for (const auto& [k, v] : o.anomalies)
    anomalies[k] += v;
  for (const auto& [k, v] : o.info)
    info[k] += v;
  reconnects += o.reconnects;
  connect_failures += o.connect_failures;
  if (acks_per_second.size() < o.acks_per_second.size())
    acks_per_second.resize(o.acks_per_second.size(), 0);
  for (size_t i = 0; i < o.acks_per_second.size(); ++i)
    acks_per_second[i] += o.acks_per_second[i];
}

void doc_stats::count_ack_second(int64_t ns_since_start) {
  if (ns_since_start < 0)
    return;
  const auto s = size_t(ns_since_start / 1000000000);
  if (s >= 86400)
    return;
  if (acks_per_second.size() <= s)
    acks_per_second.resize(s + 1, 0);
  ++acks_per_second[s];
}

double proc_cpu_seconds(int pid) {
  const std::string path = pid == 0 ? "/proc/self/stat"
                                    : "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line))
    return -1;
  // Field 2 (comm) may contain spaces: parse after the last ')'.
  const auto rp = line.rfind(')');
  if (rp == std::string::npos)
    return -1;
  std::istringstream rest(line.substr(rp + 2));
  // Fields from 3 on: state ppid pgrp session tty tpgid flags minflt cminflt
  // majflt cmajflt utime(14) stime(15).
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15)
      stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  const long hz = sysconf(_SC_CLK_TCK);
  return double(utime + stime) / double(hz > 0 ? hz : 100);
}

namespace {
std::string proc_path(int pid, const char* file) {
  return (pid == 0 ? std::string("/proc/self/")
                   : "/proc/" + std::to_string(pid) + "/")
         + file;
}
} // namespace

uint64_t proc_status_bytes(int pid, const char* key) {
  std::ifstream in(proc_path(pid, "status"));
  const std::string prefix = std::string(key) + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0)
      return std::strtoull(line.c_str() + prefix.size(), nullptr, 10)
             * 1024; // kB
  }
  return 0;
}

uint64_t proc_rss_bytes(int pid) {
  return proc_status_bytes(pid, "VmRSS");
}

bool proc_reset_peak(int pid) {
  std::ofstream out(proc_path(pid, "clear_refs"));
  out << "5";
  out.flush();
  return bool(out);
}

int proc_open_fds(int pid) {
  DIR* d = opendir(proc_path(pid, "fd").c_str());
  if (d == nullptr)
    return -1;
  int n = 0;
  while (const dirent* e = readdir(d))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

} // namespace collab::bench
