"""dyntheory: train huge vmapped populations of tiny models and hold them against theory.

Example:
    >>> import dyntheory as dt
    >>> sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(),
    ...                  steps=10, batch_size=8, axes={"lr": [0.1, 0.2]}, seeds=2)
    >>> run = dt.train(sweep, key=0)

Importing dyntheory gives jax one CPU device per usable core (``dt.use_cores``; ``DYNTHEORY_DEVICES=1``
keeps one), so it comes first, before any jax operation starts jax's backends.
"""

from dyntheory._platform.devices import default_devices as _default_devices

_default_devices()  # before anything below can start jax's backends (they read the count once)

from dyntheory import design as design
from dyntheory import interventions as interventions
from dyntheory import losses as losses
from dyntheory import metrics as metrics
from dyntheory import models as models
from dyntheory import predict as predict
from dyntheory import tasks as tasks
from dyntheory._analysis.effects import effect as effect
from dyntheory._analysis.effects import event_effect as event_effect
from dyntheory._analysis.compute_optimal import ComputeOptimal as ComputeOptimal
from dyntheory._analysis.compute_optimal import compute_optimal as compute_optimal
from dyntheory._analysis.fits import PowerLawFit as PowerLawFit
from dyntheory._analysis.fits import ScalingLawFit as ScalingLawFit
from dyntheory._analysis.fits import fit_power_law as fit_power_law
from dyntheory._analysis.fits import fit_scaling_law as fit_scaling_law
from dyntheory._analysis.phases import classify as classify
from dyntheory._analysis.phases import grokking_rules as grokking_rules
from dyntheory._analysis.phases import phase_map as phase_map
from dyntheory._analysis.skeleton import SimConfig as SimConfig
from dyntheory._analysis.skeleton import pick_size as pick_size
from dyntheory._analysis.slopes import SlopeFit as SlopeFit
from dyntheory._analysis.slopes import fit_slope as fit_slope
from dyntheory._analysis.slopes import slope_verdict as slope_verdict
from dyntheory._analysis.stats import binomial_ci as binomial_ci
from dyntheory._analysis.stats import bootstrap_ci as bootstrap_ci
from dyntheory._analysis.stats import equivalence as equivalence
from dyntheory._analysis.theory import TheoryResult as TheoryResult
from dyntheory._analysis.theory import lambdify_jax as lambdify_jax
from dyntheory._analysis.transitions import summarize_transitions as summarize_transitions
from dyntheory._analysis.transitions import transition_times as transition_times
from dyntheory._analysis.transitions import value_at as value_at
from dyntheory._analysis.verdict import Known as Known
from dyntheory._analysis.verdict import Summary as Summary
from dyntheory._analysis.verdict import Verdict as Verdict
from dyntheory._analysis.verdict import aggregate as aggregate
from dyntheory._analysis.verdict import interval_verdict as interval_verdict
from dyntheory._analysis.verdict import mark_known as mark_known
from dyntheory._config.axes import derived as derived
from dyntheory._config.axes import zipped as zipped
from dyntheory._config.hparams import HParams as HParams
from dyntheory._config.metric import FnMetric as FnMetric
from dyntheory._config.metric import Metric as Metric
from dyntheory._config.metric import MetricContext as MetricContext
from dyntheory._config.schedule import every as every
from dyntheory._config.schedule import pythia_schedule as pythia_schedule
from dyntheory._config.sweep import Sweep as Sweep
from dyntheory._engine.branch import branch as branch
from dyntheory._engine.run import Run as Run
from dyntheory._engine.run import load as load
from dyntheory._engine.train import train as train
from dyntheory._platform.devices import use_cores as use_cores
from dyntheory.metrics import AtSteps as AtSteps
from dyntheory.metrics import ModeSeed as ModeSeed
from dyntheory.metrics import ModeStrength as ModeStrength
from dyntheory.metrics import NTKTopEig as NTKTopEig
from dyntheory.metrics import Sharpness as Sharpness
from dyntheory.metrics import end_to_end as end_to_end
from dyntheory.metrics import excluded_loss as excluded_loss
from dyntheory.metrics import fourier_basis as fourier_basis
from dyntheory.metrics import frequency_norms as frequency_norms
from dyntheory.metrics import gini as gini
from dyntheory.metrics import hvp as hvp
from dyntheory.metrics import key_frequencies as key_frequencies
from dyntheory.metrics import mode_seed as mode_seed
from dyntheory.metrics import mode_strength as mode_strength
from dyntheory.metrics import mode_strengths as mode_strengths
from dyntheory.metrics import ntk_top_eigenvalue as ntk_top_eigenvalue
from dyntheory.metrics import psd_top_eigenvalue as psd_top_eigenvalue
from dyntheory.metrics import restricted_loss as restricted_loss
from dyntheory.metrics import top_hessian_eigenvalue as top_hessian_eigenvalue

__version__ = "0.1.0"
