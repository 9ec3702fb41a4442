"""Predict: forecast each member's outcome from its early training, and score the forecasts.

A forecast reads every member's metrics up to a cutoff and predicts a later :class:`Value` (as
quantiles) or an :class:`Event` (a transition: its probability by the end of the run and its
time). Curve-only predictors fit each member's own window (:class:`LastValue`,
:class:`PowerLaw`, :class:`Exponential`, :class:`SigmoidJump`); :class:`Population` learns from
the fit members of a :func:`split_members` split, calibrates on its calibration members, and can
take a theory's value as a feature (:func:`theory_only`: the theory as the forecast). Scores
(:func:`score_forecast`) are computed on held-out members only; scoring a member that fitted or
calibrated the predictor raises. See docs/predict.md.

Example:
    >>> import numpy as np, xarray as xr
    >>> from dyntheory import predict
    >>> t = np.arange(0.0, 101.0)
    >>> ds = xr.Dataset({"loss": (("seed", "step"), np.tile(0.2 + (t + 1) ** -0.5, (4, 1)))},
    ...                 coords={"step": t})
    >>> fc = predict.forecast(ds, predict.Value(metric="loss"), cutoff=0.2,
    ...                       predictor=predict.PowerLaw(n_boot=8))
    >>> float(predict.score_forecast(fc, ds).crps) < 1e-3
    True
"""

from dyntheory._analysis.forecast import LEVELS as LEVELS
from dyntheory._analysis.forecast import alarm_curve as alarm_curve
from dyntheory._analysis.forecast import compare_forecasts as compare_forecasts
from dyntheory._analysis.forecast import forecast as forecast
from dyntheory._analysis.forecast import score_forecast as score_forecast
from dyntheory._analysis.forecast_curves import Exponential as Exponential
from dyntheory._analysis.forecast_curves import LastValue as LastValue
from dyntheory._analysis.forecast_curves import PowerLaw as PowerLaw
from dyntheory._analysis.forecast_curves import SigmoidJump as SigmoidJump
from dyntheory._analysis.forecast_intervals import auroc_ci as auroc_ci
from dyntheory._analysis.forecast_intervals import coverage_ci as coverage_ci
from dyntheory._analysis.forecast_learned import Population as Population
from dyntheory._analysis.forecast_learned import theory_only as theory_only
from dyntheory._analysis.forecast_score import auroc as auroc
from dyntheory._analysis.forecast_score import coverage as coverage
from dyntheory._analysis.forecast_score import crps_quantiles as crps_quantiles
from dyntheory._analysis.forecast_score import crps_samples as crps_samples
from dyntheory._analysis.forecast_score import lead_time_curve as lead_time_curve
from dyntheory._analysis.forecast_score import log_score_binary as log_score_binary
from dyntheory._analysis.forecast_score import log_score_quantiles as log_score_quantiles
from dyntheory._analysis.forecast_score import paired_difference as paired_difference
from dyntheory._analysis.forecast_score import reliability_binary as reliability_binary
from dyntheory._analysis.forecast_score import reliability_quantiles as reliability_quantiles
from dyntheory._analysis.forecast_targets import Event as Event
from dyntheory._analysis.forecast_targets import Value as Value
from dyntheory._analysis.forecast_targets import outcome as outcome
from dyntheory._analysis.forecast_targets import split_members as split_members
