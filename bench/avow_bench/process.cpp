#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

extern char** environ;

namespace avow::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const std::string& path, std::size_t max = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  std::string s;
  s.resize(max);
  in.read(s.data(), static_cast<std::streamsize>(max));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

std::string tail(const std::string& text, std::size_t n = 2000) {
  return text.size() <= n ? text : "…" + text.substr(text.size() - n);
}

// posix_spawn with stdout/stderr to files and `env` added to ours, less our AVOW_* variables: avowd
// refuses any it does not know (a test runner's AVOW_REQUIRE_BROWSER, say), and the server's configuration
// must come from `env` and the command line alone.
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& out_file, const std::string& err_file) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    if (!std::string_view(*e).starts_with("AVOW_")) envs.emplace_back(*e);
  }
  for (const auto& e : env) envs.push_back(e);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return fail(ErrorCode::kUnavailable, "cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// Fields 3… of /proc/<pid>/stat (after "(comm) "), index 0 = field 3 (state); empty when the process is gone.
std::vector<std::string> stat_fields(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
  const auto paren = stat.rfind(')');
  std::vector<std::string> out;
  if (stat.empty() || paren == std::string::npos || paren + 2 >= stat.size()) return out;
  std::istringstream in(stat.substr(paren + 2));
  for (std::string f; out.size() < 16 && in >> f;) out.push_back(f);
  return out;
}

std::uint64_t stat_field(const std::vector<std::string>& f, int field) {
  const auto i = static_cast<std::size_t>(field - 3);
  return i < f.size() ? std::strtoull(f[i].c_str(), nullptr, 10) : 0;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      out.push_back(static_cast<pid_t>(std::atoi(name.c_str())));
  }
  return out;
}

// waitpid without blocking: true (and *status) once the child has exited.
bool exited(pid_t pid, int* status) { return ::waitpid(pid, status, WNOHANG) == pid; }

std::uint64_t status_kib(const std::string& status, const char* key) {
  const auto at = status.find(key);
  if (at == std::string::npos) return 0;
  return std::strtoull(status.c_str() + at + std::strlen(key), nullptr, 10);
}

}  // namespace

Result<ServerProcess> start_avowd(const std::string& avowd, const std::string& data_dir,
                                  const std::vector<std::string>& env, const std::vector<std::string>& extra_args) {
  const std::string out = (fs::path(data_dir) / "avowd.out").string();
  const std::string err = (fs::path(data_dir) / "avowd.log").string();
  std::vector<std::string> argv = {avowd, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  Result<pid_t> pid = spawn(argv, env, out, err);
  if (!pid) return tl::unexpected(pid.error());
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  const std::string marker = "avowd listening on ";
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = read_file(out, 64 * 1024);
    if (auto at = text.find(marker); at != std::string::npos) {
      const auto end = text.find('\n', at);
      if (end != std::string::npos)
        return ServerProcess{*pid, text.substr(at + marker.size(), end - at - marker.size()), err};
    }
    int status = 0;
    if (exited(*pid, &status))
      return fail(ErrorCode::kUnavailable, "avowd exited before listening:\n" + tail(read_file(err)));
    std::this_thread::sleep_for(50ms);
  }
  stop_process(*pid, 2s);
  return fail(ErrorCode::kUnavailable, "avowd did not start within 30 s:\n" + tail(read_file(err)));
}

Result<std::string> run_capture(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                                const std::vector<std::string>& env) {
  Result<std::string> dir = make_temp_dir("avow-bench-run-");
  if (!dir) return tl::unexpected(dir.error());
  const std::string out = *dir + "/out", err = *dir + "/err";
  auto cleanup = [&] {
    std::error_code ec;
    fs::remove_all(*dir, ec);
  };
  Result<pid_t> pid = spawn(argv, env, out, err);
  if (!pid) {
    cleanup();
    return tl::unexpected(pid.error());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (!exited(*pid, &status)) {
    if (std::chrono::steady_clock::now() > deadline) {
      stop_process(*pid, 1s);
      cleanup();
      return fail(ErrorCode::kUnavailable, argv[0] + " " + argv[1] + ": timed out");
    }
    std::this_thread::sleep_for(10ms);
  }
  std::string stdout_text = read_file(out), stderr_text = read_file(err);
  cleanup();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return fail(ErrorCode::kUnavailable, cmd + ": failed\n" + tail(stderr_text + stdout_text));
  }
  return stdout_text;
}

int stop_process(pid_t pid, std::chrono::seconds grace) {
  int status = 0;
  if (exited(pid, &status)) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!exited(pid, &status)) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

Result<ProcessUsage> process_usage(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string stat = read_file(base + "/stat", 4096);
  const auto paren = stat.rfind(')');
  if (stat.empty() || paren == std::string::npos)
    return fail(ErrorCode::kNotFound, "no process " + std::to_string(pid));
  // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  const std::string status = read_file(base + "/status", 16384);
  ProcessUsage u;
  u.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  u.rss_bytes = status_kib(status, "VmRSS:") * 1024;
  u.peak_rss_bytes = status_kib(status, "VmHWM:") * 1024;
  return u;
}

Result<double> process_tree_cpu_seconds(pid_t root) {
  const std::vector<std::string> rf = stat_fields(root);
  if (rf.empty()) return fail(ErrorCode::kNotFound, "no process " + std::to_string(root));
  // utime 14, stime 15, cutime 16, cstime 17; ppid 4.
  std::uint64_t ticks = stat_field(rf, 14) + stat_field(rf, 15) + stat_field(rf, 16) + stat_field(rf, 17);
  for (pid_t p : all_pids()) {
    if (p == root) continue;
    const std::vector<std::string> f = stat_fields(p);
    if (!f.empty() && static_cast<pid_t>(stat_field(f, 4)) == root) ticks += stat_field(f, 14) + stat_field(f, 15);
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Result<pid_t> find_tcp_listener(std::uint16_t port) {
  // The listening sockets' inodes on that port, from /proc/net/tcp{,6}: "sl local rem st … uid timeout inode".
  std::vector<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(read_file(table, 4 << 20));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, rem, st, txrx, trwhen, retr, uid, timeout, inode;
      if (!(f >> sl >> local >> rem >> st >> txrx >> trwhen >> retr >> uid >> timeout >> inode)) continue;
      const auto colon = local.rfind(':');
      if (st != "0A" || colon == std::string::npos) continue;
      if (std::strtoul(local.c_str() + colon + 1, nullptr, 16) == port) inodes.push_back("socket:[" + inode + "]");
    }
  }
  if (inodes.empty()) return fail(ErrorCode::kNotFound, "nothing listens on port " + std::to_string(port));
  std::vector<pid_t> holders;
  for (pid_t p : all_pids()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(p) + "/fd", ec)) {
      std::error_code lec;
      const std::string target = fs::read_symlink(e.path(), lec).string();
      if (!lec && std::find(inodes.begin(), inodes.end(), target) != inodes.end()) {
        holders.push_back(p);
        break;
      }
    }
  }
  for (pid_t p : holders) {
    const pid_t parent = static_cast<pid_t>(stat_field(stat_fields(p), 4));
    if (std::find(holders.begin(), holders.end(), parent) == holders.end()) return p;
  }
  return fail(ErrorCode::kNotFound, "no visible process holds the socket listening on port " + std::to_string(port));
}

double self_cpu_seconds() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

std::uint64_t raise_fd_limit(std::uint64_t want) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) {
    const std::uint64_t nr_open = std::strtoull(read_file("/proc/sys/fs/nr_open", 64).c_str(), nullptr, 10);
    rlimit more = lim;
    more.rlim_max = nr_open ? std::min<std::uint64_t>(want, nr_open) : want;
    more.rlim_cur = more.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &more) == 0) lim = more;  // only root may raise the hard limit
  }
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

std::string executable_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

Result<std::string> make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    return fail(ErrorCode::kUnavailable, "cannot create a temporary directory: " + std::string(std::strerror(errno)));
  return tmpl;
}

}  // namespace avow::bench
