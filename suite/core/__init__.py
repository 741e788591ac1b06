"""The lowest layer: what a task, a config, a metric, a seed and a sweep grid are. Imports no other layer."""
