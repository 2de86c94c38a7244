"""acbo-core: the data layer of ACBO.

SCMs (validated immutable maps) and their mechanisms, changes of units, random and named graph
generators, jit-compiled ancestral sampling under perfect interventions, samples and
interventions, the columnar :class:`ExperienceBuffer`, :class:`ParentSetPosterior`,
:class:`AcquisitionState`, and versioned JSON files. Typed errors live in
:mod:`acbo_core.errors`.
"""

from acbo_core import errors
from acbo_core._keys import numpy_rng
from acbo_core.buffer import (
    STD_FLOOR,
    BufferArrays,
    ExperienceBuffer,
    create_buffer,
    standardisation,
)
from acbo_core.checkpoints import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from acbo_core.generators import (
    chain_scm,
    collider_scm,
    erdos_renyi_scm,
    fork_scm,
    psa_healthcare_scm,
    scale_free_scm,
    star_scm,
    toy_graph_scm,
)
from acbo_core.graph import (
    get_ancestors,
    get_children,
    get_descendants,
    get_parents,
    intervenable_variables,
    intervention_range,
    is_linear_scm,
    linear_coefficients,
    topological_order,
    true_parents,
)
from acbo_core.interventions import (
    Sample,
    create_perfect_intervention,
    create_sample,
    intervention_values,
    validate_intervention,
)
from acbo_core.mechanisms import (
    NAMED_MECHANISMS,
    evaluate_mechanism,
    fourier_mechanism,
    linear_mechanism,
    named_mechanism,
)
from acbo_core.posterior import ParentSetPosterior, kept_sets
from acbo_core.sampling import (
    default_intervention_ranges,
    exact_interventional_mean,
    intervention_arrays,
    monte_carlo_interventional_mean,
    sample_interventional,
    sample_observational,
    target_interventional_mean,
    target_moments,
)
from acbo_core.scm import create_scm
from acbo_core.serialization import (
    SCHEMA_VERSION,
    buffer_from_json,
    buffer_to_json,
    load_scm,
    posterior_from_json,
    posterior_to_json,
    save_scm,
    scm_from_json,
    scm_to_json,
)
from acbo_core.state import AcquisitionState, best_target_value, create_acquisition_state
from acbo_core.storage import (
    claim_directory,
    directory_kind,
    directory_lock,
    dumps_json,
    json_number,
    recover_directory,
    save_json,
    write_directory,
    write_file,
)
from acbo_core.units import change_units

__version__ = "0.1.0"

__all__ = [
    "errors",
    # SCMs and mechanisms
    "create_scm", "topological_order", "get_parents", "get_children", "get_ancestors",
    "get_descendants", "true_parents", "is_linear_scm", "linear_coefficients",
    "intervention_range", "intervenable_variables", "change_units",
    "linear_mechanism", "fourier_mechanism", "named_mechanism",
    "NAMED_MECHANISMS", "evaluate_mechanism",
    # generators
    "erdos_renyi_scm", "scale_free_scm", "chain_scm", "fork_scm", "collider_scm", "star_scm",
    "toy_graph_scm", "psa_healthcare_scm", "numpy_rng",
    # sampling
    "sample_observational", "sample_interventional", "exact_interventional_mean",
    "monte_carlo_interventional_mean", "target_interventional_mean", "target_moments",
    "default_intervention_ranges", "intervention_arrays",
    # data
    "Sample", "create_sample", "create_perfect_intervention", "validate_intervention",
    "intervention_values",
    "ExperienceBuffer", "BufferArrays", "create_buffer", "standardisation", "STD_FLOOR",
    "ParentSetPosterior", "kept_sets", "AcquisitionState", "create_acquisition_state",
    "best_target_value",
    # files
    "CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint_info",
    "write_directory", "write_file", "save_json", "dumps_json", "json_number", "claim_directory",
    "directory_kind", "recover_directory", "directory_lock",
    "SCHEMA_VERSION", "scm_to_json", "scm_from_json", "buffer_to_json", "buffer_from_json",
    "posterior_to_json", "posterior_from_json", "save_scm", "load_scm",
]
