"""Deployment: an inference-only system, and the system behind the expert's interface.

- :func:`deploy_trained_system` freezes a trained system for serving: no online fine-tuning,
  parameters on the device, and the surrogate's and policy's jitted paths compiled up front for
  the problem sizes you name, so the first real decision costs no compilation.
- :func:`integrate_with_existing_pipeline` wraps a system as a callable with PARENT_SCALE's
  interface (``(scm, *, key, config) -> ParentScaleResult``), so every harness, benchmark and
  dataset tool written for the expert runs the system unchanged.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import pyrsistent as pyr

import acbo_core as ac
from acbo.system import OptimizationResult, TrainedACBOSystem
from acbo_core import AcquisitionState, ExperienceBuffer, ParentSetPosterior
from acbo_core.configs import configclass, integer, number, sequence
from acbo_expert import ParentScaleConfig, ParentScaleResult

__all__ = ["DeploymentConfig", "DeployedACBOSystem", "deploy_trained_system", "ACBOPipeline",
           "integrate_with_existing_pipeline"]


@configclass
class DeploymentConfig:
    """How a system is served.

    Attributes:
      warmup_sizes: numbers of variables to compile the surrogate and the policy for.
      warmup_samples: rows of the warm-up data (the surrogate pads rows to buckets).
      exploration_rate: probability of a uniformly random intervention per decision.
    """

    warmup_sizes: tuple[int, ...] = sequence((8, 16), integer(8, 2))
    warmup_samples: int = integer(256, 1)
    exploration_rate: float = number(0.0, 0.0, 1.0)


@dataclasses.dataclass(frozen=True, eq=False)
class DeployedACBOSystem:
    """A trained system prepared for inference only (see :func:`deploy_trained_system`).

    Attributes:
      system: the underlying system (parameters on the device).
      config: the deployment settings.
      warmup_seconds: time spent compiling, per warmed-up size.
    """

    system: TrainedACBOSystem
    config: DeploymentConfig
    warmup_seconds: Mapping[int, float]

    def predict_posterior(self, buffer: ExperienceBuffer, target: str) -> ParentSetPosterior:
        return self.system.predict_posterior(buffer, target)

    def select_intervention(self, state: AcquisitionState, *, key: jax.Array | None = None
                            ) -> pyr.PMap:
        return self.system.select_intervention(state, self.config.exploration_rate, key=key)

    def run_optimization(self, scm: Mapping[str, Any], n_steps: int = 30, *,
                         key: jax.Array | None = None) -> OptimizationResult:
        """A run without online fine-tuning (the policy is fixed)."""
        return self.system.run_optimization(scm, n_steps, use_online_grpo=False, key=key,
                                            exploration_rate=self.config.exploration_rate)


def _warm_up(system: TrainedACBOSystem, d: int, n: int) -> None:
    names = [f"X{i}" for i in range(d)]
    rows = np.random.default_rng(d).normal(size=(n, d))
    buffer = ac.create_buffer(names).add_observations(rows)
    posterior = system.predict_posterior(buffer, names[-1])
    state = ac.create_acquisition_state(buffer, posterior,
                                        intervention_ranges={v: (-1.0, 1.0) for v in names[:-1]})
    system.select_intervention(state, 0.0, key=jax.random.key(0))


def deploy_trained_system(system: TrainedACBOSystem,
                          deployment_config: DeploymentConfig = DeploymentConfig()  # noqa: B008
                          ) -> DeployedACBOSystem:
    """Puts the parameters on the device and compiles the inference paths for each size."""
    params = jax.device_put(system.surrogate_params), jax.device_put(system.acquisition_params)
    system = dataclasses.replace(system, surrogate_params=params[0],
                                 acquisition_params=params[1])
    seconds = {}
    for d in deployment_config.warmup_sizes:
        start = time.perf_counter()
        _warm_up(system, d, deployment_config.warmup_samples)
        seconds[d] = time.perf_counter() - start
    return DeployedACBOSystem(system, deployment_config, seconds)


@dataclasses.dataclass(frozen=True, eq=False)
class ACBOPipeline:
    """The system with the expert's interface: ``pipeline(scm, key=..., config=...)``.

    Attributes:
      system: the trained system.
      use_online_grpo: fine-tune the policy during each run.
      exploration_rate: probability of a random intervention per step.
    """

    system: TrainedACBOSystem
    use_online_grpo: bool = False
    exploration_rate: float = 0.0

    def __call__(self, scm: Mapping[str, Any], *, key: jax.Array,
                 config: ParentScaleConfig | None = None) -> ParentScaleResult:
        """Runs the system as :func:`acbo_expert.run_parent_scale` would run the expert: the
        same D_O and D_I for the same key, ``config.T`` steps, the same record type."""
        system = self.system if config is None else dataclasses.replace(self.system,
                                                                         run_config=config)
        return system.run_optimization(scm, system.run_config.T, self.use_online_grpo, key=key,
                                       exploration_rate=self.exploration_rate).record


def integrate_with_existing_pipeline(trained_system: TrainedACBOSystem, *,
                                     use_online_grpo: bool = False) -> ACBOPipeline:
    """The system behind PARENT_SCALE's interface (see :class:`ACBOPipeline`)."""
    return ACBOPipeline(trained_system, use_online_grpo)
