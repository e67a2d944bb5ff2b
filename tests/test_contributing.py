"""CONTRIBUTING.md's out-of-tree plugin example, exactly as written there, installed as a package
in a temporary folder (the module plus the ``*.dist-info`` pip would write from its pyproject.toml)
and run end to end through ``python -m bench`` — with cells in a spawned worker process, which
must find the plugin on its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def example_blocks() -> dict[str, str]:
    """The fenced code blocks of the "Out-of-tree plugins" section, by language."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## Out-of-tree plugins", 1)[1].split("\n## ", 1)[0]
    return {lang: code for lang, code in re.findall(r"```(\w+)\n(.*?)```", section, re.S)}


def install_example(site: Path) -> tuple[str, str]:
    """Write the example package into ``site``; return (distribution name, module file)."""
    blocks = example_blocks()
    assert set(blocks) == {"toml", "python"}, "CONTRIBUTING's plugin section must hold one toml and one python block"
    meta = tomllib.loads(blocks["toml"])
    module_file = blocks["python"].splitlines()[0].removeprefix("# ").strip()  # "# my_package/pixel_noise.py"
    path = site / module_file
    path.parent.mkdir(parents=True)
    (path.parent / "__init__.py").write_text("")
    path.write_text(blocks["python"])
    name, version = meta["project"]["name"], meta["project"]["version"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    eps = meta["project"]["entry-points"]["augbench.methods"]
    (info / "entry_points.txt").write_text("[augbench.methods]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    return name, module_file


def test_contributing_plugin_example_runs_out_of_tree_in_spawned_workers(tmp_path):
    site = tmp_path / "site"
    dist, _ = install_example(site)
    env = {**os.environ, "PYTHONPATH": str(site)}

    def bench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=600)

    listed = bench("list", "methods")
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("pixel-noise "))
    assert line.endswith(f"(plugin 'pixel-noise' from {dist})") and "augments" in line

    ran = bench("run", "--suite", "tiny", "--methods", "baseline,pixel-noise", "--shots", "2", "--seeds", "0",
                "--executor", "process", "--workers", "1", "--name", "plugin-example",
                "--data-root", str(tmp_path / "data"), "--results-dir", str(tmp_path / "res"),
                "--reports-dir", str(tmp_path / "rep"))
    assert ran.returncode == 0, ran.stderr
    assert "2 cell(s) run" in ran.stdout and "process executor" in ran.stdout
    [rec] = [json.loads(p.read_text()) for p in (tmp_path / "res" / "plugin-example").rglob("*.json")
             if "pixel-noise" in p.parts]
    assert rec["status"] == "ok" and rec["method"]["config"] == {"sigma": 8.0}
    # extra_predictors(): the class-mean side model was scored on the test split
    assert 0.2 < rec["metrics"]["class_mean_accuracy"] <= 1.0
