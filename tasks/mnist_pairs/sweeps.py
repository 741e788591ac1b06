"""Named grids of the `mnist` task (`suite sweep mnist --preset NAME`): report 004's settings.

The baseline refuses --w-sharing and --aux-loss, so the report's five settings are a list of cells, not a product.
Report 004 ran 10 rounds of each: the sweep's --rounds default.
"""

from suite.registry import NamedRegistry
from suite.sweep import SweepPreset

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
