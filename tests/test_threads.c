/* Thread count: the default is the CPUs this process may run on (affinity, not
 * the machine's cores), env NABLA_NUM_THREADS overrides it, nb_set_threads
 * sets it and n <= 0 restores the default; small jobs stay on one thread. */
#include <sched.h>

#include "test_util.h"
#include "kernels/kernels.h"

static int affinity_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    return CPU_COUNT(&set);
}

static void test_default_is_affinity(void **state) {
    (void)state;
    unsetenv("NABLA_NUM_THREADS");
    nb_set_threads(0);
    assert_int_equal(nb_get_threads(), affinity_count());

    /* Restricted to one CPU, the default follows the mask, not the cores. */
    cpu_set_t old, one;
    assert_int_equal(sched_getaffinity(0, sizeof old, &old), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &old)) {
            CPU_SET(c, &one);
            break;
        }
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    nb_set_threads(0);
    const int restricted = nb_get_threads();
    assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);
    assert_int_equal(restricted, 1);
    nb_set_threads(0);
}

static void test_env_overrides_default(void **state) {
    (void)state;
    setenv("NABLA_NUM_THREADS", "3", 1);
    nb_set_threads(0);
    assert_int_equal(nb_get_threads(), 3);
    /* Garbage is ignored rather than trusted. */
    setenv("NABLA_NUM_THREADS", "3x", 1);
    nb_set_threads(-1);
    assert_int_equal(nb_get_threads(), affinity_count());
    setenv("NABLA_NUM_THREADS", "0", 1);
    nb_set_threads(0);
    assert_int_equal(nb_get_threads(), affinity_count());
    unsetenv("NABLA_NUM_THREADS");
    nb_set_threads(0);
}

static void test_set_get(void **state) {
    (void)state;
    nb_set_threads(5);
    assert_int_equal(nb_get_threads(), 5);
    nb_set_threads(1);
    assert_int_equal(nb_get_threads(), 1);
    nb_set_threads(-7);
    assert_int_equal(nb_get_threads(), affinity_count());
}

static void test_small_jobs_one_thread(void **state) {
    (void)state;
    nb_set_threads(4);
    assert_int_equal(nb__threads_for(1e3, 1e6), 1);
    assert_int_equal(nb__threads_for(1.5e6, 1e6), 1);
    assert_int_equal(nb__threads_for(3.0e6, 1e6), 3);
    assert_int_equal(nb__threads_for(1e12, 1e6), 4);
    nb_set_threads(0);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_affinity),
        cmocka_unit_test(test_env_overrides_default),
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_small_jobs_one_thread),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
