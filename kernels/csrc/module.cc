// Python module `acbo_kernels._acbo_kernels`: hands the FFI handlers to Python as PyCapsules
// (registered with jax.ffi.register_ffi_target by acbo_kernels._native) and records what the
// extension was built against, so the import can refuse a jaxlib older than its headers.
#include <pybind11/pybind11.h>

#include "xla/ffi/api/c_api.h"
#include "xla/ffi/api/ffi.h"

#ifndef ACBO_JAXLIB_VERSION
#define ACBO_JAXLIB_VERSION "unknown"
#endif

XLA_FFI_DECLARE_HANDLER_SYMBOL(AcboScoreParentSetsCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(AcboSampleParentSetsCpu);
#ifdef ACBO_WITH_CUDA
XLA_FFI_DECLARE_HANDLER_SYMBOL(AcboScoreParentSetsCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(AcboSampleParentSetsCuda);
#endif

namespace py = pybind11;

namespace {

template <typename T>
py::capsule Capsule(T* fn) {
  static_assert(std::is_invocable_r_v<XLA_FFI_Error*, T, XLA_FFI_CallFrame*>,
                "not an XLA FFI handler");
  return py::capsule(reinterpret_cast<void*>(fn));
}

}  // namespace

PYBIND11_MODULE(_acbo_kernels, m) {
  m.doc() = "XLA FFI handlers for batched parent-set scoring and sampling (acbo-kernels).";
  m.def("registrations", [] {
    py::dict platforms;
    py::dict cpu;
    cpu["acbo_score_parent_sets"] = Capsule(AcboScoreParentSetsCpu);
    cpu["acbo_sample_parent_sets"] = Capsule(AcboSampleParentSetsCpu);
    platforms["cpu"] = cpu;
#ifdef ACBO_WITH_CUDA
    py::dict cuda;
    cuda["acbo_score_parent_sets"] = Capsule(AcboScoreParentSetsCuda);
    cuda["acbo_sample_parent_sets"] = Capsule(AcboSampleParentSetsCuda);
    platforms["CUDA"] = cuda;
#endif
    return platforms;
  });
  m.attr("BUILT_WITH_JAXLIB") = ACBO_JAXLIB_VERSION;
  m.attr("FFI_API_VERSION") = py::make_tuple(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
#ifdef ACBO_WITH_CUDA
  m.attr("CUDA_BUILT") = true;
#else
  m.attr("CUDA_BUILT") = false;
#endif
}
