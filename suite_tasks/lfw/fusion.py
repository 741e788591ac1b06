"""Several descriptors, each with its own metric, fused (`--features descriptors --model fusion`).

Per descriptor and round: the whitened PCA of the round's training images (lbp.fit_whitening), then a whitening of
the within-pair covariance, the covariance of the differences between the two images of the matched training
pairs (within-class covariance normalisation, Hatch et al. 2006, with pair labels only, as LFW's image-restricted
setting allows). The cosine of two images' embeddings is that descriptor's similarity; the model learns a logistic
fusion of the descriptors' similarities on the training pairs.

A fusion fitted on the same pairs as the within-pair whitening would trust most the descriptors that fit those
pairs best, not those that generalise: the training pairs' embeddings are therefore out of fold (--fusion-folds):
each fold's pairs are embedded with the whitening fitted on the other folds, as cross-fitted stacking does.
Validation and test pairs, and saved models, use the whitening fitted on all training pairs.
"""

import torch

from suite_tasks.lfw import lbp

RIDGE = 1e-3  # added to the within-pair covariance (unit total variance per whitened component) before inverting
# 3 power iterations instead of lbp.fit_whitening's 6 halve the cost of seven PCAs a round.
PCA_ITERATIONS = 3


def within_pair_whitening(embedded: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                          source: str = "the training pairs") -> torch.Tensor:
    """k×k map whitening the differences of matched pairs (rows a, b of N×V×k embeddings, every view), taken
    from `source` (named in the error when it holds none)."""
    if not len(a):
        raise ValueError(f"the within-pair whitening needs matched pairs, and {source} hold none")
    differences = (embedded[a] - embedded[b]).flatten(0, 1).double()
    covariance = differences.T @ differences / len(differences)
    values, vectors = torch.linalg.eigh(covariance + RIDGE * torch.eye(len(covariance), dtype=torch.float64))
    return (vectors / values.sqrt()).float()


def embed(descriptors: dict[str, torch.Tensor], a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, dims: int,
          folds: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(every image's embeddings N×V×(M·dims) with the whitening of all training pairs, the training pairs'
    out-of-fold embeddings P×2×V×(M·dims), the round state: each descriptor's mean and projection).

    a, b, same: rows and labels of the training pairs; M descriptors of N images, V views each."""
    rows = torch.unique(torch.cat([a, b]))
    matched = same.bool()
    fold = torch.randperm(len(a), generator=generator) % folds if folds > 1 else None  # None: --fusion-folds 0
    images, pairs, state = [], [], {}
    for name, values in descriptors.items():
        seed = int(torch.randint(2 ** 62, (), generator=generator))
        mean, projection = lbp.fit_whitening(values[rows].flatten(0, 1), dims, seed, PCA_ITERATIONS)
        embedded = (values - mean) @ projection
        whitening = within_pair_whitening(embedded, a[matched], b[matched])
        state[f"mean.{name}"], state[f"projection.{name}"] = mean, projection @ whitening
        images.append(embedded @ whitening)
        if fold is None:  # the training pairs embedded with the whitening fitted on themselves
            pairs.append(torch.stack([images[-1][a], images[-1][b]], 1))
            continue
        out = torch.empty(len(a), 2, *embedded.shape[1:])
        for f in range(folds):
            held = fold == f
            kept = ~held & matched
            w = within_pair_whitening(embedded, a[kept], b[kept],
                                      f"the training pairs outside fold {f + 1} of {folds} (--fusion-folds)")
            out[held] = torch.stack([embedded[a[held]] @ w, embedded[b[held]] @ w], 1)
        pairs.append(out)
    return torch.cat(images, -1), torch.cat(pairs, -1), state


def embed_images(descriptors: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> torch.Tensor:
    """Images' descriptors → their N×V×(M·dims) embeddings under a round's state (a saved model's)."""
    return torch.cat([(values - state[f"mean.{name}"]) @ state[f"projection.{name}"]
                      for name, values in descriptors.items()], -1)
