"""`bench` end to end on the tiny suite: runs, resumes, reruns, fails cleanly on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.method import METHODS, Method, register_method


def run(tmp_path: Path, *extra: str) -> int:
    return main(["run", "--suite", "tiny", "--methods", "baseline,classic", "--name", "tiny-bc", "--results-dir", str(tmp_path / "res"),
                 "--reports-dir", str(tmp_path / "rep"), "--data-root", str(tmp_path / "data"), *extra])


def records(tmp_path: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((tmp_path / "res").rglob("*.json"))}


def test_run_resume_delete_force(tmp_path, capsys):
    assert run(tmp_path) == 0
    out = capsys.readouterr().out
    assert "| baseline |" in out and "| classic |" in out and "8 cell(s) run" in out
    first = records(tmp_path)
    assert len(first) == 8
    assert (tmp_path / "rep" / "tiny-bc" / "leaderboard.md").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in first} == {0o666 & ~umask}, "records must be as readable as plain files"

    assert run(tmp_path) == 0  # resume: nothing to do, nothing changed
    assert "0 cell(s) run, 8 already done" in capsys.readouterr().out
    assert records(tmp_path) == first

    victim = sorted(first)[3]
    victim.unlink()
    assert run(tmp_path) == 0
    assert "1 cell(s) run, 7 already done" in capsys.readouterr().out
    again = records(tmp_path)
    assert set(again) == set(first)
    assert json.loads(again[victim])["metrics"] == json.loads(first[victim])["metrics"]  # deterministic

    assert run(tmp_path, "--force") == 0
    assert "8 cell(s) run, 0 already done" in capsys.readouterr().out


def test_paired_draw_identical_across_methods(tmp_path):
    assert run(tmp_path, "--seeds", "0", "--shots", "3") == 0
    recs = [json.loads(b) for b in records(tmp_path).values()]
    assert {r["method"]["name"] for r in recs} == {"baseline", "classic"}
    assert len({r["task"]["labelled_fingerprint"] for r in recs}) == 1


BAD_TOML = 'datasets = ["digits"]\nshots = [1,\nseeds = [0]\n'
UNKNOWN_KEY = 'datasets = ["digits"]\nmethod = ["baseline"]\n'


@pytest.mark.parametrize("argv, expected", [
    (["--methods", "clasic"], "unknown method 'clasic'; did you mean 'classic'?"),
    (["--datasets", "fashion_mnist"], "unknown dataset 'fashion_mnist'; did you mean 'fashion-mnist'"),
    (["--datasets", "fashion-mnist"], "apt-get install dataset-fashion-mnist"),
    (["--suite", "{tmp}/bad.toml"], "bad.toml is not valid TOML"),
    (["--suite", "{tmp}/unknown.toml"], "unknown.toml:2: unknown suite key 'method'; did you mean 'methods'"),
    (["--suite", "quik"], "unknown suite 'quik'; did you mean 'quick'?"),
    (["--shots", "500"], "shots=500 is larger than the smallest class of digits"),
    (["--seeds", "0,-1"], "seeds must be non-negative integers, got -1"),
    (["--shots", "five"], "--shots must be comma-separated integers"),
    (["--results-dir", "{tmp}/afile/sub"], "is not writable"),
    (["--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, expected):
    monkeypatch.setenv("AUGBENCH_SYSTEM_DATASETS", str(tmp_path / "no-system-data"))
    (tmp_path / "bad.toml").write_text(BAD_TOML)
    (tmp_path / "unknown.toml").write_text(UNKNOWN_KEY)
    (tmp_path / "afile").write_text("not a folder")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    base = ["run", "--results-dir", str(tmp_path / "res"), "--data-root", str(tmp_path / "data")]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert expected in err
    if "bad.toml" in expected:
        assert "line 3" in err  # tomllib names the line


@pytest.fixture
def flaky_methods():
    @register_method("test-broken")
    class Broken(Method):
        def fit(self, data):
            raise RuntimeError("this method is broken on purpose")

    @register_method("test-interrupt")
    class Interrupt(Method):
        def fit(self, data):
            if self.ctx.seed and data.y.numel() > 10:  # 3-shot cells: simulate Ctrl-C
                raise KeyboardInterrupt

    yield
    METHODS._items.pop("test-broken")
    METHODS._items.pop("test-interrupt")


def test_failed_cell_is_recorded_and_run_goes_on(tmp_path, capsys, flaky_methods):
    code = main(["run", "--suite", "tiny", "--methods", "baseline,test-broken", "--results-dir", str(tmp_path / "res"),
                 "--reports-dir", str(tmp_path / "rep")])
    assert code == 1
    recs = [json.loads(b) for b in records(tmp_path).values()]
    failed = [r for r in recs if r["status"] == "failed"]
    assert len(failed) == 4 and len(recs) == 8
    assert failed[0]["error"]["message"] == "this method is broken on purpose"
    assert "Traceback" in failed[0]["error"]["traceback"]
    assert "4 cell(s) failed" in capsys.readouterr().err
    # a rerun retries only the failed cells
    main(["run", "--suite", "tiny", "--methods", "baseline,test-broken", "--results-dir", str(tmp_path / "res"),
          "--reports-dir", str(tmp_path / "rep")])
    assert "4 cell(s) run, 4 already done" in capsys.readouterr().out


def test_ctrl_c_keeps_finished_cells_and_says_how_to_resume(tmp_path, capsys, flaky_methods):
    code = main(["run", "--suite", "tiny", "--methods", "baseline,test-interrupt", "--results-dir", str(tmp_path / "res")])
    assert code == 130
    err = capsys.readouterr().err
    assert "run the same command again to resume" in err
    kept = [json.loads(b) for b in records(tmp_path).values()]
    # cells run in order shots × seed × method: the 1-shot cells and the first 3-shot baseline finished
    assert all(r["status"] == "ok" for r in kept)
    assert sorted((r["task"]["shots"], r["task"]["seed"], r["method"]["name"]) for r in kept) == [
        (1, 0, "baseline"), (1, 0, "test-interrupt"), (1, 1, "baseline"), (1, 1, "test-interrupt"), (3, 0, "baseline")]


def test_report_rebuilds_from_records(tmp_path, capsys):
    assert run(tmp_path) == 0
    (tmp_path / "rep" / "tiny-bc" / "records.csv").unlink()
    capsys.readouterr()
    assert main(["report", "tiny-bc", "--results-dir", str(tmp_path / "res"), "--reports-dir", str(tmp_path / "rep")]) == 0
    import pandas as pd

    df = pd.read_csv(tmp_path / "rep" / "tiny-bc" / "records.csv")
    assert len(df) == 8 and set(df["method"]) == {"baseline", "classic"}
    assert main(["report", "nosuch", "--results-dir", str(tmp_path / "res")]) == 2


def test_python_dash_m_bench_lists():
    out = subprocess.run([sys.executable, "-m", "bench", "list", "methods"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "baseline" in out.stdout and "classic" in out.stdout


def test_executor_local_without_workers_runs_sequentially(tmp_path, capsys, monkeypatch):
    """--executor local alone used to take the core-count --workers default and refuse it."""
    monkeypatch.setattr("bench.executors.available_cores", lambda: 2)
    assert run(tmp_path, "--methods", "baseline", "--shots", "1", "--seeds", "0", "--executor", "local") == 0
    assert "1 cell(s) run" in capsys.readouterr().out


# --- own data: folder:PATH runs get their own suite, class names, explicit transfer sources ----------

def digits_folder(root: Path, names=("zero", "one", "seven"), digits_of=(0, 1, 7), n_train=8, n_test=6) -> Path:
    """A folder dataset of real digits PNGs: ``root/{train,test}/<name>/*.png``."""
    from PIL import Image

    from bench.datasets import load_dataset

    d = load_dataset("digits")
    for split, x, y, n in (("train", d.train_x, d.train_y, n_train), ("test", d.test_x, d.test_y, n_test)):
        for name, k in zip(names, digits_of, strict=True):
            (root / split / name).mkdir(parents=True)
            for i, idx in enumerate((y == k).nonzero().flatten()[:n].tolist()):
                Image.fromarray(x[idx, 0].numpy(), "L").save(root / split / name / f"{i}.png")
    return root


def folder_run(tmp_path: Path, folder: Path, *extra: str) -> int:
    return main(["run", "--suite", "tiny", "--datasets", f"folder:{folder}", "--shots", "2", "--seeds", "0,1",
                 "--data-root", str(tmp_path / "data"), "--results-dir", str(tmp_path / "res"),
                 "--reports-dir", str(tmp_path / "rep"), *extra])


def test_folder_run_has_its_own_suite_and_class_names(tmp_path, capsys):
    import pandas as pd

    folder = digits_folder(tmp_path / "My Digits")
    assert folder_run(tmp_path, folder, "--methods", "baseline,classic") == 0
    out = capsys.readouterr().out
    suite = "folder-my-digits_baseline.classic_tiny"
    assert not (tmp_path / "res" / "tiny").exists(), "an ad-hoc run must not be filed under the suite it came from"
    recs = [json.loads(b) for b in records(tmp_path).values()]
    assert len(recs) == 4 and {r["suite"] for r in recs} == {suite}
    info = recs[0]["suite_info"]
    assert info["derived_from"] == "tiny" and f"folder:{folder}" in info["description"]
    assert all(r["dataset"]["classes"] == ["one", "seven", "zero"] for r in recs)  # folder names, label order

    rep = tmp_path / "rep" / suite
    df = pd.read_csv(rep / "records.csv")
    assert set(df["classes"]) == {"one; seven; zero"}
    for r in recs:  # per-class accuracy under the class's name
        row = df[(df["method"] == r["method"]["name"]) & (df["seed"] == r["task"]["seed"])].iloc[0]
        assert [row[f"accuracy[{c}]"] for c in ("one", "seven", "zero")] == pytest.approx(r["metrics"]["per_class_accuracy"])
    html = (rep / "index.html").read_text()
    assert f"bench run --suite tiny --name {suite} --datasets &#x27;folder:{folder}&#x27;" in html
    assert "accuracy per class, 2-shot" in html and "<th class=\"num\">seven</th>" in html
    assert f"report: {rep / 'index.html'}" in out
    assert f"bench report {suite} --results-dir {tmp_path / 'res'} --reports-dir {tmp_path / 'rep'}" in out


def test_run_name_rules(tmp_path, capsys):
    folder = digits_folder(tmp_path / "pets")
    for bad, msg in ((["--name", "quick"], "--name quick is a built-in suite's name"),
                     (["--name", "Bad Name"], "invalid --name 'Bad Name'")):
        assert folder_run(tmp_path, folder, "--methods", "baseline", *bad) == 2
        assert msg in capsys.readouterr().err
    (tmp_path / "quick.toml").write_text('datasets = ["digits"]\nmethods = ["baseline"]\n')
    assert main(["run", "--suite", str(tmp_path / "quick.toml"), "--results-dir", str(tmp_path / "res")]) == 2
    assert "uses the built-in suite name 'quick'; set name" in capsys.readouterr().err
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").rglob("*.json"))

    assert folder_run(tmp_path, folder, "--methods", "baseline", "--name", "my-pets") == 0
    assert {json.loads(b)["suite"] for b in records(tmp_path).values()} == {"my-pets"}


def test_run_name_is_derived_and_fits():
    from bench.cli import run_name
    from bench.registry import check_name

    assert run_name(["folder-pets"], ["baseline", "gan"], ["baseline", "gan", "vae"], "tiny", None) == \
        "folder-pets_baseline.gan_tiny"
    assert run_name(["digits"], ["baseline", "gan"], ["gan", "baseline"], "quick", None) == "digits_all_quick"
    assert run_name(["fashion-mnist-c5-9"], ["finetune"], ["finetune", "gan"], "quick", "fashion-mnist[0-4]") == \
        "fashion-mnist-c5-9_finetune_quick_src-fashion-mnist-0-4"
    assert run_name(["digits"], ["baseline"], ["baseline", "gan"], "quick", None, "adam-4800") == \
        "digits_baseline_quick_clf-adam-4800"
    many = [f"method-number-{i}" for i in range(9)]
    long = run_name(["folder-" + "x" * 80], many, many + ["other"], "standard", None)
    assert len(long) <= 64 and check_name(long) == long
    assert long != run_name(["folder-" + "x" * 80], many[:-1], many + ["other"], "standard", None)


@pytest.mark.parametrize("method", ["finetune", "transfer-gan"])
def test_folder_source_must_be_chosen_before_any_cell(tmp_path, capsys, method):
    """finetune used Fashion-MNIST silently for a folder while transfer-gan failed per cell; now
    both refuse source="auto" there, before any cell, in one line that says how to set it."""
    folder = digits_folder(tmp_path / "pets")
    assert folder_run(tmp_path, folder, "--methods", f"baseline,{method}") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {method} has no automatic transfer source for dataset 'folder-pets'") and "\n" not in err
    assert "--source DATASET" in err and f"[method_overrides.{method}]" in err
    assert records(tmp_path) == {}


def test_folder_run_with_a_source_builds_it_once_before_the_cells(tmp_path, capsys):
    folder = digits_folder(tmp_path / "pets")
    assert folder_run(tmp_path, folder, "--methods", "baseline,finetune", "--source", "digits") == 0
    captured = capsys.readouterr()
    recs = [json.loads(b) for b in records(tmp_path).values()]
    ft = [r for r in recs if r["method"]["name"] == "finetune"]
    assert {r["suite"] for r in recs} == {"folder-pets_baseline.finetune_tiny_src-digits"}
    assert [r["method"]["config"]["source"] for r in ft] == ["digits", "digits"]
    assert [r["details"]["source_built_in_this_cell"] for r in ft] == [False, False]  # built by the driver
    assert all(r["timings"]["artefacts_s"] == 0 for r in recs)
    assert "building the finetune source model (digits at 1×8×8, 20 steps) (one time, cached in" in captured.err
    assert "one-time artefacts built before the cells (not in any cell's time): 1 in" in captured.out
    html = (tmp_path / "rep" / "folder-pets_baseline.finetune_tiny_src-digits" / "index.html").read_text()
    assert "--source digits" in html  # the reproduce line sets the source again

    assert main(["run", "--suite", "tiny", "--methods", "baseline", "--source", "digits",
                 "--results-dir", str(tmp_path / "res")]) == 2
    assert "none of the methods baseline uses a transfer source" in capsys.readouterr().err


def test_every_argument_says_what_it_does():
    import argparse

    from bench.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help and len(action.help) > 15, f"bench {name} {action.dest} has no help"

SUITE_HEAD = 'datasets = ["digits"]\nmethods = ["baseline", "gan"]\nshots = [1]\nseeds = [0]\npreset = "tiny"\nclassifier = "tiny"\n\n'


@pytest.mark.parametrize("table, expected", [
    ('[method_overrides.gan]\nsteps = "ten"\n', "x.toml:9: method 'gan' setting steps = 'ten' is not allowed: steps must be an integer"),
    ("[method_overrides.gan]\nsteps = 2.5\n", "x.toml:9: method 'gan' setting steps = 2.5 is not allowed: steps must be an integer"),
    ('[method_overrides.gan]\nlr_g = "fast"\n', "x.toml:9: method 'gan' setting lr_g = 'fast' is not allowed: lr_g must be a finite number"),
    ("[method_overrides.gan]\nlr_g = inf\n", "x.toml:9: method 'gan' setting lr_g = inf is not allowed: lr_g must be a finite number"),
    ("[method_overrides.gan]\nn_per_class = 1.5\n", "x.toml:9: method 'gan' setting n_per_class = 1.5 is not allowed: n_per_class must be an integer"),
    ("[method_overrides.gan]\nsteps = -5\n", "x.toml:9: method 'gan': steps must be >= 1, got -5"),
    ("[method_overrides.gan]\nstabiliser = 3\n", "x.toml:9: method 'gan' setting stabiliser = 3 is not allowed: stabiliser must be a string"),
    ("[classifier_overrides]\nsteps = -5\n", "x.toml:9: classifier setting steps = -5 is not allowed: steps must be an integer >= 1"),
    ("[classifier_overrides]\nbatch_size = 0\n", "x.toml:9: classifier setting batch_size = 0 is not allowed: batch_size must be an integer >= 1"),
    ("[classifier_overrides]\nlr = 0\n", "x.toml:9: classifier setting lr = 0 is not allowed: lr must be a number > 0"),
    ('[classifier_overrides]\nsteps = "ten"\n', "x.toml:9: classifier setting steps = 'ten' is not allowed: steps must be an integer"),
    ("[method_overrides.gann]\nsteps = 4\n", "x.toml:8: [method_overrides.gann]: unknown method 'gann'; did you mean 'gan'"),
    ("[method_overrides.classic]\npolicy = \"none\"\n", "x.toml:8: [method_overrides.classic]: method 'classic' is not in this suite's methods"),
    ("method_overrides = 3\n", "x.toml:8: [method_overrides] must be a table"),
])
def test_bad_settings_refused_before_any_cell_with_file_and_line(tmp_path, capsys, table, expected):
    suite = tmp_path / "x.toml"
    suite.write_text(SUITE_HEAD + table)
    code = main(["run", "--suite", str(suite), "--results-dir", str(tmp_path / "res"), "--reports-dir",
                 str(tmp_path / "rep"), "--data-root", str(tmp_path / "data")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert expected in err, err
    assert err.count("x.toml") == 1, "the path is printed once"
    assert not records(tmp_path), "refused before any cell ran"


def _image_folder(root: Path, classes: int = 2) -> None:
    from PIL import Image

    for split in ("train", "test"):
        for c in range(classes):
            (root / split / f"c{c}").mkdir(parents=True)
            for i in range(3):
                noise = bytes((7 * i + 13 * c + 31 * j * j) % 256 for j in range(64))  # incompressible-ish
                Image.frombytes("L", (8, 8), noise).save(root / split / f"c{c}" / f"{i}.png")


FOLDER_FAULTS = {
    "text.png": (lambda r: (r / "train" / "c0" / "bad.png").write_text("not an image"), "cannot read image {root}/train/c0/bad.png"),
    "truncated": (lambda r: (r / "test" / "c1" / "cut.png").write_bytes((r / "test" / "c1" / "0.png").read_bytes()[:70]),
                  "cannot read image {root}/test/c1/cut.png"),
    "empty class": (lambda r: [(r / s / "c9").mkdir() for s in ("train", "test")],
                    "class folder {root}/train/c9 has no images"),
    "one class": (None, "train/ has 1 class folder(s) (c0); a classification benchmark needs at least 2"),
}


@pytest.mark.parametrize("fault", FOLDER_FAULTS)
def test_bad_image_folder_is_one_line(tmp_path, capsys, fault):
    spoil, expected = FOLDER_FAULTS[fault]
    root = tmp_path / "imgs"
    _image_folder(root, classes=1 if spoil is None else 2)
    if spoil:
        spoil(root)
    code = main(["run", "--suite", "tiny", "--methods", "baseline", "--shots", "1", "--seeds", "0", "--datasets",
                 f"folder:{root}", "--results-dir", str(tmp_path / "res"), "--data-root", str(tmp_path / "data")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert expected.format(root=root) in err, err
    assert not records(tmp_path)


@pytest.mark.parametrize("argv, expected", [
    (["--threads", "1000"], "--threads 1000 is more than the"),
    (["--datasets", "digits[9-5]"], "the range '9-5' runs backwards; write it low-high, e.g. digits[5-9]"),
    (["--suite", "{tmp}"], "is a directory; give a suite file"),
    (["--suite", "{tmp}/dots.toml"], "dots.toml:1: datasets must be a non-empty list of strings"),
])
def test_more_bad_run_input_is_one_line(tmp_path, capsys, argv, expected):
    (tmp_path / "dots.toml").write_text("datasets = [1]\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(["run", "--suite", "tiny", "--methods", "baseline", "--results-dir", str(tmp_path / "res"),
                 "--data-root", str(tmp_path / "data"), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert expected in err and err.count("dots.toml") <= 1, err
    assert not records(tmp_path)


def test_report_of_a_suite_without_results_names_those_with(tmp_path, capsys):
    assert main(["report", "nosuch", "--results-dir", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no results in" in err and "bench run --suite SUITE" in err, err
    (tmp_path / "res" / "tiny").mkdir(parents=True)
    assert main(["report", "tiny2", "--results-dir", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "did you mean 'tiny'?" in err and "suites with results there: tiny" in err, err


def test_classifier_option_runs_that_preset_under_a_derived_name(tmp_path, capsys):
    """--classifier replaces the suite's classifier preset; the run is ad hoc (its own name, the
    classifier in it) and every record carries the preset and its config; a bad name stops first."""
    from bench.store import ResultStore
    from bench.training import CLASSIFIER_PRESETS, classifier_key

    args = ["run", "--suite", "tiny", "--methods", "baseline", "--shots", "1", "--seeds", "0", "--results-dir",
            str(tmp_path / "res"), "--reports-dir", str(tmp_path / "rep"), "--workers", "1"]
    assert main([*args, "--classifier", "tiny-ish"]) == 2
    assert "unknown classifier preset 'tiny-ish'" in capsys.readouterr().err
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())
    assert main([*args, "--classifier", "quick"]) == 0
    (name,) = [p.name for p in (tmp_path / "res").iterdir()]
    assert name.endswith("_clf-quick")
    (rec,) = ResultStore(tmp_path / "res").records(name)
    assert rec["classifier"]["preset"] == "quick"
    assert rec["classifier"]["config"]["steps"] == 300 == CLASSIFIER_PRESETS["quick"].steps
    assert rec["details"]["classifier_steps"] == 300 and classifier_key(CLASSIFIER_PRESETS["quick"])["steps"] == 300
