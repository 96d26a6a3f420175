// SPDX-License-Identifier: Apache-2.0
//
// sock_diag (netlink inet_diag) dumps of every TCP socket: sockdiag.cc's header comment
// documents the exports and the record layout.

#pragma once

#include <napi.h>

namespace tcpotel {

void InitSockdiag(Napi::Env env, Napi::Object exports);

}  // namespace tcpotel
