"""Matcher benchmark: label matchers on RE2 (working tree) against Python's re (before).

Prints figures and asserts nothing:

    .venv/bin/python bench/matching.py            # about 10 s
    .venv/bin/python bench/matching.py --quick    # about 5 s

Two implementations of ``alertreflex.core.matchers`` are measured in the same run:

- before: the module of ``--before`` (default: the last commit whose matchers translate
  Go regexes to Python's ``re``), taken with ``git archive`` into a temporary directory;
- after: the working tree's ``src`` (RE2 through ``google-re2``, string operations for
  literal alternatives and ``.*`` affixes, an LRU cache of short label values).

Each is imported in its own child process (``PYTHONPATH`` set to its ``src``, no
bytecode written), so the two never share an import, a cache or a compiled pattern.
The speed workers alternate (before, after, before, after, ...) and the best figure of
each is kept, so that a busy machine weighs on both alike; the ratios are after/before.

What is measured:

- cost per ``Matcher.matches(labels)`` call, in ns, for realistic matchers on realistic
  alert label sets: values that repeat (a few severities, 64 instances: RE2's value
  cache hits) and values that are all distinct (unique instance names: every call
  misses the cache and runs the regex). The first row is the loop and a call of a
  no-op function, the floor under every other row;
- compile cost per matcher: ``parse_matcher(text)`` for texts never seen before (a
  number in a literal part, so no cache of the module, of ``re`` or of ``re2`` helps),
  and for a text already parsed (what a config reload pays for repeated regexes);
- a pathological regex, ``x=~"(a+)+b"`` on a value of n ``a``: Python's backtracking
  takes time exponential in n (the child is killed after ``--timeout`` s and the figure
  shown as "> T s"), RE2 is linear. One cold call each, in a fresh process.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The last commit whose matchers translate Go regexes to Python's re.
BEFORE_REF = "a00037a04c0662fba630cc3c9bfc3b86082ef09b"
MODULE = "alertreflex.core.matchers"

# kind, matcher text with "@" where the compile bench puts a number (removed otherwise).
MATCHERS: list[tuple[str, str]] = [
    ("equality", 'severity="critical@"'),
    ("alternation", 'severity=~"warning|critical@"'),
    ("prefix", 'instance=~"db@-.*"'),
    ("regex", r'instance=~"[a-z]+-[0-9]{2,3}\.example@\.com:9[0-9]{3}"'),
    ("negative", r'instance!~"(db|cache)-[0-9]+\.example@\.com:.*"'),
]
# kind of matcher, values: "severity" (8, repeat), "instance" (64, repeat), "unique".
MATCH_ROWS: list[tuple[str, str]] = [
    ("equality", "severity"),
    ("alternation", "severity"),
    ("prefix", "instance"),
    ("prefix", "unique"),
    ("regex", "instance"),
    ("regex", "unique"),
    ("negative", "instance"),
    ("negative", "unique"),
]
VALUES_SHOWN = {
    "severity": "severity, 8 repeating",
    "instance": "instance, 64 repeating",
    "unique": "instance, all distinct",
}
PATHOLOGICAL = 'x=~"(a+)+b"'
PATHOLOGICAL_NS = (20, 24, 28)
LONG_N = 10_000  # RE2 only: Python's re would need about 2^10000 steps
SEVERITIES = ["critical", "warning", "info", "warning", "critical", "page", "none", "warning"]
HOST_KINDS = ["db", "web", "cache", "api"]


def _text(kind: str, fill: str = "") -> str:
    return dict(MATCHERS)[kind].replace("@", fill)


# ------------------------------------------------------------------ worker side


def _labels(severity: str, instance: str) -> dict[str, str]:
    return {
        "alertname": "DiskFilling",
        "severity": severity,
        "instance": instance,
        "job": "node",
        "team": "storage",
        "prometheus": "monitoring/k8s",
    }


def _instance(i: int, rng: random.Random) -> str:
    """A distinct instance for every i < 3,960,000; one in ten outside example.com."""
    kind = HOST_KINDS[i % 4]
    number = 10 + (i // 4) % 990
    port = 9000 + (i // 3960) % 1000
    domain = "example.org" if rng.random() < 0.1 else "example.com"
    return f"{kind}-{number}.{domain}:{port}"


def _value_sets(count: int) -> dict[str, list[dict[str, str]]]:
    rng = random.Random(1)
    hosts = [_instance(rng.randrange(3_960_000), rng) for _ in range(60)]
    hosts += ["10.0.3.17:9100", "db-7.example.com:9100", "node-exporter:9100", "db:5432"]
    severity = [_labels(SEVERITIES[i % len(SEVERITIES)], hosts[i % 64]) for i in range(count)]
    instance = [_labels("warning", hosts[(i * 7) % 64]) for i in range(count)]
    unique = [_labels("warning", _instance(i, rng)) for i in range(count)]
    rng.shuffle(unique)
    return {"severity": severity, "instance": instance, "unique": unique}


def _noop(labels: Mapping[str, str]) -> bool:
    return True


def _best_pass(
    call: Callable[[Mapping[str, str]], bool], items: list[dict[str, str]], passes: int
) -> float:
    for labels in items[:1000]:  # warm-up
        call(labels)
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter_ns()
        for labels in items:
            call(labels)
        best = min(best, (time.perf_counter_ns() - start) / len(items))
    return best


def _worker_speed(count: int, passes: int, compiles: int) -> dict[str, Any]:
    mod = importlib.import_module(MODULE)
    sets = _value_sets(count)
    match: dict[str, dict[str, float]] = {
        "noop": {"ns": _best_pass(_noop, sets["severity"], passes), "share": 1.0}
    }
    for kind, values in MATCH_ROWS:
        matcher = mod.parse_matcher(_text(kind))
        items = sets[values]
        share = sum(map(matcher.matches, items)) / len(items)
        match[f"{kind}/{values}"] = {
            "ns": _best_pass(matcher.matches, items, passes),
            "share": share,
        }
    compile_: dict[str, dict[str, float]] = {}
    for kind, _ in MATCHERS:
        texts = [_text(kind, str(i)) for i in range(compiles)]
        mod.parse_matcher(_text(kind, "x"))  # warm the code paths, not the caches
        cold: list[int] = []
        for text in texts:
            start = time.perf_counter_ns()
            mod.parse_matcher(text)
            cold.append(time.perf_counter_ns() - start)
        same = _text(kind)
        warm = float("inf")
        for _ in range(passes):
            start = time.perf_counter_ns()
            for _ in range(compiles):
                mod.parse_matcher(same)
            warm = min(warm, (time.perf_counter_ns() - start) / compiles)
        compile_[kind] = {"cold": statistics.median(cold), "warm": warm}
    return {"module": mod.__file__, "match": match, "compile": compile_}


def _worker_pathological(n: int) -> dict[str, Any]:
    mod = importlib.import_module(MODULE)
    matcher = mod.parse_matcher(PATHOLOGICAL)
    labels = {"x": "a" * n}
    start = time.perf_counter_ns()
    found = matcher.matches(labels)
    return {"ns": time.perf_counter_ns() - start, "found": found}


def _re2_version() -> str:
    try:
        from importlib.metadata import version

        return version("google-re2")
    except Exception:
        return "not installed"


# ------------------------------------------------------------------ parent side


def _child(src: Path, args: list[str], timeout: float) -> dict[str, Any] | None:
    """Run this script as a worker importing alertreflex from ``src``; None on timeout."""
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONDONTWRITEBYTECODE="1")
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", *args],
            env=env,
            cwd=src,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:  # run() has killed and reaped the child
        return None
    if done.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _extract(ref: str, into: Path) -> Path:
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src/alertreflex"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into / "src"


def _ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}" if before > 0 else "-"


def _seconds(ns: float | None, timeout: float) -> str:
    if ns is None:
        return f"> {timeout:g} s"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e3:.1f} us"


def _best(rounds: list[dict[str, Any]], section: str, key: str, field: str) -> float:
    return min(float(r[section][key][field]) for r in rounds)


def _report_speed(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
    print("\ncost per Matcher.matches(labels) call, ns (best pass of all rounds)")
    header = (
        f"{'matcher':<12} {'values':<24} {'match':>6}"
        f" {'before':>8} {'after':>8} {'after/before':>13}"
    )
    print(header)
    print("-" * len(header))
    for key in ["noop"] + [f"{k}/{v}" for k, v in MATCH_ROWS]:
        kind, _, values = key.partition("/")
        shown = VALUES_SHOWN.get(values, "-")
        b = _best(before, "match", key, "ns")
        a = _best(after, "match", key, "ns")
        sb, sa = before[0]["match"][key]["share"], after[0]["match"][key]["share"]
        share = f"{sa:.0%}" if abs(sa - sb) < 1e-9 else f"{sb:.0%}/{sa:.0%}"
        name = "(no-op)" if kind == "noop" else kind
        print(f"{name:<12} {shown:<24} {share:>6} {b:>8.0f} {a:>8.0f} {_ratio(a, b):>13}")

    print(
        "\ncompile cost per matcher (parse_matcher), us: new text (median), same text again (best)"
    )
    header = (
        f"{'matcher':<12} {'new: before':>12} {'after':>8} {'ratio':>6}"
        f" {'again: before':>14} {'after':>8} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for kind, _ in MATCHERS:
        cb = _best(before, "compile", kind, "cold") / 1e3
        ca = _best(after, "compile", kind, "cold") / 1e3
        wb = _best(before, "compile", kind, "warm") / 1e3
        wa = _best(after, "compile", kind, "warm") / 1e3
        print(
            f"{kind:<12} {cb:>12.1f} {ca:>8.1f} {_ratio(ca, cb):>6}"
            f" {wb:>14.2f} {wa:>8.2f} {_ratio(wa, wb):>6}"
        )


def _report_pathological(sources: dict[str, Path], timeout: float) -> None:
    print(f"\npathological: {PATHOLOGICAL} on 'a' * n, first call in a fresh process")
    header = f"{'n':>7} {'before':>12} {'after':>12}"
    print(header)
    print("-" * len(header))
    for n in (*PATHOLOGICAL_NS, LONG_N):
        cells: list[str] = []
        for name in ("before", "after"):
            if name == "before" and n == LONG_N:
                cells.append("not run")
                continue
            out = _child(sources[name], ["pathological", str(n)], timeout + 1.0)
            ns = None if out is None or out["ns"] > timeout * 1e9 else float(out["ns"])
            cells.append(_seconds(ns, timeout))
        print(f"{n:>7,} {cells[0]:>12} {cells[1]:>12}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter passes")
    parser.add_argument("--before", default=BEFORE_REF, help="git ref of the 'before' module")
    parser.add_argument("--rounds", type=int, help="before/after worker pairs (3; --quick 1)")
    parser.add_argument("--timeout", type=float, help="pathological cap in s (3; --quick 1)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count, passes, compiles = (6_000, 3, 100) if args.quick else (10_000, 5, 200)

    if args.worker:
        what, *rest = args.worker
        if what == "speed":
            out = _worker_speed(count, passes, compiles)
        else:
            out = _worker_pathological(int(rest[0]))
        print(json.dumps(out))
        return

    rounds = args.rounds or (1 if args.quick else 3)
    timeout = args.timeout or (1.0 if args.quick else 3.0)
    tmp = Path(tempfile.mkdtemp(prefix="alertreflex-bench-matching-"))
    try:
        sources = {"before": _extract(args.before, tmp), "after": ROOT / "src"}
        speed: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(rounds):
            for name in ("before", "after"):
                result = _child(sources[name], ["speed"], 600.0)
                if result is None:
                    raise SystemExit(f"the {name} speed worker took over 600 s")
                speed[name].append(result)
        print(f"before: {args.before[:12]} {speed['before'][0]['module']}")
        print(f"after:  working tree {speed['after'][0]['module']}")
        print(
            f"Python {sys.version.split()[0]}, google-re2 {_re2_version()}, {os.cpu_count()} cpus, "
            f"load {os.getloadavg()[0]:.2f}; {rounds} round(s) of {count:,} calls x {passes} passes"
        )
        for kind, _ in MATCHERS:
            print(f"  {kind:<12} {_text(kind)}")
        _report_speed(speed["before"], speed["after"])
        _report_pathological(sources, timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
