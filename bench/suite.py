"""Suites: TOML files that expand into cells (dataset × method × shots × seed).

Keys (all optional but ``datasets``):

    name = "quick"                 # results sub-folder; default: the file's stem
    description = "…"
    datasets = ["digits"]          # registry names or "folder:PATH"
    methods = "all"                # or a list of registered method names
    shots = [1, 5, 10]             # labelled images per class
    seeds = [0, 1, 2]              # few-shot draws (and method seeds)
    preset = "quick"               # every method's config preset
    classifier = "quick"           # the downstream classifier budget preset
    test_cap = 0                   # evaluate on a stratified subset of this size; 0 = full test split

    [classifier_overrides]         # change single classifier settings, e.g. steps = 500
    [method_overrides.classic]     # change single method settings, e.g. policy = "none"
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import BenchError, did_you_mean
from bench.method import METHODS
from bench.registry import check_name

KEYS = {"name", "description", "datasets", "methods", "shots", "seeds", "preset", "classifier",
        "test_cap", "classifier_overrides", "method_overrides"}


@dataclass(frozen=True)
class Cell:
    """One unit of work; picklable so executors can ship it to other processes."""

    suite: str
    dataset: str
    method: str
    shots: int
    seed: int
    preset: str
    method_overrides: dict[str, Any]
    classifier: str
    classifier_overrides: dict[str, Any]
    test_cap: int
    # what the suite is (recorded with every cell): description, and for an ad-hoc run the suite
    # it was derived from (``derived_from``), so a report can print the command that reruns it
    suite_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    shots: tuple[int, ...]
    seeds: tuple[int, ...]
    preset: str = "quick"
    classifier: str = "quick"
    test_cap: int = 0
    classifier_overrides: dict[str, Any] = field(default_factory=dict)
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    path: str = ""
    derived_from: str = ""  # an ad-hoc run: the suite (built-in name or file) it started from

    def cells(self) -> list[Cell]:
        return [
            Cell(self.name, d, m, k, s, self.preset, dict(self.method_overrides.get(m, {})),
                 self.classifier, dict(self.classifier_overrides), self.test_cap,
                 {"description": self.description, "derived_from": self.derived_from or None})
            for d in self.datasets for k in self.shots for s in self.seeds for m in self.methods
        ]

    def where(self, section: str, key: str) -> str:
        """``"FILE:LINE: "`` of ``key`` in ``[section]`` of the suite file (``"FILE: "`` if not
        found there, ``""`` for a suite not read from a file)."""
        if not self.path:
            return ""
        try:
            text = Path(self.path).read_text()
        except OSError:
            return f"{self.path}: "
        return f"{self.path}{line_in_section(text, section, key)}: "

    def with_overrides(self, **changes: Any) -> Suite:
        changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes)


def builtin_suites() -> list[str]:
    return sorted(p.name[:-5] for p in (resources.files("bench") / "suites").iterdir() if p.name.endswith(".toml"))


def find_suite(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.is_dir():
        tomls = sorted(x.name for x in p.glob("*.toml"))
        raise BenchError(f"suite path {p} is a directory; give a suite file"
                         + (f" such as {p / tomls[0]}" if tomls else " (a .toml file)")
                         + " or a built-in suite name: " + ", ".join(builtin_suites()))
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise BenchError(f"suite file {p} does not exist")
        return p
    names = builtin_suites()
    if name_or_path not in names:
        raise BenchError(f"unknown suite {name_or_path!r}" + did_you_mean(name_or_path, names) + " (or give a path to a .toml file)")
    return Path(str(resources.files("bench") / "suites" / f"{name_or_path}.toml"))


def _line_of(text: str, key: str) -> str:
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*\[?[\w.\"-]*{re.escape(key)}[\w.\"-]*\]?\s*(=|$)", line):
            return f":{i}"
    return ""


def line_in_section(text: str, section: str, key: str) -> str:
    """``":N"`` for the line of ``key = …`` inside ``[section]`` (or ``section.key`` written dotted), else ""."""
    current = ""
    dotted = re.compile(rf"\s*{re.escape(section)}\.{re.escape(key)}\s*=")
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if m:
            current = m.group(1).replace('"', "").replace(" ", "")
            continue
        if dotted.match(line) and not current:
            return f":{i}"
        if current == section and re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line):
            return f":{i}"
    return ""


def check_override_methods(raw: dict[str, Any], methods: tuple[str, ...], bad: Any) -> None:
    """Every ``[method_overrides.X]`` names a registered method that the suite runs."""
    names = METHODS.names()
    for m, table in raw.get("method_overrides", {}).items():
        if not isinstance(table, dict):
            raise bad(f"method_overrides.{m}", f"method_overrides.{m} must be a table of settings, "
                      f"e.g. [method_overrides.{m}] then one setting = value per line")
        if m not in names:
            raise bad(f"method_overrides.{m}", f"[method_overrides.{m}]: unknown method {m!r}" + did_you_mean(m, names))
        if "all" not in methods and m not in methods:
            raise bad(f"method_overrides.{m}", f"[method_overrides.{m}]: method {m!r} is not in this suite's methods "
                      f"({', '.join(methods)}); add it to methods or remove the table")


def load_suite(name_or_path: str) -> Suite:
    path = find_suite(name_or_path)
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"suite file {path} is not valid TOML: {exc}") from None

    def bad(key: str, msg: str) -> BenchError:
        return BenchError(f"{path}{_line_of(text, key)}: {msg}")

    for key in raw:
        if key not in KEYS:
            raise bad(key, f"unknown suite key {key!r}" + did_you_mean(key, KEYS))
    if "datasets" not in raw:
        raise BenchError(f"{path}: a suite needs datasets = [...]")

    def str_list(key: str, default: Any = None) -> tuple[str, ...]:
        v = raw.get(key, default)
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise bad(key, f"{key} must be a non-empty list of strings")
        return tuple(v)

    def int_list(key: str, default: Any) -> tuple[int, ...]:
        v = raw.get(key, default)
        if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise bad(key, f"{key} must be a non-empty list of integers")
        return tuple(v)

    methods = str_list("methods", "all")
    for key in ("classifier_overrides", "method_overrides"):
        if not isinstance(raw.get(key, {}), dict):
            raise bad(key, f"[{key}] must be a table")
    check_override_methods(raw, methods, bad)
    test_cap = raw.get("test_cap", 0)
    if not isinstance(test_cap, int) or test_cap < 0:
        raise bad("test_cap", "test_cap must be a non-negative integer (0 = full test split)")
    try:
        name = check_name(raw.get("name", path.stem), "suite name")
    except BenchError as exc:
        raise bad("name", str(exc)) from None
    suite = Suite(
        name=name,
        datasets=str_list("datasets"),
        methods=methods,
        shots=int_list("shots", [1, 5, 10]),
        seeds=int_list("seeds", [0, 1, 2]),
        preset=str(raw.get("preset", "quick")),
        classifier=str(raw.get("classifier", "quick")),
        test_cap=test_cap,
        classifier_overrides=dict(raw.get("classifier_overrides", {})),
        method_overrides={k: dict(v) for k, v in raw.get("method_overrides", {}).items()},
        description=str(raw.get("description", "")),
        path=str(path),
    )
    return suite


def resolve_methods(names: tuple[str, ...]) -> tuple[str, ...]:
    """Expand ``all`` (every registered method) and check every name."""
    out: list[str] = []
    for n in names:
        for m in (METHODS.names() if n == "all" else [n]):
            METHODS.get(m)  # raises with "did you mean"
            if m not in out:
                out.append(m)
    # the baseline first: it is the reference row of every table
    return tuple(sorted(out, key=lambda m: (m != "baseline", out.index(m))))
