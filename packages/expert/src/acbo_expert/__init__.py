"""acbo-expert: PARENT_SCALE (CBO-U, Durand, Annadani, Bauer, Parbhoo 2025) and the baselines.

- :func:`run_parent_scale` runs the expert on an acbo-core SCM (used only as a sampler) and
  returns a :class:`ParentScaleResult` (the run's record);
- :func:`run_random`, :func:`run_oracle`, :func:`run_observational`: the baselines, same type;
- :func:`run_method`: any method given as (posterior, choice) functions on the same loop, data
  and record, for paired comparisons with the expert;
- :func:`score_proposals`: the expert's causal-GP expected improvement for interventions
  another method proposes (scores them, refines their values);
- :func:`parent_set_posterior`: the expert's posterior over parent sets from a buffer of D_O and
  D_I, for comparison with the amortised surrogate.

Settings live in the frozen :class:`ParentScaleConfig`; bad settings raise
:class:`acbo_core.errors.ConfigError`, as every layer's configs do.
"""

from acbo_expert.baselines import run_observational, run_oracle, run_random
from acbo_expert.config import ParentScaleConfig
from acbo_expert.custom import ChooseFn, PosteriorFn, initial_buffer, run_method
from acbo_expert.parent_scale import run_parent_scale
from acbo_expert.posterior import parent_set_posterior
from acbo_expert.proposals import ScoredProposal, score_proposals
from acbo_expert.result import ParentScaleResult

__version__ = "0.1.0"

__all__ = [
    "run_parent_scale", "run_random", "run_oracle", "run_observational",
    "parent_set_posterior", "run_method", "initial_buffer", "ChooseFn", "PosteriorFn",
    "ParentScaleConfig", "ParentScaleResult", "score_proposals",
    "ScoredProposal",
]
