"""Running plans of rounds: the runner, its executors (inline, processes, Ray), sweeps. Imports core, training and
results."""
