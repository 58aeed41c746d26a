// bench/avow_bench/process.h — child processes (avowd, `avowd admin`) and what /proc says about a process.
//
//   Result<ServerProcess> s = start_avowd(avowd_path, data_dir, {"AVOW_LIMITS_MAX_CONNECTIONS=20000"});
//   Result<ProcessUsage> u = process_usage(s->pid);     // CPU seconds (utime+stime), VmRSS, VmHWM
//   stop_process(s->pid);
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace avow::bench {

struct ServerProcess {
  pid_t pid = -1;
  std::string url;       // as printed: "avowd listening on <url>"
  std::string log_file;  // its stderr (JSON log lines)
};

// Starts `avowd serve --data-dir <data_dir> --listen 127.0.0.1:0` with `env` (NAME=value) added to ours,
// stdout and stderr to files in `data_dir`, and waits (up to 30 s) for its "avowd listening on" line.
// kUnavailable when it exits first or does not start in time (the message quotes the end of its log).
Result<ServerProcess> start_avowd(const std::string& avowd, const std::string& data_dir,
                                  const std::vector<std::string>& env, const std::vector<std::string>& extra_args);

// Runs `argv` to completion (up to `timeout`), with `env` (NAME=value) added to ours less our AVOW_*, and
// returns its stdout. kUnavailable when it cannot start,
// exits non-zero (with its stderr in the message) or runs out of time (it is then killed).
Result<std::string> run_capture(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                                const std::vector<std::string>& env = {});

// SIGTERM, then SIGKILL after `grace`; reaps the child. Returns its exit status (or -signal).
int stop_process(pid_t pid, std::chrono::seconds grace = std::chrono::seconds(20));

struct ProcessUsage {
  double cpu_seconds = 0;            // utime + stime, all threads
  std::uint64_t rss_bytes = 0;       // VmRSS
  std::uint64_t peak_rss_bytes = 0;  // VmHWM
};

// Reads /proc/<pid>/stat and /proc/<pid>/status. kNotFound when the process is gone.
Result<ProcessUsage> process_usage(pid_t pid);

// The CPU seconds of a server that forks a process per connection (PostgreSQL's postmaster): `root`'s and
// its live children's utime+stime, plus the children it has reaped (cutime+cstime). Monotonic, so the
// difference of two readings is the CPU spent between them. kNotFound when `root` is gone.
Result<double> process_tree_cpu_seconds(pid_t root);

// The process listening on TCP 127.0.0.1 / 0.0.0.0 / ::1 `port` (the one whose parent does not listen
// there too: a server's master, not its forks). kNotFound when none is visible (another user's process
// without root, say).
Result<pid_t> find_tcp_listener(std::uint16_t port);

// This process's own CPU seconds (user + system, all threads).
double self_cpu_seconds();

// Raises RLIMIT_NOFILE's soft limit to the hard limit — and the hard limit itself, up to fs.nr_open, when
// allowed (root) and `want` needs it. Returns the soft limit now in force.
std::uint64_t raise_fd_limit(std::uint64_t want);

// The directory of this executable (for finding avowd next to it in the build tree).
std::string executable_dir();

// A fresh directory under $TMPDIR (or /tmp): "<prefix>XXXXXX". kUnavailable on failure.
Result<std::string> make_temp_dir(const std::string& prefix);

}  // namespace avow::bench
