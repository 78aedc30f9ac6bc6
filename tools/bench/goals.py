"""The goals of `make bench`, checked against this run and against the median of the runs kept.

usage: python3 tools/bench/goals.py OUT_DIR

OUT_DIR holds results.json (this run) and history/*.json (every run scripts/bench.sh kept, this
one included). The median is taken figure by figure over the kept runs of the same commit (and
the same uncommitted state flag) as this run, so a change of code starts a new series.
Prints a table; exits 0 whatever the figures (the bench reports, it does not judge a build).
"""

import glob
import json
import os
import statistics
import sys

MIB = 1048576.0


def figures(results):
    """The figure of each goal in one run, or None where the run lacks it."""
    functions = results.get("functions", {})
    out = {}
    ratios = [f.get("init_ratio_to_hello") for f in functions.values()]
    if ratios and None not in ratios:
        name, worst = max(((n, f["init_ratio_to_hello"]) for n, f in functions.items()), key=lambda p: p[1])
        out["init"] = (worst, name)
    sizes = [(n, f.get("bootstrap_bytes", 0) / MIB) for n, f in functions.items()]
    if sizes:
        out["bootstrap"] = tuple(reversed(max(sizes, key=lambda p: p[1])))
    rss = [(n, f.get("peak_rss_mb")) for n, f in functions.items() if f.get("peak_rss_mb") is not None]
    if rss:
        out["rss"] = tuple(reversed(max(rss, key=lambda p: p[1])))
    for entry in results.get("latency", []):
        if entry.get("via") == "runtime_api" and entry.get("route") == "POST /sessions" and entry.get("clients") == 32:
            if "requests_per_second_ratio_to_floor" in entry:
                out["throughput"] = (entry["requests_per_second_ratio_to_floor"], "")
                out["p99"] = (entry["p99_ratio_to_floor"], "")
    reset = results.get("reset", {})
    if "ratio_to_floor" in reset:
        # The median of the runs' paired ratios (each run's reset beside its own floor).
        out["reset"] = (reset["ratio_to_floor"], "")
    for name, f in functions.items():
        if "init_plus_first_request_ratio_to_hello" in f:
            out[f"cold {name}"] = (f["init_plus_first_request_ratio_to_hello"], "")
    return out


# (key, what, goal as text, test on the figure)
GOALS = [
    ("init", "init, worst function / hello world", "<= 2.0x", lambda v: v <= 2.0),
    ("bootstrap", "bootstrap, largest (MiB)", "< 6 MiB", lambda v: v < 6.0),
    ("rss", "peak RSS after init, largest (MiB)", "<= 12", lambda v: v <= 12.0),
    ("throughput", "POST /sessions at 32: req/s / floor's", ">= 0.9x", lambda v: v >= 0.9),
    ("p99", "POST /sessions at 32: p99 / floor's", "<= 1.3x", lambda v: v <= 1.3),
    ("reset", "reset: accounts/s / floor's", ">= 0.9x", lambda v: v >= 0.9),
    ("cold create-session", "init + 1st request, create-session / hello", "(report)", None),
    ("cold get-usage", "init + 1st request, get-usage / hello", "(report)", None),
]


def main():
    out = sys.argv[1]
    this = json.load(open(os.path.join(out, "results.json")))
    series = []
    for path in sorted(glob.glob(os.path.join(out, "history", "*.json"))):
        try:
            run = json.load(open(path))
        except (OSError, ValueError):
            continue
        if run.get("commit") == this.get("commit"):
            series.append(figures(run))
    now = figures(this)
    print(f"\ngoals (this run; median of {len(series)} run(s) of {this.get('commit', '?')} kept in {out}/history)")
    print(f"{'figure':<58} {'goal':>9} {'this run':>10} {'median':>8}  verdict on the median")
    for key, what, goal, test in GOALS:
        if key not in now:
            continue
        value, which = now[key]
        values = [s[key][0] for s in series if key in s]
        med = statistics.median(values) if values else value
        verdict = "" if test is None else ("met" if test(med) else "NOT met")
        label = f"{what} [{which}]" if which else what
        print(f"{label:<58} {goal:>9} {value:>10.2f} {med:>8.2f}  {verdict}")


if __name__ == "__main__":
    main()
