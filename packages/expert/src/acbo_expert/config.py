"""Configuration of PARENT_SCALE and its baselines, and the typed error for bad settings."""

from __future__ import annotations

import dataclasses

from acbo_core.config_checks import check_choice, check_finite, check_int, check_number
from acbo_core.errors import ConfigError

__all__ = ["ParentScaleConfig", "InvalidConfigError"]

PRIORS = ("uniform", "doubly_robust")
FEATURES = ("linear", "rff")
GP_GRID_SETTINGS = 192
"""Hyperparameter settings on the causal GP's grid (acbo_expert.causal_gp): the most
``gp_ensemble`` can average over."""
MAX_RFF_CELLS = 10_000_000
"""Most ``n_obs * n_rff`` with random features: the regressions hold 128 sets x n_obs x n_rff
floats at once (5 GB at the limit)."""

# (lowest, highest) of each int setting. The highest are sizes a 24 GiB machine can hold (or a
# run can finish); each is named in the message of a setting above it.
_INTS = {
    "n_obs": (1, 1_000_000), "n_int": (0, 10_000), "T": (1, 10_000),
    "samples_per_step": (1, 10_000), "k_max": (0, 10), "n_bootstrap": (1, 10_000),
    "dr_hidden": (1, 4096), "dr_steps": (1, 1_000_000), "n_rff": (1, 4096),
    "noiseless_mc_samples": (1, 1_000_000), "max_surrogate_sets": (1, 10_000),
    "grid_size": (2, 100_000), "refine_size": (2, 100_000), "gp_steps": (0, 100_000),
    "gp_ensemble": (1, GP_GRID_SETTINGS),
}
MAX_T = _INTS["T"][1]
"""Most optimisation steps of one run."""


class InvalidConfigError(ConfigError):
    """Settings that cannot give a run: T < 1, fewer observational samples than features, ...

    A :class:`acbo_core.errors.ConfigError` (so also a ``ValueError``)."""


@dataclasses.dataclass(frozen=True)
class ParentScaleConfig:
    """Settings of one PARENT_SCALE run (also used by the baselines).

    Attributes:
      n_obs: observational samples D_O.
      n_int: initial interventional samples D_I per intervenable variable, each at its own value
        drawn uniformly from the variable's intervention range.
      T: optimisation steps (interventions chosen by the algorithm), >= 1.
      samples_per_step: samples drawn from each chosen intervention (added to the posterior's
        data; with ``noiseless=False`` their mean is the observed target value).
      k_max: largest candidate parent set.
      prior: ``"uniform"`` over every set of size <= k_max, or ``"doubly_robust"``: frequency of
        the set selected by the doubly robust test over bootstrap resamples of D_O.
      n_bootstrap: bootstrap resamples of the doubly robust prior.
      dr_alpha: false discovery rate of the Benjamini–Yekutieli correction.
      dr_hidden: hidden units of the doubly robust MLPs (one hidden tanh layer, beside a
        closed-form ridge regression).
      dr_steps: full-batch Adam steps per MLP.
      dr_learning_rate: Adam step size of the MLPs.
      dr_uniform_mix: weight of a uniform prior mixed into the doubly robust one, so a set that
        no bootstrap selected stays possible (0 gives the pure bootstrap frequency).
      prune_threshold: sets whose posterior probability falls below this are left out of the
        reported posterior, the exploration set and the surrogate (they are still scored every
        step and come back if the data favour them).
      features: ``"linear"`` regression on the standardised parents, or ``"rff"``: random
        Fourier features of the parents (an RBF Gaussian process, for nonlinear SCMs).
      n_rff: random Fourier features per set.
      rff_lengthscales: candidate RBF length scales of the features (standardised units); each
        set takes the one that maximises its marginal likelihood on D_O.
      sigma_y: noise standard deviation of the per-set Bayesian regression (standardised target).
      sigma_theta: prior standard deviation of its coefficients.
      noiseless: record and optimise the target's interventional mean (exact for linear SCMs,
        Monte Carlo otherwise) as in the CBO benchmarks; otherwise the noisy sample mean.
      noiseless_mc_samples: Monte-Carlo samples of a noiseless evaluation (nonlinear SCMs).
      minimize: minimise the target (the default); ``False`` maximises it.
      max_surrogate_sets: the causal GP's prior mean mixes at most this many of the most
        probable surviving sets (their probabilities renormalised).
      grid_size: points of the dense grid over each variable's range for expected improvement.
      refine_size: points of the local grid around the best grid point (refinement).
      gp_steps: Adam steps refining the best grid hyperparameters (0: the grid maximiser is
        the fit; each step adds compile time through the Cholesky gradient).
      gp_ensemble: expected improvement is averaged over the MAP hyperparameters and the next
        best grid settings, this many in all, weighted by their marginal likelihood.
      ei_xi: exploration margin of expected improvement (standardised target units).
    """

    n_obs: int = 200
    n_int: int = 2
    T: int = 30
    samples_per_step: int = 1
    k_max: int = 3
    prior: str = "uniform"
    n_bootstrap: int = 10
    dr_alpha: float = 0.05
    dr_hidden: int = 16
    dr_steps: int = 100
    dr_learning_rate: float = 0.01
    dr_uniform_mix: float = 0.01
    prune_threshold: float = 1e-4
    features: str = "linear"
    n_rff: int = 100
    rff_lengthscales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    sigma_y: float = 1.0
    sigma_theta: float = 1.0
    noiseless: bool = True
    noiseless_mc_samples: int = 100_000
    minimize: bool = True
    max_surrogate_sets: int = 32
    grid_size: int = 256
    refine_size: int = 64
    gp_steps: int = 0
    gp_ensemble: int = 8
    ei_xi: float = 0.0

    def __post_init__(self) -> None:
        error = InvalidConfigError
        check_finite(self, error=error)
        for name, (low, high) in _INTS.items():
            check_int(self, name, low, high, error=error)
        check_choice(self, "prior", PRIORS, error=error)
        check_choice(self, "features", FEATURES, error=error)
        scales = tuple(self.rff_lengthscales) if isinstance(self.rff_lengthscales, tuple | list) \
            else ()
        if not scales or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                 and v > 0 for v in scales):
            raise error(
                f"ParentScaleConfig.rff_lengthscales must be a non-empty tuple of positive "
                f"numbers, got {self.rff_lengthscales!r}")
        object.__setattr__(self, "rff_lengthscales", tuple(float(v) for v in scales))
        for name in ("sigma_y", "sigma_theta", "dr_learning_rate"):
            check_number(self, name, 0.0, low_open=True, error=error)
        for name in ("dr_alpha", "prune_threshold", "dr_uniform_mix"):
            check_number(self, name, 0.0, 1.0, high_open=True, error=error)
        check_number(self, "ei_xi", 0.0, error=error)
        for name in ("noiseless", "minimize"):
            if not isinstance(getattr(self, name), bool):
                raise error(f"ParentScaleConfig.{name} must be true or false, got "
                            f"{getattr(self, name)!r}")
        if self.features == "rff" and self.n_obs * self.n_rff > MAX_RFF_CELLS:
            raise error(f"ParentScaleConfig.n_obs x n_rff = {self.n_obs * self.n_rff} is more "
                        f"than the limit {MAX_RFF_CELLS} with features='rff': lower one of them")

    def n_features(self, n_candidates: int) -> int:
        """Regression features the run needs observational samples for."""
        return self.n_rff if self.features == "rff" else n_candidates
