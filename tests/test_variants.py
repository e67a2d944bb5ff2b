"""Variants (``method@label``): parsing, keying, running and pairing against the baseline; and the
dev-seed guard (a preset tuned on reported seeds is refused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.aggregate import long_table, paired_vs_baseline
from bench.cli import main
from bench.datasets import load_dataset
from bench.errors import BenchError
from bench.method import METHODS, Method, register_method
from bench.plan import cell_key
from bench.suite import Cell, check_tuned_seeds, load_suite, resolve_methods, resolve_variant

HEAD = 'datasets = ["digits"]\nshots = [2]\nseeds = [0, 1, 2]\npreset = "tiny"\nclassifier = "tiny"\n'


def suite_file(tmp_path: Path, body: str, name: str = "v.toml") -> Path:
    p = tmp_path / name
    p.write_text(HEAD + body)
    return p


def test_variant_definitions_parse_and_merge(tmp_path):
    s = load_suite(str(suite_file(tmp_path, '''methods = ["baseline", "classic@light", "baseline@s40"]
[classifier_overrides]
lr = 0.002
[method_overrides.classic]
rotation = 5.0
[variants."classic@light"]
policy = "none"
[variants."baseline@s40"]
classifier = { steps = 40 }
''')))
    cells = {c.method: c for c in s.cells() if c.seed == 0}
    assert cells["classic@light"].method_overrides == {"rotation": 5.0, "policy": "none"}  # suite's, then variant's
    assert cells["baseline@s40"].classifier_overrides == {"lr": 0.002, "steps": 40}
    assert cells["baseline"].classifier_overrides == {"lr": 0.002}
    assert resolve_methods(s.methods, s) == ("baseline", "classic@light", "baseline@s40")


@pytest.mark.parametrize("body, message", [
    ('[variants."classic@Light!"]\npolicy = "none"\n', "bad variant name 'classic@Light!'"),
    ('[variants."clasic@light"]\npolicy = "none"\n', "unknown method 'clasic'; did you mean 'classic'"),
    ('[variants."classic@light"]\npolicy = "spin"\n', "v.toml:7: variant 'classic@light': method 'classic': unknown policy 'spin'"),
    ('[variants."classic@light"]\nrotaton = 3.0\n', "has no config field 'rotaton'; did you mean 'rotation'"),
    ('[variants."baseline@x"]\nclassifier = { stepz = 3 }\n', "classifier has no setting 'stepz'; did you mean 'steps'"),
    ('[variants."baseline@x"]\nclassifier = { steps = 0 }\n', "steps must be an integer >= 1"),
    ('[variants]\n"baseline@x" = 3\n', "must be a table of settings"),
])
def test_bad_variants_fail_when_the_suite_loads(tmp_path, body, message):
    with pytest.raises(BenchError, match=None) as err:
        load_suite(str(suite_file(tmp_path, 'methods = ["baseline"]\n' + body)))
    assert message in str(err.value), str(err.value)


def test_undefined_variant_on_the_command_line(tmp_path, capsys):
    code = main(["run", "--suite", "tiny", "--methods", "baseline,baseline@nope", "--results-dir", str(tmp_path)])
    assert code == 2
    assert "variant 'baseline@nope' is not defined" in capsys.readouterr().err
    with pytest.raises(BenchError, match="unknown method 'gann'; did you mean 'gan'"):
        resolve_variant("gann@x")


def test_variant_keys(tmp_path, digits):
    s = load_suite(str(suite_file(tmp_path, '''methods = ["baseline", "baseline@same", "baseline@s40"]
[variants."baseline@same"]
[variants."baseline@s40"]
classifier = { steps = 40 }
''')))
    key = {c.method: cell_key(c, digits) for c in s.cells() if c.seed == 0}
    assert len({k for k, _ in key.values()}) == 3, "a variant never shares its method's key, even with equal settings"
    assert key["baseline@same"][1]["variant"] == "same" and key["baseline@same"][1]["method"] == "baseline"
    assert key["baseline@s40"][1]["classifier"]["steps"] == 40
    again = {c.method: cell_key(c, digits)[0] for c in load_suite(str(s.path)).cells() if c.seed == 0}
    assert again == {m: k for m, (k, _) in key.items()}, "same settings, same key"
    assert "variant" not in key["baseline"][1]


@pytest.mark.parametrize("method, committed", [("baseline", "39cdbe92d1abb950"), ("mixup", "5708a86bb51924a9")])
def test_plain_method_keys_unchanged(method, committed):
    """Keys of committed records (results/quick-digits, digits, 1 shot, seed 0) still match."""
    cell = Cell("quick", "digits", method, 1, 0, "quick", {}, "quick", {}, 0)
    assert cell_key(cell, load_dataset("digits"))[0] == committed


def test_variant_runs_records_and_pairs_against_baseline(tmp_path):
    path = suite_file(tmp_path, '''methods = ["baseline", "baseline@s60"]
[variants."baseline@s60"]
classifier = { steps = 60 }
''')
    code = main(["run", "--suite", str(path), "--results-dir", str(tmp_path / "res"),
                 "--reports-dir", str(tmp_path / "rep"), "--data-root", str(tmp_path / "data")])
    assert code == 0
    from bench.store import ResultStore

    recs = list(ResultStore(tmp_path / "res").records("v"))
    assert len(recs) == 6
    var = [r for r in recs if r["method"].get("variant")]
    assert {(r["method"]["name"], r["method"]["variant"], r["method"]["display"]) for r in var} == {
        ("baseline", "s60", "baseline@s60")}
    assert {r["classifier"]["config"]["steps"] for r in var} == {60}
    assert {r["details"]["classifier_steps"] for r in var} == {60}
    assert all("/baseline@s60/" in r["_path"] for r in var)
    df = long_table(recs)
    assert set(df["method"]) == {"baseline", "baseline@s60"}
    paired = paired_vs_baseline(df)
    row = paired[paired["method"] == "baseline@s60"].iloc[0]
    assert row["n_pairs"] == 3
    by = df.pivot(index="seed", columns="method", values="accuracy")
    assert row["diff"] == pytest.approx((by["baseline@s60"] - by["baseline"]).mean())
    assert (tmp_path / "rep" / "v" / "leaderboard.md").read_text().count("baseline@s60") >= 1


# --- dev-seed guard -------------------------------------------------------------------------

@pytest.fixture
def tuned_probe():
    """A method whose tiny preset says it was tuned on seeds 0-4; registered for one test only
    (suites of "all" methods elsewhere must not meet it)."""
    class TunedProbe(Method):
        tuned_on = {"tiny": {"seeds": [0, 4], "date": "2026-11-27", "evidence": "a test"}}

    register_method("test-tuned")(TunedProbe)
    yield TunedProbe
    METHODS._items.pop("test-tuned", None)


def test_preset_tuned_on_reported_seeds_is_refused(tmp_path, tuned_probe):
    s = load_suite(str(suite_file(tmp_path, 'methods = ["baseline", "test-tuned"]\n')))
    with pytest.raises(BenchError, match=r"test-tuned preset 'tiny' was tuned on seeds 0-4 .*reports seeds 0, 1, 2"):
        check_tuned_seeds(s)
    check_tuned_seeds(s.with_overrides(seeds=[1000, 1001]))  # disjoint: fine
    check_tuned_seeds(s.with_overrides(preset="quick"))  # that preset was not tuned
    dev = load_suite(str(suite_file(tmp_path, 'methods = ["test-tuned"]\ndevelopment = true\n', "d.toml")))
    check_tuned_seeds(dev)  # development work may reuse its own draws


def test_cli_refuses_before_any_work_and_records_carry_tuned_on(tmp_path, capsys, tuned_probe):
    path = suite_file(tmp_path, 'methods = ["baseline", "test-tuned@x"]\n[variants."test-tuned@x"]\n')
    code = main(["run", "--suite", str(path), "--results-dir", str(tmp_path / "res")])
    assert code == 2 and "was tuned on seeds 0-4" in capsys.readouterr().err
    assert not list((tmp_path / "res").rglob("*.json"))
    code = main(["run", "--suite", str(path), "--seeds", "1000", "--results-dir", str(tmp_path / "res"),
                 "--reports-dir", str(tmp_path / "rep"), "--data-root", str(tmp_path / "data")])
    assert code == 0
    from bench.store import ResultStore

    tuned = {r["method"]["name"]: r["method"]["tuned_on"] for r in ResultStore(tmp_path / "res").records()}
    assert tuned == {"baseline": None, "test-tuned": {"seeds": [0, 4], "date": "2026-11-27", "evidence": "a test"}}


def test_builtin_variant_from_the_command_line(tmp_path):
    code = main(["run", "--suite", "tiny", "--methods", "baseline,classic@light", "--shots", "1", "--seeds", "0",
                 "--results-dir", str(tmp_path / "res"), "--reports-dir", str(tmp_path / "rep"),
                 "--data-root", str(tmp_path / "data")])
    assert code == 0
    from bench.store import ResultStore

    rec = next(r for r in ResultStore(tmp_path / "res").records() if r["method"].get("variant"))
    assert rec["method"]["config"]["policy"] == "light" and rec["details"]["policy"] == "light"


def test_builtin_presets_were_tuned_only_on_development_draws():
    """Every built-in method's tuned_on names a seed range disjoint from the seeds every built-in
    suite reports (so check_tuned_seeds lets each of them run), with its evidence."""
    from bench.suite import builtin_suites

    tuned = {(name, preset): t for name in METHODS.names() for preset, t in METHODS.get(name).tuned_on.items()}
    assert {("classic", "standard"), ("fixmatch", "standard"), ("gan", "standard")} <= set(tuned)
    for (name, preset), t in tuned.items():
        lo, hi = t["seeds"]
        assert 1000 <= lo <= hi and t["evidence"] and t["date"], (name, preset, t)
    for suite in builtin_suites():
        s = load_suite(suite)
        s = s.with_overrides(methods=list(resolve_methods(s.methods, s)))  # "all" expanded, as bench run does
        assert not s.development and max(s.seeds) < 1000, suite
        check_tuned_seeds(s)  # raises if a reported seed was a tuning draw
