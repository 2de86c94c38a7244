"""acbo-surrogate: the amortized posterior over a target's parent sets.

``ParentSetPredictionModel`` (haiku) reads the ``[N, d, 3]`` encoding of an
:class:`acbo_core.ExperienceBuffer` and scores every candidate parent set of the target (up to
``k_max``) in one forward pass; :func:`predict_posterior` turns that into an
:class:`acbo_core.ParentSetPosterior`. Training is a pure, jitted ``init`` / ``update`` pair on
batches from :func:`synthetic_batches` (random SCMs from acbo-core) or from expert
demonstrations through :func:`make_batch`; the loss mixes KL to the expert's posterior with the
true set's likelihood and per-variable cross-entropy.

    import jax, acbo_surrogate as sur
    config = sur.SurrogateConfig()
    state = sur.init(jax.random.key(0), config)
    for batch, _ in zip(sur.synthetic_batches(sur.GeneratorConfig(), key=jax.random.key(1)),
                        range(1000)):
        state, metrics = sur.update(state, batch)
    posterior = sur.predict_posterior(state.params, buffer, target, config=config.model)
"""

from acbo_surrogate.checkpoints import (
    CHECKPOINT_KIND,
    FORMAT_VERSION,
    load_surrogate,
    save_surrogate,
)
from acbo_surrogate.config import ModelConfig, SurrogateConfig, TrainConfig, bucket_d, bucket_n
from acbo_surrogate.data import (
    Example,
    GeneratorConfig,
    make_batch,
    prefetch,
    random_example,
    simulate_buffer,
    synthetic_batch,
    synthetic_batches,
)
from acbo_surrogate.inference import (
    encode_padded,
    predict_log_probs,
    predict_marginals,
    predict_posterior,
    predict_posteriors,
    sample_parent_sets,
)
from acbo_surrogate.losses import (
    Batch,
    batch_log_probs,
    kl_to_expert,
    loss_fn,
    parent_bce,
    true_set_nll,
)
from acbo_surrogate.metrics import (
    auprc,
    auroc,
    expected_calibration_error,
    f1_score,
    kl_divergence,
    posterior_metrics,
)
from acbo_surrogate.model import (
    ModelOutputs,
    ParentSetPredictionModel,
    forward_fn,
    pair_statistics,
)
from acbo_surrogate.sets import (
    candidate_table,
    marginals_from_sets,
    posterior_to_probs,
    set_index,
    set_log_probs,
)
from acbo_surrogate.training import (
    TrainState,
    batch_apply,
    evaluate_batch,
    init,
    init_params,
    make_optimizer,
    update,
)

__version__ = "0.1.0"

__all__ = [
    # configuration
    "ModelConfig", "TrainConfig", "SurrogateConfig", "bucket_n", "bucket_d",
    # model and set distribution
    "ParentSetPredictionModel", "ModelOutputs", "forward_fn", "pair_statistics",
    "candidate_table", "set_log_probs", "marginals_from_sets", "posterior_to_probs",
    "set_index",
    # training
    "Batch", "TrainState", "init", "init_params", "update", "make_optimizer", "batch_apply",
    "evaluate_batch", "loss_fn", "batch_log_probs", "kl_to_expert", "true_set_nll",
    "parent_bce",
    # data
    "Example", "GeneratorConfig", "make_batch", "simulate_buffer", "random_example",
    "synthetic_batch", "synthetic_batches", "prefetch",
    # inference
    "predict_posterior", "predict_posteriors", "predict_log_probs", "predict_marginals",
    "sample_parent_sets",
    "encode_padded",
    # checkpoints
    "save_surrogate", "load_surrogate", "CHECKPOINT_KIND", "FORMAT_VERSION",
    # metrics
    "f1_score", "auroc", "auprc", "expected_calibration_error", "kl_divergence",
    "posterior_metrics",
]
