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

    development = false            # true: these seeds are development draws (see below)

    [classifier_overrides]         # change single classifier settings, e.g. steps = 500
    [method_overrides.classic]     # change single method settings, e.g. policy = "none"
    [variants."classic@light"]     # a named variant (below): method settings ...
    policy = "light"
    classifier = { steps = 1500 }  # ... and optional classifier settings (and preset = "...")

Variants. Several configurations of one method run side by side as separately named rows,
written ``method@label`` (``classic@light``, ``gan@rf0.25``, ``baseline@s1200``; the label is
1-32 of ``a-z 0-9 _ . -``). A variant is defined in the suite's ``[variants."method@label"]``
table, or shipped by the method itself (``Method.variants``, e.g. classic's torchvision policies:
``classic@randaugment``); a suite definition replaces a built-in one of the same name. A variant
runs only where ``methods`` (or ``bench run --methods``) names it. Its settings apply on top of
the preset and the suite's ``[method_overrides.<method>]``; its ``classifier`` table on top of
``[classifier_overrides]``. Every setting is checked when the suite loads. A variant keys
(method, label and resolved config in the cell key), tabulates and pairs against ``baseline``
like a method; its records say ``method.name`` = the method, ``method.variant`` = the label and
``method.display`` = ``method@label``, the row name in every table. It shares the method's seed
(common random numbers: variants of one method differ only in their settings).

Tuned seeds. A method preset says which draws it was tuned on (``Method.tuned_on``). A suite
whose seeds overlap them is refused before any work (the numbers would be optimistically
biased), unless it sets ``development = true`` — then it is development work, not a report.
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
        "test_cap", "classifier_overrides", "method_overrides", "variants", "development"}
LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


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
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # "method@label" -> settings
    development: bool = False

    def cells(self) -> list[Cell]:
        return [self._cell(d, m, k, s) for d in self.datasets for k in self.shots for s in self.seeds
                for m in self.methods]

    def _cell(self, dataset: str, method: str, shots: int, seed: int) -> Cell:
        base, label = split_variant(method)
        overrides, clf, preset = dict(self.method_overrides.get(base, {})), dict(self.classifier_overrides), self.preset
        if label is not None:
            v = resolve_variant(method, self.variants)
            overrides.update(v.settings)
            clf.update(v.classifier)
            preset = v.preset or preset
        return Cell(self.name, dataset, method, shots, seed, preset, overrides, self.classifier, clf, self.test_cap,
                    {"description": self.description, "derived_from": self.derived_from or None})

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


@dataclass(frozen=True)
class Variant:
    base: str  # the registered method
    label: str
    settings: dict[str, Any]  # method config settings
    classifier: dict[str, Any]  # classifier settings
    preset: str | None  # method preset, None = the suite's
    source: str  # "suite" or "built-in"


def split_variant(name: str) -> tuple[str, str | None]:
    """``"classic@light"`` -> ("classic", "light"); ``"classic"`` -> ("classic", None)."""
    base, sep, label = name.partition("@")
    return base, (label if sep else None)


def resolve_variant(name: str, suite_variants: dict[str, dict[str, Any]] | None = None) -> Variant:
    """The variant ``method@label`` from the suite's definitions or the method's built-in ones;
    raises a one-line BenchError for a bad label, an unknown method or an undefined variant."""
    base, label = split_variant(name)
    if label is None or not LABEL_RE.match(label):
        raise BenchError(f"bad variant name {name!r}: write METHOD@LABEL, the label 1-32 of a-z 0-9 _ . - "
                         "starting with a letter or digit (e.g. classic@light)")
    cls = METHODS.get(base)  # unknown method: "did you mean"
    suite_variants = suite_variants or {}
    if name in suite_variants:
        raw, source = dict(suite_variants[name]), "suite"
    elif label in cls.variants:
        raw, source = dict(cls.variants[label]), "built-in"
    else:
        known = [n for n in suite_variants if n.startswith(base + "@")] + [f"{base}@{v}" for v in cls.variants]
        raise BenchError(f"variant {name!r} is not defined: add [variants.\"{name}\"] with its settings to the "
                         "suite" + (did_you_mean(name, known) if known else f" ({base} ships no variants)"))
    clf = raw.pop("classifier", {})
    preset = raw.pop("preset", None)
    if not isinstance(clf, dict):
        raise BenchError(f"variant {name!r}: classifier must be a table of classifier settings, e.g. {{ steps = 600 }}")
    if preset is not None and not isinstance(preset, str):
        raise BenchError(f"variant {name!r}: preset must be a preset name string")
    return Variant(base, label, raw, dict(clf), preset, source)


def check_variant(name: str, suite: Suite) -> None:
    """Build the variant's method and classifier configs now, so bad settings fail before work."""
    from bench.training import classifier_config

    v = resolve_variant(name, suite.variants)
    cls = METHODS.get(v.base)
    try:
        cls.make_config(v.preset or suite.preset, {**suite.method_overrides.get(v.base, {}), **v.settings})
        classifier_config(suite.classifier, {**suite.classifier_overrides, **v.classifier})
    except BenchError as exc:
        raise BenchError(f"variant {name!r}: {exc}") from None


def check_tuned_seeds(suite: Suite) -> None:
    """Refuse a suite whose seeds overlap the draws a method preset was tuned on (unless the suite
    says ``development = true``): results on tuning draws are optimistically biased."""
    if suite.development:
        return
    for cell in {(c.method, c.preset): c for c in suite.cells()}.values():
        cls = METHODS.get(split_variant(cell.method)[0])
        tuned = cls.tuned_on.get(cell.preset)
        if not tuned:
            continue
        lo, hi = tuned["seeds"]
        clash = sorted(s for s in suite.seeds if lo <= s <= hi)
        if clash:
            raise BenchError(
                f"{cell.method} preset {cell.preset!r} was tuned on seeds {lo}-{hi} ({tuned.get('evidence', '')}); "
                f"this suite reports seeds {', '.join(map(str, clash))} among them: choose other seeds (0-4 are "
                "the reported draws), or set development = true in the suite if this is development work")


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
        if "all" not in methods and m not in {split_variant(x)[0] for x in methods}:
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
    for key in ("classifier_overrides", "method_overrides", "variants"):
        if not isinstance(raw.get(key, {}), dict):
            raise bad(key, f"[{key}] must be a table")
    check_override_methods(raw, methods, bad)
    development = raw.get("development", False)
    if not isinstance(development, bool):
        raise bad("development", "development must be true or false")
    variants = raw.get("variants", {})
    for vname, vset in variants.items():
        if not isinstance(vset, dict):
            raise bad(vname, f"[variants.\"{vname}\"] must be a table of settings")
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
        classifier=str(raw.get("classifier", "standard")),  # the converged protocol unless a suite says otherwise
        test_cap=test_cap,
        classifier_overrides=dict(raw.get("classifier_overrides", {})),
        method_overrides={k: dict(v) for k, v in raw.get("method_overrides", {}).items()},
        description=str(raw.get("description", "")),
        path=str(path),
        variants={k: dict(v) for k, v in variants.items()},
        development=development,
    )
    for vname in suite.variants:  # every defined variant, named in methods or not
        try:
            check_variant(vname, suite)
        except BenchError as exc:
            raise bad(vname, str(exc)) from None
    return suite


def resolve_methods(names: tuple[str, ...], suite: Suite | None = None) -> tuple[str, ...]:
    """Expand ``all`` (every registered method; not variants) and check every name; a variant
    ``method@label`` must be defined by ``suite`` or built into the method, its settings valid."""
    out: list[str] = []
    for n in names:
        for m in (METHODS.names() if n == "all" else [n]):
            if "@" in m:
                check_variant(m, suite or Suite("-", (), (), (), ()))
            else:
                METHODS.get(m)  # raises with "did you mean"
            if m not in out:
                out.append(m)
    # the baseline first: it is the reference row of every table
    return tuple(sorted(out, key=lambda m: (m != "baseline", out.index(m))))
