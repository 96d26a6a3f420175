// SPDX-License-Identifier: Apache-2.0
//
// See errors.h.

#include "errors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace tcpotel {

namespace {

std::mutex g_log_mutex;
std::string g_log;  // recent libbpf warnings, attached to errors (verifier logs among them)
constexpr size_t kLogMax = 64 * 1024;

Napi::FunctionReference g_error_class;  // NativeError, registered by src/native/addon.ts

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  g_error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value RaiseError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  throw MakeNativeError(env, info[0].ToString().Utf8Value(), info[1].ToNumber().Int32Value(), "", WithLog::kNo);
}

}  // namespace

int OnLibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  // One message can be a whole verifier log: format it whole, keep its end (where the
  // verifier says why) within kLogMax.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  std::string line((size_t)n + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, args);
  line.resize((size_t)n);
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log.append(line);
  if (g_log.size() > kLogMax) g_log.erase(0, g_log.size() - kLogMax);
  return 0;
}

std::string TakeLog() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::string out;
  out.swap(g_log);
  return out;
}


const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}


Napi::Error MakeNativeError(Napi::Env env, const std::string& op, int err, const std::string& prefix, WithLog with_log) {
  if (err < 0) err = -err;
  std::string message = prefix + op + " failed: " + strerror(err);
  Napi::Object props = Napi::Object::New(env);
  props.Set("message", message);
  props.Set("op", op);
  props.Set("errno", Napi::Number::New(env, err));
  props.Set("code", ErrnoName(err));
  props.Set("log", with_log == WithLog::kYes ? TakeLog() : std::string());
  if (!g_error_class.IsEmpty()) return Napi::Error(env, g_error_class.New({props}));
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("op", op);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", ErrnoName(err));
  return e;
}

void ThrowNativeError(Napi::Env env, const std::string& op, int err) { throw MakeNativeError(env, op, err); }

uint64_t CheckedInt(Napi::Env env, Napi::Value v, const char* what, uint64_t lo, uint64_t hi) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + ": not a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(uint64_t)d)
    throw Napi::RangeError::New(env, std::string(what) + ": " + std::to_string(d) + " is not a whole number in " +
                                         std::to_string(lo) + ".." + std::to_string(hi));
  return (uint64_t)d;
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("raiseError", Napi::Function::New(env, RaiseError));
}

}  // namespace tcpotel
