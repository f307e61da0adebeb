"""Classification metrics in plain numpy: softmax, ROC/AUC, confusion matrix, F1, ECE, temperature, threshold.

Conventions: y holds class indices, p holds per-class probabilities (rows sum to 1), the confusion matrix has truth
in rows and prediction in columns, and every function raises ValueError on inputs it cannot score.
"""

import numpy as np


def softmax(logits, temperature=1.0):
    """Return softmax(logits / temperature) row-wise, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def roc_curve(y_true, score):
    """Return (fpr, tpr, thresholds) for binary labels (1 = positive), thresholds descending, ties grouped."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    if y.sum() == 0 or (~y).sum() == 0:
        raise ValueError("roc needs both positive and negative examples")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = np.cumsum(~y)[distinct]
    tpr = np.r_[0.0, tps / y.sum()]
    fpr = np.r_[0.0, fps / (~y).sum()]
    return fpr, tpr, np.r_[np.inf, s[distinct]]


def auc(y_true, score):
    """Return the ROC AUC (trapezoidal, ties count one half) of binary labels against a score."""
    fpr, tpr, _ = roc_curve(y_true, score)
    return float(np.trapz(tpr, fpr))


def confusion(y_true, y_pred, k):
    """Return the k x k confusion matrix (rows = truth, columns = prediction)."""
    m = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(np.asarray(y_true), np.asarray(y_pred)):
        m[int(t), int(p)] += 1
    return m


def per_class(cm):
    """Return per-class (sensitivity, specificity, precision, f1) arrays from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        spec = np.where(tn + fp > 0, tn / (tn + fp), 0.0)
        prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        f1 = np.where(prec + sens > 0, 2 * prec * sens / (prec + sens), 0.0)
    return sens, spec, prec, f1


def ece(y_true, prob, bins=15):
    """Return the expected calibration error of the top-class confidence over equal-width bins."""
    prob = np.asarray(prob, dtype=np.float64)
    y = np.asarray(y_true)
    if len(y) == 0:
        raise ValueError("ece needs at least one example")
    conf = prob.max(axis=1)
    correct = (prob.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        m = (conf > lo) & (conf <= hi) if b > 0 else (conf >= lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def nll(y_true, logits, temperature=1.0):
    """Return the mean negative log-likelihood of the labels under softmax(logits / temperature)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(z)), np.asarray(y_true)].mean())


def fit_temperature(y_true, logits):
    """Return the temperature in [0.05, 20] minimising the NLL (log grid, then a finer grid around the best)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    best = min(grid, key=lambda t: nll(y_true, logits, t))
    fine = np.linspace(best * 0.97, best * 1.03, 61)
    return float(min(fine, key=lambda t: nll(y_true, logits, t)))


def max_threshold_with_sensitivity(y_true, score, min_sensitivity):
    """Return the highest threshold t such that predicting positive when score >= t keeps the sensitivity."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    pos = np.sort(s[y])[::-1]
    if len(pos) == 0:
        raise ValueError("threshold needs positive examples")
    need = int(np.ceil(min_sensitivity * len(pos) - 1e-9))
    need = min(max(need, 1), len(pos))
    return float(pos[need - 1])


def summary(y_true, prob, class_ids, positive=None, threshold=None):
    """Return the card's figures for probabilities prob (after temperature) and labels y_true."""
    y = np.asarray(y_true)
    prob = np.asarray(prob, dtype=np.float64)
    k = len(class_ids)
    if positive is not None and threshold is not None:
        pred = np.where(prob[:, positive] >= threshold, positive, 1 - positive)
    else:
        pred = prob.argmax(axis=1)
    cm = confusion(y, pred, k)
    sens, spec, _, f1 = per_class(cm)
    aucs = []
    for c in range(k):
        try:
            aucs.append(auc(y == c, prob[:, c]))
        except ValueError:
            aucs.append(float("nan"))
    out = {
        "n": int(len(y)),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "ece": ece(y, prob),
        "per_class": {cid: {"sensitivity": float(sens[c]), "specificity": float(spec[c]), "auc": float(aucs[c])}
                      for c, cid in enumerate(class_ids)},
        "confusion": cm.tolist(),
    }
    if positive is not None:
        out["auc"] = float(aucs[positive])
        out["sensitivity"] = float(sens[positive])
        out["specificity"] = float(spec[positive])
    else:
        out["auc"] = float(np.nanmean(aucs))
        out["sensitivity"] = float(sens.mean())
        out["specificity"] = float(spec.mean())
    return out
