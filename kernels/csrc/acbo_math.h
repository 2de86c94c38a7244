// Math shared by the CPU (C++) and CUDA implementations of the acbo-kernels ops.
//
// Everything here is header-only and marked host+device so that the two platforms run the very
// same arithmetic: the same counter-based random bits, the same Gumbel transform and the same
// closed-form log marginal likelihood from a Gram matrix. That is what makes "the same key gives
// the same sets on CPU and GPU" hold, and what keeps CPU and CUDA scores within rounding.
//
// Glossary of sizes: M flattened batch (leading vmap axes x B), N rows, d variables,
// D = d + 1 (the Gram also holds a column of ones at index d: G[d][d] = n rows used,
// G[d][i] = sum of column i; that is what an intercept needs), K candidate sets, k_max
// set width, S samples.
#ifndef ACBO_KERNELS_ACBO_MATH_H_
#define ACBO_KERNELS_ACBO_MATH_H_

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define ACBO_HD __host__ __device__ __forceinline__
#else
#define ACBO_HD inline
#endif

namespace acbo {

// Prior families, as passed in the `prior_kind` FFI attribute.
constexpr int32_t kGaussianPrior = 0;  // p0 = sigma_y, p1 = sigma_theta
constexpr int32_t kNIGPrior = 1;       // p0 = c (V0 = c I), p1 = a0, p2 = b0

// Largest system (set width plus optional intercept) the CUDA kernel holds in registers/local
// memory. The CPU kernel has no such limit.
constexpr int kMaxSystem = 16;

// Key words for the two sampling modes differ so their streams never coincide.
constexpr uint32_t kNoReplaceKeyTweak = 0x5bd1e995u;

struct PriorParams {
  int32_t kind;
  bool intercept;
  double p0, p1, p2;
};

ACBO_HD uint32_t Rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
// Only adds, rotates and xors on 32-bit words, so the pure-JAX reference reproduces it without
// 64-bit integer support.
ACBO_HD void Threefry2x32(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t* out0,
                          uint32_t* out1) {
  const int rot[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  const uint32_t ks[3] = {k0, k1, k0 ^ k1 ^ 0x1BD11BDAu};
  uint32_t x0 = c0 + ks[0];
  uint32_t x1 = c1 + ks[1];
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int i = 0; i < 20; ++i) {
    x0 += x1;
    x1 = Rotl32(x1, rot[i % 8]);
    x1 ^= x0;
    if (i % 4 == 3) {
      const uint32_t s = static_cast<uint32_t>(i / 4 + 1);
      x0 += ks[s % 3];
      x1 += ks[(s + 1) % 3] + s;
    }
  }
  *out0 = x0;
  *out1 = x1;
}

// A standard Gumbel draw from 53 random bits, computed in double. u lies strictly inside (0, 1).
ACBO_HD double GumbelFromBits(uint32_t b0, uint32_t b1) {
  const double u =
      (static_cast<double>(b0 >> 5) * 67108864.0 + static_cast<double>(b1 >> 6) + 0.5) *
      1.1102230246251565e-16;  // 2^-53
  return -log(-log(u));
}

// Counter of draw (b, s, k) with replacement and of (b, k) without. One Threefry call per draw.
ACBO_HD double GumbelWithReplacement(uint32_t k0, uint32_t k1, int64_t b, int64_t s,
                                     int64_t num_samples, int64_t k) {
  uint32_t o0, o1;
  Threefry2x32(k0, k1, static_cast<uint32_t>(k), static_cast<uint32_t>(b * num_samples + s), &o0,
               &o1);
  return GumbelFromBits(o0, o1);
}

ACBO_HD double GumbelWithoutReplacement(uint32_t k0, uint32_t k1, int64_t b, int64_t k) {
  uint32_t o0, o1;
  Threefry2x32(k0, k1 ^ kNoReplaceKeyTweak, static_cast<uint32_t>(k), static_cast<uint32_t>(b),
               &o0, &o1);
  return GumbelFromBits(o0, o1);
}

// Collects the Gram indices of one candidate set: the ones column first if the prior has an
// intercept (first, so that sets differing in their last member share every other row of their
// factorisation), then its entries that are not -1. Returns the system size m, or -1 when the
// set contains the target (such a set scores -inf).
ACBO_HD int GatherSet(const int32_t* set, int64_t k_max, int32_t target, int64_t d,
                      bool intercept, int32_t* idx) {
  int m = 0;
  if (intercept) idx[m++] = static_cast<int32_t>(d);
  for (int64_t j = 0; j < k_max; ++j) {
    const int32_t v = set[j];
    if (v < 0) continue;
    if (v == target) return -1;
    idx[m++] = v;
  }
  return m;
}

// The log marginal likelihood of y = column t regressed on a set S of columns, from the D x D
// Gram g of [X, 1] over the rows used (row-major; ones column at index D-1, so n = g[D-1][D-1]).
//
// Known noise: y ~ N(0, st2 Xs Xs^T + sy2 I). With A = Xs^T Xs / sy2 + I / st2 (m x m),
// b = Xs^T y, the determinant lemma and Woodbury give
//   log ML = -1/2 [n log(2 pi sy2) + y'y / sy2] - 1/2 [m log st2 + log|A| - b' A^-1 b / sy2^2].
// NIG with V0 = c I: A = Xs^T Xs + I / c, a_n = a0 + n/2, b_n = b0 + (y'y - b' A^-1 b) / 2,
//   log ML = -n/2 log(2 pi) + a0 log b0 + lgamma(a_n) - lgamma(a0)
//            - 1/2 (log|A| + m log c) - a_n log b_n.
// The first bracket depends on the target only (TargetTerms, once per batch element); each set
// costs one m x m LDL^T factorisation, independent of N.
struct TargetTerms {
  double n;          // rows used
  double yy;         // y'y
  double base;       // the set-independent part of log ML
  double per_member; // log st2 (Gaussian) or log c (NIG): each member's prior volume term
  double scale;      // A = G_SS * scale + ridge I
  double ridge;
  double an;         // NIG: a0 + n / 2
  double b0;
  bool gaussian;
};

ACBO_HD TargetTerms MakeTargetTerms(const double* g, int64_t D, int32_t t,
                                    const PriorParams& prior) {
  TargetTerms tt;
  const double log2pi = 1.8378770664093453;
  tt.n = g[(D - 1) * D + (D - 1)];
  tt.yy = g[static_cast<int64_t>(t) * D + t];
  tt.gaussian = prior.kind == kGaussianPrior;
  if (tt.gaussian) {
    const double sy2 = prior.p0 * prior.p0, st2 = prior.p1 * prior.p1;
    tt.scale = 1.0 / sy2;
    tt.ridge = 1.0 / st2;
    tt.per_member = log(st2);
    tt.base = -0.5 * (tt.n * (log2pi + log(sy2)) + tt.yy / sy2);
    tt.an = 0.0;
    tt.b0 = 0.0;
  } else {
    const double c = prior.p0, a0 = prior.p1, b0 = prior.p2;
    tt.scale = 1.0;
    tt.ridge = 1.0 / c;
    tt.per_member = log(c);
    tt.an = a0 + 0.5 * tt.n;
    tt.b0 = b0;
    tt.base = -0.5 * tt.n * log2pi + a0 * log(b0) + lgamma(tt.an) - lgamma(a0);
  }
  return tt;
}

// `idx[0..m)` are the set's Gram indices; `work` is scratch of at least m*m + m doubles.
// Returns NaN if A is not numerically positive definite (it is in exact arithmetic).
ACBO_HD double LogMarginalFromGram(const double* g, int64_t D, int32_t t, const TargetTerms& tt,
                                   const int32_t* idx, int m, double* work) {
  if (tt.n <= 0.0) return 0.0;  // no rows: the empty product of likelihoods
  double* a = work;          // m x m, lower triangle: L (unit diagonal implied) below, D on it
  double* z = work + m * m;  // L^-1 b
  for (int i = 0; i < m; ++i) {
    const double* gi = g + static_cast<int64_t>(idx[i]) * D;
    for (int j = 0; j <= i; ++j) a[i * m + j] = gi[idx[j]] * tt.scale;
    a[i * m + i] += tt.ridge;
    z[i] = gi[t];
  }
  // LDL^T (no square roots): |A| is the product of the pivots, b' A^-1 b = sum z_j^2 / D_j
  // with L z = b. The product is folded into a log now and then so it cannot overflow.
  double prod = 1.0, logdet = 0.0, q = 0.0;
  for (int j = 0; j < m; ++j) {
    double* aj = a + j * m;
    double dj = aj[j];
    for (int p = 0; p < j; ++p) dj -= aj[p] * aj[p] * a[p * m + p];
    if (!(dj > 0.0)) return NAN;
    aj[j] = dj;
    double zj = z[j];
    for (int p = 0; p < j; ++p) zj -= aj[p] * z[p];
    z[j] = zj;
    q += zj * zj / dj;
    const double inv = 1.0 / dj;
    for (int i = j + 1; i < m; ++i) {
      double* ai = a + i * m;
      double v = ai[j];
      for (int p = 0; p < j; ++p) v -= ai[p] * aj[p] * a[p * m + p];
      ai[j] = v * inv;
    }
    prod *= dj;
    if (prod > 1e150 || prod < 1e-150) {
      logdet += log(prod);
      prod = 1.0;
    }
  }
  logdet += log(prod);
  if (tt.gaussian)
    return tt.base - 0.5 * (m * tt.per_member + logdet - q * tt.scale * tt.scale);
  return tt.base - 0.5 * (logdet + m * tt.per_member) - tt.an * log(tt.b0 + 0.5 * (tt.yy - q));
}

}  // namespace acbo

#endif  // ACBO_KERNELS_ACBO_MATH_H_
