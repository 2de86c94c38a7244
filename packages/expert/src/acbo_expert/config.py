"""Configuration of PARENT_SCALE and its baselines.

Bad settings raise :class:`acbo_core.errors.ConfigError` naming the field (one error class and
one validator for every layer's configs: :mod:`acbo_core.configs`).
"""

from __future__ import annotations

from acbo_core.configs import choice, configclass, flag, integer, number, sequence
from acbo_core.errors import ConfigError

__all__ = ["ParentScaleConfig"]

PRIORS = ("uniform", "doubly_robust")
FEATURES = ("linear", "rff")
GP_GRID_SETTINGS = 192
"""Hyperparameter settings on the causal GP's grid (acbo_expert.causal_gp): the most
``gp_ensemble`` can average over."""
MAX_RFF_CELLS = 10_000_000
"""Most ``n_obs * n_rff`` with random features: the regressions hold 128 sets x n_obs x n_rff
floats at once (5 GB at the limit)."""
MAX_T = 10_000
"""Most optimisation steps of one run."""

# The highest of each int setting below is a size a 24 GiB machine can hold (or a run can
# finish); each is named in the message of a setting above it.

@configclass
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

    n_obs: int = integer(200, 1, 1_000_000)
    n_int: int = integer(2, 0, 10_000)
    T: int = integer(30, 1, MAX_T)
    samples_per_step: int = integer(1, 1, 10_000)
    k_max: int = integer(3, 0, 10)
    prior: str = choice("uniform", PRIORS)
    n_bootstrap: int = integer(10, 1, 10_000)
    dr_alpha: float = number(0.05, 0.0, 1.0, high_open=True)
    dr_hidden: int = integer(16, 1, 4096)
    dr_steps: int = integer(100, 1, 1_000_000)
    dr_learning_rate: float = number(0.01, 0.0, low_open=True)
    dr_uniform_mix: float = number(0.01, 0.0, 1.0, high_open=True)
    prune_threshold: float = number(1e-4, 0.0, 1.0, high_open=True)
    features: str = choice("linear", FEATURES)
    n_rff: int = integer(100, 1, 4096)
    rff_lengthscales: tuple[float, ...] = sequence((0.25, 0.5, 1.0, 2.0),
                                                   number(1.0, 0.0, low_open=True), min_items=1)
    sigma_y: float = number(1.0, 0.0, low_open=True)
    sigma_theta: float = number(1.0, 0.0, low_open=True)
    noiseless: bool = flag(True)
    noiseless_mc_samples: int = integer(100_000, 1, 1_000_000)
    minimize: bool = flag(True)
    max_surrogate_sets: int = integer(32, 1, 10_000)
    grid_size: int = integer(256, 2, 100_000)
    refine_size: int = integer(64, 2, 100_000)
    gp_steps: int = integer(0, 0, 100_000)
    gp_ensemble: int = integer(8, 1, GP_GRID_SETTINGS)
    ei_xi: float = number(0.0, 0.0)

    def _check(self) -> None:
        if self.features == "rff" and self.n_obs * self.n_rff > MAX_RFF_CELLS:
            raise ConfigError(f"ParentScaleConfig.n_obs x n_rff = {self.n_obs * self.n_rff} is "
                              f"more than the limit {MAX_RFF_CELLS} with features='rff': lower "
                              "one of them")

    def n_features(self, n_candidates: int) -> int:
        """Regression features the run needs observational samples for."""
        return self.n_rff if self.features == "rff" else n_candidates
