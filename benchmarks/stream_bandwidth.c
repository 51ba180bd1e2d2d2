/* Memory bandwidth of this machine as the thin convolutions see it: c[i] = a[i] + b[i]
 * over 128 MiB arrays (two streams read, one written), with OpenMP threads. A size in MiB
 * per array as the argument measures smaller arrays, for example 2 (6 MiB in all, inside
 * the last-level cache); each pass then repeats the sum over at least 384 MiB.
 *
 *     gcc -O3 -march=native -fopenmp benchmarks/stream_bandwidth.c -o /tmp/stream_bandwidth
 *     OMP_NUM_THREADS=2 /tmp/stream_bandwidth [MiB per array]
 *
 * Prints GB/s (bytes read and written, 10^9) for each of 5 passes. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 128;
    if (mib < 1) { fprintf(stderr, "stream_bandwidth: the size must be a whole number of MiB, at least 1\n"); return 1; }
    size_t n = (size_t)mib << 18;
    int repeats = mib >= 128 ? 1 : (int)(128 / mib);
    float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4), *c = aligned_alloc(64, n * 4);
    if (!a || !b || !c) { fprintf(stderr, "stream_bandwidth: out of memory\n"); return 1; }
    memset(a, 0, n * 4); memset(b, 0, n * 4); memset(c, 0, n * 4);
    for (int pass = 0; pass < 5; pass++) {
        double t = omp_get_wtime();
        for (int r = 0; r < repeats; r++) {
            #pragma omp parallel for
            for (size_t i = 0; i < n; i++) c[i] = a[i] + b[i];
        }
        t = omp_get_wtime() - t;
        printf("pass %d: %.1f GB/s (%d threads, %ld MiB per array)\n", pass + 1, 3.0 * n * 4 * repeats / t / 1e9,
               omp_get_max_threads(), mib);
    }
    free(a); free(b); free(c);
    return 0;
}
