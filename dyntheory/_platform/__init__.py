"""Everything that depends on the machine or on jax internals: XLA compiler options and the threefry
lowering, cache- and memory-derived sizes, the LAPACK guard, several hosts. Each tuning keeps its
measurement and date beside it. Only the engine (and the models' one tuning) imports this package,
and it imports nothing else of dyntheory."""
