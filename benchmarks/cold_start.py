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
takes the ``--json`` output of an earlier run (e.g. at an older commit) and prints before/after ratios.
Wall times on a shared machine vary with its load: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
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


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[2:])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


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
        result: dict[str, float] = {}
        result["first ingest"] = timed([*DOCQA, "ingest", str(SAMPLES), "--index", str(index)], env)
        log(f"[{name}] first ingest {result['first ingest']:.1f} s")
        result["first ask"] = timed([*ask, "--no-service"], env)
        log(f"[{name}] first ask {result['first ask']:.1f} s")
        cold = [timed([*ask, "--no-service"], env) for _ in range(repeat)]
        result["cold ask"] = statistics.median(cold)
        log(f"[{name}] cold ask {', '.join(f'{s:.2f}' for s in cold)} s")
        serve, url = start_service(index, env)
        try:
            served = answer_of([*ask, "--json"], env)
            if served.get("service") != url:
                raise SystemExit(f"docqa ask did not use the running service at {url}")
            warm = [timed(ask, env) for _ in range(repeat)]
        finally:
            serve.terminate()
            serve.wait(60)
        result["warm ask"] = statistics.median(warm)
        log(f"[{name}] warm ask {', '.join(f'{s:.2f}' for s in warm)} s (service {url})")
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
    print(f"{'reader':8} {'step':13} {'seconds':>8} {'target':>7} {'before':>7} {'after/before':>12}")
    for name, steps in results.items():
        for step in STEPS:
            target = f"{TARGETS_S[step]:.0f}" if step in TARGETS_S else "-"
            old = before.get(name, {}).get(step)
            ratio = f"{steps[step] / old:.2f}x" if old else "-"
            print(f"{name:8} {step:13} {steps[step]:8.2f} {target:>7} "
                  f"{(f'{old:.2f}' if old else '-'):>7} {ratio:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
