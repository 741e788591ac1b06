"""Named grids of the `lfw` task (`suite sweep lfw --preset NAME`): the reports' own hyper-parameter sweeps.

Axes expand as a product with the first axis outermost, which reproduces each report's run numbering. What a
report did that no option expresses is listed beside its grid (see also the single-run presets in presets.py).
"""

from suite import NamedRegistry, SweepPreset, cumulative
from suite_tasks.lfw.presets import ABLATION_STEPS, PRESETS

SWEEPS = NamedRegistry("sweep preset")

# Report 000 (lines 161–227): 3 learning rates × 3 dropout rates × 3 batch sizes × 2 L2 factors, 40 epochs each,
# on the settings of its best cell (#38), which are the `grid-best` preset's; that preset's caveats apply (batch norm
# and dropout on all four blocks here, the report had them on blocks 1–3; random validation split; Keras L2).
_GRID_BEST = {k: v for k, v in PRESETS.get("grid-best").value.items()
              if k not in ("lr", "dropout", "batch_size", "weight_decay")}
SWEEPS.register(
    "lfw-lr-dropout-batch-l2",
    "Report 000's 54-cell grid: koch + batch norm after conv, SGD, 40 epochs, colour 105×105; lr × dropout × batch "
    "× L2 (best cell #38: lr 0.01, dropout 0.2, batch 64, L2 0.01; test 0.687, single run).",
    SweepPreset(_GRID_BEST, axes={"lr": [1e-4, 1e-3, 1e-2], "dropout": [0.2, 0.5, 0.8],
                                  "batch_size": [64, 128, 256], "weight_decay": [0.1, 0.01]}))

# Report 001, Table 3 (lines 483–500): five (batch, lr) pairs, each with Adam, RMSprop and SGD; a list of the 15
# cells it ran, not the 27-cell product. Its architecture for this table is not named: its final one (filters
# 8,16,32,64, FC 2048) is assumed, as `narrow-best` does. Momentum is not given: SGD and RMSprop keep 0.5.
_NARROW = {"channels": 1, "size": 125, "filters": "8,16,32,64", "fc_units": 2048, "val_fraction": 0.33, "patience": 3}
SWEEPS.register(
    "lfw-batch-lr-optimizer",
    "Report 001 Table 3: filters 8,16,32,64, FC 2048, LFW-a 125×125, patience 3; five (batch, lr) pairs × Adam / "
    "RMSprop / SGD (best: Adam, batch 128, lr 0.001; test 68.40 %, single run).",
    SweepPreset(_NARROW, cells=[{"batch_size": b, "lr": lr, "optimizer": o}
                                for b, lr in ((32, 1e-4), (128, 1e-4), (256, 1e-4), (32, 5e-4), (128, 1e-3))
                                for o in ("adam", "rmsprop", "sgd")]))

# Report 001, Table 7 (lines 520–530): first-layer filters 4, 16, 32, 64, each later layer doubling (its line 446),
# × FC 1024 / 2048. Its "64" scheme is 64,128,256,512 as it describes it, not koch's 64,128,128,256.
SWEEPS.register(
    "lfw-fc-units-filters",
    "Report 001 Table 7: doubling filter schemes from 4 to 64 first-layer filters × FC 1024 / 2048, Adam lr 0.001, "
    "batch 128 (best: 4 filters, FC 2048; test 67.70 %; 32 and 64 stayed at chance).",
    SweepPreset({k: v for k, v in _NARROW.items() if k not in ("filters", "fc_units")}
                | {"optimizer": "adam", "lr": 1e-3, "batch_size": 128},
                axes={"fc_units": [1024, 2048],
                      "filters": ["4,8,16,32", "16,32,64,128", "32,64,128,256", "64,128,256,512"]}))


# A sweep's fixed options may not be swept: the ones a step changes move from the fixed part into the first cell.
_NARROW_BEST = PRESETS.get("narrow-best").value
_ABLATED = {key for step in ABLATION_STEPS for key in step}
SWEEPS.register(
    "lfw-ablation",
    "From report 001's best CNN (narrow-best) to --preset best, one ingredient more per cell: LBP front end with "
    "a linear cosine metric, eyes-to-mouth crop, CSML's full-batch training, flip test-time averaging; then "
    "within-pair whitening in place of CSML, more LBP scales and a wider box, HOG, Gabor magnitudes, every "
    "training pair.",
    SweepPreset({k: v for k, v in _NARROW_BEST.items() if k not in _ABLATED},
                cells=cumulative([{k: v for k, v in _NARROW_BEST.items() if k in _ABLATED}, *ABLATION_STEPS[1:]])))
