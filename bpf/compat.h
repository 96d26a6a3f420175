/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel-version and architecture workarounds, in one place. */
#ifndef TCPOTEL_COMPAT_H
#define TCPOTEL_COMPAT_H

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Syscall numbers: the raw sys_exit fallback of the accept hook, and "inside connect()". */
#if defined(__TARGET_ARCH_x86)
#define TCPOTEL_NR_ACCEPT 43
#define TCPOTEL_NR_ACCEPT4 288
#define TCPOTEL_NR_CONNECT 42
#define TCPOTEL_SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define TCPOTEL_NR_ACCEPT 202
#define TCPOTEL_NR_ACCEPT4 242
#define TCPOTEL_NR_CONNECT 203
#define TCPOTEL_SYSCALL_NR(regs) BPF_CORE_READ((struct user_pt_regs *)(regs), regs[8])
#else
#error "tcpotel: add the accept syscall numbers for this architecture to bpf/compat.h"
#endif

/*
 * sk_protocol was a bitfield before 5.6; the probed bitfield read handles both layouts.
 */
#define TCPOTEL_SK_PROTOCOL(sk) ((__u16)BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol))

/*
 * skc_cookie is an atomic64_t on current kernels. It stays 0 until something asks
 * for the cookie; the raw_tp path then falls back to the socket address.
 */
#define TCPOTEL_SK_COOKIE_FIELD(sk) BPF_CORE_READ(sk, __sk_common.skc_cookie.counter)

#endif /* TCPOTEL_COMPAT_H */
