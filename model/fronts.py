"""Pareto fronts over seeds: many runs' compression ladders -> one front per recipe, mean and spread.

Input: point records (model/sweep.py writes one per finished (trial, seed): the trial's ladder, see
model/ladder.py). Each recipe's rung k is averaged over its seeds (test accuracy and score: mean,
sample standard deviation, min, max); a recipe's front is its rungs that no other rung of the same
recipe beats on both accuracy and score, and the overall front those no rung of any recipe beats.
Rungs a floor undid (`accepted: false`) are not part of what the protocol delivers and are left out.
Records from different data (another file, generator or frames per block) are never averaged together:
their recipes get a data suffix.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from pathlib import Path


def data_signature(data: dict) -> str:
    """Short, stable name of the data a record's accuracies came from: kind, frames per block, and for a
    synthetic file its generator (a named calibration round where it is one, else a digest of its settings)."""
    gen = data.get("synthetic_generator")
    where = f"{data.get('kind')}, {data.get('frames_per_block')} per block"
    return f"{where}, {generator_name(gen)}" if gen else where


def generator_name(settings: dict) -> str:
    from model.synth import config

    try:
        made_with = config.SynthConfig.from_dict(settings)
    except (ValueError, TypeError):  # settings of a generator this checkout does not know
        made_with = None
    named = {"the default generator": config.DEFAULT_CONFIG, "round-3 generator": getattr(config, "ROUND3_CONFIG", None),
             "round-2 generator": getattr(config, "ROUND2_CONFIG", None)}
    for name, cfg in named.items():
        if cfg is not None and made_with is not None and made_with == cfg:
            return name
    return "generator " + hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:6]


def _spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values), "max": max(values)}


def aggregate(records: list[dict]) -> list[dict]:
    """One row per (recipe, rung): seeds, density, accuracy and score as mean / sd / min / max."""
    sigs = {data_signature(r["data"]) for r in records}
    groups: dict[tuple, list] = {}
    for rec in records:
        recipe = rec["trial"] if len(sigs) == 1 else f"{rec['trial']} [{data_signature(rec['data'])}]"
        for rung in rec["rungs"]:
            if rung["accepted"]:
                groups.setdefault((recipe, rung["level"]), []).append((rec, rung))
    rows = []
    for (recipe, level), members in sorted(groups.items()):
        rungs = [r for _, r in members]
        rows.append({
            "recipe": recipe, "level": level, "kind": rungs[0]["kind"],
            "seeds": sorted(rec["seed"] for rec, _ in members), "data": data_signature(members[0][0]["data"]),
            "protocol": members[0][0].get("protocol", {}).get("name", ""),
            "density": statistics.fmean(r["density"] for r in rungs),
            "accuracy": _spread([r["accuracy"] for r in rungs]), "score": _spread([r["score"] for r in rungs]),
            "bit_ops": statistics.fmean(r["bit_ops"] for r in rungs),
            "bit_mem": statistics.fmean(r["bit_mem"] for r in rungs),
        })
    for r in rows:
        r["recipe_front"] = not _dominated(r, [o for o in rows if o["recipe"] == r["recipe"]])
        r["overall_front"] = not _dominated(r, rows)
    return rows


def is_dominated(point: tuple[float, float], others) -> bool:
    """Whether some (accuracy, score) of `others` is at least as accurate and as cheap, and better in one
    (the Pareto rule of every front here: model/sweep.py's results table uses it too)."""
    a, s = point
    return any(oa >= a and os <= s and (oa > a or os < s) for oa, os in others)


def _dominated(r: dict, rows: list[dict]) -> bool:
    def mean(x):
        return x["accuracy"]["mean"], x["score"]["mean"]

    return is_dominated(mean(r), [mean(o) for o in rows])


def score_at_accuracy(front: list[dict], accuracy: float) -> float | None:
    """The score a recipe's front needs for `accuracy` (mean over seeds), log-linear between its rungs; None
    outside the accuracies the front spans."""
    import math

    pts = sorted((r["accuracy"]["mean"], r["score"]["mean"]) for r in front)
    for (a0, s0), (a1, s1) in zip(pts, pts[1:]):
        if a0 <= accuracy <= a1:
            t = 0.0 if a1 == a0 else (accuracy - a0) / (a1 - a0)
            return math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0)))
    return pts[0][1] if len(pts) == 1 and pts[0][0] == accuracy else None


def score_ratios(rows: list[dict], mine: str, other: str) -> list[dict]:
    """At each rung of `mine` on its front, its score over the score `other`'s front needs for the same
    accuracy (where both fronts reach it): below 1, `mine` is cheaper at equal accuracy."""
    front = {name: [r for r in rows if r["recipe"] == name and r["recipe_front"]] for name in (mine, other)}
    out = []
    for r in sorted(front[mine], key=lambda r: r["level"]):
        theirs = score_at_accuracy(front[other], r["accuracy"]["mean"])
        out.append({"level": r["level"], "accuracy": r["accuracy"]["mean"], "score": r["score"]["mean"],
                    "other_score": theirs, "ratio": None if theirs is None else r["score"]["mean"] / theirs})
    return out


def _pm(spread: dict, digits: int) -> str:
    mean = f"{spread['mean']:.{digits}f}"
    return mean if spread["sd"] is None else f"{mean} ± {spread['sd']:.{digits}f}"


def format_fronts_table(rows: list[dict]) -> str:
    """Markdown: one line per recipe and rung, mean ± sample sd over its seeds."""
    if not rows:
        return "No point recorded yet (or none measured with this spec's recipes, protocol and data).\n"
    head = ("| recipe | rung | seeds | weight density | test accuracy (mean ± sd) | score (mean ± sd) | bit ops "
            "| bit mem | recipe front | overall front |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {r['level']} ({r['kind']}) | {len(r['seeds'])} | {r['density']:.3f} | "
            f"{_pm(r['accuracy'], 4)} | {_pm(r['score'], 6)} | {r['bit_ops']:.0f} | {r['bit_mem']:.0f} | "
            f"{'yes' if r['recipe_front'] else ''} | {'yes' if r['overall_front'] else ''} |")
    data = sorted({r["data"] for r in rows})
    protocols = sorted({r["protocol"] for r in rows})
    lines.append("")
    lines.append(f"Test accuracy on {'; '.join(data)} data; protocol {', '.join(protocols) or '(none)'}; "
                 "sd is the sample standard deviation over the seeds listed (none for one seed).")
    recipes = sorted({r["recipe"] for r in rows})
    for mine in recipes:  # every recipe against every other
        for other in (o for o in recipes if o != mine):
            lines += ["", f"`{mine}` against `{other}` at equal accuracy (means over seeds; `{other}`'s front "
                      "interpolated log-linearly between its rungs; - where its front does not reach that accuracy):",
                      "", f"| {mine} rung | accuracy | score | {other}'s score there | ratio |", "|---|---|---|---|---|"]
            for q in score_ratios(rows, mine, other):
                there = "-" if q["other_score"] is None else f"{q['other_score']:.6f}"
                ratio = "-" if q["ratio"] is None else f"{q['ratio']:.3f}"
                lines.append(f"| {q['level']} | {q['accuracy']:.4f} | {q['score']:.6f} | {there} | {ratio} |")
    return "\n".join(lines) + "\n"


def _n_seeds(rows: list[dict]) -> str:
    n = max(len(r["seeds"]) for r in rows)
    return f"{n} seed{'s' if n != 1 else ''}"


def _minor_log_label(value: float, _pos=None) -> str:
    """2, 3 and 5 times a power of ten labelled, the other minor ticks not: labelled, they run together."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (2, 3, 5)) else ""


def plot_fronts(rows: list[dict], records: list[dict], path: Path, title: str) -> None:
    """Score (log) against test accuracy: each recipe's rungs as mean points joined in ladder order, error
    bars one sd over seeds, every seed's own rung as a faint dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    recipes = sorted({r["recipe"] for r in rows})
    for i, recipe in enumerate(recipes):
        mine = sorted((r for r in rows if r["recipe"] == recipe), key=lambda r: r["level"])
        colour = f"C{i}"
        ax.errorbar([r["score"]["mean"] for r in mine], [r["accuracy"]["mean"] for r in mine],
                    xerr=[r["score"]["sd"] or 0 for r in mine], yerr=[r["accuracy"]["sd"] or 0 for r in mine],
                    fmt="o-", color=colour, capsize=3, label=f"{recipe} ({_n_seeds(mine)})")
        for r in mine:
            ax.annotate(str(r["level"]), (r["score"]["mean"], r["accuracy"]["mean"]), fontsize=7,
                        xytext=(4, -9), textcoords="offset points", color=colour)
        seeds = [(g["score"], g["accuracy"]) for rec in records if rows and rec["trial"] == recipe.split(" [")[0]
                 for g in rec["rungs"] if g["accepted"]]
        if seeds:
            ax.scatter(*zip(*seeds), s=9, color=colour, alpha=0.35, linewidths=0)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(_minor_log_label))
    ax.tick_params(axis="x", which="both", labelsize=7, length=3.5)
    data = "; ".join(sorted({r["data"] for r in rows}))
    ax.set(xlabel="inference-cost score (log; lower is better); numbers: compression rung",
           ylabel="test accuracy", title=f"{title}\n{data}")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside lower center", ncols=max(1, len(recipes)), fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
