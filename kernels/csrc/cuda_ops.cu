// CUDA handlers of the acbo-kernels XLA FFI ops: the math of acbo_math.h, with parallelism over
// Gram entries, then over (batch element, set) pairs, then over (batch element, sample) pairs.
// Same target names as the CPU handlers; registered for the "CUDA" platform.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "acbo_math.h"
#include "ffi_common.h"
#include "xla/ffi/api/ffi.h"

namespace acbo {
namespace {

constexpr int kThreads = 256;

ffi::Error LastCudaError(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return ffi::Error::Success();
  return ffi::Error::Internal(std::string("acbo ") + what + ": " + cudaGetErrorString(err));
}

// One thread per Gram entry (i, j >= i) of [x, 1] for batch element blockIdx.y of the chunk;
// consecutive threads read consecutive columns of a row, so the loads coalesce.
__global__ void GramKernel(const float* x, const bool* use, int64_t m0, int64_t n_rows, int64_t d,
                           double* grams) {
  const int64_t D = d + 1;
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= D * D) return;
  const int64_t i = e / D, j = e % D;
  if (j < i) return;
  const int64_t m = m0 + blockIdx.y;
  const float* xm = x + m * n_rows * d;
  const bool* um = use + m * n_rows;
  double acc = 0.0;
  for (int64_t r = 0; r < n_rows; ++r) {
    if (!um[r]) continue;
    const double xi = i == d ? 1.0 : static_cast<double>(xm[r * d + i]);
    const double xj = j == d ? 1.0 : static_cast<double>(xm[r * d + j]);
    acc += xi * xj;
  }
  double* g = grams + static_cast<int64_t>(blockIdx.y) * D * D;
  g[i * D + j] = acc;
  g[j * D + i] = acc;
}

// The set-independent terms of each batch element of the chunk.
__global__ void TermsKernel(const double* grams, const int32_t* target, TargetTerms* terms,
                            int64_t m0, int64_t mc, int64_t d, PriorParams prior) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= mc) return;
  const int64_t D = d + 1;
  const int32_t t = target[m0 + i];
  if (t >= 0 && t < d) terms[i] = MakeTargetTerms(grams + i * D * D, D, t, prior);
}

__global__ void ScoreKernel(const double* grams, const TargetTerms* terms, const int32_t* target,
                            const int32_t* sets, float* out, int64_t m0, int64_t mc,
                            int64_t batch, int64_t d, int64_t K, int64_t W, bool intercept) {
  const int64_t it = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (it >= mc * K) return;
  const int64_t D = d + 1;
  const int64_t i = it / K, k = it % K;
  const int64_t m = m0 + i;
  const int32_t t = target[m];
  const int32_t* set = sets + ((m / batch) * K + k) * W;
  float* dst = out + m * K + k;
  bool bad = t < 0 || t >= d;
  for (int64_t j = 0; j < W; ++j) bad |= set[j] < -1 || set[j] >= d;
  if (bad) {
    *dst = CUDART_NAN_F;
    return;
  }
  int32_t idx[kMaxSystem];
  double work[kMaxSystem * kMaxSystem + kMaxSystem];
  const int msize = GatherSet(set, W, t, d, intercept, idx);
  if (msize < 0) {
    *dst = -CUDART_INF_F;
    return;
  }
  *dst = static_cast<float>(LogMarginalFromGram(grams + i * D * D, D, t, terms[i], idx, msize,
                                                work));
}

struct Best {
  double val;
  int32_t idx;
};

// Larger value first; among equal values the lower index, matching the CPU handler.
__device__ __forceinline__ bool Better(const Best& a, const Best& b) {
  return a.val > b.val || (a.val == b.val && a.idx < b.idx);
}

__device__ Best BlockArgmax(Best mine, Best* shared) {
  shared[threadIdx.x] = mine;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride && Better(shared[threadIdx.x + stride], shared[threadIdx.x]))
      shared[threadIdx.x] = shared[threadIdx.x + stride];
    __syncthreads();
  }
  const Best result = shared[0];
  __syncthreads();
  return result;
}

// One block per (batch element, sample): argmax over K of w + Gumbel.
__global__ void SampleWithReplacementKernel(const float* logw, const uint32_t* key, int32_t* out,
                                            int64_t batch, int64_t K, int64_t S) {
  __shared__ Best shared[kThreads];
  const int64_t it = blockIdx.x;
  const int64_t m = it / S, smp = it % S;
  const int64_t grp = m / batch, bb = m % batch;
  const uint32_t k0 = key[2 * grp], k1 = key[2 * grp + 1];
  const float* w = logw + m * K;
  Best mine{-INFINITY, INT32_MAX};
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
    if (!(w[k] > -INFINITY)) continue;
    const Best cand{static_cast<double>(w[k]) + GumbelWithReplacement(k0, k1, bb, smp, S, k),
                    static_cast<int32_t>(k)};
    if (Better(cand, mine)) mine = cand;
  }
  const Best best = BlockArgmax(mine, shared);
  if (threadIdx.x == 0) out[m * S + smp] = best.val == -INFINITY ? -1 : best.idx;
}

__global__ void PerturbKernel(const float* logw, const uint32_t* key, double* val, int64_t batch,
                              int64_t K, int64_t total) {
  const int64_t it = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (it >= total) return;
  const int64_t m = it / K, k = it % K;
  const int64_t grp = m / batch, bb = m % batch;
  const float w = logw[it];
  val[it] = w > -INFINITY
                ? static_cast<double>(w) + GumbelWithoutReplacement(key[2 * grp], key[2 * grp + 1], bb, k)
                : -INFINITY;
}

// One block per batch element: S rounds of block argmax over the not-yet-taken candidates
// (Gumbel-top-k in order, ties to the lower index).
__global__ void TopKKernel(const double* val, unsigned char* taken, int32_t* out, int64_t K,
                           int64_t S) {
  __shared__ Best shared[kThreads];
  const int64_t m = blockIdx.x;
  const double* v = val + m * K;
  unsigned char* tk = taken + m * K;
  for (int64_t q = 0; q < S; ++q) {
    Best mine{-INFINITY, INT32_MAX};
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      if (tk[k]) continue;
      const Best cand{v[k], static_cast<int32_t>(k)};
      if (Better(cand, mine)) mine = cand;
    }
    const Best best = BlockArgmax(mine, shared);
    if (threadIdx.x == 0) {
      out[m * S + q] = best.val == -INFINITY ? -1 : best.idx;
      if (best.idx >= 0 && best.idx < K) tk[best.idx] = 1;
    }
    __syncthreads();
  }
}

ffi::Error ScoreCuda(cudaStream_t stream, ffi::ScratchAllocator scratch, ffi::Buffer<ffi::F32> x,
                     ffi::Buffer<ffi::PRED> rows, ffi::Buffer<ffi::S32> target,
                     ffi::Buffer<ffi::S32> sets, ffi::ResultBuffer<ffi::F32> out,
                     int32_t prior_kind, bool intercept, double p0, double p1, double p2) {
  ScoreShape s;
  if (auto err = ScoreShapeOf(x.dimensions(), rows.dimensions(), target.dimensions(),
                              sets.dimensions(), out->dimensions(), &s);
      !err.success())
    return err;
  if (prior_kind != kGaussianPrior && prior_kind != kNIGPrior)
    return ffi::Error::InvalidArgument("acbo score: unknown prior_kind");
  if (s.width + (intercept ? 1 : 0) > kMaxSystem)
    return ffi::Error::InvalidArgument("acbo score: the CUDA kernel supports k_max <= 15 (14 "
                                       "with an intercept)");
  const PriorParams prior{prior_kind, intercept, p0, p1, p2};
  const int64_t M = s.groups * s.batch, N = s.rows, d = s.vars, K = s.sets, W = s.width;
  const int64_t D = d + 1;
  if (M == 0 || K == 0) return ffi::Error::Success();
  const int64_t gram_bytes = D * D * static_cast<int64_t>(sizeof(double));
  const int64_t chunk =
      std::max<int64_t>(1, std::min<int64_t>(M, std::min<int64_t>(65535, (int64_t{256} << 20) / gram_bytes)));
  auto mem = scratch.Allocate(static_cast<size_t>(chunk * gram_bytes), alignof(double));
  auto terms_mem = scratch.Allocate(static_cast<size_t>(chunk) * sizeof(TargetTerms),
                                    alignof(TargetTerms));
  if (!mem.has_value() || !terms_mem.has_value())
    return ffi::Error::Internal("acbo score: scratch allocation failed");
  double* grams = static_cast<double*>(*mem);
  TargetTerms* terms = static_cast<TargetTerms*>(*terms_mem);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t mc = std::min(chunk, M - m0);
    const dim3 gram_grid(static_cast<unsigned>((D * D + kThreads - 1) / kThreads),
                         static_cast<unsigned>(mc));
    GramKernel<<<gram_grid, kThreads, 0, stream>>>(x.typed_data(), rows.typed_data(), m0, N, d,
                                                   grams);
    TermsKernel<<<static_cast<unsigned>((mc + 127) / 128), 128, 0, stream>>>(
        grams, target.typed_data(), terms, m0, mc, d, prior);
    const int64_t pairs = mc * K;
    ScoreKernel<<<static_cast<unsigned>((pairs + 127) / 128), 128, 0, stream>>>(
        grams, terms, target.typed_data(), sets.typed_data(), out->typed_data(), m0, mc, s.batch,
        d, K, W, intercept);
    if (auto err = LastCudaError("score"); !err.success()) return err;
  }
  return ffi::Error::Success();
}

ffi::Error SampleCuda(cudaStream_t stream, ffi::ScratchAllocator scratch,
                      ffi::Buffer<ffi::F32> logw, ffi::Buffer<ffi::U32> key,
                      ffi::ResultBuffer<ffi::S32> out, bool replace) {
  SampleShape s;
  if (auto err = SampleShapeOf(logw.dimensions(), key.dimensions(), out->dimensions(), &s);
      !err.success())
    return err;
  const int64_t M = s.groups * s.batch, K = s.cands, S = s.samples;
  if (!replace && S > K)
    return ffi::Error::InvalidArgument("acbo sample: num_samples > K without replacement");
  if (M == 0 || S == 0) return ffi::Error::Success();
  if (replace) {
    SampleWithReplacementKernel<<<static_cast<unsigned>(M * S), kThreads, 0, stream>>>(
        logw.typed_data(), key.typed_data(), out->typed_data(), s.batch, K, S);
    return LastCudaError("sample");
  }
  auto val = scratch.Allocate(static_cast<size_t>(M * K) * sizeof(double), alignof(double));
  auto taken = scratch.Allocate(static_cast<size_t>(M * K), 1);
  if (!val.has_value() || !taken.has_value())
    return ffi::Error::Internal("acbo sample: scratch allocation failed");
  cudaMemsetAsync(*taken, 0, static_cast<size_t>(M * K), stream);
  const int64_t total = M * K;
  PerturbKernel<<<static_cast<unsigned>((total + kThreads - 1) / kThreads), kThreads, 0,
                  stream>>>(logw.typed_data(), key.typed_data(), static_cast<double*>(*val),
                            s.batch, K, total);
  TopKKernel<<<static_cast<unsigned>(M), kThreads, 0, stream>>>(
      static_cast<double*>(*val), static_cast<unsigned char*>(*taken), out->typed_data(), K, S);
  return LastCudaError("sample");
}

}  // namespace
}  // namespace acbo

XLA_FFI_DEFINE_HANDLER_SYMBOL(AcboScoreParentSetsCuda, acbo::ScoreCuda,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<xla::ffi::ScratchAllocator>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()   // x
                                  .Arg<xla::ffi::Buffer<xla::ffi::PRED>>()  // rows used
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // target
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // parent sets
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()   // log ML
                                  .Attr<int32_t>("prior_kind")
                                  .Attr<bool>("intercept")
                                  .Attr<double>("p0")
                                  .Attr<double>("p1")
                                  .Attr<double>("p2"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(AcboSampleParentSetsCuda, acbo::SampleCuda,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<xla::ffi::ScratchAllocator>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()  // log weights
                                  .Arg<xla::ffi::Buffer<xla::ffi::U32>>()  // key words
                                  .Ret<xla::ffi::Buffer<xla::ffi::S32>>()  // indices
                                  .Attr<bool>("replace"));
