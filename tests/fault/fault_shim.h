// tests/fault/fault_shim.h — the control interface of libweft_fault, the
// fault-injection shim (fault_shim.cpp). Test programs linked with the
// shim use it to switch faults on and off around the behaviour they check,
// and to count what was injected; programs run under LD_PRELOAD configure
// it through the environment instead (WEFT_FAULTS, WEFT_FAULT_SEED).
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

// Replaces the whole configuration with `spec`, a comma-separated list of
// key=value (the syntax of WEFT_FAULTS; "" injects nothing):
//   short=P eintr=P eagain=P  on non-blocking sockets: recv, send, read,
//                             write (short counts; EINTR; EAGAIN followed
//                             by a readiness edge); accept: EINTR, EAGAIN
//   emfile=P                  accept and accept4 fail with EMFILE
//   gai_fail=P                getaddrinfo of a name fails with EAI_AGAIN
//   gai_stall=P gai_stall_ms=N  getaddrinfo of a name first sleeps N ms
//   seed=N                    the decisions' seed (else WEFT_FAULT_SEED, 1)
//   require=1                 the process fails at exit if nothing was
//                             injected (the shim was not in the way)
// P is a probability in [0, 1] per call. Aborts on a malformed spec.
void weft_fault_configure(const char* spec);

// How many faults of one kind were injected so far: "recv.short",
// "send.eagain", "accept.emfile", "getaddrinfo.stall", ... (the names of
// the exit summary); aborts on an unknown kind.
unsigned long weft_fault_count(const char* kind);

// The getaddrinfo calls sleeping in an injected stall right now.
int weft_fault_stalls_in_progress(void);

#ifdef __cplusplus
}
#endif
