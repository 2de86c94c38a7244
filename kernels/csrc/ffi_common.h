// Shape bookkeeping shared by the CPU and CUDA FFI handlers.
//
// Under `jax.vmap` with vmap_method="broadcast_all" every operand gets the same extra leading
// axes, so the handlers read every leading axis as batch:
//   x        [L..., B, N, d]  f32
//   rows     [L..., B, N]     pred   (row used for this batch element's target)
//   target   [L..., B]        s32
//   sets     [L..., K, k_max] s32    (each leading index L has its own table)
//   out      [L..., B, K]     f32
// and for sampling
//   logw     [L..., B, K]     f32
//   key      [L..., 2]        u32
//   out      [L..., B, S]     s32
#ifndef ACBO_KERNELS_FFI_COMMON_H_
#define ACBO_KERNELS_FFI_COMMON_H_

#include <cstdint>
#include <string>

#include "xla/ffi/api/ffi.h"

namespace acbo {

namespace ffi = xla::ffi;

struct ScoreShape {
  int64_t groups;  // L: product of the leading (vmapped) axes
  int64_t batch;   // B
  int64_t rows;    // N
  int64_t vars;    // d
  int64_t sets;    // K
  int64_t width;   // k_max
};

struct SampleShape {
  int64_t groups;  // L
  int64_t batch;   // B
  int64_t cands;   // K
  int64_t samples; // S
};

inline int64_t Product(ffi::Span<const int64_t> dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

inline bool SameLeading(ffi::Span<const int64_t> a, ffi::Span<const int64_t> b, size_t n) {
  if (a.size() < n || b.size() < n) return false;
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

inline ffi::Error ScoreShapeOf(ffi::Span<const int64_t> x, ffi::Span<const int64_t> rows,
                               ffi::Span<const int64_t> target, ffi::Span<const int64_t> sets,
                               ffi::Span<const int64_t> out, ScoreShape* s) {
  if (x.size() < 3 || sets.size() < 2)
    return ffi::Error::InvalidArgument("acbo score: x must be [..., B, N, d], sets [..., K, k]");
  const size_t lead = x.size() - 3;  // number of leading L axes
  const bool ok = sets.size() == lead + 2 && rows.size() == lead + 2 &&
                  target.size() == lead + 1 && out.size() == lead + 2 &&
                  SameLeading(x, rows, lead + 2) && SameLeading(x, target, lead + 1) &&
                  SameLeading(x, sets, lead) && SameLeading(x, out, lead + 1) &&
                  out[lead + 1] == sets[lead];
  if (!ok) return ffi::Error::InvalidArgument("acbo score: operand shapes do not agree");
  s->groups = Product(x, 0, lead);
  s->batch = x[lead];
  s->rows = x[lead + 1];
  s->vars = x[lead + 2];
  s->sets = sets[lead];
  s->width = sets[lead + 1];
  return ffi::Error::Success();
}

inline ffi::Error SampleShapeOf(ffi::Span<const int64_t> logw, ffi::Span<const int64_t> key,
                                ffi::Span<const int64_t> out, SampleShape* s) {
  if (logw.size() < 2)
    return ffi::Error::InvalidArgument("acbo sample: log weights must be [..., B, K]");
  const size_t lead = logw.size() - 2;
  const bool ok = key.size() == lead + 1 && key[lead] == 2 && out.size() == lead + 2 &&
                  SameLeading(logw, key, lead) && SameLeading(logw, out, lead + 1);
  if (!ok) return ffi::Error::InvalidArgument("acbo sample: operand shapes do not agree");
  s->groups = Product(logw, 0, lead);
  s->batch = logw[lead];
  s->cands = logw[lead + 1];
  s->samples = out[lead + 1];
  return ffi::Error::Success();
}

}  // namespace acbo

#endif  // ACBO_KERNELS_FFI_COMMON_H_
