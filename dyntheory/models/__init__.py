"""Models as pure ``(init, apply)`` pairs: ``init(key, hp, spec) -> params``, ``apply(params, x)``."""

from dyntheory.models._attention_scores import HeadScore as HeadScore
from dyntheory.models._attention_scores import copying_score as copying_score
from dyntheory.models._attention_scores import head_scores as head_scores
from dyntheory.models._attention_scores import ov_circuit as ov_circuit
from dyntheory.models._attention_scores import prefix_matching as prefix_matching
from dyntheory.models._attention_scores import previous_token as previous_token
from dyntheory.models._attention_scores import repeated_probe as repeated_probe
from dyntheory.models._flax import FlaxModel as FlaxModel
from dyntheory.models._linear import DeepLinear as DeepLinear
from dyntheory.models._linear import Linear as Linear
from dyntheory.models._mlp import MLP as MLP
from dyntheory.models._mlp import EmbedMLP as EmbedMLP
from dyntheory.models._resmlp import ResMLP as ResMLP
from dyntheory.models._transformer import Transformer as Transformer
