// CDNNL: oneDNN's C API (v2, as Debian ships it) for Swift, plus thread control of
// the OpenMP runtime oneDNN is built against, looked up at run time so that no
// OpenMP development package is needed at build time, and the page moving (Linux
// mremap, variadic in C) that the tensor pool's memory uses.
#ifndef REIDPRUNE_CDNNL_SHIM_H
#define REIDPRUNE_CDNNL_SHIM_H
#include <dnnl.h>
#include <dnnl_debug.h>
#include <dlfcn.h>
#include <stddef.h>
#include <sys/mman.h>

extern void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...);

/* Moves the pages of [from, from + size) to [to, to + size), replacing whatever was
   mapped there, without copying; returns `to`, or MAP_FAILED with errno set. */
static inline void *reidprune_move_pages(void *from, size_t size, void *to) {
    return mremap(from, size, size, 1 /* MREMAP_MAYMOVE */ | 2 /* MREMAP_FIXED */, to);
}

static inline int reidprune_omp_set_num_threads(int n) {
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set) return -1;
    set(n);
    return 0;
}

static inline int reidprune_omp_get_max_threads(void) {
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    return get ? get() : 1;
}

#endif
