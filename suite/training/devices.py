"""Choosing the device and measuring peak memory on it."""

import contextlib
import dataclasses
import resource
from pathlib import Path

import torch

from suite.core.config import PRECISIONS
from suite.core.errors import SuiteError


def resolve_device(spec: str) -> torch.device:
    """`auto` (CUDA when available), `cpu`, `cuda` or `cuda:i`."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise SuiteError(f"--device: {spec!r} is not one of auto, cpu, cuda, cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise SuiteError(f"--device: {spec!r} is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise SuiteError(f"--device {spec}: CUDA is not available on this machine (use --device cpu or auto)")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise SuiteError(f"--device {spec}: this machine has {count} CUDA device(s)")
    return device


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


_CLEAR_REFS = Path("/proc/self/clear_refs")
_CPUINFO = Path("/proc/cpuinfo")
_STATUS = Path("/proc/self/status")


class PeakMemory:
    """Peak memory over a block: CUDA max allocated on GPU, resident set size (RSS) on CPU.

    On Linux the RSS high-water mark is reset through /proc/self/clear_refs, so each round gets its own
    peak; elsewhere the process-wide peak (getrusage) is the best available and is an upper bound.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.bytes = 0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                _CLEAR_REFS.write_text("5")
            except OSError:
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.bytes = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self.bytes = _rss_peak_bytes()


def _rss_peak_bytes() -> int:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux




@dataclasses.dataclass(frozen=True)
class Acceleration:
    """How the step loop runs on its device: float32 or bf16 autocast, eager or `torch.compile`d.

    bf16 autocast runs matmuls and convolutions in bfloat16 (tensor cores on a GPU) and keeps losses and weights in
    float32, so no loss scaling is needed. Both change numbers at rounding level, so each round records them.
    """

    precision: str = "fp32"  # fp32 | bf16 (resolved; see resolve_acceleration)
    compile: bool = False

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def describe(self, device: torch.device) -> str:
        """The round's `device` column: e.g. `cuda:0 bf16 compiled`; plain `cpu` for the defaults there."""
        extras = ([self.precision] if self.precision != "fp32" else []) + (["compiled"] if self.compile else [])
        return " ".join([str(device), *extras])


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX512-BF16 or AMX-BF16), from /proc/cpuinfo's flags or the
    given text of it. Only there is bf16 autocast faster than float32; without them oneDNN emulates it, more slowly
    (docs/benchmarks.md). Not Linux: False."""
    if cpuinfo is None:
        try:
            cpuinfo = _CPUINFO.read_text()
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_acceleration(precision: str, compile: bool, device: torch.device) -> Acceleration:
    """`--precision auto` is bf16 on a GPU that supports it (all since Ampere) and on a CPU that computes in bf16
    natively (cpu_has_native_bf16), float32 elsewhere."""
    if precision not in PRECISIONS:
        raise SuiteError(f"--precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            native = torch.cuda.is_bf16_supported()
        else:
            native = cpu_has_native_bf16()
        precision = "bf16" if native else "fp32"
    return Acceleration(precision, compile)


PLAIN = Acceleration()  # float32, eager: the default of the library's functions (the CLI resolves `auto`)
