/* A plain AVX-512 kernel for the thin 1x1 convolutions a pruned bottleneck ends with,
 * y = relu(x W + b + y) in place (the residual sum fused), channels-last: x is
 * (positions, K) with few channels K, W is (K, C), y is (positions, C), C a multiple of
 * 64, positions a multiple of 4. Each thread takes 4 positions x 64 channels at a time in
 * 16 registers. Checked against a double-precision loop; timed as the fastest of 200 calls,
 * to set beside oneDNN's implementations (benchmarks/conv_implementations.c) on the same
 * shape. Needs a CPU with AVX-512.
 *
 *     gcc -O3 -march=native -fopenmp benchmarks/thin_conv.c -o /tmp/thin_conv -lm
 *     OMP_NUM_THREADS=2 /tmp/thin_conv POSITIONS K C      (e.g. 8192 8 256: 4 x 64x32) */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
static void thin(int P, int K, int C, const float *x, const float *w, const float *b, float *y) {
  #pragma omp parallel for schedule(static)
  for (int p0 = 0; p0 < P; p0 += 4) {
    for (int c0 = 0; c0 < C; c0 += 64) {
      __m512 acc[4][4];
      for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++)
        acc[i][j] = _mm512_add_ps(_mm512_loadu_ps(b + c0 + 16 * j), _mm512_loadu_ps(y + (size_t)(p0 + i) * C + c0 + 16 * j));
      for (int k = 0; k < K; k++) {
        __m512 w0 = _mm512_loadu_ps(w + k * C + c0), w1 = _mm512_loadu_ps(w + k * C + c0 + 16),
               w2 = _mm512_loadu_ps(w + k * C + c0 + 32), w3 = _mm512_loadu_ps(w + k * C + c0 + 48);
        for (int i = 0; i < 4; i++) {
          __m512 xv = _mm512_set1_ps(x[(size_t)(p0 + i) * K + k]);
          acc[i][0] = _mm512_fmadd_ps(xv, w0, acc[i][0]); acc[i][1] = _mm512_fmadd_ps(xv, w1, acc[i][1]);
          acc[i][2] = _mm512_fmadd_ps(xv, w2, acc[i][2]); acc[i][3] = _mm512_fmadd_ps(xv, w3, acc[i][3]);
        }
      }
      __m512 z = _mm512_setzero_ps();
      for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++)
        _mm512_storeu_ps(y + (size_t)(p0 + i) * C + c0 + 16 * j, _mm512_max_ps(acc[i][j], z));
    }
  }
}
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: thin_conv POSITIONS K C\n"); return 2; }
  int P = atoi(argv[1]), K = atoi(argv[2]), C = atoi(argv[3]);
  if (P < 4 || P % 4 || K < 1 || C < 64 || C % 64) {
    fprintf(stderr, "thin_conv: POSITIONS must be a positive multiple of 4, K positive, C a multiple of 64\n");
    return 2;
  }
  float *x = aligned_alloc(64, (size_t)P * K * 4), *w = aligned_alloc(64, (size_t)K * C * 4), *b = aligned_alloc(64, C * 4);
  float *y = aligned_alloc(64, (size_t)P * C * 4), *y0 = aligned_alloc(64, (size_t)P * C * 4);
  for (size_t i = 0; i < (size_t)P * K; i++) x[i] = (float)((i * 7919) % 1000) / 1000 - 0.5f;
  for (size_t i = 0; i < (size_t)K * C; i++) w[i] = (float)((i * 104729) % 1000) / 1000 - 0.5f;
  for (int i = 0; i < C; i++) b[i] = 0.01f * (i % 7);
  for (size_t i = 0; i < (size_t)P * C; i++) y0[i] = (float)((i * 31) % 100) / 100 - 0.5f;
  // check against a plain reference on a copy
  memcpy(y, y0, (size_t)P * C * 4); thin(P, K, C, x, w, b, y);
  double err = 0;
  for (int p = 0; p < P; p += 97) for (int c = 0; c < C; c++) {
    double s = b[c] + y0[(size_t)p * C + c]; for (int k = 0; k < K; k++) s += (double)x[(size_t)p * K + k] * w[k * C + c];
    s = s > 0 ? s : 0; double e = fabs(s - y[(size_t)p * C + c]); if (e > err) err = e; }
  double best = 1e9;
  for (int r = 0; r < 200; r++) { double t = omp_get_wtime(); thin(P, K, C, x, w, b, y); t = omp_get_wtime() - t; if (t < best) best = t; }
  printf("P=%d K=%d C=%d: %.3f ms, %.0f GFLOP/s, max error %.2e\n", P, K, C, best * 1e3, 2.0 * P * K * C / best / 1e9, err);
  return 0;
}
