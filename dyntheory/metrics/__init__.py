"""Metrics to record during training: curvature (sharpness, NTK eigenvalue, Hessian-vector products),
mode strengths of deep linear networks, Fourier progress measures, ``AtSteps``, and ``labelled``
for array-valued metrics (their axes become labelled dims)."""

from dyntheory._config.metric import MetricContext as MetricContext
from dyntheory._config.metric import labelled as labelled
from dyntheory.metrics._at_steps import AtSteps as AtSteps
from dyntheory.metrics._positions import ExactMatch as ExactMatch
from dyntheory.metrics._positions import PositionAccuracy as PositionAccuracy
from dyntheory.metrics._curvature import NTKTopEig as NTKTopEig
from dyntheory.metrics._curvature import Sharpness as Sharpness
from dyntheory.metrics._curvature import hvp as hvp
from dyntheory.metrics._curvature import ntk_top_eigenvalue as ntk_top_eigenvalue
from dyntheory.metrics._curvature import psd_top_eigenvalue as psd_top_eigenvalue
from dyntheory.metrics._curvature import top_hessian_eigenvalue as top_hessian_eigenvalue
from dyntheory.metrics._fourier import cross_entropy as cross_entropy
from dyntheory.metrics._fourier import excluded_loss as excluded_loss
from dyntheory.metrics._fourier import fourier_basis as fourier_basis
from dyntheory.metrics._fourier import frequency_norms as frequency_norms
from dyntheory.metrics._fourier import gini as gini
from dyntheory.metrics._fourier import key_frequencies as key_frequencies
from dyntheory.metrics._fourier import pair_labels as pair_labels
from dyntheory.metrics._fourier import restricted_loss as restricted_loss
from dyntheory.metrics._modes import ModeSeed as ModeSeed
from dyntheory.metrics._modes import ModeStrength as ModeStrength
from dyntheory.metrics._modes import end_to_end as end_to_end
from dyntheory.metrics._modes import mode_seed as mode_seed
from dyntheory.metrics._modes import mode_strength as mode_strength
from dyntheory.metrics._modes import mode_strengths as mode_strengths
