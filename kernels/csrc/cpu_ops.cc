// CPU (C++) handlers of the acbo-kernels XLA FFI ops.
//
// Scoring: per batch element, the (d+1) x (d+1) Gram of [X, 1] over the rows used, accumulated in
// double (O(N d^2)), then one small Cholesky per candidate set (O(k^3), independent of N).
// Threads split first the batch (Gram phase), then the (batch element, set) pairs.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <thread>
#include <vector>

#include "acbo_math.h"
#include "ffi_common.h"
#include "xla/ffi/api/ffi.h"

namespace acbo {
namespace {

// Thread count: ACBO_KERNELS_NUM_THREADS if set, else the hardware's.
int64_t HardwareThreads() {
  static const int64_t hw = [] {
    if (const char* env = std::getenv("ACBO_KERNELS_NUM_THREADS")) {
      const long v = std::strtol(env, nullptr, 10);
      if (v > 0) return static_cast<int64_t>(v);
    }
    const unsigned h = std::thread::hardware_concurrency();
    return static_cast<int64_t>(h == 0 ? 1 : h);
  }();
  return hw;
}

// A small persistent pool. The calling thread works too and waits only for chunks that a
// helper has actually started, never for a helper to be scheduled: on a loaded machine a
// helper that wakes late finds no work left, and the call does not stall behind it.
class Pool {
 public:
  static Pool& Get() {
    static Pool* pool = new Pool(HardwareThreads() - 1);  // leaked: helpers live to exit
    return *pool;
  }

  // Runs fn(c) for c in [0, chunks), each exactly once, and returns when all are done.
  void Run(int64_t chunks, const std::function<void(int64_t)>& fn) {
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->chunks = chunks;
    bool shared = false;
    if (helpers_ > 0 && chunks > 1 && !busy_.exchange(true)) {  // else: run it all here
      {
        std::lock_guard<std::mutex> lock(mu_);
        job_ = job;
        ++generation_;
      }
      cv_.notify_all();
      shared = true;
    }
    Work(*job);
    if (shared) {
      {
        std::unique_lock<std::mutex> lock(job->mu);
        job->cv.wait(lock, [&] { return job->done.load() == job->chunks; });
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        job_.reset();
      }
      busy_.store(false);
    }
  }

 private:
  struct Job {
    const std::function<void(int64_t)>* fn = nullptr;
    int64_t chunks = 0;
    std::atomic<int64_t> next{0}, done{0};
    std::mutex mu;
    std::condition_variable cv;
  };

  explicit Pool(int64_t helpers) : helpers_(std::max<int64_t>(helpers, 0)) {
    for (int64_t i = 0; i < helpers_; ++i) std::thread([this] { Loop(); }).detach();
  }

  static void Work(Job& job) {
    for (int64_t c; (c = job.next.fetch_add(1)) < job.chunks;) {
      (*job.fn)(c);  // only reached while the caller is still waiting for this chunk
      if (job.done.fetch_add(1) + 1 == job.chunks) {
        std::lock_guard<std::mutex> lock(job.mu);
        job.cv.notify_all();
      }
    }
  }

  void Loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
      }
      if (job) Work(*job);
    }
  }

  int64_t helpers_;
  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  std::shared_ptr<Job> job_;
};

// Runs fn(begin, end) over [0, items) in chunks of at least `grain` items, on the pool.
template <typename F>
void ParallelFor(int64_t items, int64_t grain, F&& fn) {
  if (items <= 0) return;
  const int64_t threads = HardwareThreads();
  const int64_t chunks =
      std::max<int64_t>(1, std::min((items + grain - 1) / std::max<int64_t>(grain, 1), 4 * threads));
  if (chunks == 1) {
    fn(int64_t{0}, items);
    return;
  }
  const int64_t size = (items + chunks - 1) / chunks;
  const std::function<void(int64_t)> body = [&](int64_t c) {
    const int64_t b = c * size, e = std::min(items, b + size);
    if (b < e) fn(b, e);
  };
  Pool::Get().Run(chunks, body);
}

// x86-64 builds carry an AVX2+FMA clone of the Gram loop, picked at load time on CPUs that have
// it; the baseline clone keeps the wheel portable.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ACBO_GRAM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ACBO_GRAM_CLONES
#endif

// Upper triangle of the Gram of [x, 1] over rows [row0, row1) with use[r] set, added into g
// (D x D, D = d + 1). Four rows per pass so that each G entry is loaded and stored a quarter as
// often; the inner loop is contiguous and vectorises.
ACBO_GRAM_CLONES void AddGramOfRows(const float* x, const bool* use, int64_t row0, int64_t row1,
                                    int64_t d, double* g) {
  const int64_t D = d + 1;
  std::vector<double> buf(static_cast<size_t>(4 * D));
  double* r0 = buf.data();
  double* r1 = r0 + D;
  double* r2 = r1 + D;
  double* r3 = r2 + D;
  double* rows[4] = {r0, r1, r2, r3};
  int filled = 0;
  auto flush = [&](int count) {
    for (int q = count; q < 4; ++q) std::fill(rows[q], rows[q] + D, 0.0);
    for (int64_t i = 0; i < D; ++i) {
      const double a0 = r0[i], a1 = r1[i], a2 = r2[i], a3 = r3[i];
      double* gi = g + i * D;
      for (int64_t j = i; j < D; ++j)
        gi[j] += a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j];
    }
  };
  for (int64_t row = row0; row < row1; ++row) {
    if (!use[row]) continue;
    const float* xr = x + row * d;
    double* dst = rows[filled];
    for (int64_t j = 0; j < d; ++j) dst[j] = static_cast<double>(xr[j]);
    dst[d] = 1.0;
    if (++filled == 4) {
      flush(4);
      filled = 0;
    }
  }
  if (filled > 0) flush(filled);
}

void Symmetrize(int64_t D, double* g) {
  for (int64_t i = 0; i < D; ++i)
    for (int64_t j = 0; j < i; ++j) g[i * D + j] = g[j * D + i];
}

// Scores the sets of one batch element in table order, exploiting two facts:
//  - row j of the LDL^T factorisation of A_S depends only on S's first j + 1 members, so the
//    rows of a common prefix with the previous set are reused;
//  - in the order of enumerate_parent_sets ({0,1,2}, {0,1,3}, ...) runs of sets share all but
//    their last member. A run is scored in a loop whose iterations are independent (the last
//    row, one pivot, one log each), which the CPU overlaps far better than set after set.
// The arithmetic of each row is that of LogMarginalFromGram (used by the CUDA kernel).
class SetScorer {
 public:
  static constexpr int kRun = 64;

  SetScorer(int64_t cap, float* out)
      : cap_(cap),
        out_(out),
        idx_(static_cast<size_t>(cap)),
        l_(static_cast<size_t>(cap * cap)),
        z_(static_cast<size_t>(cap)),
        piv_(static_cast<size_t>(cap)),
        inv_piv_(static_cast<size_t>(cap)),
        logdet_(static_cast<size_t>(cap)),
        q_(static_cast<size_t>(cap)) {}

  // Starts a new batch element: its Gram, target terms and output row.
  void Reset(const double* g, int64_t D, int32_t t, const TargetTerms& tt, float* out) {
    Flush();
    g_ = g;
    D_ = D;
    t_ = t;
    tt_ = tt;
    out_ = out;
    rows_ = 0;
  }

  // Queues set k (Gram indices idx[0..m)); its score is written by the time Flush returns.
  void Add(int64_t k, const int32_t* idx, int m) {
    if (tt_.n <= 0.0) {  // no rows: the empty product of likelihoods
      out_[k] = 0.0f;
      return;
    }
    const int prefix = m - 1;
    bool same = run_len_ > 0 && m == run_m_;
    for (int j = 0; same && j < prefix; ++j) same = idx_[j] == idx[j];
    if (!same) {
      Flush();
      if (m == 0) {
        out_[k] = static_cast<float>(Result(0, 0.0, 0.0));
        return;
      }
      int start = 0;
      while (start < prefix && start < rows_ && idx_[start] == idx[start]) ++start;
      for (int j = start; j < prefix; ++j) AddRow(j, idx[j]);
      rows_ = prefix;
      run_m_ = m;
    }
    run_k_[run_len_] = k;
    run_v_[run_len_] = idx[m - 1];
    if (++run_len_ == kRun) Flush();
  }

  void Flush() {
    if (run_len_ == 0) return;
    const int p_len = run_m_ - 1;
    switch (p_len) {  // small prefixes unrolled
      case 0: LastRows<0>(p_len); break;
      case 1: LastRows<1>(p_len); break;
      case 2: LastRows<2>(p_len); break;
      case 3: LastRows<3>(p_len); break;
      default: LastRows<-1>(p_len); break;
    }
    const double ld0 = p_len > 0 ? logdet_[p_len - 1] : 0.0;
    const double q0 = p_len > 0 ? q_[p_len - 1] : 0.0;
    for (int r = 0; r < run_len_; ++r) {
      const double dj = run_piv_[r], zj = run_z_[r];
      const double res = dj > 0.0 ? Result(run_m_, ld0 + log(dj), q0 + zj * zj / dj)
                                  : std::numeric_limits<double>::quiet_NaN();
      out_[run_k_[r]] = static_cast<float>(res);
    }
    run_len_ = 0;
  }

 private:
  double Result(int m, double logdet, double q) const {
    if (tt_.gaussian)
      return tt_.base - 0.5 * (m * tt_.per_member + logdet - q * tt_.scale * tt_.scale);
    return tt_.base - 0.5 * (logdet + m * tt_.per_member) -
           tt_.an * log(tt_.b0 + 0.5 * (tt_.yy - q));
  }

  // Pivot and z entry of the last row for every queued set; independent iterations.
  template <int P>
  void LastRows(int p_dyn) {
    const int P_len = P >= 0 ? P : p_dyn;
    const double* lrows = l_.data();
    double lj[64];  // P_len < cap_ <= 64 is checked by the handler
    for (int r = 0; r < run_len_; ++r) {
      const double* gj = g_ + static_cast<int64_t>(run_v_[r]) * D_;
      for (int p = 0; p < P_len; ++p) {
        double a = gj[idx_[p]] * tt_.scale;
        const double* lp = lrows + p * cap_;
        for (int q = 0; q < p; ++q) a -= lj[q] * lp[q] * piv_[q];
        lj[p] = a * inv_piv_[p];
      }
      double dj = gj[run_v_[r]] * tt_.scale + tt_.ridge;
      double zj = gj[t_];
      for (int p = 0; p < P_len; ++p) {
        dj -= lj[p] * lj[p] * piv_[p];
        zj -= lj[p] * z_[p];
      }
      run_piv_[r] = dj;
      run_z_[r] = zj;
    }
  }

  // Row j of L (unit diagonal) and its pivot, for a set's prefix. The pivots' inverses are kept
  // so that later rows multiply instead of divide.
  void AddRow(int j, int32_t v) {
    idx_[j] = v;
    const double* gj = g_ + static_cast<int64_t>(v) * D_;
    double* lj = l_.data() + j * cap_;
    for (int p = 0; p < j; ++p) {
      double a = gj[idx_[p]] * tt_.scale;
      const double* lp = l_.data() + p * cap_;
      for (int r = 0; r < p; ++r) a -= lj[r] * lp[r] * piv_[r];
      lj[p] = a * inv_piv_[p];
    }
    double dj = gj[v] * tt_.scale + tt_.ridge;
    double zj = gj[t_];
    for (int p = 0; p < j; ++p) {
      dj -= lj[p] * lj[p] * piv_[p];
      zj -= lj[p] * z_[p];
    }
    piv_[j] = dj;
    inv_piv_[j] = 1.0 / dj;
    z_[j] = zj;
    const double prev_logdet = j > 0 ? logdet_[j - 1] : 0.0;
    const double prev_q = j > 0 ? q_[j - 1] : 0.0;
    if (dj > 0.0) {
      logdet_[j] = prev_logdet + log(dj);
      q_[j] = prev_q + zj * zj * inv_piv_[j];
    } else {  // not numerically positive definite: NaN for every set with this prefix
      logdet_[j] = std::numeric_limits<double>::quiet_NaN();
      q_[j] = std::numeric_limits<double>::quiet_NaN();
    }
  }

  int64_t cap_;
  float* out_;
  std::vector<int32_t> idx_;
  std::vector<double> l_, z_, piv_, inv_piv_, logdet_, q_;
  const double* g_ = nullptr;
  int64_t D_ = 0;
  int32_t t_ = 0;
  TargetTerms tt_{};
  int rows_ = 0;  // prefix rows currently factorised
  int run_m_ = 0;
  int run_len_ = 0;
  int64_t run_k_[kRun];
  int32_t run_v_[kRun];
  double run_piv_[kRun], run_z_[kRun];
};

ffi::Error ScoreCpu(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::PRED> rows,
                    ffi::Buffer<ffi::S32> target, ffi::Buffer<ffi::S32> sets,
                    ffi::ResultBuffer<ffi::F32> out, int32_t prior_kind, bool intercept,
                    double p0, double p1, double p2) {
  ScoreShape s;
  if (auto err = ScoreShapeOf(x.dimensions(), rows.dimensions(), target.dimensions(),
                              sets.dimensions(), out->dimensions(), &s);
      !err.success())
    return err;
  if (prior_kind != kGaussianPrior && prior_kind != kNIGPrior)
    return ffi::Error::InvalidArgument("acbo score: unknown prior_kind");
  if (s.width + 1 > 64)
    return ffi::Error::InvalidArgument("acbo score: k_max above 63 is not supported");
  const PriorParams prior{prior_kind, intercept, p0, p1, p2};
  const int64_t M = s.groups * s.batch, N = s.rows, d = s.vars, K = s.sets, W = s.width;
  const int64_t D = d + 1;
  const float* xp = x.typed_data();
  const bool* up = rows.typed_data();
  const int32_t* tp = target.typed_data();
  const int32_t* sp = sets.typed_data();
  float* op = out->typed_data();

  // Batch elements are processed in chunks so that the Grams held at once stay small even when
  // vmap stacks many of them.
  const int64_t gram_bytes = D * D * static_cast<int64_t>(sizeof(double));
  const int64_t chunk = std::max<int64_t>(1, (int64_t{64} << 20) / std::max<int64_t>(gram_bytes, 1));
  std::vector<double> grams, partial;
  std::vector<TargetTerms> terms;
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    const int64_t mc = std::min(chunk, M - m0);
    grams.assign(static_cast<size_t>(mc * D * D), 0.0);
    terms.resize(static_cast<size_t>(mc));
    // Fewer batch elements than workers: split each element's rows too, then add the parts.
    const int64_t parts =
        std::max<int64_t>(1, std::min<int64_t>(HardwareThreads() / mc, N / 256));
    double* target_grams = grams.data();
    if (parts > 1) {
      partial.assign(static_cast<size_t>(mc * parts * D * D), 0.0);
      target_grams = partial.data();
    }
    ParallelFor(mc * parts, 1, [&](int64_t b, int64_t e) {
      for (int64_t it = b; it < e; ++it) {
        const int64_t i = it / parts, part = it % parts;
        const int64_t m = m0 + i;
        const int64_t r0 = N * part / parts, r1 = N * (part + 1) / parts;
        AddGramOfRows(xp + m * N * d, up + m * N, r0, r1, d, target_grams + it * D * D);
      }
    });
    for (int64_t i = 0; i < mc; ++i) {
      double* g = grams.data() + i * D * D;
      for (int64_t part = 0; parts > 1 && part < parts; ++part) {
        const double* src = partial.data() + (i * parts + part) * D * D;
        for (int64_t e = 0; e < D * D; ++e) g[e] += src[e];
      }
      Symmetrize(D, g);
      const int32_t t = tp[m0 + i];
      terms[i] = (t >= 0 && t < d) ? MakeTargetTerms(g, D, t, prior) : TargetTerms{};
    }
    ParallelFor(mc * K, 4096, [&](int64_t b, int64_t e) {
      std::vector<int32_t> idx(static_cast<size_t>(W + 1));
      SetScorer scorer(W + 1, op);
      for (int64_t i = b / K; i * K < e; ++i) {
        const int64_t m = m0 + i;
        const int32_t t = tp[m];
        const int32_t* table = sp + (m / s.batch) * K * W;
        float* row_out = op + m * K;
        scorer.Reset(grams.data() + i * D * D, D, t, terms[i], row_out);
        const int64_t k_end = std::min(K, e - i * K);
        for (int64_t k = std::max<int64_t>(0, b - i * K); k < k_end; ++k) {
          const int32_t* set = table + k * W;
          bool bad = t < 0 || t >= d;
          for (int64_t j = 0; j < W; ++j) bad |= set[j] < -1 || set[j] >= d;
          if (bad) {  // only reachable when validation was skipped under tracing
            row_out[k] = std::numeric_limits<float>::quiet_NaN();
            continue;
          }
          const int msize = GatherSet(set, W, t, d, intercept, idx.data());
          if (msize < 0) {
            row_out[k] = -std::numeric_limits<float>::infinity();
            continue;
          }
          scorer.Add(k, idx.data(), msize);
        }
      }
      scorer.Flush();
    });
  }
  return ffi::Error::Success();
}

ffi::Error SampleCpu(ffi::Buffer<ffi::F32> logw, ffi::Buffer<ffi::U32> key,
                     ffi::ResultBuffer<ffi::S32> out, bool replace) {
  SampleShape s;
  if (auto err = SampleShapeOf(logw.dimensions(), key.dimensions(), out->dimensions(), &s);
      !err.success())
    return err;
  const int64_t M = s.groups * s.batch, K = s.cands, S = s.samples;
  if (!replace && S > K)
    return ffi::Error::InvalidArgument("acbo sample: num_samples > K without replacement");
  const float* wp = logw.typed_data();
  const uint32_t* kp = key.typed_data();
  int32_t* op = out->typed_data();
  const double neg_inf = -std::numeric_limits<double>::infinity();

  if (replace) {
    ParallelFor(M * S, std::max<int64_t>(1, 65536 / std::max<int64_t>(K, 1)),
                [&](int64_t b, int64_t e) {
                  for (int64_t it = b; it < e; ++it) {
                    const int64_t m = it / S, smp = it % S;
                    const int64_t grp = m / s.batch, bb = m % s.batch;
                    const uint32_t k0 = kp[2 * grp], k1 = kp[2 * grp + 1];
                    const float* w = wp + m * K;
                    double best = neg_inf;
                    int32_t arg = -1;
                    for (int64_t k = 0; k < K; ++k) {
                      if (!(w[k] > -std::numeric_limits<float>::infinity())) continue;
                      const double v = static_cast<double>(w[k]) +
                                       GumbelWithReplacement(k0, k1, bb, smp, S, k);
                      if (v > best) {  // strict: ties go to the lower index
                        best = v;
                        arg = static_cast<int32_t>(k);
                      }
                    }
                    op[m * S + smp] = arg;
                  }
                });
    return ffi::Error::Success();
  }

  ParallelFor(M, 1, [&](int64_t b, int64_t e) {
    std::vector<double> val(static_cast<size_t>(K));
    std::vector<int32_t> order(static_cast<size_t>(K));
    for (int64_t m = b; m < e; ++m) {
      const int64_t grp = m / s.batch, bb = m % s.batch;
      const uint32_t k0 = kp[2 * grp], k1 = kp[2 * grp + 1];
      const float* w = wp + m * K;
      for (int64_t k = 0; k < K; ++k)
        val[k] = w[k] > -std::numeric_limits<float>::infinity()
                     ? static_cast<double>(w[k]) + GumbelWithoutReplacement(k0, k1, bb, k)
                     : neg_inf;
      std::iota(order.begin(), order.end(), 0);
      // Gumbel-top-k: the S largest perturbed weights, larger first, ties to the lower index.
      std::partial_sort(order.begin(), order.begin() + S, order.end(),
                        [&](int32_t i, int32_t j) {
                          return val[i] > val[j] || (val[i] == val[j] && i < j);
                        });
      for (int64_t q = 0; q < S; ++q)
        op[m * S + q] = val[order[q]] == neg_inf ? -1 : order[q];
    }
  });
  return ffi::Error::Success();
}

}  // namespace
}  // namespace acbo

XLA_FFI_DEFINE_HANDLER_SYMBOL(AcboScoreParentSetsCpu, acbo::ScoreCpu,
                              xla::ffi::Ffi::Bind()
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

XLA_FFI_DEFINE_HANDLER_SYMBOL(AcboSampleParentSetsCpu, acbo::SampleCpu,
                              xla::ffi::Ffi::Bind()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()  // log weights
                                  .Arg<xla::ffi::Buffer<xla::ffi::U32>>()  // key words
                                  .Ret<xla::ffi::Buffer<xla::ffi::S32>>()  // indices
                                  .Attr<bool>("replace"));
