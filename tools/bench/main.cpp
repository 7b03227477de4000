// weft-bench — runs the workloads of BENCHMARKS.md and prints BENCH lines.
//
//   weft-bench [WORKLOAD ...] [--port N] [--tls-port N --cacert FILE]
//
// With no WORKLOAD, every workload that needs no server runs (plus the HTTP
// ones when their server options are given). Each workload runs in a fresh
// process (the tool re-runs itself with --only), so that peak RSS is the
// workload's own. stdout holds BENCH lines only. Exit status: 0 if every
// check passed, 1 if any failed, 2 on a usage error.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench/report.hpp"
#include "weft/version.hpp"

namespace {

enum class Needs { kNothing, kHttpServer, kTlsServer };

struct Workload {
  const char* name;
  void (*run)();
  Needs needs;
};

const Workload kWorkloads[] = {
    {"callbacks", weft_bench::run_callbacks, Needs::kNothing},
    {"timer_churn", weft_bench::run_timer_churn, Needs::kNothing},
    {"spawn", weft_bench::run_spawn, Needs::kNothing},
    {"switch", weft_bench::run_switch, Needs::kNothing},
    {"pingpong", weft_bench::run_pingpong, Needs::kNothing},
    {"timers", weft_bench::run_timers, Needs::kNothing},
    {"parked", weft_bench::run_parked, Needs::kNothing},
    {"echo", weft_bench::run_echo, Needs::kNothing},
    {"http", weft_bench::run_http, Needs::kHttpServer},
    {"fetch_all", weft_bench::run_fetch_all, Needs::kHttpServer},
    {"download", weft_bench::run_download, Needs::kHttpServer},
    {"https", weft_bench::run_https, Needs::kTlsServer},
};

const Workload* find(const std::string& name) {
  for (const Workload& w : kWorkloads) {
    if (name == w.name) return &w;
  }
  return nullptr;
}

// Runs one workload in a child process: this program again, with --only.
bool run_child(const std::string& name, const std::vector<std::string>& passthrough) {
  std::vector<std::string> args{"weft-bench", "--only", name};
  args.insert(args.end(), passthrough.begin(), passthrough.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("weft-bench: fork");
    return false;
  }
  if (pid == 0) {
    execv("/proc/self/exe", argv.data());
    std::perror("weft-bench: execv /proc/self/exe");
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFSIGNALED(status)) {
    std::fprintf(stderr, "FAIL %s: killed by signal %d\n", name.c_str(), WTERMSIG(status));
    return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("weft-bench: the workloads of BENCHMARKS.md, as BENCH lines on stdout");
  std::vector<std::string> names;
  std::string only;
  int port = 0;
  int tls_port = 0;
  std::string cacert;
  app.add_option("workloads", names, "workloads to run (default: all that can run)");
  app.add_option("--port", port, "port of the harness nginx on 127.0.0.1 (http, fetch_all, download)");
  app.add_option("--tls-port", tls_port, "its TLS port (https)");
  app.add_option("--cacert", cacert, "the CA that signed its TLS certificate (https)");
  app.add_option("--only", only, "run this one workload in this process")->group("");
  app.set_version_flag("--version", "weft-bench " WEFT_VERSION_STRING);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if ((tls_port != 0) != !cacert.empty()) {
    std::fprintf(stderr, "weft-bench: --tls-port and --cacert go together\n");
    return 2;
  }

  if (!only.empty()) {
    const Workload* w = find(only);
    if (w == nullptr) return 2;
    weft_bench::server_options().port = port;
    weft_bench::server_options().tls_port = tls_port;
    weft_bench::server_options().cacert = cacert;
    w->run();
    return 0;
  }

  std::vector<const Workload*> selected;
  for (const std::string& name : names) {
    const Workload* w = find(name);
    if (w == nullptr) {
      std::fprintf(stderr, "weft-bench: unknown workload '%s'\n", name.c_str());
      return 2;
    }
    if ((w->needs == Needs::kHttpServer && port == 0) || (w->needs == Needs::kTlsServer && tls_port == 0)) {
      std::fprintf(stderr, "weft-bench: workload '%s' needs %s\n", name.c_str(),
                   w->needs == Needs::kHttpServer ? "--port" : "--tls-port and --cacert");
      return 2;
    }
    selected.push_back(w);
  }
  if (names.empty()) {
    for (const Workload& w : kWorkloads) {
      const bool can = w.needs == Needs::kNothing || (w.needs == Needs::kHttpServer && port != 0) ||
                       (w.needs == Needs::kTlsServer && tls_port != 0);
      if (can) selected.push_back(&w);
    }
  }

  std::vector<std::string> passthrough;
  if (port != 0) passthrough.insert(passthrough.end(), {"--port", std::to_string(port)});
  if (tls_port != 0) {
    passthrough.insert(passthrough.end(), {"--tls-port", std::to_string(tls_port), "--cacert", cacert});
  }
  bool ok = true;
  for (const Workload* w : selected) ok = run_child(w->name, passthrough) && ok;
  return ok ? 0 : 1;
}
