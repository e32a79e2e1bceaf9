"""Cold start, as a newcomer meets it (issue 24): each step is a fresh `docqa` process, timed from outside.

    python benchmarks/cold_start.py [--repeat 3] [--reader compact|default|both] [--before OLD.json] [--json]

For each reader setting (``compact``: ``DOCQA_READER_MODEL=compact``; ``default``: the configured default
reader, which without the model hub falls back to the bundled compact reader; ``HF_HUB_OFFLINE=1``):

1. ``first ingest`` — `docqa ingest data/samples` into a new index with a new ``DOCQA_CACHE_DIR``: includes
   the one-time measurement of the embedding runtimes and their ONNX export;
2. ``first ask`` — the first `docqa ask` ever (``--no-service``): includes the reader's one-time measurement;
3. ``cold ask`` — `docqa ask --no-service` in a fresh process once everything is cached (median of
   ``--repeat``);
4. ``warm ask`` — `docqa ask` while `docqa serve --port 0` runs on the index (it answers; median).

Targets (issue 24, samples, 2 cores): first ingest <= 20 s, cold ask <= 3 s, warm ask <= 1 s. ``--before``
takes the ``--json`` output of an earlier run (e.g. at an older commit: a `docqa ask` without
``--no-service`` is measured without the warm step) and prints before/after ratios.
Wall times on a shared machine vary with its load (the load average is printed with the results); the
CPU seconds (user + sys) of each `docqa` process move less, so both are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
QUESTION = "When was the Duchy of Normandy founded?"
TARGETS_S = {"first ingest": 20.0, "cold ask": 3.0, "warm ask": 1.0}
STEPS = ("first ingest", "first ask", "cold ask", "warm ask")
DOCQA = [sys.executable, "-m", "docqa.app.cli"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


CPU_S: dict[str, list[float]] = {}  # CPU seconds (user + sys) of the timed processes, by step


def timed(args: list[str], env: dict[str, str], step: str = "") -> float:
    """Wall seconds of one `docqa` process; its CPU seconds go to :data:`CPU_S` (on a shared machine
    they move less with the load than wall time does)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[2:])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    if step:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        CPU_S.setdefault(step, []).append(cpu)
    return elapsed


def has_service_option(env: dict[str, str]) -> bool:
    """Whether this `docqa ask` knows --no-service (older versions, measured with --before, do not)."""
    done = subprocess.run([*DOCQA, "ask", "--help"], env=env, cwd=REPO, capture_output=True, text=True)
    return "--no-service" in done.stdout


def answer_of(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def start_service(index: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    serve = subprocess.Popen([*DOCQA, "serve", "--port", "0", "--index", str(index)], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = ""
    while "DocQA service ready" not in line:
        line = serve.stdout.readline()
        if not line and serve.poll() is not None:
            raise SystemExit("docqa serve exited before it was ready")
    url = line.split("ready: ")[1].split()[0]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # models load in the background after start-up
        request = urllib.request.Request(url + "/ready", headers={"X-Requested-With": "benchmark"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    return serve, url


def run_setting(name: str, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="docqa-cold-") as tmp:
        env = {**os.environ, "DOCQA_CACHE_DIR": str(Path(tmp) / "cache"), "HF_HUB_OFFLINE": "1"}
        env.pop("DOCQA_API_KEY", None)
        if name == "compact":
            env["DOCQA_READER_MODEL"] = "compact"
        else:
            env.pop("DOCQA_READER_MODEL", None)
        index = Path(tmp) / "index"
        ask = [*DOCQA, "ask", QUESTION, "--index", str(index)]
        with_service = has_service_option(env)
        alone = [*ask, "--no-service"] if with_service else ask
        CPU_S.clear()
        result: dict[str, float] = {}
        result["first ingest"] = timed([*DOCQA, "ingest", str(SAMPLES), "--index", str(index)], env,
                                       "first ingest")
        log(f"[{name}] first ingest {result['first ingest']:.1f} s")
        result["first ask"] = timed(alone, env, "first ask")
        log(f"[{name}] first ask {result['first ask']:.1f} s")
        cold = [timed(alone, env, "cold ask") for _ in range(repeat)]
        result["cold ask"] = statistics.median(cold)
        log(f"[{name}] cold ask {', '.join(f'{s:.2f}' for s in cold)} s")
        if with_service:
            serve, url = start_service(index, env)
            try:
                served = answer_of([*ask, "--json"], env)
                if served.get("service") != url:
                    raise SystemExit(f"docqa ask did not use the running service at {url}")
                warm = [timed(ask, env, "warm ask") for _ in range(repeat)]
            finally:
                serve.terminate()
                serve.wait(60)
            result["warm ask"] = statistics.median(warm)
            log(f"[{name}] warm ask {', '.join(f'{s:.2f}' for s in warm)} s (service {url})")
        for step, seconds in CPU_S.items():
            result[f"{step} cpu"] = statistics.median(seconds)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="cold and warm asks timed (median)")
    parser.add_argument("--reader", choices=("compact", "default", "both"), default="both")
    parser.add_argument("--before", type=Path, help="--json output of an earlier run, for ratios")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    settings = ("compact", "default") if args.reader == "both" else (args.reader,)
    load_before = os.getloadavg()
    results = {name: run_setting(name, args.repeat) for name in settings}
    report = {"cores": len(os.sched_getaffinity(0)), "load_before": load_before,
              "load_after": os.getloadavg(), "question": QUESTION, "seconds": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    before = json.loads(args.before.read_text())["seconds"] if args.before else {}
    print(f"Cold start on the samples ({report['cores']} cores; load {load_before[0]:.1f} before, "
          f"{report['load_after'][0]:.1f} after)")
    print(f"{'reader':8} {'step':13} {'wall s':>7} {'target':>7} {'before':>7} {'ratio':>6} "
          f"{'CPU s':>6} {'before':>7} {'ratio':>6}")
    for name, steps in results.items():
        for step in STEPS:
            if step not in steps:
                continue
            target = f"{TARGETS_S[step]:.0f}" if step in TARGETS_S else "-"
            cells = []
            for key in (step, f"{step} cpu"):
                now, old = steps.get(key), before.get(name, {}).get(key)
                cells += [f"{now:.2f}" if now is not None else "-", f"{old:.2f}" if old else "-",
                          f"{now / old:.2f}x" if old and now is not None else "-"]
            print(f"{name:8} {step:13} {cells[0]:>7} {target:>7} {cells[1]:>7} {cells[2]:>6} "
                  f"{cells[3]:>6} {cells[4]:>7} {cells[5]:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
