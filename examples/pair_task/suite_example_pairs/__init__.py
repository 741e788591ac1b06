"""An example task for suite: pairs of noisy vectors, are both views of the same prototype?

`task.py` declares the task (config, models, presets, metrics); `data.py` and `models.py` hold what torch
computes, imported by the task's methods when they first run, so that loading the task (`suite list`,
`suite results`) stays quick. docs/extending.md in the suite repository walks through them.
"""
