// CDNNL: oneDNN's C API (v2, as Debian ships it) for Swift, plus thread control of
// the OpenMP runtime oneDNN is built against, looked up at run time so that no
// OpenMP development package is needed at build time.
#ifndef REIDPRUNE_CDNNL_SHIM_H
#define REIDPRUNE_CDNNL_SHIM_H
#include <dnnl.h>
#include <dnnl_debug.h>
#include <dlfcn.h>
#include <stddef.h>

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
