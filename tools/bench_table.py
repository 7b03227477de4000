#!/usr/bin/python3
"""Render BENCH lines (BENCHMARKS.md) as a Markdown table of weft against the
peer each target names, with the ratio from the same run.

    tools/bench_table.py < bench.txt

Reads every `BENCH <workload> <system> <metric>=<value> ...` line on stdin
(other lines are ignored) and prints one table row per target of
BENCHMARKS.md: weft's figure, the peer's, the ratio weft / peer and whether
the target holds. A workload or peer missing from the input shows as "-".
"""
import sys

# (workload, metric, peer system or None for an absolute bound, bound, "<=" or ">=")
TARGETS = [
    ("callbacks", "ns_per_op", "asio", 1.0, "<="),
    ("timer_churn", "ns_per_op", "asio", 0.25, "<="),
    ("spawn", "ns_per_op", "asio.spawn", 0.5, "<="),
    ("spawn", "peak_rss_mib", "asyncio", 1.0, "<="),
    ("switch", "ns_per_op", "boost.fiber", 0.5, "<="),
    ("pingpong", "ns_per_op", "boost.fiber", 0.5, "<="),
    ("pingpong", "ns_per_op", "uvloop", 0.05, "<="),
    ("timers", "cpu_s", "asio.spawn", 0.5, "<="),
    ("timers", "overshoot_ms", None, 100.0, "<="),
    ("parked", "kib_per_task", None, 5.0, "<="),
    ("parked", "ns_per_op", "boost.fiber-16k", 0.5, "<="),
    ("echo", "rtt_per_s", "raw-epoll", 0.8, ">="),
    ("echo", "rtt_per_s", "uvloop", 1.5, ">="),
    ("http", "req_per_s", "wrk", 0.9, ">="),
    ("http", "req_per_s", "beast", 1.0, ">="),
    ("fetch_all", "wall_ms", "beast", 1.0, "<="),
    ("download", "mib_per_s", "libcurl", 0.95, ">="),
    ("https", "req_per_s", "beast", 1.0, ">="),
]


def read_bench(lines):
    """{(workload, system): {metric: value}}, the last line winning."""
    figures = {}
    for line in lines:
        words = line.split()
        if len(words) < 4 or words[0] != "BENCH":
            continue
        metrics = {}
        for word in words[3:]:
            name, _, value = word.partition("=")
            try:
                metrics[name] = float(value)
            except ValueError:
                pass
        figures[(words[1], words[2])] = metrics
    return figures


# Digits after the point, as BENCHMARKS.md prints each metric.
DIGITS = {"ns_per_op": 1, "peak_rss_mib": 1, "cpu_s": 3, "overshoot_ms": 1, "kib_per_task": 3,
          "rtt_per_s": 0, "req_per_s": 0, "wall_ms": 1, "mib_per_s": 1}


def number(value, metric):
    if value is None:
        return "-"
    return "{:,.{}f}".format(value, DIGITS.get(metric, 3))


def main():
    figures = read_bench(sys.stdin)
    print("| workload | metric | weft | peer | peer's figure | weft / peer | target | met |")
    print("|---|---|---:|---|---:|---:|---|:---:|")
    for workload, metric, peer, bound, sense in TARGETS:
        ours = figures.get((workload, "weft"), {}).get(metric)
        theirs = figures.get((workload, peer), {}).get(metric) if peer else None
        if peer is None:
            measure, target = ours, "{} {:g}".format(sense, bound)
        else:
            measure = ours / theirs if ours is not None and theirs else None
            target = "{} {:g} x {}".format(sense, bound, peer)
        if measure is None:
            met = "-"
        else:
            met = "yes" if (measure <= bound if sense == "<=" else measure >= bound) else "no"
        ratio = "-" if peer is None or measure is None else "{:.2f}".format(measure)
        print("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            workload, metric, number(ours, metric), peer or "(absolute)", number(theirs, metric), ratio, target, met))


if __name__ == "__main__":
    main()
