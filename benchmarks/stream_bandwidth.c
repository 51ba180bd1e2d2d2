/* Memory bandwidth of this machine as the thin convolutions see it: c[i] = a[i] + b[i]
 * over 128 MiB arrays (two streams read, one written), with OpenMP threads.
 *
 *     gcc -O3 -march=native -fopenmp benchmarks/stream_bandwidth.c -o /tmp/stream_bandwidth
 *     OMP_NUM_THREADS=2 /tmp/stream_bandwidth
 *
 * Prints GB/s (bytes read and written, 10^9) for each of 5 passes. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    size_t n = (size_t)32 << 20;
    float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4), *c = aligned_alloc(64, n * 4);
    if (!a || !b || !c) { fprintf(stderr, "stream_bandwidth: out of memory\n"); return 1; }
    memset(a, 0, n * 4); memset(b, 0, n * 4); memset(c, 0, n * 4);
    for (int pass = 0; pass < 5; pass++) {
        double t = omp_get_wtime();
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) c[i] = a[i] + b[i];
        t = omp_get_wtime() - t;
        printf("pass %d: %.1f GB/s (%d threads)\n", pass + 1, 3.0 * n * 4 / t / 1e9, omp_get_max_threads());
    }
    free(a); free(b); free(c);
    return 0;
}
