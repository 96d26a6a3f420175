// SPDX-License-Identifier: Apache-2.0
//
// The system side: file descriptors, network namespaces (setns), tracefs, the kernel's BPF
// run-time statistics, and dropping privileges once everything is attached.
//
// Exports (InitSystem):
//   tracefs(mountIfMissing): { ok, path?, mounted?, errno?, code?, message? }
//   dropPrivileges(uid, gid)      setuid/setgid, keeping CAP_BPF and CAP_PERFMON on this thread
//   enableStats(): fd             BPF run-time statistics on while fd is open
//   closeFd(fd)

#pragma once

#include <napi.h>

#include <functional>
#include <string>
#include <unistd.h>

namespace tcpotel {

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The calling thread's own network namespace, held open to come back to.
class NetnsHome {
 public:
  // Throws a NativeError when /proc/thread-self/ns/net cannot be opened.
  explicit NetnsHome(Napi::Env env);
  // Runs fn() with this thread in the network namespace at `path` (/proc/PID/ns/net), then
  // back home however fn ends (an error, bad_alloc): a thread that cannot come back aborts
  // the process, as nothing sane can follow. Returns 0, or the errno of entering (fn not run).
  int RunIn(const std::string& path, const std::function<void()>& fn);

 private:
  Fd own_;
};

void InitSystem(Napi::Env env, Napi::Object exports);

}  // namespace tcpotel
