"""Report 004's two architectures (a fully connected baseline, a two-branch convolutional net) and the options
beyond it: a deeper branch, a parameter-free comparison rule, test-time translations."""

import torch
import torch.nn.functional as F
from torch import nn

from suite import grouped


class Baseline(nn.Module):
    """Both 14×14 channels flattened (392 inputs) → hidden → hidden → 2 logits, ReLU (report 004, §II)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 14 * 14, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.net(x)}

    def forward_stacked(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
        """K stacked rounds at once (suite.training.grouped): x is K×B×2×14×14, outputs K×B×…."""
        return {"logits": grouped.sequential(self.net[1:], params, "net", x.flatten(2), len(x), self.training)}


class Branch(nn.Module):
    """One digit → 10 logits. `report` (report 004): conv 32@3×3 → tanh → avgpool → conv 64@3×3 → tanh →
    avgpool → dropout → FC → tanh → dropout → FC. `deep`: two padded 3×3 convs per stage (32, then 64 filters),
    ReLU, max-pool after each stage (14 → 7 → 3), then the same FC layers with ReLU: 9× the report branch's
    multiply-adds, the usual shape of a small MNIST classifier."""

    def __init__(self, dropout: float, hidden: int, kind: str = "report") -> None:
        super().__init__()
        if kind == "report":
            self.conv = nn.Sequential(nn.Conv2d(1, 32, 3), nn.Tanh(), nn.AvgPool2d(2),   # 14 → 12 → 6
                                      nn.Conv2d(32, 64, 3), nn.Tanh(), nn.AvgPool2d(2),  # 6 → 4 → 2
                                      nn.Dropout(dropout), nn.Flatten())
            features, act = 64 * 2 * 2, nn.Tanh
        elif kind == "deep":
            self.conv = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1),
                                      nn.ReLU(), nn.MaxPool2d(2),                        # 14 → 7
                                      nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                                      nn.ReLU(), nn.MaxPool2d(2),                        # 7 → 3
                                      nn.Dropout(dropout), nn.Flatten())
            features, act = 64 * 3 * 3, nn.ReLU
        else:
            raise ValueError(f"branch {kind!r}")  # the config's choices make this unreachable
        self.fc = nn.Sequential(nn.Linear(features, hidden), act(), nn.Dropout(dropout), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))


def rule_logits(digits: torch.Tensor) -> torch.Tensor:
    """The `rule` head: P(first ≤ second) = Σ_{i ≤ j} p₁(i)·p₂(j) from the two digits' softmax distributions
    (…×2×10 logits), returned as the two logits log(1 − P), log P, so that their softmax is (1 − P, P)."""
    probs = torch.softmax(digits.float(), dim=-1)
    at_least = probs[..., 1, :].flip(-1).cumsum(-1).flip(-1)  # P(second ≥ i)
    p = (probs[..., 0, :] * at_least).sum(-1).clamp(1e-6, 1 - 1e-6)
    return torch.stack([torch.log1p(-p), torch.log(p)], dim=-1)


def translations(x: torch.Tensor, most: int) -> list[torch.Tensor]:
    """x (…×H×W) moved by every offset in −most…most along both axes ((2·most + 1)² views, x itself among
    them); uncovered edges repeat the border (the background)."""
    *lead, h, w = x.shape
    padded = F.pad(x.reshape(-1, 1, h, w), (most,) * 4, mode="replicate")
    return [padded[..., i:i + h, j:j + w].reshape(x.shape) for i in range(2 * most + 1) for j in range(2 * most + 1)]


class Siamese(nn.Module):
    """Two branches (Conv1+Fc1, Conv2+Fc2), or one shared, read one digit each; their sigmoid digit
    outputs (20 values) feed a small comparison head (`mlp`), or the digits' distributions give P(first ≤ second)
    directly (`rule`, no parameters). Logits out; the sigmoid or softmax lives in the loss."""

    def __init__(self, w_sharing: bool, dropout: float, hidden: int, branch: str = "report",
                 head: str = "mlp", tta: int = 0, ensemble: int = 1) -> None:
        super().__init__()
        self.tta = tta  # evaluation: average each digit's distribution over its translations by up to tta pixels
        self.branch1 = Branch(dropout, hidden, branch)
        self.branch2 = self.branch1 if w_sharing else Branch(dropout, hidden, branch)
        # --ensemble K (rule head only): K − 1 more independently initialised members, each its own branch pair
        self.members = nn.ModuleList(Member(w_sharing, dropout, hidden, branch) for _ in range(ensemble - 1))
        self.head = nn.Sequential(nn.Linear(20, hidden), nn.Tanh(), nn.Linear(hidden, 2)) if head == "mlp" else None

    def compare(self, digits: torch.Tensor, head) -> torch.Tensor:
        """Digit logits (…×2×10) → the two logits of first ≤ second; `head` runs the MLP on its 20 inputs."""
        return rule_logits(digits) if self.head is None else head(torch.sigmoid(digits).flatten(-2))

    def pairs(self) -> list[tuple[Branch, Branch]]:
        """Each ensemble member's (first, second) branch; one member without --ensemble."""
        return [(self.branch1, self.branch2)] + [(m.branch1, m.branch2) for m in self.members]

    def digits(self, x: torch.Tensor) -> torch.Tensor:
        """Digit logits N×2×10 of the one member, or the log of the members' mean softmax (an ensemble)."""
        each = [torch.stack([first(x[:, 0:1]), second(x[:, 1:2])], dim=1) for first, second in self.pairs()]
        return each[0] if len(each) == 1 else mean_distribution(torch.stack(each))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.training and self.members:  # each member trains on its own loss: stays an independent model
            each = torch.stack([torch.stack([first(x[:, 0:1]), second(x[:, 1:2])], dim=1)
                                for first, second in self.pairs()], dim=1)  # N×M×2×10
            return ensemble_outputs(each)
        if self.training or not self.tta:
            digits = self.digits(x)
        else:  # log of the mean softmax over the views: still logits, of the averaged distribution
            views = torch.stack([torch.softmax(self.digits(v).float(), -1) for v in translations(x, self.tta)])
            digits = views.mean(0).log()
        return {"logits": self.compare(digits, self.head), "digit_logits": digits}

    def forward_stacked(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
        """K stacked rounds at once: x is K×B×2×14×14, outputs K×B×…, as forward gives per round."""
        k, b = x.shape[:2]

        def branch(name: str, module: Branch, images: torch.Tensor) -> torch.Tensor:  # images: K×N×1×14×14
            h = grouped.sequential(module.conv, params, f"{name}.conv", grouped.grouped(images), k, self.training)
            return grouped.sequential(module.fc, params, f"{name}.fc", h, k, self.training)

        each = []
        for m, (first, second) in enumerate(self.pairs()):
            prefix = "" if m == 0 else f"members.{m - 1}."
            if second is first:  # tied weights, stacked once under branch1's names: both digits in one pass
                both = branch(f"{prefix}branch1", first, x.transpose(1, 2).reshape(k, 2 * b, 1, *x.shape[3:]))
                each.append(both.view(k, 2, b, -1).transpose(1, 2))  # K×B×2×10
            else:
                each.append(torch.stack([branch(f"{prefix}branch1", first, x[:, :, 0:1]),
                                         branch(f"{prefix}branch2", second, x[:, :, 1:2])], dim=2))
        if len(each) > 1:
            if self.training:
                return ensemble_outputs(torch.stack(each, dim=2))  # K×B×M×2×10
            digits = mean_distribution(torch.stack(each))
        else:
            digits = each[0]
        logits = self.compare(digits, lambda h: grouped.sequential(self.head, params, "head", h, k, self.training))
        return {"logits": logits, "digit_logits": digits}


class Member(nn.Module):
    """One more ensemble member of the Siamese net: its own branch, or two without weight sharing."""

    def __init__(self, w_sharing: bool, dropout: float, hidden: int, branch: str) -> None:
        super().__init__()
        self.branch1 = Branch(dropout, hidden, branch)
        self.branch2 = self.branch1 if w_sharing else Branch(dropout, hidden, branch)


def mean_distribution(digits: torch.Tensor) -> torch.Tensor:
    """Members' digit logits (M×…×10) → the log of their mean softmax: logits of the averaged distribution."""
    return torch.softmax(digits.float(), -1).mean(0).log()


def ensemble_outputs(each: torch.Tensor) -> dict[str, torch.Tensor]:
    """Training outputs of an ensemble from its members' digit logits (…×M×2×10): the averaged prediction for the
    metrics, and every member's own digit logits and rule logits (…×M×2) for the loss, which averages the
    members' losses so that each learns alone, as an ensemble of separately trained nets would."""
    digits = mean_distribution(each.movedim(-3, 0))
    return {"logits": rule_logits(digits), "digit_logits": digits,
            "member_logits": rule_logits(each), "member_digit_logits": each}


# The builders of the `mnist` task's MODELS (suite_tasks/mnist_pairs/task.py, where their names and help are).
def baseline(config) -> nn.Module:
    return Baseline(config.hidden)


def siamese(config) -> nn.Module:
    return Siamese(config.w_sharing, config.dropout, config.fc_hidden, config.branch, config.head, config.tta,
                   config.ensemble)
