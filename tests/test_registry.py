from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.method import METHODS, Method
from bench.registry import Registry, check_name


def test_register_get_and_pattern():
    reg: Registry = Registry("thing")

    @reg.register("alpha-1")
    def alpha():
        return 1

    reg.register("beta")(lambda: 2)
    assert reg.get("alpha-1") is alpha
    assert reg.names() == ["alpha-1", "beta"]
    assert reg.names("a*") == ["alpha-1"]
    assert "beta" in reg and "gamma" not in reg


def test_duplicate_name_is_an_error():
    reg: Registry = Registry("thing")
    reg.register("x")(lambda: 1)
    with pytest.raises(BenchError, match="registered twice"):
        reg.register("x")(lambda: 2)


@pytest.mark.parametrize("bad", ["", "Upper", "a/b", "../x", " x", "a b", "x" * 65, "-lead"])
def test_unsafe_names_rejected(bad):
    with pytest.raises(BenchError, match="invalid"):
        check_name(bad)


def test_unknown_name_suggests_close_match():
    with pytest.raises(BenchError, match=r"unknown method 'clasic'; did you mean 'classic'\?"):
        METHODS.get("clasic")


def test_base_class_is_enforced():
    reg: Registry = Registry("method", base=Method)
    with pytest.raises(BenchError, match="subclass of Method"):
        reg.register("not-a-method")(object)


def test_entry_point_plugin_is_loaded(tmp_path, monkeypatch):
    """An out-of-tree package declaring the augbench.methods entry point shows up in the registry."""
    (tmp_path / "my_aug_plugin.py").write_text(textwrap.dedent('''
        from bench.method import Method, register_method

        @register_method("my-plugin")
        class MyPlugin(Method):
            """A user's method living outside the repo."""
    '''))
    dist = tmp_path / "my_aug_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-aug-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[augbench.methods]\nmy-plugin = my_aug_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("method", base=Method, entry_point_group="augbench.methods")
    try:
        reg._load()
        assert "my-plugin" in METHODS  # registered through the real entry-point machinery
        assert METHODS.get("my-plugin").__name__ == "MyPlugin"
    finally:
        METHODS._items.pop("my-plugin", None)
        sys.modules.pop("my_aug_plugin", None)


def install_plugin(site: Path, dist: str, module: str, entry: str, code: str) -> None:
    """A real installed distribution in ``site``: the module and a ``*.dist-info`` declaring the entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[augbench.methods]\n{entry} = {module}\n")


BROKEN = '''
    import no_such_dependency_of_augbench  # noqa: F401  (a plugin whose dependency is missing)
'''


def test_a_broken_plugin_is_set_aside_and_named(tmp_path, monkeypatch):
    install_plugin(tmp_path, "broken-aug-plugin", "broken_aug_plugin", "broken-method", BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("method", base=Method, entry_point_group="augbench.methods")
    reg.register("fine")(type("Fine", (Method,), {}))
    assert reg.names() == ["fine"] and reg.get("fine").__name__ == "Fine"  # the rest still works
    [b] = reg.broken
    assert (b.entry_point, b.value, b.distribution) == ("broken-method", "broken_aug_plugin", "broken-aug-plugin")
    assert b.error == "ModuleNotFoundError: No module named 'no_such_dependency_of_augbench'"
    with pytest.raises(BenchError, match=r"method 'broken-method' is not available: plugin entry point 'broken-method'"
                                         r".*distribution 'broken-aug-plugin'.*pip uninstall broken-aug-plugin"):
        reg.get("broken-method")
    with pytest.raises(BenchError, match=r"unknown method 'other'.*entry point 'broken-method' of distribution "
                                         r"'broken-aug-plugin'"):
        reg.get("other")
    sys.modules.pop("broken_aug_plugin", None)


def bench(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def test_installed_broken_plugin_stops_only_runs_that_ask_for_it(tmp_path):
    """A real broken distribution on sys.path: `bench list methods` reports it in one line and
    `bench run --methods baseline` works; asking for it is one line naming the distribution."""
    site = tmp_path / "site"
    install_plugin(site, "broken-aug-plugin", "broken_aug_plugin", "broken-method", BROKEN)
    out = bench(site, "list", "methods", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "\nbaseline " in out.stdout and "\nclassic " in out.stdout
    broken = [ln for ln in out.stdout.splitlines() if ln.startswith("BROKEN")]
    assert broken == ["BROKEN plugin entry point 'broken-method' (broken_aug_plugin, group 'augbench.methods') of "
                      "distribution 'broken-aug-plugin' failed to load: ModuleNotFoundError: No module named "
                      "'no_such_dependency_of_augbench'; fix it or uninstall it (pip uninstall broken-aug-plugin)"]

    common = ["--suite", "tiny", "--shots", "1", "--seeds", "0", "--executor", "local", "--data-root", str(tmp_path / "d"),
              "--results-dir", str(tmp_path / "res"), "--reports-dir", str(tmp_path / "rep")]
    ok = bench(site, "run", "--methods", "baseline", *common, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "1 cell(s) run" in ok.stdout and "warning: plugin entry point 'broken-method'" in ok.stderr

    asked = bench(site, "run", "--methods", "baseline,broken-method", *common, cwd=tmp_path)
    assert asked.returncode == 2
    err = asked.stderr.strip()
    assert "\n" not in err and err.startswith("error: method 'broken-method' is not available")
    assert "pip uninstall broken-aug-plugin" in err
