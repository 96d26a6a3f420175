// SPDX-License-Identifier: Apache-2.0
//
// See probes.h.

#include "probes.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "errors.h"
#include "probe.skel.h"

namespace tcpotel {

namespace {

// probe(program): load (and attach) one probe program; { ok, op, errno, code, message }.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].ToString();
  bool attach = info.Length() < 2 || info[1].ToBoolean();
  libbpf_set_print(OnLibbpfPrint);
  Napi::Object out = Napi::Object::New(env);
  auto fail = [&](const std::string& op, int err) {
    if (err < 0) err = -err;
    if (!err) err = EINVAL;
    out.Set("ok", false);
    out.Set("op", op);
    out.Set("errno", Napi::Number::New(env, err));
    out.Set("code", ErrnoName(err));
    out.Set("message", op + ": " + strerror(err));
    out.Set("log", TakeLog());
    return out;
  };
  errno = 0;
  probe_bpf* skel = probe_bpf__open();
  if (!skel) return fail("open", errno);
  bpf_program* target = nullptr;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    bool wanted = name == bpf_program__name(prog);
    if (wanted) target = prog;
    bpf_program__set_autoload(prog, wanted);
  }
  if (!target) {
    probe_bpf__destroy(skel);
    throw Napi::Error::New(env, "no probe program named " + name);
  }
  TakeLog();
  int err = probe_bpf__load(skel);
  if (err) {
    probe_bpf__destroy(skel);
    return fail("load", err);
  }
  if (attach) {
    errno = 0;
    bpf_link* link = nullptr;
    if (bpf_program__type(target) == BPF_PROG_TYPE_SOCK_OPS || bpf_program__type(target) == BPF_PROG_TYPE_CGROUP_SKB) {
      std::string path = info.Length() > 2 && info[2].IsString() ? info[2].ToString().Utf8Value()
                                                                 : "/sys/fs/cgroup";
      int cfd = open(path.c_str(), O_RDONLY | O_DIRECTORY);
      if (cfd < 0) {
        int e = errno;
        probe_bpf__destroy(skel);
        return fail("open cgroup " + path, e);
      }
      link = bpf_program__attach_cgroup(target, cfd);
      int e = errno;
      close(cfd);
      errno = e;
    } else if (bpf_program__expected_attach_type(target) == BPF_TRACE_ITER) {
      link = bpf_program__attach_iter(target, nullptr);
      if (link) {
        int ifd = bpf_iter_create(bpf_link__fd(link));
        if (ifd < 0) {
          int e = errno;
          bpf_link__destroy(link);
          probe_bpf__destroy(skel);
          return fail("bpf_iter_create", e);
        }
        char buf[4096];
        while (read(ifd, buf, sizeof(buf)) > 0) {
        }
        close(ifd);
      }
    } else {
      link = bpf_program__attach(target);
    }
    if (!link) {
      int e = errno;
      probe_bpf__destroy(skel);
      return fail("attach", e);
    }
    bpf_link__destroy(link);
  }
  probe_bpf__destroy(skel);
  out.Set("ok", true);
  return out;
}

}  // namespace

void InitProbes(Napi::Env env, Napi::Object exports) { exports.Set("probe", Napi::Function::New(env, Probe)); }

}  // namespace tcpotel
