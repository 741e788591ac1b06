"""The results store and what is computed from it: statistics, comparisons, '≈ best', selections. Imports core."""
