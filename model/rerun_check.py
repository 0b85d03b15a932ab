"""Are two runs of the same recipe and seed identical? Compare two run folders (or two sweep point records).

Run folders: test accuracy (overall and per SNR), cost (bit ops, bit mem, score), the final checkpoint's
tensors bit for bit, the compression ladder if both have one, and the environment each recorded (torch
version, threads, CPU capability: what a CPU run's exact figures depend on, model/train.py).
Records (sweeps/results/<name>/*.json): every rung's accuracy and score.

    python -m model.pipeline model/recipes/demo.yaml --run /tmp/demo_a     # twice, same seed
    python -m model.pipeline model/recipes/demo.yaml --run /tmp/demo_b
    python -m model.rerun_check /tmp/demo_a /tmp/demo_b [--json]

Exit status 0 identical, 1 different (the differences are printed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from amc_cli import command


def _load(path: Path, name: str):
    p = path / name
    return json.loads(p.read_text()) if p.exists() else None


def compare_runs(a: Path, b: Path) -> dict:
    import torch

    from model.train import read_torch_file

    out = {"differences": []}
    diff = out["differences"]
    ma, mb = _load(a, "metrics.json"), _load(b, "metrics.json")
    if ma is None or mb is None:
        raise FileNotFoundError(f"{a if ma is None else b}: no metrics.json; finish the run (model.pipeline) first")
    out["accuracy"] = [ma["accuracy"], mb["accuracy"]]
    out["environment"] = [ma.get("environment"), mb.get("environment")]
    if ma["accuracy"] != mb["accuracy"]:
        diff.append(f"test accuracy {ma['accuracy']:.6f} vs {mb['accuracy']:.6f}")
    snr = [s for s in ma["accuracy_per_snr"] if ma["accuracy_per_snr"][s] != mb["accuracy_per_snr"].get(s)]
    if snr:
        diff.append(f"accuracy differs at {len(snr)} SNR(s): {', '.join(snr)} dB")
    ca, cb = _load(a, "cost.json"), _load(b, "cost.json")
    if ca and cb:
        out["score"] = [ca["score"], cb["score"]]
        for key in ("total_bops", "total_mem_w_bits", "score"):
            if ca[key] != cb[key]:
                diff.append(f"{key} {ca[key]} vs {cb[key]}")
    fa, fb = (p / "checkpoints" / "final.pt" for p in (a, b))
    if fa.exists() and fb.exists():
        sa, sb = (read_torch_file(f)["model"] for f in (fa, fb))
        changed = [k for k in sa if k not in sb or not torch.equal(sa[k], sb[k])]
        out["tensors"] = len(sa)
        out["tensors_differing"] = len(changed)
        if changed:
            worst = max((sa[k].float() - sb[k].float()).abs().max().item() for k in changed
                        if k in sb and sa[k].shape == sb[k].shape)
            diff.append(f"{len(changed)} of {len(sa)} final tensors differ (max |diff| {worst:.3g})")
    la, lb = _load(a, "ladder.json"), _load(b, "ladder.json")
    if la and lb:
        diff += compare_rungs(la["rungs"], lb["rungs"])
    return out


def compare_rungs(ra: list[dict], rb: list[dict]) -> list[str]:
    if len(ra) != len(rb):
        return [f"ladders of {len(ra)} and {len(rb)} rungs"]
    return [f"rung {x['level']}: accuracy {x['accuracy']:.6f} vs {y['accuracy']:.6f}, score {x['score']:.6f} vs "
            f"{y['score']:.6f}" for x, y in zip(ra, rb) if (x["accuracy"], x["score"]) != (y["accuracy"], y["score"])]


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compare two runs (or two sweep point records) of one recipe and seed.")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    a, b = Path(args.a), Path(args.b)
    try:
        if a.is_file() and b.is_file():
            ra, rb = (json.loads(p.read_text()) for p in (a, b))
            out = {"differences": compare_rungs(ra["rungs"], rb["rungs"]),
                   "environment": [ra.get("environment"), rb.get("environment")]}
        elif a.is_dir() and b.is_dir():
            out = compare_runs(a, b)
        else:
            raise FileNotFoundError(f"{a}, {b}: give two run folders or two record files")
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        env = out["environment"][0] or {}
        print(f"environment: torch {env.get('torch')}, {env.get('threads')} thread(s), "
              f"{env.get('cpu_capability')}, {env.get('processor')}"
              + ("" if out["environment"][0] == out["environment"][1] else " (the two runs' environments differ)"))
        print("identical" if not out["differences"] else "different:\n  " + "\n  ".join(out["differences"]))
    return 1 if out["differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
