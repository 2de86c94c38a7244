"""Loading the compiled extension and registering its FFI targets with JAX.

The extension is optional at import: if it is missing, was built against a newer jaxlib than
the one installed, or cannot be registered, the ops fall back to the pure-JAX reference and
warn once, saying why.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import warnings

import jax

SCORE_TARGET = "acbo_score_parent_sets"
SAMPLE_TARGET = "acbo_sample_parent_sets"


@dataclasses.dataclass(frozen=True)
class NativeStatus:
    """What the import found.

    Attributes:
        available: the CPU handlers are registered with JAX.
        cuda: the CUDA handlers are registered too (built with ACBO_CUDA=ON/AUTO and nvcc).
        reason: why the native path is unavailable ("" when it is available).
        built_with_jaxlib: the jaxlib whose FFI headers the extension was compiled against.
    """

    available: bool
    cuda: bool
    reason: str
    built_with_jaxlib: str


def _version_tuple(version: str) -> tuple[int, ...]:
    """Leading numeric release components: "0.10.2.dev1" -> (0, 10, 2), "1.2rc1" -> (1, 2)."""
    parts = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() != len(piece):
            break
    return tuple(parts)


def _load() -> NativeStatus:
    try:
        ext = importlib.import_module("acbo_kernels._acbo_kernels")
    except ImportError as err:
        return NativeStatus(False, False, f"the compiled extension is not importable ({err})", "")
    built = str(ext.BUILT_WITH_JAXLIB)
    import jaxlib

    installed = jaxlib.__version__
    if _version_tuple(installed) < _version_tuple(built):
        return NativeStatus(
            False,
            False,
            f"the extension was compiled against jaxlib {built} but jaxlib {installed} is "
            f"installed; XLA FFI handlers only run on the jaxlib they were built with or a newer "
            f"one: upgrade jaxlib (pip install 'jaxlib>={built}') or rebuild acbo-kernels",
            built,
        )
    cuda = False
    try:
        for platform, targets in ext.registrations().items():
            for name, capsule in targets.items():
                jax.ffi.register_ffi_target(name, capsule, platform=platform)
            cuda = cuda or platform == "CUDA"
    except Exception as err:  # a registration failure must not break the import
        return NativeStatus(False, False, f"registering the FFI targets failed ({err})", built)
    return NativeStatus(True, cuda, "", built)


STATUS = _load()
_warned = False


def native_available() -> bool:
    """True when the compiled CPU kernel is registered (else the reference is used)."""
    return STATUS.available


def warn_fallback_once() -> None:
    """Warns, once per process, that an op is running on the pure-JAX reference."""
    global _warned
    if _warned:
        return
    _warned = True
    warnings.warn(
        f"acbo_kernels: using the pure-JAX reference instead of the native kernel: "
        f"{STATUS.reason}",
        RuntimeWarning,
        stacklevel=3,
    )
