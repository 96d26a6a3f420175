// SPDX-License-Identifier: Apache-2.0
//
// See system.h.

#include "system.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <bpf/bpf.h>

#include "errors.h"

namespace tcpotel {

namespace {

int OpenOwnNetns(Napi::Env env) {
  int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0) ThrowNativeError(env, "open /proc/thread-self/ns/net", errno);
  return own;
}

// tracefs(): where tracefs is, mounting it at /sys/kernel/tracing when missing (root only).
Napi::Value Tracefs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  bool mount_if_missing = info.Length() < 1 || info[0].ToBoolean();
  const char* candidates[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
  for (const char* dir : candidates) {
    std::string events = std::string(dir) + "/events";
    if (access(events.c_str(), F_OK) == 0) {
      out.Set("ok", true);
      out.Set("path", dir);
      out.Set("mounted", false);
      return out;
    }
  }
  if (mount_if_missing) {
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0) {
      out.Set("ok", true);
      out.Set("path", "/sys/kernel/tracing");
      out.Set("mounted", true);
      return out;
    }
    int err = errno;
    out.Set("errno", Napi::Number::New(env, err));
    out.Set("code", ErrnoName(err));
    out.Set("message", std::string("mount -t tracefs nodev /sys/kernel/tracing: ") + strerror(err));
  } else {
    out.Set("message", "tracefs is not mounted");
  }
  out.Set("ok", false);
  return out;
}

// dropPrivileges(uid, gid): become an unprivileged user once everything is attached.
// Every thread loses every capability, except this (the JS) thread, which keeps CAP_BPF and
// CAP_PERFMON: the bpf() calls still to come (counters, iterators) run here. The ring
// buffer consumer only reads shared memory and needs none.
Napi::Value DropPrivileges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uid_t uid = info[0].ToNumber().Uint32Value();
  gid_t gid = info[1].ToNumber().Uint32Value();
  auto fail = [&](const char* op) { ThrowNativeError(env, op, errno); };
  constexpr int kCapPerfmon = 38, kCapBpf = 39;
  // While still root (CAP_SETPCAP): the bounding set keeps only what this thread keeps, so
  // that nothing started later can be granted more, file capabilities included.
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
    if (cap == kCapPerfmon || cap == kCapBpf) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) fail("prctl(PR_CAPBSET_DROP)");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  // No execve can raise privileges again (set-user-ID programs, file capabilities).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail("prctl(PR_SET_KEEPCAPS)");
  if (setgroups(0, nullptr) < 0) fail("setgroups");  // glibc applies set*id to every thread
  if (setgid(gid) < 0) fail("setgid");
  if (setuid(uid) < 0) fail("setuid");
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};  // inheritable: none
  uint32_t keep = (1u << (kCapPerfmon - 32)) | (1u << (kCapBpf - 32));
  data[1].effective = keep;
  data[1].permitted = keep;
  if (syscall(SYS_capset, &hdr, data) < 0) fail("capset");
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  return env.Undefined();
}

// enableStats(): turns on the kernel's BPF run-time statistics (run_cnt, run_time_ns) for
// as long as the returned fd is open; closeFd(fd) turns them off again.
Napi::Value EnableStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) ThrowNativeError(env, "bpf_enable_stats", fd);
  return Napi::Number::New(env, fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].ToNumber().Int32Value());
  return info.Env().Undefined();
}

}  // namespace

NetnsHome::NetnsHome(Napi::Env env) : own_(OpenOwnNetns(env)) {}

int NetnsHome::RunIn(const std::string& path, const std::function<void()>& fn) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    return err;
  }
  close(fd);
  struct Return {
    int own;
    ~Return() {
      if (setns(own, CLONE_NEWNET) != 0) {
        // This thread would stay in another namespace: nothing sane can follow.
        fprintf(stderr, "tcpotel: cannot return to the own network namespace (errno %d)\n", errno);
        abort();
      }
    }
  } back{own_.get()};
  fn();
  return 0;
}

void InitSystem(Napi::Env env, Napi::Object exports) {
  exports.Set("tracefs", Napi::Function::New(env, Tracefs));
  exports.Set("dropPrivileges", Napi::Function::New(env, DropPrivileges));
  exports.Set("enableStats", Napi::Function::New(env, EnableStats));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
}

}  // namespace tcpotel
