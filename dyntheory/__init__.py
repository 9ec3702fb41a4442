"""dyntheory: train huge vmapped populations of tiny models and hold them against theory.

Example:
    >>> import dyntheory as dt
    >>> sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(),
    ...                  steps=10, batch_size=8, axes={"lr": [0.1, 0.2]}, seeds=2)
    >>> run = dt.train(sweep, key=0)
"""

from dyntheory import models as models
from dyntheory import tasks as tasks
from dyntheory._at_steps import AtSteps as AtSteps
from dyntheory._branch import branch as branch
from dyntheory._compute_optimal import ComputeOptimal as ComputeOptimal
from dyntheory._compute_optimal import compute_optimal as compute_optimal
from dyntheory._curvature import NTKTopEig as NTKTopEig
from dyntheory._curvature import Sharpness as Sharpness
from dyntheory._curvature import hvp as hvp
from dyntheory._curvature import ntk_top_eigenvalue as ntk_top_eigenvalue
from dyntheory._curvature import psd_top_eigenvalue as psd_top_eigenvalue
from dyntheory._curvature import top_hessian_eigenvalue as top_hessian_eigenvalue
from dyntheory._fits import PowerLawFit as PowerLawFit
from dyntheory._fits import ScalingLawFit as ScalingLawFit
from dyntheory._fits import fit_power_law as fit_power_law
from dyntheory._fits import fit_scaling_law as fit_scaling_law
from dyntheory._fourier import excluded_loss as excluded_loss
from dyntheory._fourier import fourier_basis as fourier_basis
from dyntheory._fourier import frequency_norms as frequency_norms
from dyntheory._fourier import gini as gini
from dyntheory._fourier import key_frequencies as key_frequencies
from dyntheory._fourier import restricted_loss as restricted_loss
from dyntheory._hparams import HParams as HParams
from dyntheory._metrics import FnMetric as FnMetric
from dyntheory._metrics import Metric as Metric
from dyntheory._metrics import MetricContext as MetricContext
from dyntheory._modes import ModeSeed as ModeSeed
from dyntheory._modes import ModeStrength as ModeStrength
from dyntheory._modes import end_to_end as end_to_end
from dyntheory._modes import mode_seed as mode_seed
from dyntheory._modes import mode_strength as mode_strength
from dyntheory._modes import mode_strengths as mode_strengths
from dyntheory._phases import classify as classify
from dyntheory._phases import grokking_rules as grokking_rules
from dyntheory._phases import phase_map as phase_map
from dyntheory._run import Run as Run
from dyntheory._run import load as load
from dyntheory._schedule import every as every
from dyntheory._schedule import pythia_schedule as pythia_schedule
from dyntheory._slopes import SlopeFit as SlopeFit
from dyntheory._slopes import fit_slope as fit_slope
from dyntheory._slopes import slope_verdict as slope_verdict
from dyntheory._stats import bootstrap_ci as bootstrap_ci
from dyntheory._stats import equivalence as equivalence
from dyntheory._sweep import Sweep as Sweep
from dyntheory._theory import TheoryResult as TheoryResult
from dyntheory._theory import lambdify_jax as lambdify_jax
from dyntheory._train import train as train
from dyntheory._transitions import summarize_transitions as summarize_transitions
from dyntheory._transitions import transition_times as transition_times
from dyntheory._verdict import Summary as Summary
from dyntheory._verdict import Verdict as Verdict
from dyntheory._verdict import aggregate as aggregate

__version__ = "0.1.0"
