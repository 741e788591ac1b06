"""Named grids of the `mnist` task (`suite sweep mnist --preset NAME`): report 004's settings.

The baseline refuses --w-sharing and --aux-loss, so the report's five settings are a list of cells, not a product.
Report 004 ran 10 rounds of each: the sweep's --rounds default.
"""

from suite import NamedRegistry, SweepPreset, cumulative

SWEEPS = NamedRegistry("sweep preset")
SWEEPS.register(
    "mnist-models",
    "Report 004 Tables I–II: the baseline MLP and the Siamese net with / without weight sharing and auxiliary loss "
    "(reported: baseline 76.17 ± 7.26 %, best ws + aux 93.76 ± 0.85 %, 10 rounds each).",
    SweepPreset({}, cells=[{"model": "baseline"}]
                + [{"model": "siamese", "aux_loss": aux, "w_sharing": ws} for aux in (False, True)
                   for ws in (False, True)]))
SWEEPS.register(
    "mnist-ws-aux",
    "Report 004 Table II: the Siamese net, weight sharing × auxiliary loss (reported 68.06 / 85.00 / 92.21 / "
    "93.76 %).",
    SweepPreset({"model": "siamese"}, axes={"aux_loss": [False, True], "w_sharing": [False, True]}))


# Report 004's best setting, then one ingredient more per cell up to `--preset best` (suite_tasks/mnist_pairs/task.py);
# `suite compare IDS --versus previous` gives each step's gain (README, "Beyond the reports"). Every cell is tested on
# all 10000 test images (5000 pairs): near 99 %, 1000 test pairs leave each round a binomial s.e. of 0.3 points.
ABLATION_BASE = {"model": "siamese", "w_sharing": True, "aux_loss": True, "test_pairs": 5000}
ABLATION_STEPS = [
    {},                                                   # report 004: weight sharing + auxiliary loss
    {"head": "rule"},                                     # P(first ≤ second) from the digit distributions
    {"extra_pairs": 10000, "batch_size": 100},            # the same 2000 images paired anew (batch ×4 to keep steps)
    {"epochs": 30, "schedule": "cosine"},                 # a longer, annealed schedule
    {"shift": 1},                                         # translation augmentation
    {"rotate": 10.0},                                     # rotation augmentation
    {"branch": "deep"},                                   # a deeper branch
    {"tta": 1},                                           # test-time translations
    {"scale": 0.2},                                       # zoom augmentation: digit size varies between writers
    {"elastic": 0.7},                                     # elastic distortion: strokes bend between writers too
    {"ensemble": 3},                                      # three nets, each trained alone, their digits averaged
]
SWEEPS.register(
    "mnist-ablation",
    "From report 004's weight sharing + auxiliary loss to --preset best, one ingredient more per cell: rule head, "
    "extra pairs from the same images (batch 100), 30 epochs with cosine schedule, shift and rotation "
    "augmentation, deep branch, test-time translations, zoom and elastic augmentation, an ensemble of three.",
    SweepPreset(ABLATION_BASE, cells=cumulative(ABLATION_STEPS)))
