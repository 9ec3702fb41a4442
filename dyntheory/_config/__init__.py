"""Describing a run: the sweep, its hyperparameters, random streams, schedules, optimizers and the
metric protocol. Nothing here runs a population; the engine reads these descriptions."""
