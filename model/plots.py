"""PNG plots of a run's metrics: what people look at instead of reading metrics.json."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_accuracy_vs_snr(metrics: dict, path: Path, title: str) -> None:
    snrs = metrics["snrs_db"]
    acc = [metrics["accuracy_per_snr"][str(s)] for s in snrs]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(snrs, [np.nan if a is None else a for a in acc], "o-", label=f"overall {metrics['accuracy']:.3f}")
    ax.axhline(1 / len(metrics["classes"]), color="grey", ls=":", lw=1, label="chance")
    ax.set(xlabel="SNR (dB)", ylabel="test accuracy", ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusions(metrics: dict, path: Path, title: str) -> None:
    classes = metrics["classes"]
    fig, axes = plt.subplots(1, 2, figsize=(16, 7.5))
    for ax, key, sub in ((axes[0], "confusion", "all SNRs"),
                         (axes[1], "confusion_high_snr", f"SNR >= {metrics['high_snr_db']} dB")):
        counts = np.asarray(metrics[key], dtype=float)
        norm = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set(xlabel="predicted", ylabel="true", title=f"{title}: {sub}")
    fig.colorbar(im, ax=axes, fraction=0.02)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_class_snr(metrics: dict, path: Path, title: str) -> None:
    grid = np.array([[np.nan if a is None else a for a in row] for row in metrics["accuracy_per_class_snr"]])
    fig, ax = plt.subplots(figsize=(10, 7))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(metrics["snrs_db"])), metrics["snrs_db"], fontsize=7)
    ax.set_yticks(range(len(metrics["classes"])), metrics["classes"], fontsize=7)
    ax.set(xlabel="SNR (dB)", title=f"{title}: accuracy per class and SNR")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_metric_plots(metrics: dict, plots_dir: Path, title: str) -> list[Path]:
    plots_dir.mkdir(parents=True, exist_ok=True)
    paths = [plots_dir / "accuracy_vs_snr.png", plots_dir / "confusion.png", plots_dir / "accuracy_class_snr.png"]
    plot_accuracy_vs_snr(metrics, paths[0], title)
    plot_confusions(metrics, paths[1], title)
    plot_class_snr(metrics, paths[2], title)
    return paths
