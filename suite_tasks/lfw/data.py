"""LFW on disk: the image layouts, the strict pairs-file parser, a preprocessed-image cache and the splits.

Layouts: LFW-a (`<data-dir>/lfw-a/lfw2/<Name>/<Name>_NNNN.jpg`, grayscale, pairs files in `lfw-a/`) or one of
torchvision's `LFWPairs` layouts (`<data-dir>/lfw-py/{lfw,lfw_funneled,lfw-deepfunneled}/...`, colour, pairs files
in `lfw-py/`). In both the pairs files sit in the parent folder of the images root.
"""

import dataclasses
import hashlib
import json
import os
import re
import sys
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from suite import SuiteError

# layout → images root relative to the data directory; "auto" tries them in this order
LAYOUT_ROOTS = {
    "lfw-a": Path("lfw-a") / "lfw2",
    "lfw-deepfunneled": Path("lfw-py") / "lfw-deepfunneled",
    "lfw_funneled": Path("lfw-py") / "lfw_funneled",
    "lfw": Path("lfw-py") / "lfw",
}
PAIRS_FILES = {"DevTrain": "pairsDevTrain.txt", "DevTest": "pairsDevTest.txt", "View 2": "pairs.txt"}
IMAGE_SIDE = 250  # every LFW image, in every layout
FACE_BOX = 125  # crop "face": the centred 125×125 box, about the face in LFW's deep-funneled and LFW-a images
CACHE_FORMAT = 1  # bump when the cached tensor or the preprocessing change meaning (the version is in the name)
# The tensor bytes' digest is stored beside them: torch.load checks no zip CRC, so flipped bytes would load.
# sha256, not blake2b: faster here, with OpenSSL's SHA instructions (docs/benchmarks.md).
DIGEST = "images_sha256"
CHUNK = 256  # images decoded, then resized in one interpolate call: ~16 MB per channel

Key = tuple[str, int]  # (person's name, image number)


def find_layout(data_dir: Path, layout: str) -> tuple[str, Path]:
    """(layout name, images root) of the requested layout, or of the first present one for "auto"."""
    data_dir = Path(data_dir)
    if layout == "auto":
        for name, relative in LAYOUT_ROOTS.items():
            if (data_dir / relative).is_dir():
                return name, data_dir / relative
        looked = ", ".join(str(data_dir / relative) for relative in LAYOUT_ROOTS.values())
        raise SuiteError(f"no LFW images in {data_dir}: looked for {looked}")
    if layout not in LAYOUT_ROOTS:
        raise SuiteError(f"unknown LFW layout {layout!r}; expected auto or one of {', '.join(LAYOUT_ROOTS)}")
    root = data_dir / LAYOUT_ROOTS[layout]
    if not root.is_dir():
        raise SuiteError(f"LFW layout {layout} not found: {root} is not a directory")
    return layout, root


def pairs_path(root: Path, split: str) -> Path:
    """The pairs file of a split ("DevTrain", "DevTest", "View 2"): beside the images root, in every layout."""
    return Path(root).parent / PAIRS_FILES[split]


class Pair(NamedTuple):
    """One line of a pairs file; fold is 0 for View 1 files, 0–9 for pairs.txt; line is 1-based."""

    name_a: str
    index_a: int
    name_b: str
    index_b: int
    same: bool
    fold: int
    line: int

    @property
    def key_a(self) -> Key:
        return self.name_a, self.index_a

    @property
    def key_b(self) -> Key:
        return self.name_b, self.index_b


EXPECTED_LINE = {True: "'name i j' (a matched pair)", False: "'name1 i name2 j' (a mismatched pair)"}
HEADER = "a header 'n' (View 1) or 'folds n' (View 2, e.g. '10\\t300')"
NUMBER = re.compile(r"[0-9]+")
NAME = re.compile(r"[^/\\]+")  # a directory name: no separators, so no path outside the images root


def read_pairs(path: Path) -> list[Pair]:
    """Parse a pairs file strictly: the header's counts, then per fold n matched and n mismatched lines.

    Fields may be separated by any whitespace (the files use tabs); trailing blank lines are ignored.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SuiteError(f"pairs file missing: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read the pairs file ({exc})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise SuiteError(f"{path} line 1: expected {HEADER}, the file is empty")
    folds, n = _read_header(path, lines[0])
    expected = folds * 2 * n
    pairs = []
    for k, text in enumerate(lines[1:]):
        number = k + 2
        if k >= expected:
            raise SuiteError(f"{path} line {number}: more pair lines than the header (line 1) declares: "
                             f"{folds} fold(s) of {n} matched + {n} mismatched = {expected}")
        fold, position = divmod(k, 2 * n)
        pairs.append(_read_pair(path, number, text, same=position < n, fold=fold))
    if len(pairs) < expected:
        raise SuiteError(f"{path} line 1: the header declares {folds} fold(s) of {n} matched + {n} mismatched "
                         f"= {expected} pair lines, but the file has {len(pairs)}")
    return pairs


def _read_header(path: Path, text: str) -> tuple[int, int]:
    """(folds, pairs of each kind per fold): 'n' for View 1 files, 'folds n' for pairs.txt."""
    fields = text.split()
    if len(fields) in (1, 2) and all(NUMBER.fullmatch(f) and int(f) > 0 for f in fields):
        return (1, int(fields[0])) if len(fields) == 1 else (int(fields[0]), int(fields[1]))
    missing = " (the header is missing: this is a pair line)" if len(fields) in (3, 4) else ""
    raise SuiteError(f"{path} line 1: expected {HEADER}, got {text!r}{missing}")


def _read_pair(path: Path, number: int, text: str, same: bool, fold: int) -> Pair:
    fields = text.split()
    problem = f"{path} line {number}: expected {EXPECTED_LINE[same]}, got {text!r}"
    if len(fields) != (3 if same else 4):
        if len(fields) == (4 if same else 3):
            problem += f" (a {'mismatched' if same else 'matched'} pair where the header's counts put a "
            problem += f"{'matched' if same else 'mismatched'} one)"
        raise SuiteError(problem)
    names, numbers = (fields[:1] * 2, fields[1:]) if same else (fields[0::2], fields[1::2])
    if not all(NUMBER.fullmatch(f) and int(f) > 0 for f in numbers):
        raise SuiteError(f"{problem}: image numbers are positive integers")
    if not all(NAME.fullmatch(name) and name not in (".", "..") for name in names):
        raise SuiteError(f"{problem}: not a person's directory name")
    if same and numbers[0] == numbers[1]:
        raise SuiteError(f"{problem}: an image paired with itself")
    if not same and names[0] == names[1]:
        raise SuiteError(f"{problem}: the same person on both sides of a mismatched pair")
    return Pair(names[0], int(numbers[0]), names[1], int(numbers[1]), same, fold, number)


def image_path(root: Path, name: str, index: int) -> Path:
    return Path(root) / name / f"{name}_{index:04d}.jpg"


def check_images(pairs: list[Pair], root: Path, pairs_path: Path) -> None:
    """Every image that a pairs file names exists (a stat per distinct image, no decoding)."""
    seen: set[Key] = set()
    for pair in pairs:
        for key in (pair.key_a, pair.key_b):
            if key not in seen:
                seen.add(key)
                if not image_path(root, *key).is_file():
                    raise SuiteError(f"{pairs_path} line {pair.line}: image {image_path(root, *key)} not found")


def image_keys(pairs: list[Pair]) -> list[Key]:
    """The distinct images of some pairs, sorted."""
    return sorted({key for pair in pairs for key in (pair.key_a, pair.key_b)})


def pair_people(pairs: list[Pair]) -> set[str]:
    """Everyone in some pairs, both sides of mismatched pairs included."""
    return {name for pair in pairs for name in (pair.name_a, pair.name_b)}


def view2_folds(pairs: list[Pair]) -> list[list[Pair]]:
    """The folds of pairs.txt (10 in LFW), each in file order; fold f is folds[f]."""
    folds: list[list[Pair]] = [[] for _ in range(max((p.fold for p in pairs), default=-1) + 1)]
    for pair in pairs:
        folds[pair.fold].append(pair)
    if len(folds) < 2:
        raise SuiteError("View 2 needs a pairs file with at least 2 folds (pairs.txt, header 'folds n')")
    return folds


def people(root: Path) -> dict[str, int]:
    """Images per person, counted from the directory listing (no decoding), sorted by name."""
    try:
        folders = sorted((e for e in os.scandir(root) if e.is_dir()), key=lambda e: e.name)
        return {e.name: sum(f.name.endswith(".jpg") for f in os.scandir(e.path)) for e in folders}
    except OSError as exc:
        raise SuiteError(f"cannot list the LFW images in {root}: {exc}") from None


def default_cache_dir() -> Path:
    """$SUITE_CACHE_DIR if set, else ~/.cache/suite."""
    return Path(os.environ.get("SUITE_CACHE_DIR") or Path.home() / ".cache" / "suite").expanduser()


@dataclasses.dataclass(frozen=True)
class LoadedImages:
    images: torch.Tensor  # uint8 N×channels×size×size, one row per distinct key in sorted order
    rows: dict[Key, int]  # (name, number) → row
    cache_hit: bool  # whether the tensor came from the cache
    cache_path: Path


def load_images(root: Path, layout: str, keys: list[Key], crop: str, size: int, channels: int,
                cache_dir: Path) -> LoadedImages:
    """Decode, crop and resize images once; later calls with the same inputs load the cached tensor.

    Returns the images with their row per key, whether they came from the cache, and the cache file.

    crop "none" keeps the whole 250×250 image; "face" keeps its centred 125×125 box (rows and columns 62–186).
    Resizing is bilinear with antialiasing. Grayscale images asked for 3 channels are repeated; colour images
    asked for 1 are decoded to their luma (JPEG's Y = 0.299 R + 0.587 G + 0.114 B).

    The cache file's name holds a hash of the preprocessing parameters, the layout, the format version and, per
    image, its relative path, size and mtime: any change there gives another file, so nothing stale is reused.
    The file also holds the sha256 of the tensor's bytes, checked on every load. It is written atomically; one that
    is unreadable, corrupt (its digest does not match) or has no digest (written before digests were stored) is
    rebuilt from the images in its place, with one line on stderr. Its sources are always there to rebuild from:
    the file is named by their stats, so a cache is only looked up once every image it holds has been found.

    A set of images that is constant (all one grey level) is refused: it has nothing to learn or normalise.
    """
    if crop not in ("none", "face"):
        raise SuiteError(f"crop must be none or face, got {crop!r}")
    if channels not in (1, 3):
        raise SuiteError(f"channels must be 1 or 3, got {channels}")
    if not 1 <= size <= IMAGE_SIDE:
        raise SuiteError(f"size must be between 1 and {IMAGE_SIDE}, got {size}")
    keys = sorted(set(keys))
    rows = {key: row for row, key in enumerate(keys)}
    paths = [image_path(root, *key) for key in keys]
    digest = _cache_key(root, layout, paths, crop, size, channels)
    cache_path = Path(cache_dir) / f"lfw-{layout}-{crop}-{size}px-{channels}ch-{digest[:20]}.pt"
    images, stale = _read_cache(cache_path, digest, keys, (len(keys), channels, size, size))
    hit = images is not None
    if stale:
        print(f"suite: image cache {cache_path} {stale}: rebuilding it from the images", file=sys.stderr, flush=True)
    if not hit:
        images = _preprocess(paths, crop, size, channels)
    _refuse_constant(images, root)  # before writing: nothing is cached from a refused build
    if not hit:
        _write_cache(cache_path, {"format": CACHE_FORMAT, "key": digest, "keys": keys, "images": images,
                                  DIGEST: tensor_digest(images)})
    return LoadedImages(images, rows, hit, cache_path)


def tensor_digest(tensor: torch.Tensor) -> str:
    """sha256 of a CPU tensor's bytes, hashed in place through numpy's buffer (no copy)."""
    return hashlib.sha256(tensor.contiguous().numpy()).hexdigest()


def _refuse_constant(images: torch.Tensor, root: Path) -> None:
    """Every image one grey level (blank or overwritten files): a SuiteError now, not NaNs or chance accuracy later.
    aminmax, not std: one pass over the uint8 images; constant means std 0 exactly."""
    low, high = torch.aminmax(images)
    if low == high:
        raise SuiteError(f"the {len(images)} LFW images under {root} are constant (std 0, every pixel {int(low)}): "
                         "cannot normalise; the files are probably corrupt")


def _cache_key(root: Path, layout: str, paths: list[Path], crop: str, size: int, channels: int) -> str:
    """sha256 of everything the cached tensor depends on; the sources by size and mtime (cheap: no reading).

    torchvision's version counts (its decoder), read from the package metadata: importing it would cost seconds.
    """
    files = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            raise SuiteError(f"image {path} not found") from None
        files.append([path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    spec = {"format": CACHE_FORMAT, "layout": layout, "crop": crop, "size": size, "channels": channels,
            "resize": "bilinear-antialias-uint8", "torchvision": version("torchvision"), "files": files}
    return hashlib.sha256(json.dumps(spec, separators=(",", ":")).encode()).hexdigest()


def _read_cache(path: Path, digest: str, keys: list[Key],
                shape: tuple[int, ...]) -> tuple[torch.Tensor | None, str | None]:
    """(the cached tensor, None) if the file is there, readable, exactly what was asked for and matches its digest;
    else (None, why it is rejected), the why None when there is no file (rebuild either way)."""
    if not path.is_file():
        return None, None
    try:
        saved = torch.load(path, weights_only=True)
        images = saved["images"]
        valid = (saved["format"] == CACHE_FORMAT and saved["key"] == digest and list(map(tuple, saved["keys"])) == keys
                 and images.dtype == torch.uint8 and tuple(images.shape) == shape)
        stored = saved.get(DIGEST)
    except Exception:  # truncated, overwritten, an old format: any unreadable file is rebuilt
        return None, "cannot be read (truncated or overwritten)"
    if not valid:
        return None, "holds other images than its name says"
    if stored is None:  # rebuilt, not trusted once: its contents were never checked, so a digest would bless them
        return None, "has no digest of its contents (written by an older version)"
    if stored != tensor_digest(images):
        return None, "is corrupt (its images do not match the digest stored with them)"
    return images, None


def _write_cache(path: Path, content: dict) -> None:
    """Write to a temporary file beside the target, then rename: readers never see a partial file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise SuiteError(f"cannot write the image cache in {path.parent} ({exc}); set $SUITE_CACHE_DIR") from None
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(content, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise SuiteError(f"cannot write the image cache {path} ({exc}); set $SUITE_CACHE_DIR") from None
        raise


def preprocess_files(paths: list[Path], crop: str, size: int, channels: int) -> torch.Tensor:
    """Image files of any size as load_images gives LFW's (uint8 N×channels×size×size): each resized to LFW's
    250×250 first, then cropped and resized the same way. For `suite predict` on the user's own images."""
    for path in paths:
        if not Path(path).is_file():
            raise SuiteError(f"image {path}: no such file")
    return _preprocess(paths, crop, size, channels, any_size=True)


def _preprocess(paths: list[Path], crop: str, size: int, channels: int, any_size: bool = False) -> torch.Tensor:
    """Decode, crop and resize in chunks.

    Decoding is serial: decode_image holds the GIL part of the time, so a thread pool gains little. Resizing stays
    in uint8: torch's antialiased bilinear has a uint8 path, faster than on floats (docs/benchmarks.md).
    """
    out = torch.empty((len(paths), channels, size, size), dtype=torch.uint8)
    with DecoderMessages() as messages:
        for start in range(0, len(paths), CHUNK):
            with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs for TorchCodec, not a dependency
                warnings.simplefilter("ignore", DeprecationWarning)
                batch = torch.stack([messages.attributed(path, lambda p=path: _decode(p, crop, channels, any_size))
                                     for path in paths[start:start + CHUNK]])
            if batch.shape[-1] != size:
                batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out[start:start + len(batch)] = batch
    messages.report(len(paths))
    return out


class DecoderMessages:
    """libjpeg's warnings ("Corrupt JPEG data: 1 extraneous bytes before marker 0xd9") go to the C stderr and name
    no file. While decoding, this sends file descriptor 2 to a temporary file and notes after each image whether it
    grew, so that `report` can say, in one line, which images the decoder warned about and what it said. Costs a
    fstat per image. Where fd 2 cannot be redirected, the messages go where they always went."""

    def __init__(self) -> None:
        self.found: list[tuple[Path, str]] = []
        self._saved: int | None = None

    def __enter__(self) -> "DecoderMessages":
        try:
            sys.stderr.flush()  # what Python wrote before stays before
            self._file = tempfile.TemporaryFile()
            self._saved = os.dup(2)
            os.dup2(self._file.fileno(), 2)
        except (OSError, ValueError):
            self._saved = None
        self._seen = 0
        return self

    def attributed(self, path: Path, decode):
        """decode(), and whatever it wrote to fd 2 noted against `path`."""
        image = decode()
        if self._saved is not None:
            size = os.fstat(self._file.fileno()).st_size
            if size > self._seen:
                self._file.seek(self._seen)
                text = self._file.read(size - self._seen).decode("utf-8", "replace")
                self.found.append((Path(path), " ".join(text.split())))
                self._seen = size
        return image

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._file.close()
            self._saved = None

    def report(self, total: int) -> None:
        """One line on stderr naming each image the decoder warned about (the first 5, then how many more)."""
        if not self.found:
            return
        shown = "; ".join(f"{path}: {text}" for path, text in self.found[:5])
        more = f"; and {len(self.found) - 5} more" if len(self.found) > 5 else ""
        print(f"suite: the JPEG decoder warned about {len(self.found)} of {total} images (decoded anyway): "
              f"{shown}{more}", file=sys.stderr, flush=True)


def _decode(path: Path, crop: str, channels: int, any_size: bool = False) -> torch.Tensor:
    """One image as uint8 channels×side×side, cropped; a bad or truncated JPEG is a SuiteError naming it. With
    `any_size`, an image of another size is first resized to LFW's."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    try:
        image = decode_image(read_file(str(path)), mode=ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB)
    except RuntimeError as exc:  # torchvision: "decode_jpeg, <source>:<line>, <message>"
        detail = re.sub(r"^\w+, \S+:\d+, ", "", str(exc)).split(". ")[0]
        raise SuiteError(f"cannot decode image {path}: {detail}") from None
    if any_size and tuple(image.shape[1:]) != (IMAGE_SIDE, IMAGE_SIDE):
        image = F.interpolate(image[None], size=(IMAGE_SIDE, IMAGE_SIDE), mode="bilinear", antialias=True,
                              align_corners=False)[0]
    if tuple(image.shape[1:]) != (IMAGE_SIDE, IMAGE_SIDE):
        raise SuiteError(f"image {path} is {image.shape[2]}×{image.shape[1]}, LFW images are "
                         f"{IMAGE_SIDE}×{IMAGE_SIDE}")
    if crop == "face":
        start = (IMAGE_SIDE - FACE_BOX) // 2
        image = image[:, start:start + FACE_BOX, start:start + FACE_BOX]
    return image


def split_validation(pairs: list[Pair], fraction: float,
                     generator: torch.Generator) -> tuple[list[Pair], list[Pair]]:
    """(train, validation): about `fraction` of the pairs held out, people-disjoint from the rest and balanced.

    People are assigned to validation in whole groups: the connected components of the graph whose nodes are
    people and whose edges are pairs (a mismatched pair links its two people). A pair therefore never straddles
    the two sets, so no training pair is dropped (a people-by-people split would drop every pair linking a
    validation person to a training one). Components are taken in an order drawn from `generator`, each only if
    it keeps both classes within fraction·N/2 pairs; if the classes still differ, the excess of the larger is
    dropped at random so validation is exactly balanced. Pairs dropped: len(pairs) - len(train) - len(val),
    usually 0 on LFW (its components are small: at most 25 pairs in View 1).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not 0 <= fraction < 1:
        raise SuiteError(f"validation fraction must be in [0, 1), got {fraction}")
    target = round(fraction * len(pairs) / 2)  # pairs of each class in validation
    if target == 0:
        return list(pairs), []
    ids: dict[str, int] = {}
    a = np.array([ids.setdefault(p.name_a, len(ids)) for p in pairs])
    b = np.array([ids.setdefault(p.name_b, len(ids)) for p in pairs])
    graph = coo_matrix((np.ones(len(pairs)), (a, b)), shape=(len(ids), len(ids)))
    n_components, person_component = connected_components(graph, directed=False)
    component = person_component[a]
    same = np.array([p.same for p in pairs])
    matched = np.bincount(component[same], minlength=n_components)
    mismatched = np.bincount(component[~same], minlength=n_components)
    chosen = np.zeros(n_components, dtype=bool)
    n_matched = n_mismatched = 0
    for c in torch.randperm(n_components, generator=generator).tolist():
        if n_matched + matched[c] <= target and n_mismatched + mismatched[c] <= target:
            chosen[c] = True
            n_matched, n_mismatched = n_matched + matched[c], n_mismatched + mismatched[c]
            if n_matched == n_mismatched == target:
                break
    in_val = chosen[component]
    val = np.flatnonzero(in_val)
    excess = val[same[val] == (n_matched > n_mismatched)]  # the larger class's validation pairs
    drop = excess[torch.randperm(len(excess), generator=generator)[:abs(n_matched - n_mismatched)].numpy()]
    in_val[drop] = False
    train = [p for p, v in zip(pairs, chosen[component], strict=True) if not v]
    return train, [p for p, v in zip(pairs, in_val, strict=True) if v]


def dataset_stats(data_dir: Path, layout: str) -> dict[str, pd.DataFrame]:
    """Tables for `suite data stats lfw`, title → DataFrame (`list(stats.items())` is what Task.data_stats returns).

    "images": one row: layout, root, people, images, images per person (mean, std; 3 decimals), people with ≥ 2.
    "pairs": per split (DevTrain, DevTest, View 2 whole and per fold): file, pairs, matched, mismatched, people.
    "people shared between splits": a square matrix over DevTrain, DevTest and the View 2 folds; the diagonal is
    each split's own people. "missing pairs files": only when some are absent.
    """
    name, root = find_layout(data_dir, layout)
    counts = pd.Series(people(root), dtype="int64")
    splits: dict[str, tuple[str, list[Pair]]] = {}  # split → (file, pairs)
    missing = []
    for split in PAIRS_FILES:
        path = pairs_path(root, split)
        if not path.is_file():
            missing.append({"split": split, "file": str(path)})
            continue
        pairs = read_pairs(path)
        check_images(pairs, root, path)
        splits[split] = path.name, pairs
        if split == "View 2":
            splits.update({f"fold {f + 1}": (path.name, fold) for f, fold in enumerate(view2_folds(pairs))})
    images = pd.DataFrame([{
        "layout": name, "root": str(root), "people": len(counts), "images": int(counts.sum()),
        # the sample standard deviation (pandas' ddof=1): 9.0164 on LFW-a; the population one, 9.0156, also
        # rounds to the published 9.016
        "images per person (mean)": round(float(counts.mean()), 3),
        "images per person (std)": round(float(counts.std()), 3),
        "people with ≥ 2 images": int((counts >= 2).sum()),
    }])
    pairs_table = pd.DataFrame([{"split": split, "file": file, "pairs": len(pairs),
                                 "matched": sum(p.same for p in pairs), "mismatched": sum(not p.same for p in pairs),
                                 "people": len(pair_people(pairs))} for split, (file, pairs) in splits.items()],
                               columns=["split", "file", "pairs", "matched", "mismatched", "people"])
    disjoint = {split: pair_people(pairs) for split, (_, pairs) in splits.items() if split != "View 2"}
    short = {split: split.replace("fold ", "f") for split in disjoint}  # narrow columns: the matrix is 12 wide
    shared = pd.DataFrame([{"split": row, **{short[c]: len(disjoint[row] & disjoint[c]) for c in disjoint}}
                           for row in disjoint])
    tables = {"images": images, "pairs": pairs_table, "people shared between splits": shared}
    return tables | ({"missing pairs files": pd.DataFrame(missing)} if missing else {})
