"""Fault injection (issue 14): corrupted records, writers killed mid-write, divergence, a parent
killed under its workers, Ctrl-C, duplicate and concurrent runs, a full disk. Real files and real
processes; each test checks that nothing finished is lost, nothing is computed twice and the user
reads one line."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.errors import Diverged
from bench.runner import RunOptions, run_cell
from bench.store import Claim, ResultStore
from bench.suite import Cell

TESTS = Path(__file__).parent
BAR = re.compile(r"%\||it/s\]|cell/s\]|s/cell\]")  # tqdm progress lines are not messages


def fill(path: Path) -> None:
    """Write zeros to ``path`` until its filesystem is full."""
    try:
        with open(path, "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 4096)
    except OSError:
        pass


def lines(text: str) -> list[str]:
    """The message lines of an output: no progress bars, no blank lines."""
    return [ln for ln in re.split(r"[\r\n]+", text) if ln.strip() and not BAR.search(ln)]


def run_args(tmp: Path, *extra: str, methods: str = "baseline", seeds: str = "0,1") -> list[str]:
    return ["run", "--suite", "tiny", "--name", "faults", "--methods", methods, "--shots", "1", "--seeds", seeds,
            "--results-dir", str(tmp / "res"), "--reports-dir", str(tmp / "rep"), "--data-root", str(tmp / "data"),
            *extra]


def records(tmp: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((tmp / "res").rglob("*.json"))}


# --- 1-3: records that are not records ---------------------------------------------------------

def spoil(path: Path, how: str) -> None:
    if how == "urandom":
        path.write_bytes(os.urandom(2048))
        return
    rec = json.loads(path.read_text())
    if how == "no-metrics":
        del rec["metrics"]
    else:
        del rec["metrics"]["accuracy"]
    path.write_text(json.dumps(rec))


@pytest.mark.parametrize("how", ["urandom", "no-metrics", "no-accuracy"])
def test_corrupt_record_is_moved_aside_and_its_cell_rerun(tmp_path, capsys, how):
    assert main(run_args(tmp_path)) == 0
    first = records(tmp_path)
    victim, other = sorted(first)
    spoil(victim, how)
    bad = victim.read_bytes()
    capsys.readouterr()

    assert main(["report", "faults", "--results-dir", str(tmp_path / "res"), "--reports-dir", str(tmp_path / "rep")]) == 0
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("warning: skipped 1 file(s)") and str(victim) in err[0], err
    board = (tmp_path / "rep" / "faults" / "leaderboard.md").read_text()
    assert "(n=1)" in board or "n = 1" in board, "the report must say it averages one seed, not two"

    assert main(run_args(tmp_path)) == 0
    out = capsys.readouterr()
    err = lines(out.err)
    assert len(err) == 1 and err[0].startswith("warning: record ") and str(victim) in err[0], err
    assert "1 cell(s) run, 1 already done" in out.out
    aside = victim.with_name(victim.name + ".corrupt")
    assert aside.read_bytes() == bad, "the unreadable bytes are kept, not deleted"
    again = records(tmp_path)
    assert again[other] == first[other], "the valid record is untouched"
    assert json.loads(again[victim])["metrics"] == json.loads(first[victim])["metrics"], "the cell reran"

    assert main(run_args(tmp_path)) == 0  # now clean: nothing moved, nothing rerun, no warning
    out = capsys.readouterr()
    assert "0 cell(s) run, 2 already done" in out.out and not lines(out.err)


# --- 4: temp files of writers that died ---------------------------------------------------------

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temp_files_are_removed_live_ones_kept(tmp_path, capsys):
    assert main(run_args(tmp_path, seeds="0")) == 0
    (rec,) = records(tmp_path)
    dead = rec.with_name(f".{rec.name}.p{_dead_pid()}.x1.tmp")
    live = rec.with_name(f".{rec.name}.p1.x2.tmp")  # pid 1 is alive: its write may be in flight
    old = rec.with_name(f".{rec.name}.x3.tmp")  # older augbench (no pid), two hours old
    young = rec.with_name(f".{rec.name}.x4.tmp")  # no pid, just written: may be in flight
    for t in (dead, live, old, young):
        t.write_text('{"half a rec')
    Claim.lock_path(rec).write_text("12345\n")  # the claim file of a killed run (the kernel dropped its flock)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    capsys.readouterr()
    assert main(run_args(tmp_path, seeds="0")) == 0
    err = lines(capsys.readouterr().err)
    assert not dead.exists() and not old.exists() and live.exists() and young.exists()
    assert len(err) == 1 and "removed 2 temporary file(s)" in err[0], err
    assert rec.read_bytes() == records(tmp_path)[rec]
    assert not Claim.lock_path(rec).exists(), "a dead run's claim file is cleared"


# --- 5: divergence and strict JSON ----------------------------------------------------------------

def _cell(method: str, overrides: dict, clf: dict | None = None) -> Cell:
    return Cell("faults", "digits", method, 1, 0, "tiny", overrides, "tiny", clf or {}, 0)


def test_diverged_gan_is_recorded_diverged_not_ok(tmp_path):
    opts = RunOptions(data_root=tmp_path / "data", results_dir=tmp_path / "res", device=torch.device("cpu"))
    rec = run_cell(_cell("gan", {"lr_g": 1e3, "lr_d": 1e3}), opts)
    assert rec["status"] == "diverged" and rec["error"]["type"] == "Diverged"
    assert "lower the learning rate" in rec["error"]["message"] and "accuracy" not in rec["metrics"]
    clf = run_cell(_cell("baseline", {}, {"lr": 1e30}), opts)  # the downstream classifier blows up
    assert clf["status"] == "diverged" and "classifier" in clf["error"]["message"]


def test_gan_training_raises_on_non_finite_losses():
    from bench.gan_training import check_converging

    check_converging({"final_loss_d": 0.7, "final_loss_g": 30.0})
    for bad in (float("nan"), float("inf"), 1e7):
        with pytest.raises(Diverged):
            check_converging({"final_loss_d": 0.7, "final_loss_g": bad})


def test_records_are_strict_json_with_non_finite_flagged(tmp_path):
    opts = RunOptions(data_root=tmp_path / "data", results_dir=tmp_path / "res", device=torch.device("cpu"))
    rec = run_cell(_cell("baseline", {}), opts)
    rec["metrics"]["per_class_accuracy"][3] = float("nan")
    rec["details"]["loss"] = float("inf")
    path = tmp_path / "r.json"
    ResultStore(tmp_path).write(path, rec)

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    strict = json.loads(path.read_text(), parse_constant=refuse)
    assert strict["metrics"]["per_class_accuracy"][3] is None and strict["details"]["loss"] is None
    assert strict["nonfinite"] == ["details.loss", "metrics.per_class_accuracy[3]"]


def test_diverged_cells_never_enter_a_table_and_are_named(tmp_path, capsys):
    suite = tmp_path / "div.toml"
    suite.write_text('name = "div"\ndatasets = ["digits"]\nmethods = ["baseline", "gan"]\nshots = [1]\n'
                     'seeds = [0, 1]\npreset = "tiny"\nclassifier = "tiny"\n'
                     '[method_overrides.gan]\nlr_g = 1e3\nlr_d = 1e3\n')
    assert main(["run", "--suite", str(suite), "--results-dir", str(tmp_path / "res"), "--reports-dir",
                 str(tmp_path / "rep"), "--data-root", str(tmp_path / "data")]) == 0
    out = capsys.readouterr()
    assert "2 diverged" in out.out
    assert len([ln for ln in lines(out.err) if ln.startswith("DIVERGED gan")]) == 2
    summary = (tmp_path / "rep" / "div" / "tables" / "summary.md").read_text()
    assert not re.search(r"^\| gan \|", summary, re.M), "a diverged method has no row, so it is never best"
    assert "Not in the table: gan 1-shot seeds 0, 1 (diverged)" in summary
    for p in (tmp_path / "res").rglob("gan/*.json"):
        assert json.loads(p.read_text())["status"] == "diverged"


# --- 6-7: the parent dies, is terminated or interrupted -------------------------------------------

def bench_process(tmp: Path, log: Path, *extra: str, fit_s: float = 0.0) -> subprocess.Popen:
    """`bench run` in its own session with the fault-probe plugin: 2 workers, 4 cells."""
    suite = tmp / "probe.toml"
    suite.write_text(f'name = "probe"\ndatasets = ["digits"]\nmethods = ["baseline", "fault-probe"]\n'
                     f'shots = [1]\nseeds = [0, 1]\npreset = "tiny"\nclassifier = "tiny"\n'
                     f'[method_overrides.fault-probe]\nlog = "{log}"\nfit_s = {fit_s}\n')
    code = "import sys, fault_probe; from bench.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    # Ctrl-C at its default, as in a terminal: a test run started in the background (`cmd &`, nohup,
    # some CI runners) ignores SIGINT, the child would inherit that and Python would leave it ignored
    return subprocess.Popen(
        [sys.executable, "-c", code, "run", "--suite", str(suite), "--results-dir", str(tmp / "res"),
         "--reports-dir", str(tmp / "rep"), "--data-root", str(tmp / "data"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(cond, timeout: float = 240.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig, to_group, code", [(signal.SIGTERM, False, 143), (signal.SIGKILL, False, -9),
                                                 (signal.SIGINT, True, 130)])
def test_parent_signalled_workers_die_records_kept(tmp_path, sig, to_group, code):
    """A worker stuck in a 120 s cell: the parent alone gets SIGTERM or SIGKILL, or the whole
    group gets Ctrl-C. Workers must end with it; finished records stay; the user reads one line."""
    log = tmp_path / "log.txt"
    p = bench_process(tmp_path, log, "--workers", "2", "--executor", "process", fit_s=120.0)
    wait_for(lambda: log.is_file() and (tmp_path / "res").is_dir() and any((tmp_path / "res").rglob("*.json")))
    workers = {int(ln.split()[0]) for ln in log.read_text().splitlines()}
    kept = records(tmp_path)
    signalled_at = time.time_ns()
    (os.killpg if to_group else os.kill)(p.pid, sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    wait_for(lambda: not any(alive(w) for w in workers), timeout=15)  # PR_SET_PDEATHSIG, else the watchdog
    assert all(records(tmp_path).get(k) == v for k, v in kept.items()), "finished records are kept"
    time.sleep(1.5)
    # a cell may finish between the snapshot above and the signal (a loaded machine widens that
    # gap); what must not happen is a record written after the signal
    late = [k for k in set(records(tmp_path)) - set(kept) if k.stat().st_mtime_ns >= signalled_at]
    assert not late, f"nothing is written after the parent is gone: {late}"
    if sig != signal.SIGKILL:  # a SIGKILLed parent cannot close its pool: its resource tracker cleans up, and says so
        assert "leaked semaphore" not in err
        msg = lines(err)
        assert len(msg) == 1 and msg[0].startswith("interrupted:") and "resume" in msg[0], msg


HALF_SENT = """
import os, struct, sys, time, multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.queues import SimpleQueue
from bench.executors import _terminate_pool

def half_send(mark):
    import gc
    q = next(o for o in gc.get_objects() if isinstance(o, SimpleQueue))  # this worker's result queue
    os.write(q._writer.fileno(), struct.pack("!i", 1 << 20) + b"x" * 100)  # a 1 MiB result, cut short
    open(mark, "w").close()
    time.sleep(120)  # ended by _terminate_pool, as a worker killed while sending its result

if __name__ == "__main__":
    mark = sys.argv[1]
    pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
    pool.submit(half_send, mark)
    while not os.path.exists(mark):
        time.sleep(0.05)
    _terminate_pool(pool)
    print("ended", flush=True)
"""


def test_interrupt_while_a_worker_sends_its_result_exits(tmp_path):
    """Ctrl-C hung for good (after "interrupted: ...") when it killed a worker that was sending a
    finished cell's result: the pool's manager thread waited for the rest of the message and the
    interpreter waited for that thread at exit. The pool must end and the process exit."""
    script = tmp_path / "half_sent.py"
    script.write_text(HALF_SENT)
    p = subprocess.run([sys.executable, str(script), str(tmp_path / "mark")], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == "ended\n", p.stderr


# --- 8: the same cell twice -----------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [("--seeds", "0,0"), ("--datasets", "digits,digits")])
def test_duplicate_cells_run_once(tmp_path, capsys, flag, value):
    args = run_args(tmp_path, seeds="0")
    args += [flag, value]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 cell(s) run, 0 already done" in out and "1 duplicate cell(s) in the plan run once" in out
    assert len(records(tmp_path)) == 1


def test_claim_is_exclusive_and_dies_with_its_process(tmp_path):
    path = tmp_path / "cell.json"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from bench.store import Claim; c = Claim.take(sys.argv[1]); "
         "print(c is not None, flush=True); time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    assert Claim.take(path) is None and Claim.holder(path) == str(holder.pid)
    holder.kill()
    holder.wait()
    claim = Claim.take(path)  # a dead run's claim is free at once
    assert claim is not None
    assert Claim.take(path) is None, "a second claim in the same process is refused too"
    claim.release()
    assert not Claim.lock_path(path).exists()


def test_two_concurrent_runs_compute_each_cell_once(tmp_path):
    log = tmp_path / "log.txt"
    runs = [bench_process(tmp_path, log, "--workers", "1", fit_s=1.0) for _ in range(2)]
    outs = [r.communicate(timeout=400) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    computed = [tuple(ln.split()[1:]) for ln in log.read_text().splitlines()]
    assert len(computed) == 2 and len(set(computed)) == 2, f"a cell was computed twice: {computed}"
    recs = records(tmp_path)
    assert len(recs) == 4 and all(json.loads(b)["status"] == "ok" for b in recs.values())
    ran = [int(re.search(r"(\d+) cell\(s\) run", out)[1]) for out, _ in outs]
    assert sum(ran) == 4, outs  # every cell computed by exactly one of the two runs
    for _out, err in outs:  # at most one line: how many cells were left to the other run
        msg = lines(err)
        assert len(msg) <= 1 and all(m.startswith("note: ") and "left to it" in m for m in msg), msg


# --- 9: disks that fill up, folders that cannot be written ----------------------------------------

def test_disk_full_mid_run_is_one_line_and_keeps_records(tmp_path, capsys, monkeypatch):
    assert main(run_args(tmp_path, seeds="0")) == 0
    first = records(tmp_path)
    capsys.readouterr()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # every later write hits a full disk
    assert main(run_args(tmp_path, seeds="0,1")) == 2
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("error: cannot write ") and "No space left on device" in err[0], err
    assert "free there" in err[0] and "seed1" in err[0]
    assert records(tmp_path) == first, "the earlier record is intact and no half record appeared"
    assert not list((tmp_path / "res").rglob("*.tmp")) and not list((tmp_path / "res").rglob("*.lock"))


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_really_full_filesystem(tmp_path, tiny_tmpfs, capsys):
    res = tiny_tmpfs / "res"
    base = run_args(tmp_path, seeds="0")
    base[base.index("--results-dir") + 1] = str(res)
    assert main(base) == 0
    first = {p: p.read_bytes() for p in res.rglob("*.json")}
    fill(tiny_tmpfs / "filler")
    capsys.readouterr()
    base[base.index("--seeds") + 1] = "0,1"
    assert main(base) == 2
    err = lines(capsys.readouterr().err)
    assert err[0].startswith("warning: only ") and "free for" in err[0], "low space is said before the first cell"
    err = err[1:]
    assert len(err) == 1 and "No space left on device" in err[0] and "free there" in err[0], err
    assert {p: p.read_bytes() for p in res.rglob("*.json")} == first


def test_unwritable_reports_dir_refused_before_any_cell(tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    args = run_args(tmp_path)
    args[args.index("--reports-dir") + 1] = str(tmp_path / "afile" / "sub")
    assert main(args) == 2
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and "reports dir" in err[0] and "--reports-dir" in err[0], err
    assert not records(tmp_path), "checked before any cell ran"
