"""The README's first lines are the two commands a new user runs; CI must run the same test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text().splitlines()[:6] if ln.startswith("    ")]
    return lines


def test_readme_starts_with_run_and_test_commands():
    run_cmd, test_cmd = readme_commands()[:2]
    assert run_cmd.endswith("bench run")
    assert "pytest" in test_cmd


def test_ci_runs_exactly_the_readme_test_command():
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in ci
