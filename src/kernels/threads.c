/* The process-wide thread count for nabla's kernels: nb_set_threads, env
 * NABLA_NUM_THREADS, and a default of the CPUs this process may run on
 * (sched_getaffinity), which respects taskset, cgroups' cpusets and MPI binding. */
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "nabla/kernels.h"

static atomic_int n_threads = 0; /* 0: not decided yet */

static int affinity_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    const long n = sysconf(_SC_NPROCESSORS_ONLN); /* >1024 CPUs or no affinity API */
    return n > 0 ? (int)n : 1;
}

static int default_threads(void) {
    const char *env = getenv("NABLA_NUM_THREADS");
    if (env && *env) {
        char *end;
        const long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0 && v <= 4096) return (int)v;
    }
    return affinity_cpus();
}

void nb_set_threads(int n) { atomic_store(&n_threads, n > 0 ? n : default_threads()); }

int nb_get_threads(void) {
    int n = atomic_load(&n_threads);
    if (n <= 0) {
        n = default_threads();
        atomic_store(&n_threads, n);
    }
    return n;
}

/* Inside a parallel region (e.g. a convolution running its samples on
 * separate threads) every kernel runs on the calling thread alone. */
int nb__threads_for(double work, double min_work_per_thread) {
    const int max = nb_get_threads();
    if (max <= 1 || work < 2.0 * min_work_per_thread || omp_in_parallel()) return 1;
    const double fit = work / min_work_per_thread;
    return fit < (double)max ? (int)fit : max;
}
