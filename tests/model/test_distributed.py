"""Data-parallel training under torchrun: two CPU processes (Gloo) train, compress and hand over to rank 0."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from amc_cli.paths import REPO_ROOT
from model.train import load_checkpoint


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None,
                    reason="torchrun not installed beside this python")
def test_two_processes_train_compress_and_rank0_finishes_the_run(toy_h5, tmp_path):
    recipe = {
        "name": "ddp",
        "data": {"path": str(toy_h5), "synthetic_frames_per_block": None, "cache_dir": str(tmp_path / "cache")},
        "net": {"name": "compact", "args": {"channels": [8, 16, 16, 16], "dense": 32}},
        "train": {"epochs": 2, "batch_size": 128, "scheduler": "cosine", "threads": 1, "max_frames_per_epoch": 512},
        "compress": {"stages": [{"kind": "magnitude", "fraction": 0.3, "finetune": {"epochs": 1}}]},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "model.pipeline", str(path),
         "--run-dir", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 2
    steps = json.loads((run / "compress.json").read_text())["steps"]
    assert len(steps) == 1 and steps[0]["accepted"]
    assert (run / "model.onnx").exists() and json.loads((run / "cost.json").read_text())["total_bops"] > 0
