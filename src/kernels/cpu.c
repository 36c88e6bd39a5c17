/* CPU feature detection and the dispatch path every vectorised kernel follows:
 * the best of scalar / AVX2+FMA / AVX-512 that both the CPU and the OS support,
 * optionally lowered by env NABLA_CPU or forced by tests via nb__set_cpu_path. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "nabla/core.h"

#if defined(__x86_64__)
#include <cpuid.h>

/* The OS must save the wide registers on context switches (XCR0), otherwise
 * executing AVX instructions faults even when CPUID advertises them. */
static unsigned long long read_xcr0(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0; /* OSXSAVE */
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static int detect_best(void) {
    __builtin_cpu_init();
    const unsigned long long xcr0 = read_xcr0();
    const int os_avx = (xcr0 & 0x6) == 0x6;       /* XMM | YMM state */
    const int os_avx512 = (xcr0 & 0xE6) == 0xE6;  /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (os_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NB_CPU_AVX512;
    if (os_avx && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NB_CPU_AVX2;
    return NB_CPU_SCALAR;
}
#else
static int detect_best(void) { return NB_CPU_SCALAR; }
#endif

/* -1 until first use; benign race: every thread computes the same values. */
static atomic_int best_path = -1;
static atomic_int cur_path = -1;

static int best(void) {
    int b = atomic_load(&best_path);
    if (b < 0) {
        b = detect_best();
        atomic_store(&best_path, b);
    }
    return b;
}

/* Default path: the best one, lowered (never raised) by NABLA_CPU. */
static int default_path(void) {
    const int b = best();
    const char *env = getenv("NABLA_CPU");
    if (!env) return b;
    int want = b;
    if (strcmp(env, "scalar") == 0) want = NB_CPU_SCALAR;
    else if (strcmp(env, "avx2") == 0) want = NB_CPU_AVX2;
    else if (strcmp(env, "avx512") == 0) want = NB_CPU_AVX512;
    return want < b ? want : b;
}

int nb__cpu_supports(int path) { return path >= NB_CPU_SCALAR && path <= best(); }

int nb__cpu_path(void) {
    int p = atomic_load(&cur_path);
    if (p < 0) {
        p = default_path();
        atomic_store(&cur_path, p);
    }
    return p;
}

int nb__cpu_avx2(void) {
#if defined(__x86_64__)
    return nb__cpu_path() >= NB_CPU_AVX2;
#else
    return 0;
#endif
}

int nb__set_cpu_path(int path) {
    if (path == NB_CPU_AUTO) {
        atomic_store(&cur_path, default_path());
        return NB_OK;
    }
    if (!nb__cpu_supports(path)) return NB_ERR_ARG;
    atomic_store(&cur_path, path);
    return NB_OK;
}

const char *nb__cpu_path_name(int path) {
    switch (path) {
    case NB_CPU_SCALAR: return "scalar";
    case NB_CPU_AVX2: return "avx2";
    case NB_CPU_AVX512: return "avx512";
    default: return "unknown";
    }
}
