"""Experiments in TOML files: `suite run|sweep TASK --config FILE`, command-line options over the file, and
`suite show ID --config` writing a file that reruns the experiment onto its stored rounds."""

import sqlite3

import pytest

from tests.cli_helpers import suite_here

TINY = ["--pairs", "60", "--batch-size", "20", "--quiet", "--device", "cpu"]


def run(tmp_path, data, *args):
    return suite_here("run", "mnist", "--data-dir", str(data), *args, cwd=tmp_path)


def stored(store) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT experiment_id, seed, round_index, finished FROM rounds ORDER BY id").fetchall()


def test_show_config_reruns_onto_the_stored_rounds(tmp_path, fake_mnist) -> None:
    store = tmp_path / "r.db"
    first = run(tmp_path, fake_mnist, "--rounds", "2", "--seed", "3", "--epochs", "1", "--store", str(store), *TINY,
                "--w-sharing")
    assert first.returncode == 0, first.stderr
    before = stored(store)
    shown = suite_here("show", "1", "--store", str(store), "--config", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("# experiment 1 of ") and "\nw_sharing = true\n" in shown.stdout
    (tmp_path / "e.toml").write_text(shown.stdout)
    again = suite_here("run", "mnist", "--config", str(tmp_path / "e.toml"), "--data-dir", str(fake_mnist), "--quiet",
                       cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "experiment 1 " in again.stdout and "2 reused from the store" in again.stdout
    assert stored(store) == before  # nothing trained again, nothing added


def test_the_command_line_overrides_the_file(tmp_path, fake_mnist) -> None:
    store = tmp_path / "r.db"
    (tmp_path / "e.toml").write_text(f'task = "mnist"\n[run]\nrounds = 2\nstore = "{store}"\n'
                                     '[config]\nepochs = 1\npairs = 60\nbatch-size = 20\nlr = 0.01\n')
    done = run(tmp_path, fake_mnist, "--config", str(tmp_path / "e.toml"), "--rounds", "1", "--lr", "0.02",
               "--quiet", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    shown = suite_here("show", "1", "--store", str(store), "--json", cwd=tmp_path)
    assert '"lr": 0.02' in shown.stdout and '"epochs": 1' in shown.stdout and '"batch_size": 20' in shown.stdout
    assert '"rounds": 1' in shown.stdout


@pytest.mark.parametrize("text, message", [
    (None, "no such file"),
    ("rounds = = 3", "not valid TOML"),
    ('task = "lfw"', "written for task 'lfw', not mnist"),
    ("[config]\nepoch = 3", "[config] mnist has no option 'epoch'"),
    ("[config]\nepochs = 'three'", "[config] epochs: expected int, got 'three'"),
    ("[config]\nepochs = 0", "epochs: must be >= 1"),
    ('[run]\nrounds = "3"', "[run] rounds: expected int, got '3'"),
    ("[run]\nfresh = true", "[run] unknown option 'fresh'"),
    ("[grid]\nlr = [0.1, 0.2]", "[grid] is for `suite sweep`"),
    ("[runs]\nrounds = 3", "unknown key(s) runs"),
    ("run = 3", "run must be a table"),
    ("[run]\nrounds = 0", "--rounds: must be between 1 and 10,000, got 0"),
])
def test_a_bad_file_is_named_in_one_line(tmp_path, fake_mnist, text, message) -> None:
    path = tmp_path / "e.toml"
    if text is not None:
        path.write_text(text + "\n")
    done = run(tmp_path, fake_mnist, "--config", str(path), "--store", str(tmp_path / "r.db"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    if "--config" in message or text is None or "must be" not in message:
        assert str(path) in done.stderr
    assert not (tmp_path / "r.db").exists()


def test_sweep_takes_its_grid_from_the_file(tmp_path, fake_mnist) -> None:
    store = tmp_path / "s.db"
    (tmp_path / "s.toml").write_text('[run]\nrounds = 1\n[config]\npairs = 60\nbatch_size = 20\n'
                                     '[grid]\nepochs = [1, 2]\nw_sharing = [true, false]\n')
    args = ["sweep", "mnist", "--config", str(tmp_path / "s.toml"), "--store", str(store), "--data-dir",
            str(fake_mnist), "--quiet", "--device", "cpu"]
    done = suite_here(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 cells × 1 rounds" in done.stdout
    narrowed = suite_here(*args, "--grid", "epochs=1", cwd=tmp_path)  # replaces the file's epochs axis
    assert narrowed.returncode == 0, narrowed.stderr
    said = " ".join(narrowed.stdout.split())  # rich wraps the title
    assert "2 cells × 1 rounds" in said and "0 rounds trained, 2 reused" in said
    clash = suite_here(*args, "--epochs", "1", cwd=tmp_path)
    assert clash.returncode == 2 and "also given as a fixed option" in clash.stderr
