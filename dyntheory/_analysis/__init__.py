"""Analysis of recorded trajectories: statistics and verdicts, slopes and fits, transitions and
phases, compute-optimal frontiers, and the sympy-to-JAX theory bridge. Never imports the engine."""
