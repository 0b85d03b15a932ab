"""Accuracy overall, per SNR, per class, and confusion matrices, from predictions on the test split."""

from __future__ import annotations

import numpy as np

from model.radioml import CLASSES, N_CLASSES, SNRS_DB

CHALLENGE_MIN_ACCURACY = 0.56
HIGH_SNR_DB = 10  # "high SNR" for the confusion matrix people look at first


TIE_RTOL = 1e-5  # logits this close (relative to the row's largest magnitude) are a tie


def top1(logits: np.ndarray, rtol: float = TIE_RTOL) -> np.ndarray:
    """Predicted class per row, ties to the lowest class index.

    A quantized classifier's logits are integers times one scale, so two classes often tie exactly; float
    rounding in PyTorch then breaks the tie at random, while the accelerator's integer argmax takes the
    first. Treating logits within `rtol` (far below one quantization step, far above float error) as tied
    gives software and hardware the same rule. driver/frontend.py applies the same one on the board.
    """
    logits = np.asarray(logits, dtype=np.float64)
    best = logits.max(axis=1, keepdims=True)
    tol = rtol * np.maximum(1.0, np.abs(logits).max(axis=1, keepdims=True))
    return (logits >= best - tol).argmax(axis=1)


def confusion(labels: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    return np.bincount(labels * N_CLASSES + preds, minlength=N_CLASSES * N_CLASSES).reshape(N_CLASSES, N_CLASSES)


def _rate(correct: np.ndarray) -> float | None:
    return float(correct.mean()) if correct.size else None


def compute_metrics(preds: np.ndarray, labels: np.ndarray, snr_db: np.ndarray, top_k_confusions: int = 10) -> dict:
    preds, labels, snr_db = (np.asarray(a).astype(np.int64) for a in (preds, labels, snr_db))
    correct = preds == labels
    per_class_snr = [[_rate(correct[(labels == c) & (snr_db == s)]) for s in SNRS_DB] for c in range(N_CLASSES)]
    high = snr_db >= HIGH_SNR_DB
    conf_high = confusion(labels[high], preds[high])
    off = conf_high.astype(float)
    np.fill_diagonal(off, 0)
    row_tot = conf_high.sum(axis=1, keepdims=True).clip(min=1)
    rates = off / row_tot
    top = np.dstack(np.unravel_index(np.argsort(-rates, axis=None), rates.shape))[0][:top_k_confusions]
    overall = _rate(correct)
    return {
        "n_frames": int(len(labels)),
        "accuracy": overall,
        "meets_challenge_minimum": bool(overall is not None and overall >= CHALLENGE_MIN_ACCURACY),
        "challenge_minimum": CHALLENGE_MIN_ACCURACY,
        "accuracy_per_snr": {str(s): _rate(correct[snr_db == s]) for s in SNRS_DB},
        "accuracy_per_class": {name: _rate(correct[labels == c]) for c, name in enumerate(CLASSES)},
        "accuracy_per_class_snr": per_class_snr,
        "high_snr_db": HIGH_SNR_DB,
        "accuracy_high_snr": _rate(correct[high]),
        "top_confusions_high_snr": [
            {"true": CLASSES[t], "predicted": CLASSES[p], "rate": float(rates[t, p])} for t, p in top if rates[t, p] > 0
        ],
        "classes": list(CLASSES),
        "snrs_db": list(SNRS_DB),
        "confusion": confusion(labels, preds).tolist(),
        "confusion_high_snr": conf_high.tolist(),
    }


def summary_line(m: dict, data_kind: str) -> str:
    snr = m["accuracy_per_snr"]
    pick = ", ".join(f"{s:+d} dB {snr[str(s)]:.3f}" for s in (-10, 0, 10, 30) if snr.get(str(s)) is not None)
    return (f"test accuracy {m['accuracy']:.4f} on {m['n_frames']} frames of {data_kind} data ({pick}); "
            f"{'meets' if m['meets_challenge_minimum'] else 'below'} the challenge's {m['challenge_minimum']:.0%}")
