// tsa.h — Clang thread-safety analysis annotations (no-ops for other
// compilers). The STRAY_THREAD_SAFETY build (clang, -Wthread-safety) checks
// that every GUARDED_BY field is touched with its lock held.
#pragma once

#if defined(__clang__)
#define STRAY_TSA(x) __attribute__((x))
#else
#define STRAY_TSA(x)
#endif

#define CAPABILITY(x) STRAY_TSA(capability(x))
#define GUARDED_BY(x) STRAY_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) STRAY_TSA(pt_guarded_by(x))
#define REQUIRES(...) STRAY_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) STRAY_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) STRAY_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) STRAY_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) STRAY_TSA(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS STRAY_TSA(no_thread_safety_analysis)
