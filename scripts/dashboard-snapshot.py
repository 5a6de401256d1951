#!/usr/bin/env python3
"""Renders docs/grafana/coffer-dashboard.json from a real Prometheus into a PNG.

Every panel's queries run against the Prometheus HTTP API (query_range over the last
--minutes), with the dashboard's variables filled in as Grafana would ($instance: all
instances, $__rate_interval: --rate-interval), and are drawn in the dashboard's grid
layout: time series as lines, stat panels as their last value, the table as text. It is
the dashboard's data from a real run, not Grafana's pixels (Grafana is not packaged in
Debian).

    python3 scripts/dashboard-snapshot.py --prometheus http://127.0.0.1:9090 \\
        --out docs/grafana/dashboard.png

Needs matplotlib (pip install matplotlib).
"""
import argparse
import json
import sys
import time
import urllib.parse
import urllib.request

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("dashboard-snapshot: needs matplotlib (pip install matplotlib)")


def query_range(prom, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    out = fmt or ""
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    return out.strip() or ",".join(f"{k}={v}" for k, v in labels.items() if k != "__name__")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--dashboard", default="docs/grafana/coffer-dashboard.json")
    ap.add_argument("--out", default="docs/grafana/dashboard.png")
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--rate-interval", default="1m")
    args = ap.parse_args()

    dash = json.load(open(args.dashboard))
    end = time.time()
    start = end - args.minutes * 60
    step = max(5, int(args.minutes * 60 / 200))
    panels = dash["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_h = 0.42  # inches per grid row
    fig = plt.figure(figsize=(24, rows * unit_h))
    fig.patch.set_facecolor("#111217")
    empty = []
    for p in panels:
        g = p["gridPos"]
        # Grid → figure fractions (Grafana: 24 columns, y grows downwards).
        left, width = g["x"] / 24 + 0.004, g["w"] / 24 - 0.008
        top = 1 - g["y"] / rows
        height = g["h"] / rows
        if p["type"] == "row":
            fig.text(left, top - height / 2, p["title"], color="#d8d9da", fontsize=14,
                     fontweight="bold", va="center")
            continue
        ax = fig.add_axes([left, top - height + 0.012, width, height - 0.03])
        ax.set_facecolor("#181b1f")
        for s in ax.spines.values():
            s.set_color("#2c3235")
        ax.tick_params(colors="#9fa7b3", labelsize=7)
        ax.set_title(p["title"], color="#d8d9da", fontsize=9, loc="left")
        series = []
        for t in p.get("targets", []):
            expr = t["expr"].replace("$__rate_interval", args.rate_interval)
            expr = expr.replace('instance=~"$instance"', 'instance=~".*"')
            for r in query_range(args.prometheus, expr, start, end, step):
                pts = [(float(ts), float(v)) for ts, v in r["values"] if v not in ("NaN", "+Inf", "-Inf")]
                if pts:
                    series.append((legend(t.get("legendFormat"), r["metric"]), pts))
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        if not series:
            empty.append(p["title"])
            ax.text(0.5, 0.5, "No data", color="#9fa7b3", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if p["type"] == "stat":
            v = series[0][1][-1][1]
            ax.text(0.5, 0.45, f"{v:.3g} {unit if unit not in ('short', 'none') else ''}",
                    color="#73bf69", fontsize=26, ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        elif p["type"] == "table":
            ax.axis("off")
            lines = [name for name, _ in series]
            ax.text(0.01, 0.8, "\n".join(lines), color="#d8d9da", fontsize=9,
                    va="top", family="monospace", transform=ax.transAxes)
        else:
            for name, pts in series[:12]:
                xs = [(x - end) / 60 for x, _ in pts]
                ax.plot(xs, [y for _, y in pts], linewidth=1.2, label=name[:40])
            ax.set_xlabel("minutes", color="#9fa7b3", fontsize=7)
            if unit:
                ax.set_ylabel(unit, color="#9fa7b3", fontsize=7)
            ax.grid(color="#2c3235", linewidth=0.5)
            ax.legend(fontsize=6, loc="upper left", facecolor="#181b1f", labelcolor="#d8d9da",
                      framealpha=0.6, ncol=2)
    fig.savefig(args.out, dpi=70, facecolor=fig.get_facecolor())
    print(f"wrote {args.out}; panels without data: {empty or 'none'}")


if __name__ == "__main__":
    main()
