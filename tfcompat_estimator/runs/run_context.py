"""What one run of train, evaluate, predict or export gets from its Estimator."""

import typing

from tfcompat_estimator.runs import model_graphs


class RunContext(typing.NamedTuple):
  """An Estimator's settings and model graphs, as one run sees them.

  Runs receive this instead of the `Estimator`: data flows into them, and
  none reaches back into the Estimator's private members.

  Attributes:
    model_dir: Where checkpoints, event files and eval directories go.
    config: The `RunConfig` (its `model_dir` and `session_config` filled in).
    params: A copy of the Estimator's `params`.
    graphs: The Estimator's `ModelGraphs`, kept between runs.
    warm_start: Its `WarmStartSettings`, or None. Exporting a model never
      trained exports their checkpoint, as 2.15 did.
    latest_checkpoint: The Estimator's `latest_checkpoint`, the checkpoint
      exporting reads by default (SavedModelEstimator's falls back to its
      SavedModel's variables).
  """
  model_dir: str
  config: typing.Any
  params: typing.Any
  graphs: model_graphs.ModelGraphs
  warm_start: typing.Any = None
  latest_checkpoint: typing.Callable[[], typing.Optional[str]] = None
