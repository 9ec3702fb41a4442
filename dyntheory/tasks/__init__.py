"""Synthetic tasks: pure JAX, deterministic from their stream keys. ``Task`` says what a task provides."""

from dyntheory.tasks._base import KINDS as KINDS
from dyntheory.tasks._base import Batch as Batch
from dyntheory.tasks._base import Spec as Spec
from dyntheory.tasks._base import Task as Task
from dyntheory.tasks._base import finite_minibatch as finite_minibatch
from dyntheory.tasks._fixed import FixedData as FixedData
from dyntheory.tasks._icl_regression import InContextRegression as InContextRegression
from dyntheory.tasks._icl_regression import PoolLoss as PoolLoss
from dyntheory.tasks._markov_icl import InContextMarkov as InContextMarkov
from dyntheory.tasks._modular import ModularArithmetic as ModularArithmetic
from dyntheory.tasks._modular_sequence import ModularSequence as ModularSequence
from dyntheory.tasks._multilabel import MultiLabel as MultiLabel
from dyntheory.tasks._multitask_parity import MultitaskSparseParity as MultitaskSparseParity
from dyntheory.tasks._parity import SparseParity as SparseParity
from dyntheory.tasks._power_law import PowerLawFeatures as PowerLawFeatures
from dyntheory.tasks._repeated_tokens import RepeatedTokens as RepeatedTokens
from dyntheory.tasks._sampled import SampledData as SampledData
from dyntheory.tasks._sequence import PositionLoss as PositionLoss
from dyntheory.tasks._teacher_student import TeacherStudent as TeacherStudent
