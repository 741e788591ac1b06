"""suite from Python: run two MNIST experiments, list the stored experiments with their config and metrics, and
compare them, as `suite run`, `suite results` and `suite compare` do on the command line (docs/python-api.md).

    python examples/quickstart.py [STORE]      # default store: examples.db in the working directory

The data directory is found as the command line finds it: $SUITE_DATA_DIR, else ./data.
"""

import sys

import pandas as pd

import suite

store = sys.argv[1] if len(sys.argv) > 1 else "examples.db"

# Two experiments that differ in one ingredient; run again, each reuses its stored rounds.
for w_sharing in (False, True):
    experiment = suite.run("mnist", rounds=3, store=store, epochs=3, aux_loss=True, w_sharing=w_sharing)
    accuracy = experiment.summary().loc["test_accuracy"]
    print(f"experiment {experiment.id}: test accuracy {accuracy['mean']:.3f} ± {accuracy['std']:.3f} "
          f"over {accuracy['n']} rounds")

pd.set_option("display.width", 120)
results = suite.open(store)
experiments = results.experiments("mnist")
print(experiments[["id", "model", "w_sharing", "aux_loss", "epochs", "rounds", "test_accuracy_mean",
                   "test_accuracy_std"]].to_string(index=False))

comparison = suite.compare(store=store, task="mnist")
print(comparison[["experiment", "label", "mean", "difference", "diff_low", "diff_high", "p_t_holm"]]
      .to_string(index=False))

# Per-epoch curves of every round, e.g. for a plot of your own.
curves = results.curves(experiments["id"])
print(curves.groupby(["experiment_id", "epoch"])["train_loss"].mean().unstack("epoch").round(4))
