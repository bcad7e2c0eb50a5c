#!/usr/bin/python3
"""Figures of a regression study (metrics.csv of `collapse train --task regression`):
NRC1, NRC2, NRC3 (train and test), the test R^2 and the nrc1 of every tapped layer
over epochs, one line per run, as plain SVG files (no plotting library needed).
Also prints a Markdown table of the last epoch of every run.

    /usr/bin/python3 tools/nrc_figures.py OUTDIR RUN [RUN...]
"""
import csv
import math
import os
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def read(run):
    with open(os.path.join(run, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


def svg(path, title, series, logy=True):
    """series: [(label, xs, ys, color, dashed)]"""
    W, H, L, R, T, B = 640, 400, 70, 170, 40, 50
    pts = [(x, y) for _, xs, ys, _, _ in series for x, y in zip(xs, ys)
           if math.isfinite(y) and (y > 0 or not logy)]
    if not pts:
        return
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    f = (lambda v: math.log10(v)) if logy else (lambda v: v)
    y0, y1 = min(f(p[1]) for p in pts), max(f(p[1]) for p in pts)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1, y1 + 1
    X = lambda x: L + (x - x0) / ((x1 - x0) or 1) * (W - L - R)
    Y = lambda y: T + (1 - (f(y) - y0) / (y1 - y0)) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" '
           f'stroke="black"/>',
           f'<text x="{(W - R + L) / 2}" y="{H - 10}" text-anchor="middle">epoch</text>']
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        lab = f"{10 ** v:.3g}" if logy else f"{v:.3g}"
        yy = T + (1 - k / 4) * (H - T - B)
        out.append(f'<text x="{L - 5}" y="{yy + 4}" text-anchor="end">{lab}</text>')
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{yy}" y2="{yy}" stroke="#ddd"/>')
    for k in range(5):
        v = x0 + (x1 - x0) * k / 4
        out.append(f'<text x="{X(v)}" y="{H - B + 15}" text-anchor="middle">{v:.0f}</text>')
    for i, (label, xs, ys, color, dashed) in enumerate(series):
        p = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in zip(xs, ys)
                     if math.isfinite(y) and (y > 0 or not logy))
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        out.append(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="1.5"'
                   f'{dash}/>')
        ly = T + 15 + 16 * i
        out.append(f'<line x1="{W - R + 10}" x2="{W - R + 30}" y1="{ly}" y2="{ly}" '
                   f'stroke="{color}"{dash}/>')
        out.append(f'<text x="{W - R + 35}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    outdir, runs = sys.argv[1], sys.argv[2:]
    data = {r: read(r) for r in runs}
    name = {r: os.path.basename(os.path.normpath(r)) for r in runs}
    for key in ("nrc1", "nrc2", "nrc3"):
        s = []
        for i, r in enumerate(runs):
            d = data[r]
            s.append((f"{name[r]} train", d["epoch"], d[key + "_train"], COLORS[i], False))
            s.append((f"{name[r]} test", d["epoch"], d[key + "_test"], COLORS[i], True))
        svg(os.path.join(outdir, key + ".svg"), key.upper() + " (log scale)", s)
    s = [(f"{name[r]} test", data[r]["epoch"], data[r]["test_r2"], COLORS[i], False)
         for i, r in enumerate(runs)]
    svg(os.path.join(outdir, "r2.svg"), "test R^2 (mean over targets)", s, logy=False)
    s = []
    for i, r in enumerate(runs):
        taps = sorted(k for k in data[r] if k.startswith("nrc1_train_L"))
        for j, k in enumerate(taps):
            s.append((f"{name[r]} L{j}", data[r]["epoch"], data[r][k], COLORS[i], j % 2 == 1))
    svg(os.path.join(outdir, "nrc1_layers.svg"), "NRC1 per tapped layer, train (log)", s)
    print("| run | epochs | train loss | test R^2 (theta, dx, dy) | nrc1 train/test | "
          "nrc2 train/test | nrc3 train/test | gamma |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        d = data[r]
        last = len(d["epoch"]) - 1
        g = lambda k: d[k][last]
        print(f"| {name[r]} | {g('epoch'):.0f} | {g('train_loss'):.4g} | {g('test_r2'):.3f} "
              f"({g('test_r2_0'):.3f}, {g('test_r2_1'):.3f}, {g('test_r2_2'):.3f}) | "
              f"{g('nrc1_train'):.3g} / {g('nrc1_test'):.3g} | "
              f"{g('nrc2_train'):.3g} / {g('nrc2_test'):.3g} | "
              f"{g('nrc3_train'):.3g} / {g('nrc3_test'):.3g} | {g('nrc3_gamma_train'):.3g} |")


if __name__ == "__main__":
    main()
