"""--precision, --compile and --parallel-rounds auto: what runs, what each round records, what is refused.

The GPU half (bf16 on tensor cores, torch.compile) runs only where CUDA is present; on a CPU the same code paths
run in bf16 autocast, which every CPU runs (natively or emulated), so CI exercises them."""

from pathlib import Path

import pytest
import torch

from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution.runner import RunPlan, run_experiment, stack_size
from suite.results.store import Store
from suite.training.devices import PLAIN, Acceleration, cpu_has_native_bf16, resolve_acceleration
from suite.training.rounds import train_rounds
from suite_tasks.lfw.task import TASK as LFW
from suite_tasks.mnist_pairs.task import TASK, MnistConfig
from tests.toy_task import TASK as TOY
from tests.toy_task import ToyConfig

CPU = torch.device("cpu")
NO_DATA = Path("no-data")  # the toy task draws its data from each round's generator
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


AMD_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\nbugs\t\t: sysret_ss_attrs\n"


def test_auto_precision_on_a_cpu_is_bf16_only_where_it_computes_in_bf16_natively():
    assert not cpu_has_native_bf16(AMD_FLAGS)
    assert cpu_has_native_bf16(AMD_FLAGS.replace("avx512bw", "avx512bw avx512_bf16"))
    assert cpu_has_native_bf16(AMD_FLAGS.replace("avx512bw", "amx_bf16 amx_tile"))
    assert not cpu_has_native_bf16(AMD_FLAGS.replace("bugs\t\t: sysret_ss_attrs", "bugs\t\t: avx512_bf16"))
    assert not cpu_has_native_bf16("")
    expected = Acceleration("bf16") if cpu_has_native_bf16() else PLAIN
    assert resolve_acceleration("auto", False, CPU) == expected


def test_explicit_precisions_are_kept_and_bad_names_are_refused():
    assert resolve_acceleration("fp32", False, CPU) == PLAIN
    assert resolve_acceleration("bf16", True, CPU) == Acceleration("bf16", True)
    with pytest.raises(SuiteError, match="--precision: 'fp16' is not one of auto, fp32, bf16"):
        resolve_acceleration("fp16", False, CPU)


def test_each_round_records_how_it_ran():
    assert PLAIN.describe(CPU) == "cpu"
    assert Acceleration("bf16", True).describe(torch.device("cuda:0")) == "cuda:0 bf16 compiled"


@pytest.mark.parametrize(("rounds", "group"), [(1, ""), (3, " stacked:0,1,2")], ids=["alone", "stacked"])
def test_bf16_autocast_trains_and_keeps_float32_outputs(rounds, group):
    config = ToyConfig(pairs=100, epochs=3, batch_size=10, dropout=0.2)
    data = TOY.prepare(config, NO_DATA, False)
    seeds = [RoundSeeds(0, r) for r in range(rounds)]
    plain = train_rounds(TOY, config, data, seeds, CPU)[0]
    bf16 = train_rounds(TOY, config, data, seeds, CPU, accel=Acceleration("bf16"))[0]
    assert bf16.device == f"cpu bf16{group}" and plain.device == f"cpu{group}"
    assert bf16.scores["test"].dtype == torch.float32
    assert bf16.curves[-1]["train_loss"] < bf16.curves[0]["train_loss"]
    # Same seeds, same data: bf16 changes the numbers at rounding level, not the training.
    assert bf16.metrics["test_loss"] == pytest.approx(plain.metrics["test_loss"], rel=0.1)
    assert bf16.metrics["test_loss"] != plain.metrics["test_loss"]


def test_auto_stacks_all_rounds_of_small_models_split_between_workers():
    assert stack_size(TASK, None, 10, 1, PLAIN) == 10
    assert stack_size(TASK, None, 10, 3, PLAIN) == 4  # groups of 4, 4, 2 for three processes
    assert stack_size(TASK, None, 10, 1, Acceleration(compile=True)) == 1
    assert stack_size(LFW, None, 10, 1, PLAIN) == 1  # conv-heavy, and its validation splits differ in size
    assert stack_size(TASK, None, 10_000, 1, PLAIN) == 32  # auto: at most AUTO_STACK_LIMIT rounds a group
    assert stack_size(TASK, None, 40, 1, PLAIN) == 20  # …shared evenly: 20 and 20, not 32 and 8
    assert stack_size(LFW, 3, 10, 1, PLAIN) == 3  # an explicit K is K


def test_stacked_rounds_record_their_group_and_auto_runs_them_together(tmp_path):
    config = ToyConfig(pairs=50, epochs=1, batch_size=10)
    outcome = run_experiment(TOY, config, RunPlan(rounds=3, seed=0, device=CPU, store=Store(tmp_path / "r.db"),
                                                  data_dir=NO_DATA, parallel_rounds=None))
    assert outcome.rounds["device"].tolist() == ["cpu stacked:0,1,2"] * 3


def test_compile_with_stacked_rounds_is_refused_before_anything_is_stored(tmp_path):
    with pytest.raises(SuiteError, match="--compile works on one round at a time"):
        run_experiment(TOY, ToyConfig(), RunPlan(rounds=2, seed=0, device=CPU, store=Store(tmp_path / "r.db"),
                                                 data_dir=NO_DATA, parallel_rounds=2,
                                                 accel=Acceleration(compile=True)))
    assert not Store(tmp_path / "r.db").experiments().shape[0]


@cuda
def test_on_a_gpu_auto_precision_is_bf16_and_a_round_trains(fake_mnist):
    device = torch.device("cuda")
    accel = resolve_acceleration("auto", False, device)
    assert accel.precision == "bf16"
    config = MnistConfig(pairs=100, epochs=3, batch_size=10, w_sharing=True, aux_loss=True)
    result = train_rounds(TASK, config, TASK.prepare(config, fake_mnist, False), [RoundSeeds(0, 0)], device,
                          accel=accel)[0]
    assert result.device == "cuda bf16" and result.peak_memory_bytes > 0
    assert result.curves[-1]["train_loss"] < result.curves[0]["train_loss"]


@cuda
def test_on_a_gpu_a_compiled_round_matches_an_eager_one(fake_mnist):
    device = torch.device("cuda")
    config = MnistConfig(pairs=100, epochs=2, batch_size=10, dropout=0.0)
    digits = TASK.prepare(config, fake_mnist, False)
    eager = train_rounds(TASK, config, digits, [RoundSeeds(0, 0)], device)[0]
    compiled = train_rounds(TASK, config, digits, [RoundSeeds(0, 0)], device, accel=Acceleration(compile=True))[0]
    assert compiled.device == "cuda compiled"
    assert compiled.metrics["test_loss"] == pytest.approx(eager.metrics["test_loss"], rel=1e-3)


@cuda
def test_on_a_gpu_stacked_rounds_equal_rounds_alone_and_dropout_trains(fake_mnist):
    device = torch.device("cuda")
    config = MnistConfig(pairs=100, epochs=2, batch_size=10, dropout=0.0, w_sharing=True, aux_loss=True)
    digits = TASK.prepare(config, fake_mnist, False)
    seeds = [RoundSeeds(1, r) for r in range(3)]
    torch.backends.cudnn.allow_tf32 = False  # float32 convolutions, so the two differ by rounding only
    try:
        for s, stacked in zip(seeds, train_rounds(TASK, config, digits, seeds, device), strict=True):
            alone = train_rounds(TASK, config, digits, [s], device)[0]
            assert stacked.metrics["test_loss"] == pytest.approx(alone.metrics["test_loss"], abs=2e-3)
    finally:
        torch.backends.cudnn.allow_tf32 = True
    noisy = train_rounds(TASK, MnistConfig(pairs=100, epochs=4, batch_size=10, w_sharing=True), digits, seeds, device,
                        accel=resolve_acceleration("auto", False, device))
    assert len({r.curves[-1]["train_loss"] for r in noisy}) == 3
    assert all(r.curves[-1]["train_loss"] < r.curves[0]["train_loss"] for r in noisy)
    assert all(r.device == "cuda bf16 stacked:0,1,2" for r in noisy)
