"""The `lfw` task: face verification on LFW pairs (reports 000–003, Koch et al. 2015)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

from suite import ROUND_STATE, Lazy, Metric, NamedRegistry, Split, SuiteError, Task, percent
from suite_tasks.lfw.config import LfwConfig
from suite_tasks.lfw.presets import PRESETS
from suite_tasks.lfw.sweeps import SWEEPS

# torch, scipy and the modules built on them (data, models, ...) are imported by the methods that compute: loading
# the task to read its config, presets and metrics (`suite results`, `suite list`) then needs none of them.
if TYPE_CHECKING:
    import pandas as pd
    import torch

    from suite_tasks.lfw import data

# The builders live with the networks in suite_tasks/lfw/models.py, imported when a model is built.
MODELS = NamedRegistry("model")
MODELS.register("koch", "Koch et al. 2015: conv 64@10×10, 128@7×7, 128@4×4, 256@4×4 (ReLU, max-pool), "
                "FC 4096 sigmoid, distance → 1 unit; 38,951,745 parameters at 1×105×105.",
                Lazy("suite_tasks.lfw.models:koch"))
MODELS.register("small", "Report 002's final reduced net: conv 32@10×10, 32@7×7, 32@4×4, 32@4×4, FC 32 "
                "sigmoid, distance → 1 unit; 123,201 parameters at 1×105×105.", Lazy("suite_tasks.lfw.models:small"))
MODELS.register("metric", "Cosine similarity metric learning (Nguyen & Bai 2010) on --features lbp: a shared "
                "linear map I + Δ of the whitened LBP descriptors (Δ from 0), then the cosine head (--distance "
                "cosine); 40,002 parameters at --pca-dims 200.", Lazy("suite_tasks.lfw.models:metric"))
MODELS.register("fusion", "Several descriptors on --features descriptors, each with its whitened PCA and "
                "within-pair whitening, their cosine similarities fused by logistic regression (one weight per "
                "descriptor and a bias).", Lazy("suite_tasks.lfw.models:fusion"))

VIEW_SPLITS = {"view1": ("DevTrain", "DevTest"), "view2": ("View 2",)}  # the pairs files each protocol reads
# LFW's result categories: LFW-a was aligned by a commercial system trained on outside data; funneling is
# unsupervised, so the colour layouts use no outside data.
OUTSIDE_DATA = {"lfw-a": "label-free outside data (LFW-a alignment)"}
DEFAULT_OUTSIDE_DATA = "no outside data"
TRAINING = {"restricted": "image-restricted", "unrestricted": "unrestricted"}


def lfw_setting(training: str, layout: str) -> str:
    """LFW's result category, e.g. "image-restricted, label-free outside data (LFW-a alignment)"."""
    return f"{TRAINING[training]}, {OUTSIDE_DATA.get(layout, DEFAULT_OUTSIDE_DATA)}"


@dataclasses.dataclass
class LfwData:
    layout: str
    root: Path
    # uint8 M×C×S×S, preprocessed; --features lbp: float M×2×D (image, mirror) descriptors; --features
    # descriptors: each named descriptor's M×2×D tensor
    images: torch.Tensor | dict[str, torch.Tensor]
    row: dict[tuple[str, int], int]  # (person, image number) → row of `images`
    pairs: dict[str, list[data.Pair]]  # split ("DevTrain", "DevTest" or "View 2") → its pairs
    folds: list[list[data.Pair]]  # View 2's folds; empty under View 1
    by_person: dict[str, list[data.Key]]  # --training unrestricted: every image of each pairs-file person
    cache_hit: bool
    cache_path: Path
    seconds: float


def _rows(prepared: LfwData, pairs: list[data.Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    return (torch.tensor([prepared.row[p.key_a] for p in pairs], dtype=torch.long),
            torch.tensor([prepared.row[p.key_b] for p in pairs], dtype=torch.long))


def _bank(config: LfwConfig) -> dict:
    """The descriptors a config computes: its --descriptors, or --features lbp's one LBP (named lbp)."""
    from suite_tasks.lfw import descriptors

    if config.features == "lbp":
        return {"lbp": descriptors.Descriptor("lbp", config.crop, config.lbp_cell, config.lbp_radius)}
    return {name: descriptors.BANK[name] for name in descriptors.parse(config.descriptors)}


def _pair_tensors(prepared: LfwData, images: torch.Tensor, pairs: list[data.Pair]) -> Split:
    import torch

    a, b = _rows(prepared, pairs)
    return {"x": torch.stack([images[a], images[b]], dim=1),
            "target": torch.tensor([p.same for p in pairs], dtype=torch.float32)}


class Lfw(Task):
    name = "lfw"
    description = "LFW face verification: are two face images the same person? (Koch et al. 2015, reports 000–003)"
    config_cls = LfwConfig
    models = MODELS
    presets = PRESETS
    sweeps = SWEEPS
    data_fields = ("layout", "protocol", "training", "features", "crop", "size", "channels", "lbp_cell", "lbp_radius",
                   "descriptors")
    eval_batch_size = 64  # pairs of 105×105 images: activations of koch's first block are ~9 MB a pair
    target_names = ("different people", "same person")
    primary_metric = "test_accuracy"
    metric_declarations = (
        percent("accuracy", "pairs verified right at threshold 0.5"),
        percent("tuned_accuracy", "test pairs verified right at the threshold of best validation accuracy"),
        Metric("auc", True, description="area under the ROC curve"),
        Metric("eer", False, description="equal error rate"),
        Metric("threshold", None, description="the score threshold tuned on validation"),
    )

    # data --------------------------------------------------------------------------------------------------

    def prepare(self, config: LfwConfig, data_dir: Path, download: bool) -> LfwData:
        from suite_tasks.lfw import data, descriptors, unrestricted

        start = time.perf_counter()
        layout, root = data.find_layout(Path(data_dir), config.layout)
        pairs = {}
        for split in VIEW_SPLITS[config.protocol]:
            path = data.pairs_path(root, split)
            pairs[split] = data.read_pairs(path)
            data.check_images(pairs[split], root, path)
        folds = data.view2_folds(pairs["View 2"]) if config.protocol == "view2" else []
        keys = data.image_keys([pair for split in pairs.values() for pair in split])
        by_person = {}
        if config.training == "unrestricted":  # every image of the people who may train (chosen per round)
            by_person = unrestricted.images_by_person(root, data.pair_people(
                pairs["DevTrain"] if config.protocol == "view1" else pairs["View 2"]))
            keys = sorted(set(keys) | {key for images in by_person.values() for key in images})
        if config.features != "pixels":  # descriptors of whole grayscale images: each cuts its region at full size
            loaded = data.load_images(root, layout, keys, "none", data.IMAGE_SIDE, 1, data.default_cache_dir())
            images = {name: descriptors.describe(loaded, bank)[0] for name, bank in _bank(config).items()}
            if config.features == "lbp":
                images = images["lbp"]
        else:
            loaded = data.load_images(root, layout, keys, config.crop, config.size, config.channels,
                                      data.default_cache_dir())
            images = loaded.images
        return LfwData(layout, root, images, loaded.rows, pairs, folds, by_person, loaded.cache_hit,
                       loaded.cache_path, time.perf_counter() - start)

    def prepare_data(self, config: LfwConfig, data_dir: Path, download: bool) -> str:
        prepared = self.prepare(config, data_dir, download)
        how = "loaded from the cache" if prepared.cache_hit else "decoded and cached"
        whose = (f"the {config.protocol} pairs and all images of their training people"
                 if config.training == "unrestricted" else f"the {config.protocol} pairs")
        if config.features == "pixels":
            shape = f"{config.channels}×{config.size}×{config.size}"
        elif config.features == "lbp":
            shape = f"LBP descriptors of {prepared.images.shape[-1]} values, each image and its mirror"
        else:
            shape = f"descriptors {', '.join(prepared.images)}, each image and its mirror"
        return (f"lfw: {len(prepared.row)} images of {whose} ({prepared.layout}, crop {config.crop}, {shape}) "
                f"{how} in {prepared.seconds:.1f} s; cache: {prepared.cache_path}")

    def data_stats(self, config: LfwConfig, data_dir: Path) -> list[tuple[str, pd.DataFrame]]:
        from suite_tasks.lfw import data

        return list(data.dataset_stats(Path(data_dir), config.layout).items())

    def data_distributions(self, config: LfwConfig, data_dir: Path) -> list[tuple[str, str, pd.Series]]:
        import pandas as pd

        from suite_tasks.lfw import data

        _, root = data.find_layout(Path(data_dir), config.layout)
        counts = pd.Series(data.people(root), dtype="int64")
        return [(f"Images per person in LFW ({len(counts)} people)", "images per person", counts)]

    def setting(self, config: LfwConfig, prepared: LfwData) -> dict[str, str]:
        protocol = ("View 1: train on pairsDevTrain, test on pairsDevTest" if config.protocol == "view1"
                    else "View 2: 10-fold cross-validation on pairs.txt, round r tests fold r mod 10")
        setting = {"protocol": protocol, "layout": prepared.layout,
                   "LFW setting": lfw_setting(config.training, prepared.layout)}
        if config.training == "unrestricted":
            setting["training pairs"] = (f"{config.train_pairs} per round, half matched, drawn by identity from "
                                         "all images of the training people (validation and test people "
                                         "excluded)")
        return setting

    def round_data(self, prepared: LfwData, config: LfwConfig, generator: torch.Generator,
                   round_index: int) -> dict[str, Split]:
        import torch

        from suite_tasks.lfw import data, fusion, lbp, unrestricted

        if config.protocol == "view1":
            training, test = prepared.pairs["DevTrain"], prepared.pairs["DevTest"]
        else:
            tested = round_index % len(prepared.folds)
            test = prepared.folds[tested]
            training = [p for i, fold in enumerate(prepared.folds) if i != tested for p in fold]
        train, val = data.split_validation(training, config.val_fraction, generator)
        if config.training == "unrestricted":  # drawn after the split, so validation is the same as restricted's
            allowed = data.pair_people(train) - data.pair_people(val) - data.pair_people(test)
            train = unrestricted.draw_pairs({name: prepared.by_person[name] for name in sorted(allowed)},
                                            config.train_pairs, generator)
        images = prepared.images
        if config.features == "lbp":  # whitened PCA of the training images only: validation and test stay unseen
            a, b = _rows(prepared, train)
            rows = torch.unique(torch.cat([a, b]))
            seed = int(torch.randint(2 ** 62, (), generator=generator))
            try:
                mean, projection = lbp.fit_whitening(images[rows].flatten(0, 1), config.pca_dims, seed)
            except ValueError as exc:
                raise SuiteError(f"--pca-dims {config.pca_dims}: {exc}") from None
            images = (images - mean) @ projection
            state = {"mean": mean, "projection": projection}
        if config.features == "descriptors":  # each descriptor whitened on the training pairs, their own out of fold
            a, b = _rows(prepared, train)
            same = torch.tensor([p.same for p in train])
            try:
                images, train_x, state = fusion.embed(images, a, b, same, config.pca_dims, config.fusion_folds,
                                                      generator)
            except ValueError as exc:  # too few training descriptors for the components, or no matched pairs
                raise SuiteError(f"--features descriptors: {exc}") from None
            training_split = {"x": train_x, "target": same.float()}
        else:
            training_split = _pair_tensors(prepared, images, train)
        splits = {"train": training_split, "test": _pair_tensors(prepared, images, test)}
        return splits | ({"val": _pair_tensors(prepared, images, val)} if val else {}) | (
            {ROUND_STATE: state} if config.features != "pixels" else {})

    # prediction ------------------------------------------------------------------------------------------

    def _whitened(self, config: LfwConfig, images: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images as round_data pairs them: LBP descriptors whitened with the round's own projection (prepare's
        descriptors, or uint8 whole 250×250 grayscale images described first), or the images as they are."""
        import torch

        from suite_tasks.lfw import fusion

        if config.features == "pixels":
            return images
        key = "projection" if config.features == "lbp" else f"projection.{next(iter(_bank(config)))}"
        if key not in state:
            raise SuiteError("this saved model has no whitening state (saved by an older suite?); train it again")
        if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
            images = {name: bank.compute(images) for name, bank in _bank(config).items()}
            if config.features == "lbp":
                images = images["lbp"]
        if config.features == "lbp":
            return (images - state["mean"]) @ state["projection"]
        return fusion.embed_images(images, state)

    def _preprocessing(self, config: LfwConfig) -> tuple[str, int, int]:
        """(crop, size, channels) of the images: LBP describes whole grayscale images (it cuts its own region)."""
        from suite_tasks.lfw import data

        if config.features != "pixels":
            return "none", data.IMAGE_SIDE, 1
        return config.crop, config.size, config.channels

    def predict_inputs(self, config: LfwConfig, state: dict[str, torch.Tensor],
                       paths: list[Path]) -> tuple[Split, list[str]]:
        """Two face images of any size, preprocessed as training's (resized to LFW's 250×250 first)."""
        import torch

        from suite_tasks.lfw import data

        if len(paths) != 2:
            raise SuiteError(f"lfw: predict takes two image files (a pair), got {len(paths)}")
        images = self._whitened(config, data.preprocess_files(paths, *self._preprocessing(config)), state)
        return {"x": torch.stack([images[0:1], images[1:2]], dim=1)}, [f"{paths[0]} vs {paths[1]}"]

    def predict_pairs_file(self, config: LfwConfig, state: dict[str, torch.Tensor], path: Path,
                           data_dir: Path) -> tuple[Split, list[str]]:
        """The pairs of a file in LFW's format, of the data directory's images, with their labels. Where the
        config's own data holds them all (its View's pairs files), the images go through exactly training's
        preprocessing, so a round's test pairs score as they did when it was measured."""
        from suite_tasks.lfw import data

        pairs = data.read_pairs(Path(path))
        prepared = self.prepare(config, data_dir, False)
        keys = data.image_keys(pairs)
        if all(key in prepared.row for key in keys):
            images, rows = prepared.images, prepared.row
        else:  # images of other pairs: load just them
            data.check_images(pairs, prepared.root, Path(path))
            loaded = data.load_images(prepared.root, prepared.layout, keys, *self._preprocessing(config),
                                      data.default_cache_dir())
            images, rows = loaded.images, loaded.rows
        prepared = dataclasses.replace(prepared, images=self._whitened(config, images, state), row=rows)
        names = [f"{p.key_a[0]} {p.key_a[1]} vs {p.key_b[0]} {p.key_b[1]}" for p in pairs]
        return _pair_tensors(prepared, prepared.images, pairs), names

    def transform(self, config: LfwConfig, x: torch.Tensor, augment: torch.Generator | None) -> torch.Tensor:
        import torch

        from suite_tasks.lfw.augment import augment_images

        if config.features != "pixels":  # x: N×2×2×k, each image's and its mirror's whitened descriptors
            if augment is None:
                return x if config.tta == "flip" else x[:, :, :1]
            if not config.flip:
                return x[:, :, :1]
            view = torch.randint(2, (*x.shape[:2], 1, 1), generator=augment, device=x.device)
            return x.gather(2, view.expand(-1, -1, 1, x.shape[-1]))
        images = x.float() / 255  # N×2×C×S×S
        if augment is not None and (config.flip or config.affine or config.brightness):
            flat = augment_images(images.flatten(0, 1), flip=config.flip, affine=config.affine,
                                  brightness=config.brightness, generator=augment)
            images = flat.view_as(images)
        return images

    # loss and metrics ------------------------------------------------------------------------------------

    def loss(self, config: LfwConfig, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        import torch.nn.functional as F

        same = batch["target"]
        if config.loss == "contrastive":  # Hadsell et al. 2006: pull matched pairs together, push others apart
            distance = outputs["distance"]
            return (same * distance.pow(2) + (1 - same) * F.relu(config.margin - distance).pow(2)).mean() / 2
        target = same * (1 - config.label_smoothing) + config.label_smoothing / 2
        return F.binary_cross_entropy_with_logits(outputs["logits"], target)

    def scores(self, config: LfwConfig, outputs: dict[str, torch.Tensor], split: Split) -> torch.Tensor:
        """P(same) for BCE; for the contrastive loss 2^(−2d/margin), which is 0.5 at half the margin."""
        import torch

        if config.loss == "contrastive":
            return torch.exp2(-2 * outputs["distance"] / config.margin)
        return torch.sigmoid(outputs["logits"])

    def metrics(self, config: LfwConfig, outputs: dict[str, torch.Tensor], batch: Split) -> dict[str, float]:
        from suite_tasks.lfw import verification

        scores = self.scores(config, outputs, batch).double().cpu().numpy()
        same = batch["target"].cpu().numpy() > 0.5
        return {"accuracy": verification.accuracy(scores, same), "auc": verification.roc_auc(scores, same),
                "eer": verification.equal_error_rate(scores, same)}

    def final_metrics(self, config: LfwConfig, outputs: dict[str, dict[str, torch.Tensor]],
                      splits: dict[str, Split]) -> dict[str, float]:
        """Test accuracy at the threshold of best accuracy on validation (on training pairs without one)."""
        from suite_tasks.lfw import verification

        source = "val" if "val" in splits else "train"
        def arrays(name):
            return (self.scores(config, outputs[name], splits[name]).double().cpu().numpy(),
                    splits[name]["target"].cpu().numpy() > 0.5)
        threshold = verification.best_threshold(*arrays(source))
        test_scores, test_same = arrays("test")
        return {"threshold": threshold,
                "test_tuned_accuracy": verification.accuracy(test_scores, test_same, threshold)}

    def summary_lines(self, config: LfwConfig, rounds: pd.DataFrame) -> list[str]:
        """View 2: mean ± standard error over the per-fold means, so a fold run twice counts once."""
        import numpy as np
        import pandas as pd
        from scipy import stats

        if config.protocol != "view2" or "test_accuracy" not in rounds:
            return []
        n_folds = 10  # LFW's pairs.txt; round r tests fold r mod 10, as in round_data
        # The runner's rounds are 0..n-1 in order; a table without the column is read that way.
        index = rounds["round_index"] if "round_index" in rounds else pd.Series(range(len(rounds)), rounds.index)
        lines = []
        for metric in ("test_accuracy", "test_tuned_accuracy"):
            if metric not in rounds:
                continue
            values = pd.DataFrame({"fold": index.astype(int) % n_folds, "value": rounds[metric]}).dropna()
            by_fold = values.groupby("fold")["value"]
            means, counts = by_fold.mean().to_numpy(), by_fold.size()  # groupby sorts: fold order
            if len(means) == 0:
                continue
            low, high = counts.min(), counts.max()
            each = f"{low} round{'s' if low > 1 else ''} each" if low == high else f"rounds per fold: {low}–{high}"
            if len(means) == n_folds:
                label = f"LFW View 2: mean ± standard error over the {n_folds} folds, {each}"
            else:
                spread = (f"mean ± standard error over the {len(means)} folds" if len(means) > 1
                          else "one fold, so no standard error")
                label = (f"{len(means)} of LFW View 2's {n_folds} folds, {each}: {spread} — not LFW's View 2 "
                         f"result, which needs all {n_folds} folds (--rounds {n_folds})")
            error = f" ± {100 * stats.sem(means):.2f}" if len(means) > 1 else " ± –"
            folds = ", ".join(f"{100 * v:.2f}" for v in means)
            lines.append(f"{metric} ({label}): {100 * np.mean(means):.2f}{error} %; per fold: {folds}")
        return lines


TASK = Lfw()
