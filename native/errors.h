// SPDX-License-Identifier: Apache-2.0
//
// One error for every native failure, libbpf's and sock_diag's alike: an instance of the
// class JS registered (src/native/errors.ts NativeError) with the failed operation, the
// errno, its symbolic name and (for libbpf) the warnings libbpf printed before failing.
// Also what every entry point uses to check numbers from JS.

#pragma once

#include <napi.h>

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdint>
#include <string>

namespace tcpotel {

// libbpf's print callback: keeps recent warnings (verifier logs among them) for the next error.
int OnLibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args);

// Takes (and clears) the warnings kept so far.
std::string TakeLog();

// The errno's symbolic name ("EPERM"), from glibc.
const char* ErrnoName(int err);

enum class WithLog { kYes, kNo };

// A NativeError for a failure of `op` with errno `err` (either sign): its message is
// `prefix` + op + " failed: " + strerror(err); `log` holds libbpf's warnings (kYes).
Napi::Error MakeNativeError(Napi::Env env, const std::string& op, int err, const std::string& prefix = "",
                            WithLog with_log = WithLog::kYes);

// Every libbpf failure goes through here.
[[noreturn]] void ThrowNativeError(Napi::Env env, const std::string& op, int err);

// A number from JS that must be a whole number within [lo, hi]: anything else (NaN,
// fractions, negative sizes, 2^32 and more) is a RangeError naming the option, not a
// silently wrapped cast.
uint64_t CheckedInt(Napi::Env env, Napi::Value v, const char* what, uint64_t lo, uint64_t hi);

// setErrorClass(cls), and raiseError(op, errno) (tests: the error every failure makes).
void InitErrors(Napi::Env env, Napi::Object exports);

}  // namespace tcpotel

#define BPF_CHECK(env, expr, op)                  \
  do {                                            \
    long bpf_check_ret_ = (long)(expr);           \
    if (bpf_check_ret_ < 0) {                     \
      tcpotel::ThrowNativeError((env), (op), (int)bpf_check_ret_); \
    }                                             \
  } while (0)

#define BPF_CHECK_PTR(env, ptr, op)                         \
  do {                                                      \
    if (!(ptr)) tcpotel::ThrowNativeError((env), (op), errno ? errno : EINVAL); \
  } while (0)
