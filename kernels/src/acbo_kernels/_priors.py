"""Priors of the Bayesian linear regression that scores a parent set.

Both are frozen, hashable dataclasses registered as static pytrees: they are never traced, so
`jax.jit(score_parent_sets)(..., prior=NIGPrior(...))` works, and a new prior value compiles a
new kernel call rather than flowing through as data.
"""

from __future__ import annotations

import dataclasses
import math

import jax

from ._errors import KernelInputError

GAUSSIAN_KIND = 0  # must match acbo::kGaussianPrior in csrc/acbo_math.h
NIG_KIND = 1  # must match acbo::kNIGPrior


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise KernelInputError(f"{name} must be a finite positive number, got {value!r}")
    return value


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class GaussianPrior:
    """Known-noise Bayesian linear regression (PARENT_SCALE's model, the default).

    y = X_S theta + eps with theta ~ N(0, sigma_theta^2 I) and eps ~ N(0, sigma_y^2 I), so
    marginally y ~ N(0, sigma_theta^2 X_S X_S^T + sigma_y^2 I).

    Attributes:
        sigma_y: noise standard deviation (> 0).
        sigma_theta: prior standard deviation of each coefficient (> 0).
        intercept: add a column of ones to X_S (its coefficient has the same prior).
    """

    sigma_y: float = 1.0
    sigma_theta: float = 1.0
    intercept: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma_y", _positive("sigma_y", self.sigma_y))
        object.__setattr__(self, "sigma_theta", _positive("sigma_theta", self.sigma_theta))
        object.__setattr__(self, "intercept", bool(self.intercept))

    def ffi_params(self) -> tuple[int, bool, float, float, float]:
        """(kind, intercept, p0, p1, p2) as the kernel reads them."""
        return GAUSSIAN_KIND, self.intercept, self.sigma_y, self.sigma_theta, 0.0


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class NIGPrior:
    """Normal-Inverse-Gamma prior: unknown noise variance, integrated out.

    theta | s^2 ~ N(0, s^2 c I), s^2 ~ InvGamma(a0, b0), y | theta, s^2 ~ N(X_S theta, s^2 I);
    marginally y is multivariate Student-t with 2 a0 degrees of freedom, location 0 and scale
    (b0 / a0)(I + c X_S X_S^T).

    Attributes:
        c: prior covariance scale, V0 = c I (> 0).
        a0: inverse-gamma shape (> 0).
        b0: inverse-gamma scale (> 0).
        intercept: add a column of ones to X_S (its coefficient has the same prior).
    """

    c: float = 1.0
    a0: float = 1.0
    b0: float = 1.0
    intercept: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "c", _positive("c", self.c))
        object.__setattr__(self, "a0", _positive("a0", self.a0))
        object.__setattr__(self, "b0", _positive("b0", self.b0))
        object.__setattr__(self, "intercept", bool(self.intercept))

    def ffi_params(self) -> tuple[int, bool, float, float, float]:
        """(kind, intercept, p0, p1, p2) as the kernel reads them."""
        return NIG_KIND, self.intercept, self.c, self.a0, self.b0


Prior = GaussianPrior | NIGPrior


def check_prior(prior: object) -> Prior:
    if not isinstance(prior, GaussianPrior | NIGPrior):
        raise KernelInputError(
            f"prior must be a GaussianPrior or an NIGPrior, got {type(prior).__name__}"
        )
    return prior
