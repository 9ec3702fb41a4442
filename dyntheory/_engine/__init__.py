"""The engine: one member's math (``member``), the population wiring around it (``population``,
``layout``, ``chunks``, ``parts``), the readable reference (``reference``), and ``train``,
``branch``, ``run`` and ``store``. Machine-specific tuning comes from ``dyntheory._platform``."""
