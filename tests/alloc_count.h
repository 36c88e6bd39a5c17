/* tests/alloc_count.h — heap-allocation counting for the "a step allocates
 * nothing" tests: include it in ONE test executable's source (it defines
 * malloc and friends) and read nbt_allocs around the code under test. */
#ifndef NABLA_TESTS_ALLOC_COUNT_H
#define NABLA_TESTS_ALLOC_COUNT_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define NBT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NBT_SANITIZED 1
#endif
#endif

/* The executable replaces malloc and friends with versions that count and
 * forward to glibc, so every allocation in the process (nabla's, OpenMP's,
 * libc's) is seen. Not under AddressSanitizer, which owns malloc itself; there
 * NBT_COUNT_MALLOC stays undefined and the counting tests skip. */
#if !defined(NBT_SANITIZED) && defined(__GLIBC__)
#define NBT_COUNT_MALLOC 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile long nbt_allocs;
void *malloc(size_t n) { __atomic_add_fetch(&nbt_allocs, 1, __ATOMIC_RELAXED); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { __atomic_add_fetch(&nbt_allocs, 1, __ATOMIC_RELAXED); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { __atomic_add_fetch(&nbt_allocs, 1, __ATOMIC_RELAXED); return __libc_realloc(p, n); }
int posix_memalign(void **p, size_t al, size_t n) {
    __atomic_add_fetch(&nbt_allocs, 1, __ATOMIC_RELAXED);
    *p = __libc_memalign(al, n);
    return *p ? 0 : 12; /* ENOMEM */
}
void *aligned_alloc(size_t al, size_t n) { __atomic_add_fetch(&nbt_allocs, 1, __ATOMIC_RELAXED); return __libc_memalign(al, n); }
#endif

#endif
