#!/usr/bin/env python3
"""Tables and figures of the full-dataset reproductions (tools/reproduce.sh, issue 14).

    tools/repro_summary.py [--no-plots] [STUDY...]
    tools/repro_summary.py --runs OUT.csv RUN_DIR...

For each study of tools/reproduce.sh (results/<study>/; default: every one that has runs) it writes
  results/<study>/summary.csv  one row per run: the last epoch's metrics, where NC1 was
                               lowest, when training accuracy first reached 100%, the
                               parameter count and the run's wall time;
  results/<study>/summary.md   one row per setting (runs that differ only in the seed
                               suffix _s<N>): mean +- sample std (n - 1) over the seeds;
and draws the study's figures with `collapse plot --bands` into results/<study>/
(the losses and ETF studies also take the CE / MSE runs of papyan_fashion they compare
against). Only finished runs (metrics.csv reaches the epochs in config.json) count; the
others are only printed, as unfinished. Wall time: the sum over the run's invocations of
tools/reproduce.sh (<run>.time: start, end, seconds, exit status or "killed"), so a run
continued with --resume counts every part; "≥" (wall_lower_bound = True in summary.csv) when
an invocation was killed and not timed. The worst class's training accuracy comes from
`collapse eval RUN --split train` (COLLAPSE_BIN, build/collapse) when the run's checkpoint is
there (checkpoints are not committed: else "-"). Standard library only (no NumPy).

--runs writes only OUT.csv: one row per given (finished) run folder, named by its folder:
where training accuracy first reached 100% and NC1 there, the minimum of NC1 (epochs >= 1)
and its epoch, the last NC1, last/min, and the training loss at the minimum and at the end
(tools/nc1_ablation.sh uses it).
"""
import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys

R = "results"
STUDIES = ["papyan_mnist", "papyan_fashion", "losses_fashion", "etf_fashion", "wd_mnist",
           "random_mnist", "convnet_mnist", "convnet_fashion"]
# the runs each study's table and figures compare (study -> folders of runs)
COMPARE = {
    "losses_fashion": ["papyan_fashion", "losses_fashion"],
    "etf_fashion": ["papyan_fashion:mlp_ce", "etf_fashion"],
    "wd_mnist": ["papyan_mnist:mlp_ce", "wd_mnist"],
}
KEYS = ["nc1", "test_nc1", "etf_M", "etf_W", "nc3", "nc4", "ncc_acc", "train_acc", "test_acc"]


def seed_group(name):
    """The run name without a seed suffix (_s<N>, -s<N>, _seed<N>, -seed<N>, seed<N>): a
    step-by-step port of cl_study_seed_group (src/study/figures_bands.c), the rule of
    `collapse plot --bands`, edge cases included (a name that is only a suffix keeps its tag:
    "seed3" -> "seed")."""
    d = len(name)
    while d > 0 and name[d - 1] in "0123456789":
        d -= 1
    if d == len(name) or d == 0:
        return name
    for tag in ("_seed", "-seed", "_s", "-s", "seed"):
        if name[:d].endswith(tag):
            return name[:len(tag)] if d == len(tag) else name[:d - len(tag)]
    return name


def number(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def frozen_params(spec):
    """Parameters of the frozen layers (a fixed ETF classifier) of an MLP model spec (the INI
    text of config.json): the feature width is walked through input, flatten, linear and
    elementwise layers; None when a frozen layer follows a layer of another kind."""
    secs, cur = [], None
    for line in spec.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            cur = {"name": line[1:-1]}
            secs.append(cur)
        elif "=" in line and cur is not None:
            k, v = (t.strip() for t in line.split("=", 1))
            cur[k] = v
    width, frozen = None, 0
    for sec in secs:
        kind = sec.get("kind", "input" if sec["name"] == "input" else "")
        if kind == "input":
            width = math.prod(int(t) for t in sec["shape"].split(","))
        elif kind == "linear":
            if sec.get("frozen") == "1":
                if width is None:
                    return None
                frozen += int(sec["out"]) * (width + (sec.get("bias") == "1"))
            width = int(sec["out"])
        elif kind not in ("flatten", "relu", "batchnorm"):
            if sec.get("frozen") == "1":
                return None
            width = None
    return frozen


def trainable(model):
    """The parameters not in frozen layers: config.json's trainable_params (collapse writes it
    since 2026-12-02); for older runs frozen_params's count, or None when it cannot tell."""
    if "trainable_params" in model:
        return model["trainable_params"]
    fp = frozen_params(model["spec"])
    return None if fp is None else model["params"] - fp


def worst_class(path):
    """(class, training accuracy %) of the run's worst class by `collapse eval`, or None
    without a checkpoint."""
    if not os.path.isdir(os.path.join(path, "checkpoint")):
        return None
    binary = os.environ.get("COLLAPSE_BIN", "build/collapse")
    out = subprocess.run([binary, "eval", path, "--split", "train"], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"^ +worst class (\d+)(?: \(.*\))? ([0-9.]+)% \(", out, re.M)
    if not m:
        raise RuntimeError(f"{path}: no worst-class line in collapse eval's output:\n{out}")
    return int(m.group(1)), float(m.group(2))


def load_run(path):
    """One run's summary, or None when it is not finished."""
    try:
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(path, "metrics.csv")) as f:
            rows = [r for r in csv.DictReader(f) if r.get("epoch", "").isdigit()]
    except (OSError, ValueError):
        return None
    epochs = cfg["options"]["epochs"]
    if not rows or int(rows[-1]["epoch"]) != epochs:
        return {"name": os.path.basename(path), "unfinished": True,
                "epoch": int(rows[-1]["epoch"]) if rows else 0, "epochs": epochs}
    last = rows[-1]
    out = {"name": os.path.basename(path), "epochs": epochs, "unfinished": False,
           "params": cfg["model"]["params"], "loss": cfg["options"]["loss"],
           "trainable_params": trainable(cfg["model"]),
           "classifier": cfg["options"]["classifier"], "seed": cfg["options"]["seed"]}
    for k in KEYS:
        out[k] = number(last.get(k))
    nc1 = [(number(r["nc1"]), int(r["epoch"])) for r in rows if int(r["epoch"]) > 0]
    out["nc1_first"] = nc1[0][0]
    defined = [p for p in nc1 if not math.isnan(p[0])]  # NaN: class means of rank < K - 1
    m, em = min(defined) if defined else (math.nan, "-")
    out["nc1_min"], out["nc1_min_epoch"] = m, em
    init = [number(r["nc1"]) for r in rows if int(r["epoch"]) == 0]
    out["nc1_init"] = init[0] if init else math.nan
    out["nc1_last_over_min"] = out["nc1"] / m if m > 0 else math.nan
    out["loss_at_min"] = next((number(r["train_loss"]) for r in rows if int(r["epoch"]) == em),
                              math.nan)
    out["train_loss"] = number(last.get("train_loss"))
    full = [r for r in rows if number(r["train_acc"]) >= 1.0]
    out["epoch_100pct"] = int(full[0]["epoch"]) if full else math.nan
    out["nc1_at_100pct"] = number(full[0]["nc1"]) if full else math.nan
    out["wall_s"], out["wall_lower_bound"] = wall_seconds(path)
    wc = worst_class(path)
    out["worst_class"], out["worst_class_train_acc"] = wc if wc else ("", math.nan)
    return out


def wall_seconds(path):
    """(seconds, lower_bound): the sum over the run's invocations (<run>.time: start end
    seconds status, status an exit status or "killed"; NaN when none is timed), and whether
    a "start - - started" line (an invocation killed and not timed yet, see
    tools/reproduce.sh) makes it only a lower bound."""
    total, any_line, untimed = 0.0, False, False
    try:
        with open(path + ".time") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4 and parts[3] == "started":
                    untimed = True
                elif len(parts) >= 3:
                    total += float(parts[2])
                    any_line = True
    except OSError:
        pass
    return (total if any_line else math.nan), untimed


def runs_of(spec):
    """Run folders of 'study' or 'study:group'."""
    study, _, group = spec.partition(":")
    base = os.path.join(R, study)
    if not os.path.isdir(base):
        return []
    names = sorted(d for d in os.listdir(base)
                   if os.path.isfile(os.path.join(base, d, "config.json")))
    return [os.path.join(base, d) for d in names if not group or seed_group(d) == group]


def fmt(vals, digits=3):
    """mean ± sample std of the defined values; "(n of m)" when some are NaN (NC1 is undefined
    when the class means span fewer than K - 1 dimensions)."""
    n_all = len(vals)
    vals = [v for v in vals if not math.isnan(v)]
    if not vals:
        return "-"
    part = f" ({len(vals)} of {n_all})" if len(vals) < n_all else ""
    m = statistics.mean(vals)
    if len(vals) == 1:
        return f"{m:.{digits}g}{part}"
    return f"{m:.{digits}g} ± {statistics.stdev(vals):.2g}{part}"


def pct(vals, digits=2):
    vals = [100 * v for v in vals if not math.isnan(v)]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def minutes(runs):
    """min-max of the runs' wall times in minutes, "≥" when one is a lower bound."""
    vals = [r["wall_s"] / 60 for r in runs if not math.isnan(r["wall_s"])]
    if not vals:
        return "-"
    ge = "≥" if any(r["wall_lower_bound"] for r in runs) else ""
    return f"{ge}{min(vals):.0f}-{max(vals):.0f}" if len(vals) > 1 else f"{ge}{vals[0]:.0f}"


def worst_cell(runs):
    """Each seed's worst-class training accuracy (%) and class, in the seeds' order; "-" for
    a seed without its checkpoint (one "-" when no seed has one)."""
    cells = ["-" if math.isnan(r["worst_class_train_acc"])
             else f"{r['worst_class_train_acc']:.1f} ({r['worst_class']})" for r in runs]
    return " / ".join(cells) if any(c != "-" for c in cells) else "-"


def params_cell(r):
    """The parameter count, and the trainable part when layers are frozen (a fixed ETF)."""
    p, t = r["params"], r["trainable_params"]
    return f"{p:,}" if t is None or p == t else f"{p:,} ({t:,} trained)"


def summarize(study, plots):
    specs = COMPARE.get(study, [study])
    paths = [p for s in specs for p in runs_of(s)]
    if not paths:
        return False
    runs = [(p, load_run(p)) for p in paths]
    done = [(p, r) for p, r in runs if r and not r["unfinished"]]
    todo = [(p, r) for p, r in runs if r and r["unfinished"]]
    out_dir = os.path.join(R, study)
    cols = ["run", "seed", "loss", "classifier", "params", "trainable_params", "epochs"] + KEYS + [
        "nc1_init", "nc1_first", "nc1_min", "nc1_min_epoch", "nc1_last_over_min", "epoch_100pct", "wall_s", "wall_lower_bound",
        "worst_class", "worst_class_train_acc"]
    with open(os.path.join(out_dir, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for p, r in done:
            w.writerow([os.path.relpath(p, R)] + [r[c] for c in cols[1:]])
    groups = {}
    for p, r in done:
        groups.setdefault(os.path.relpath(os.path.join(os.path.dirname(p),
                                                       seed_group(r["name"])), R), []).append(r)
    lines = [f"| setting | seeds | params | NC1 init / epoch 1 | NC1 (last) | NC1 min (epoch) | last/min | etf_M | "
             f"etf_W | nc3 | nc4 | train % | worst class train % (class) | test % | 100% train from epoch | wall min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g, rs in groups.items():
        col = lambda k: [r[k] for r in rs]  # noqa: E731
        lines.append(
            f"| `{g}` | {len(rs)} | {params_cell(rs[0])} | "
            f"{fmt(col('nc1_init'))} / {fmt(col('nc1_first'))} | {fmt(col('nc1'))} | "
            f"{fmt(col('nc1_min'))} ({'/'.join(str(e) for e in col('nc1_min_epoch'))}) | "
            f"{fmt(col('nc1_last_over_min'))} | {fmt(col('etf_M'))} | {fmt(col('etf_W'))} | "
            f"{fmt(col('nc3'))} | {fmt(col('nc4'))} | {pct(col('train_acc'), 3)} | {worst_cell(rs)} | "
            f"{pct(col('test_acc'))} | {fmt(col('epoch_100pct'))} | {minutes(rs)} |")
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for p, r in todo:
        lines.append(f"(unfinished, not in summary.md: {os.path.relpath(p, R)}, epoch {r['epoch']} "
                     f"of {r['epochs']})")
    print(f"## {study}\n" + "\n".join(lines) + "\n")
    if plots and done:
        binary = os.environ.get("COLLAPSE_BIN", "build/collapse")
        cmd = [binary, "plot", "--bands"] + [p for p, _ in done] + ["--out", out_dir]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return True


RUN_COLS = ["epoch_100pct", "nc1_at_100pct", "nc1_min", "nc1_min_epoch", "nc1",
            "nc1_last_over_min", "loss_at_min", "train_loss"]


def cell(col, v):
    """An epoch as it is, a value to 4 digits; epoch_100pct NaN (never reached) as "never"."""
    if isinstance(v, int):
        return v
    return "never" if col == "epoch_100pct" and math.isnan(v) else f"{v:.4g}"


def per_run_csv(out, dirs):
    """--runs: the per-run table of the given folders (an unfinished one is an error)."""
    rows = []
    for d in dirs:
        r = load_run(d)
        if r is None or r["unfinished"]:
            print(f"tools/repro_summary.py: {d}: not a finished run (config.json and metrics.csv "
                  f"up to its last epoch)", file=sys.stderr)
            return 1
        rows.append([os.path.basename(os.path.normpath(d))] + [cell(c, r[c]) for c in RUN_COLS])
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run"] + RUN_COLS)
        w.writerows(rows)
    return 0


def main(argv):
    if argv[:1] == ["--runs"]:
        if len(argv) < 3:
            print("tools/repro_summary.py: --runs needs OUT.csv and at least one run folder",
                  file=sys.stderr)
            return 2
        return per_run_csv(argv[1], argv[2:])
    plots = "--no-plots" not in argv
    studies = [a for a in argv if not a.startswith("--")]
    if not studies:
        studies = [s for s in STUDIES if runs_of(s)]
    for s in studies:
        if s not in STUDIES:
            print(f"tools/repro_summary.py: unknown study '{s}' (one of {' '.join(STUDIES)})",
                  file=sys.stderr)
            return 2
    rc = 0
    for s in studies:
        if not summarize(s, plots):
            print(f"tools/repro_summary.py: no runs in {R}/{s}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
