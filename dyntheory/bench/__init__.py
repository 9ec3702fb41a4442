"""The benchmark: ``python -m dyntheory.bench`` prints the table (see ``table``)."""

from dyntheory.bench.table import flatness as flatness
from dyntheory.bench.table import main as main
from dyntheory.bench.table import time_interleaved as time_interleaved
from dyntheory.bench.targets import ceiling_line as ceiling_line
from dyntheory.bench.targets import targets_line as targets_line
from dyntheory.bench._workloads import ceiling as ceiling
from dyntheory.bench._workloads import workloads as workloads
