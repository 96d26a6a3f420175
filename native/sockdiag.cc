// SPDX-License-Identifier: Apache-2.0
// sock_diag (netlink inet_diag) fallback: every TCP socket with tcp_info, without eBPF.
// Filled in by the sockdiag receiver work; InitSockdiag adds its functions to the addon.
#include <napi.h>

Napi::Object InitSockdiag(Napi::Env env, Napi::Object exports) {
  return exports;
}
