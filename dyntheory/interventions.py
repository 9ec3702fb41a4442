"""Interventions during training: actions taken on chosen members at a step, or when their own
recorded signals trigger them. Pass them as ``dt.Sweep(interventions=[...])``; see
``dyntheory._config.interventions`` for the semantics and ``dt.effect`` for their paired effects.

Example:
    >>> import dyntheory as dt
    >>> cut = dt.interventions.ScaleLR(factor=0.1, steps=50).at(200, where={"lr": 0.3})
    >>> rescue = dt.interventions.Rewind(steps=20).when(dt.interventions.Spike("train_loss", ratio=3.0))
"""

from dyntheory._config.interventions import AboveMedian as AboveMedian
from dyntheory._config.interventions import AverageWeights as AverageWeights
from dyntheory._config.interventions import ClipUpdates as ClipUpdates
from dyntheory._config.interventions import Grokfast as Grokfast
from dyntheory._config.interventions import Intervention as Intervention
from dyntheory._config.interventions import Penalty as Penalty
from dyntheory._config.data_edit_actions import RelabelExamples as RelabelExamples
from dyntheory._config.data_edit_actions import RemoveExamples as RemoveExamples
from dyntheory._config.interventions import ResetOptimizer as ResetOptimizer
from dyntheory._config.interventions import Rewind as Rewind
from dyntheory._config.interventions import ScaleLR as ScaleLR
from dyntheory._config.interventions import SkipBatches as SkipBatches
from dyntheory._config.interventions import Spike as Spike
from dyntheory._config.interventions import Threshold as Threshold
from dyntheory._config.interventions import WeightDecayPulse as WeightDecayPulse
