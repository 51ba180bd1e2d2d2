/* The CPU's fp32 arithmetic peak: every thread runs chains of 512-bit fused multiply-adds
 * (12 independent accumulators, enough to cover the FMA latency on two pipes) with no
 * memory traffic; the best of 5 runs, in GFLOP/s (an FMA is 2 FLOPs per lane). The
 * convolution figures in BENCHMARKS.md are read against it.
 *
 *     gcc -O3 -march=native -fopenmp benchmarks/fma_peak.c -o /tmp/fma_peak
 *     OMP_NUM_THREADS=2 /tmp/fma_peak
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>

#define CHAINS 12

int main(void) {
    const long iterations = 25000000;
    double best = 0;
    float sink = 0;
    for (int run = 0; run < 5; run++) {
        double start = omp_get_wtime();
        float total = 0;
#pragma omp parallel reduction(+ : total)
        {
            __m512 acc[CHAINS];
            const __m512 scale = _mm512_set1_ps(1.0000001f), shift = _mm512_set1_ps(1e-7f);
            for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
            for (long i = 0; i < iterations; i++)
                for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], scale, shift);
            for (int c = 0; c < CHAINS; c++) total += _mm512_reduce_add_ps(acc[c]);
        }
        double seconds = omp_get_wtime() - start;
        double flops = (double)iterations * CHAINS * 16 * 2 * omp_get_max_threads();
        if (flops / seconds > best) best = flops / seconds;
        sink += total;
    }
    printf("%.1f GFLOP/s fp32 FMA peak, %d thread(s) (checksum %g)\n", best / 1e9, omp_get_max_threads(), sink);
    return 0;
}
