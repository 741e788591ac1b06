"""LFW's unrestricted training setting: pairs formed freely from the images of the training people.

Under "image-restricted" training only the given pairs may be used. "Unrestricted" training may also use the
identities of the training images (their folder names), so any number of matched and mismatched pairs can be
formed from them. The people of the validation and test pairs are never drawn from, so they stay unseen.
"""

import torch

from suite import SuiteError
from suite_tasks.lfw import data
from suite_tasks.lfw.data import Key, Pair


def images_by_person(root, names: set[str]) -> dict[str, list[Key]]:
    """Every image of each named person, from the directory listing (no decoding)."""
    counts = data.people(root)
    return {name: [(name, i) for i in range(1, counts.get(name, 0) + 1)] for name in sorted(names)}


def draw_pairs(by_person: dict[str, list[Key]], count: int, generator: torch.Generator) -> list[Pair]:
    """`count` pairs: count // 2 matched, the rest mismatched. Matched: a person drawn uniformly among those
    with at least two images, then two distinct images of theirs; mismatched: two distinct people drawn
    uniformly, an image of each. Uniform over people, so the few with hundreds of images don't dominate."""
    names = [n for n, images in by_person.items() if images]
    several = [n for n in names if len(by_person[n]) >= 2]
    if not several or len(names) < 2:
        raise SuiteError("--training unrestricted: the training people need at least two people, one of them "
                         "with two images")

    def pick(n: int) -> int:
        return int(torch.randint(n, (1,), generator=generator))

    def other(i: int, n: int) -> int:  # uniform over 0…n−1 except i
        return (i + 1 + pick(n - 1)) % n

    pairs = []
    for _ in range(count // 2):
        images = by_person[several[pick(len(several))]]
        i = pick(len(images))
        a, b = images[i], images[other(i, len(images))]
        pairs.append(Pair(a[0], a[1], b[0], b[1], True, 0, 0))
    for _ in range(count - count // 2):
        p = pick(len(names))
        q = other(p, len(names))
        a, b = (by_person[n][pick(len(by_person[n]))] for n in (names[p], names[q]))
        pairs.append(Pair(a[0], a[1], b[0], b[1], False, 0, 0))
    return pairs
