"""Reproduce every case of issue 14 against one `bench` executable and print a Markdown table row
per case: exit code, message lines (stderr + stdout without progress bars and without the
leaderboard/report text a successful run prints), tracebacks, and what was kept.

    python scripts/fault_cases.py /path/to/bench TAG [CASE ...]   # TAG names the work folder

Run it on the old and the new code to get the before → after table of the issue note. Needs
Linux; the full-disk case mounts a small tmpfs and is skipped when that is not allowed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = sys.argv[1]
TAG = sys.argv[2]
ONLY = set(sys.argv[3:])
BASE = Path(f"/tmp/fault-cases-{TAG}")
DATA = BASE / "data"
BAR = re.compile(r"%\|| cells: +\d|it/s\]|cell/s\]|s/cell\]")


def fill(path: Path) -> None:
    """Write zeros to ``path`` until its filesystem is full."""
    try:
        with open(path, "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 4096)
    except OSError:
        pass


def bench(work: Path, *args: str, timeout: float = 300, env: dict | None = None) -> tuple[int, str]:
    work.mkdir(parents=True, exist_ok=True)
    try:
        p = subprocess.run([BENCH, *args], cwd=work, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})}, errors="replace")
        return p.returncode, p.stderr + "\n" + p.stdout if p.returncode else p.stderr
    except subprocess.TimeoutExpired as exc:
        return -1, (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")


def message_lines(text: str) -> list[str]:
    return [ln for ln in re.split(r"[\r\n]+", text) if ln.strip() and not BAR.search(ln)]


def common(work: Path, *extra: str, methods: str = "baseline", seeds: str = "0,1", shots: str = "1") -> list[str]:
    return ["run", "--suite", "tiny", "--methods", methods, "--shots", shots, "--seeds", seeds,
            "--results-dir", str(work / "res"), "--reports-dir", str(work / "rep"), "--data-root", str(DATA),
            "--workers", "1", *extra]


def recs(work: Path) -> list[Path]:
    return sorted((work / "res").rglob("*.json"))


def valid(work: Path) -> int:
    n = 0
    for p in recs(work):
        try:
            r = json.loads(p.read_bytes().decode())
            n += isinstance(r.get("metrics"), dict) and "accuracy" in r["metrics"]
        except (UnicodeDecodeError, ValueError):
            pass
    return n


ROWS: list[tuple[str, int, int, int, str]] = []


def row(case: str, rc: int, text: str, kept: str) -> None:
    lines = message_lines(text)
    ROWS.append((case, rc, len(lines), text.count("Traceback (most recent call last)"), kept))
    first = next((ln for ln in lines if ln.startswith(("error", "warning", "note", "FAILED", "DIVERGED"))), "")
    print(f"| {case} | {rc} | {len(lines)} | {ROWS[-1][3]} | {kept} | {first[:160]} |", flush=True)


def fresh(name: str) -> Path:
    work = BASE / name
    shutil.rmtree(work, ignore_errors=True)
    return work


def spoil(victim: Path, how: str) -> None:
    if how == "urandom":
        victim.write_bytes(os.urandom(2048))
        return
    r = json.loads(victim.read_text())
    if how == "no-metrics":
        del r["metrics"]
    else:
        del r["metrics"]["accuracy"]
    victim.write_text(json.dumps(r))


def case_records() -> None:
    for how in ("urandom", "no-metrics", "no-accuracy"):
        work = fresh(how)
        bench(work, *common(work))
        spoil(recs(work)[0], how)
        rc, text = bench(work, *common(work))
        corrupt = list((work / "res").rglob("*.corrupt*"))
        row(f"1-3 record {how}: bench run", rc, text, f"{valid(work)}/2 valid records, {len(corrupt)} .corrupt kept")
        work2 = fresh(how + "-report")  # report with the bad record still in place
        bench(work2, *common(work2))
        victim = recs(work2)[0]
        spoil(victim, how)
        rc, text = bench(work2, "report", "tiny", "--results-dir", str(work2 / "res"), "--reports-dir",
                         str(work2 / "rep"))
        lb = work2 / "rep" / "tiny" / "leaderboard.md"
        n = re.findall(r"n=(\d)", lb.read_text()) if lb.is_file() else []
        row(f"1-3 record {how}: bench report", rc, text, f"file named: {victim.name in text}; n shown: {n or '-'}")


def case_tmp() -> None:
    work = fresh("tmp")
    bench(work, *common(work))
    rec = recs(work)[0]
    old = rec.with_name(f".{rec.name}.abcd1234.tmp")
    dead = rec.with_name(f".{rec.name}.p999999.abcd1234.tmp")
    for t in (old, dead):
        t.write_text('{"half": ')
        os.utime(t, (time.time() - 7200, time.time() - 7200))
    rc, text = bench(work, *common(work))
    left = [t.name for t in (old, dead) if t.exists()]
    row("4 stale temp files (2 h old; dead pid)", rc, text, f"left: {len(left)} of 2")


def gan_suite(work: Path, lr: str) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    p = work / "div.toml"
    p.write_text(f'name = "div"\ndatasets = ["digits"]\nmethods = ["baseline", "gan"]\nshots = [1]\nseeds = [0, 1]\n'
                 f'preset = "tiny"\nclassifier = "tiny"\n[method_overrides.gan]\nlr_g = {lr}\nlr_d = {lr}\n')
    return p


def strict_ok(p: Path) -> bool:
    def no(x):
        raise ValueError(x)
    try:
        json.loads(p.read_text(), parse_constant=no)
        return True
    except ValueError:
        return False


def case_diverge() -> None:
    for lr in ("1e3", "inf"):
        work = fresh(f"div-{lr}")
        s = gan_suite(work, lr)
        rc, text = bench(work, "run", "--suite", str(s), "--results-dir", str(work / "res"), "--reports-dir",
                         str(work / "rep"), "--data-root", str(DATA), "--workers", "1")
        gan = [json.loads(p.read_text().replace("NaN", "null").replace("Infinity", "null"))
               for p in (work / "res").rglob("gan/*.json")]
        strict = all(strict_ok(p) for p in (work / "res").rglob("gan/*.json"))
        summ = work / "rep" / "div" / "tables" / "summary.md"
        bold = bool(re.search(r"^\| gan \|.*\*\*", summ.read_text(), re.M)) if summ.is_file() else False
        row(f"5 GAN lr={lr}", rc, text, f"gan status {sorted(r['status'] for r in gan) or '-'}; strict JSON {strict}; "
            f"gan bold in a table: {bold}")


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def alive(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return st != "Z"
    except OSError:
        return False


def case_signals() -> None:
    for sig, target in (("SIGTERM", "pid"), ("SIGKILL", "pid"), ("SIGINT", "group")):
        work = fresh(f"sig-{sig}")
        args = common(work, methods="baseline,classic", seeds="0,1", shots="1,3")
        args[args.index("--workers") + 1] = "2"
        work.mkdir(parents=True, exist_ok=True)
        # output to files, not pipes: orphaned workers would hold a pipe open and hang the reader
        out_f, err_f = open(work / "stdout.txt", "w"), open(work / "stderr.txt", "w")
        # SIGINT back to default: a shell's background job (and so this script) may have it ignored
        p = subprocess.Popen([BENCH, *args], cwd=work, stdout=out_f, stderr=err_f, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 240
        while not recs(work) and time.time() < deadline and p.poll() is None:
            time.sleep(0.2)
        workers = children(p.pid)
        if target == "pid":
            os.kill(p.pid, getattr(signal, sig))
        else:
            os.killpg(p.pid, signal.SIGINT)
        t_kill = time.time()
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        out_f.close()
        err_f.close()
        err = (work / "stderr.txt").read_text(errors="replace")
        time.sleep(5)
        orphans = [w for w in workers if alive(w)]
        later = [r for r in recs(work) if r.stat().st_mtime > t_kill + 1]
        for w in orphans:
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
        rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
        leak = "leaked semaphore" in err
        row(f"6/7 {sig} to the {'main process' if target == 'pid' else 'process group (Ctrl-C)'}", rc, err,
            f"{len(recs(work))} records kept; workers alive 5 s after: {len(orphans)}/{len(workers)}; "
            f"records written after the kill: {len(later)}; leaked-semaphore warning: {leak}")


def ran(text: str) -> int:
    m = re.search(r"(\d+) cell\(s\) run", text)
    return int(m[1]) if m else -1


def case_dupes() -> None:
    for flag, val in (("--seeds", "0,0"), ("--datasets", "digits,digits")):
        work = fresh("dup" + flag)
        args = common(work)
        if flag == "--seeds":
            args[args.index("--seeds") + 1] = val
        else:
            args += ["--datasets", val, "--seeds", "0"]
        p = subprocess.run([BENCH, *args], cwd=BASE, capture_output=True, text=True)
        row(f"8 duplicate cells {flag} {val}", p.returncode, p.stderr,
            f"cells run: {ran(p.stdout)} for {1} distinct cell(s); records: {len(recs(work))}")
    work = fresh("concurrent")
    args = common(work, methods="baseline,classic", seeds="0,1", shots="1,3")
    procs = [subprocess.Popen([BENCH, *args], cwd=BASE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate() for p in procs]
    total = sum(ran(o) for o, _ in outs)
    row("8 two concurrent bench run, one results dir (8 cells)", max(p.returncode for p in procs),
        outs[0][1] + outs[1][1], f"cells computed in total: {total} (8 distinct); records: {len(recs(work))}")


def case_disk() -> None:
    work = fresh("disk")
    mnt = work / "mnt"
    mnt.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]).returncode:
        print("| 9 full disk | skipped: cannot mount a tmpfs |")
        return
    try:
        res = mnt / "res"
        base = ["run", "--suite", "tiny", "--methods", "baseline", "--shots", "1", "--results-dir", str(res),
                "--reports-dir", str(work / "rep"), "--data-root", str(DATA), "--workers", "1"]
        bench(work, *base, "--seeds", "0")
        first = {p: p.read_bytes() for p in res.rglob("*.json")}
        filler = mnt / "filler"
        fill(filler)
        rc, text = bench(work, *base, "--seeds", "0,1")
        intact = all(p.read_bytes() == b for p, b in first.items())
        row("9 disk full mid-run (tmpfs)", rc, text, f"earlier record intact: {intact}")
    finally:
        subprocess.run(["umount", str(mnt)])
    work = fresh("reports-unwritable")
    work.mkdir(parents=True)
    (work / "afile").write_text("x")
    args = common(work)
    args[args.index("--reports-dir") + 1] = str(work / "afile" / "sub")
    rc, text = bench(work, *args)
    row("9 unwritable --reports-dir", rc, text, f"cells run before the error: {len(recs(work))}")


SETTINGS = [
    ("steps = \"ten\" (gan)", "gan", '[method_overrides.gan]\nsteps = "ten"\n'),
    ("steps = 2.5 (gan)", "gan", "[method_overrides.gan]\nsteps = 2.5\n"),
    ("lr_g = \"fast\" (gan)", "gan", '[method_overrides.gan]\nlr_g = "fast"\n'),
    ("n_per_class = 1.5 (gan)", "gan", "[method_overrides.gan]\nn_per_class = 1.5\n"),
    ("[classifier_overrides] steps = -5", "baseline", "[classifier_overrides]\nsteps = -5\n"),
    ("[method_overrides.gann]", "gan", "[method_overrides.gann]\nsteps = 4\n"),
]


def case_settings() -> None:
    for label, method, extra in SETTINGS:
        work = fresh("set")
        work.mkdir(parents=True)
        s = work / "x.toml"
        s.write_text(f'name = "x"\ndatasets = ["digits"]\nmethods = ["baseline", "{method}"]\nshots = [1]\n'
                     f'seeds = [0, 1]\npreset = "tiny"\nclassifier = "tiny"\n{extra}')
        rc, text = bench(work, "run", "--suite", str(s), "--results-dir", str(work / "res"), "--reports-dir",
                         str(work / "rep"), "--data-root", str(DATA), "--workers", "1")
        st = sorted(json.loads(p.read_text())["status"] for p in recs(work))
        row(f"10 {label}", rc, text, f"records written: {len(st)} {dict((x, st.count(x)) for x in set(st)) or ''}")
    work = fresh("threads")
    rc, text = bench(work, *common(work, "--threads", "1000"), timeout=90)
    row("10 --threads 1000", rc, text, "still running after 90 s (killed)" if rc == -1 else f"records: {len(recs(work))}")


def make_folder(root: Path, classes: int = 2, per: int = 4) -> None:
    from PIL import Image

    for split in ("train", "test"):
        for c in range(classes):
            d = root / split / f"c{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per):
                noise = bytes((7 * i + 13 * c + 31 * j * j) % 256 for j in range(64))  # compresses badly,
                Image.frombytes("L", (8, 8), noise).save(d / f"{i}.png")  # so a cut file lacks pixel data


def case_folder() -> None:
    variants = {
        "not an image (.png with text)": lambda r: (r / "train" / "c0" / "bad.png").write_text("not a png"),
        "truncated .png": lambda r: (r / "train" / "c0" / "cut.png").write_bytes(
            (r / "train" / "c0" / "0.png").read_bytes()[:70]),
        "empty class folder": lambda r: [(r / s / "c9").mkdir() for s in ("train", "test")],
        "one class only": None,
    }
    for label, spoil in variants.items():
        work = fresh("folder")
        root = work / "imgs"
        make_folder(root, classes=1 if spoil is None else 2)
        if spoil:
            spoil(root)
        args = common(work, seeds="0")
        args += ["--datasets", f"folder:{root}"]
        rc, text = bench(work, *args)
        acc = [json.loads(p.read_text())["metrics"].get("accuracy") for p in recs(work)]
        row(f"11 folder: {label}", rc, text, f"records: {len(acc)} {acc if acc else ''}")


def case_messages() -> None:
    work = fresh("msg")
    work.mkdir(parents=True)
    rc, text = bench(work, *common(work, "--datasets", "digits[9-5]"))
    row("12 digits[9-5]", rc, text, "")
    (work / "suites").mkdir()
    rc, text = bench(work, *common(work)[:1], "--suite", "suites", *common(work)[3:])
    row("12 --suite DIRECTORY", rc, text, "")
    rc, text = bench(work, "report", "nosuch", "--results-dir", str(work / "res"))
    row("12 bench report nosuch", rc, text, "")
    (work / "suites" / "x.toml").write_text('datasets = [1]\n')
    rc, text = bench(work, "run", "--suite", "suites/x.toml", "--results-dir", str(work / "res"))
    row("12 suite error path printed once (datasets = [1])", rc, text, "")


CASES = {"records": case_records, "tmp": case_tmp, "diverge": case_diverge, "signals": case_signals,
         "dupes": case_dupes, "disk": case_disk, "settings": case_settings, "folder": case_folder,
         "messages": case_messages}

if __name__ == "__main__":
    BASE.mkdir(parents=True, exist_ok=True)
    print("| case | exit | message lines | tracebacks | kept | first message line |\n|---|---:|---:|---:|---|---|")
    for name, fn in CASES.items():
        if not ONLY or name in ONLY:
            fn()
