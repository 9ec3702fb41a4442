"""Models as pure ``(init, apply)`` pairs: ``init(key, hp, spec) -> params``, ``apply(params, x)``."""

from dyntheory.models._flax import FlaxModel as FlaxModel
from dyntheory.models._linear import DeepLinear as DeepLinear
from dyntheory.models._linear import Linear as Linear
from dyntheory.models._mlp import MLP as MLP
from dyntheory.models._mlp import EmbedMLP as EmbedMLP
from dyntheory.models._resmlp import ResMLP as ResMLP
