"""The results of `make bench` (bench/results/latest.json, written by bench/run_http.py) as a
Markdown table (bench/results/latest.md), a chart (bench/results/latest.png) and the README's
"Performance" block between its `<!-- bench:begin -->` and `<!-- bench:end -->` markers.

    .venv/bin/python bench/report.py [--json bench/results/latest.json] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def render(lines: list[tuple[str, ...]]) -> list[str]:
    """A Markdown table, the first line being the head."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out


def _number(value: float | None, digits: int = 0, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def machine_line(results: dict[str, Any]) -> str:
    box, s = results["machine"], results["settings"]
    load = results["machine"].get("load_average_at_start", [])
    return (
        f"{results['started']}, commit `{results['commit']}`, {box['cpus']} CPUs ({box['cpu_model']}), "
        f"{box['memory']}, {box['system']}, Python {box['python']}, PostgreSQL {results['postgresql']}, "
        f"gunicorn {s['workers']} sync workers per server, wrk -t{s['connections']} -c{s['connections']} "
        f"{s['duration']} s per measure after {s['warmup']} s warm-up, {s['rounds']} round(s), tenant key "
        f"{s['algorithm']}, passwords {s['password_hash']}; load average at the start "
        f"{' '.join(str(x) for x in load)}; the whole run took {results['seconds']} s"
    )


def table(results: dict[str, Any]) -> list[str]:
    head = (
        "scenario",
        "req/s",
        "p50/p95/p99 ms",
        "SQL/req",
        "CPU ms/req",
        "worker RSS MiB",
        "peer req/s",
        "ours/peer",
        "ceiling req/s",
        "ours/ceiling",
        "targets",
    )
    lines: list[tuple[str, ...]] = [head]
    for row in results["scenarios"]:
        ours, peer = row["ours"], row["peer"]
        if "skipped" in ours:
            lines.append((row["name"], "skipped", *["-"] * 8, ours["skipped"][:60]))
            continue
        cpu = ours["cpu_ms"]
        missed = row.get("missed", [])
        target = "; ".join(missed) if missed else ("met" if row["targets"] else "-")
        lines.append(
            (
                row["name"],
                _number(ours["rate"], 1),
                f"{ours['p50_ms']:.1f}/{ours['p95_ms']:.1f}/{ours['p99_ms']:.1f}",
                _number(ours["sql_per_request"], 2),
                _number(cpu["app"] + cpu["postgres"], 2) if cpu else "-",
                _number(ours["rss_mb"]),
                _number(peer["rate"], 1) if peer and "rate" in peer else "-",
                _number(row["ours_per_peer"], 2, "x"),
                _number(row["ceiling"]["rate"], 1) + ("*" if row["ceiling"].get("paired") else ""),
                _number(row["ours_per_ceiling"], 2),
                target,
            )
        )
    return render(lines)


def markdown(results: dict[str, Any]) -> str:
    c = results["ceilings"]
    tenant = c["crypto"].get("validate:tenant", {})
    out = [
        f"Measured {machine_line(results)}.",
        "",
        *table(results),
        "",
        f"Ceilings, same run: bare DRF view (only CommonMiddleware) {c['bare']['rate']:,.0f} req/s; the same "
        f"+ one single-row UPDATE {c['update']['rate']:,.0f} req/s; Argon2id verifies of "
        f"{results['settings']['workers']} processes {c['argon2_per_second']:,.1f}/s; PyJWT verify/sign µs: "
        + ", ".join(
            f"{value['algorithm']} {value['verify_us']:.0f}/{value['sign_us']:.0f}"
            for name, value in c["crypto"].items()
            if name != "validate:tenant"
        )
        + (f" (tenant key {tenant['algorithm']})" if tenant else "")
        + ". Per-scenario ceiling formulas are in `latest.json`. A ceiling marked * stands on its base "
        "(bare view, view + UPDATE, Argon2id) measured again right before that scenario: the host's speed "
        "drifts over minutes, so each scenario is compared with the ceiling of its own moment.",
    ]
    if results.get("busy_machine"):
        steal = max(
            (row[side].get("steal_cores", 0.0) for row in results["scenarios"] for side in ("ours", "peer")
             if row.get(side)),
            default=0.0,
        )  # fmt: skip
        out += [
            "",
            "**Busy machine**: other processes used more than 0.25 core during some measures "
            f"(of which the hypervisor's steal, other tenants of the host: up to {steal:.2f} core); "
            "these figures are provisional.",
        ]
    return "\n".join(out)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["scenarios"] if "rate" in r["ours"]]
    names = [r["name"] for r in rows]
    figure, (rates, shares) = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 1.8), sharey=True)
    y = list(range(len(rows)))
    height = 0.27
    series = (
        ("ceiling", [r["ceiling"]["rate"] or 0 for r in rows], "#bbbbbb"),
        ("ours", [r["ours"]["rate"] for r in rows], "#1f77b4"),
        ("simplejwt", [(r["peer"] or {}).get("rate", 0) for r in rows], "#ff7f0e"),
    )
    for offset, (label, values, color) in zip((-height, 0, height), series, strict=True):
        rates.barh([v + offset for v in y], values, height=height, label=label, color=color)
    rates.set_xscale("log")
    rates.set_xlabel("requests/s (log scale)")
    rates.set_yticks(y, names)
    rates.invert_yaxis()
    rates.legend(loc="lower right", fontsize="small")
    share = [r["ours_per_ceiling"] or 0 for r in rows]
    shares.barh(y, share, color=["#2ca02c" if not r.get("missed") else "#d62728" for r in rows])
    for position, row in zip(y, rows, strict=True):
        minimum = row["targets"].get("ceiling")
        if minimum:
            shares.plot([minimum, minimum], [position - 0.4, position + 0.4], color="black", linewidth=1.5)
    shares.axvline(1.0, color="#888888", linestyle="--", linewidth=1)
    shares.set_xlabel("ours / ceiling (black tick: target; red: a target missed)")
    s = results["settings"]
    figure.suptitle(
        f"make bench, {results['started']}, commit {results['commit']}: {s['workers']} gunicorn workers, "
        f"wrk -c{s['connections']}, {results['machine']['cpus']} CPUs"
        + (" (busy machine: provisional)" if results.get("busy_machine") else ""),
        fontsize="medium",
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def readme_block(results: dict[str, Any]) -> str:
    return "\n".join(
        [
            BEGIN,
            "<!-- written by bench/report.py from bench/results/latest.json; edit that, not this -->",
            "",
            markdown(results),
            "",
            "![make bench](bench/results/latest.png)",
            "",
            END,
        ]
    )


def update_readme(results: dict[str, Any], readme: Path = README) -> bool:
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda _: readme_block(results), text, count=1), encoding="utf-8")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    args = parser.parse_args()
    results = json.loads(args.json.read_text(encoding="utf-8"))
    out = args.json.with_suffix(".md")
    out.write_text(markdown(results) + "\n", encoding="utf-8")
    chart(results, args.json.with_suffix(".png"))
    print(f"written: {out}, {args.json.with_suffix('.png')}")
    if not args.no_readme:
        if not update_readme(results):
            print(f"README.md has no {BEGIN} ... {END} block; not updated", file=sys.stderr)
            return 1
        print("README.md: Performance block updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
