"""Classification metrics in plain numpy: softmax, ROC/AUC, confusion matrix, F1, ECE, temperature, threshold.

Conventions: y holds class indices, p holds per-class probabilities (rows sum to 1), the confusion matrix has truth
in rows and prediction in columns, and every function raises ValueError on inputs it cannot score.
"""

import numpy as np


# NumPy 2 renamed trapz to trapezoid (and later removed trapz); the GPU machine has NumPy 2, this one 1.24.
_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


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
    return float(_trapezoid(tpr, fpr))


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


def fit_platt(y_true, logits, positive, iters=100):
    """Return (a, b) minimising the NLL of p(positive) = sigmoid(a d + b), d = z_positive - z_other (Newton).

    Platt scaling of a binary model: a rescales the margin like 1/temperature, b moves the decision point.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError("Platt scaling needs two-class logits")
    d = z[:, positive] - z[:, 1 - positive]
    t = (np.asarray(y_true) == positive).astype(np.float64)
    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(a * d + b)))
        g = np.array([np.sum((p - t) * d), np.sum(p - t)])
        w = p * (1 - p) + 1e-12
        hess = np.array([[np.sum(w * d * d), np.sum(w * d)], [np.sum(w * d), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def calibrated_logits(logits, cal, positive=None):
    """Apply a calibration record to logits, returning logits whose plain softmax is the calibrated probability.

    cal is {"method": "temperature", "temperature": T} (logits / T) or {"method": "platt", "a": a, "b": b} (binary:
    logits * a, plus b/2 on the positive class and -b/2 on the other, so the margin becomes a d + b).
    """
    z = np.asarray(logits, dtype=np.float64)
    if cal["method"] == "temperature":
        return z / float(cal["temperature"])
    if cal["method"] == "platt":
        out = z * float(cal["a"])
        shift = np.zeros(z.shape[1])
        shift[positive] = cal["b"] / 2.0
        shift[1 - positive] = -cal["b"] / 2.0
        return out + shift
    raise ValueError(f"unknown calibration method {cal['method']!r}")


def fit_calibration(y_true, logits, method, positive=None):
    """Fit one calibration method on (valid) logits and return its record."""
    if method == "temperature":
        return {"method": "temperature", "temperature": fit_temperature(y_true, logits)}
    if method == "platt":
        a, b = fit_platt(y_true, logits, positive)
        return {"method": "platt", "a": a, "b": b}
    raise ValueError(f"unknown calibration method {method!r}")


def choose_calibration(y_true, logits, methods, positive=None, folds=5, seed=0):
    """Choose among calibration methods by cross-validated NLL on the given (valid) set, then refit the winner.

    Each method is fitted on k-1 folds and scored on the held-out fold (so Platt's extra parameter earns its
    place only if it helps unseen images). Returns (record, {method: cross-validated NLL}).
    """
    y = np.asarray(y_true)
    z = np.asarray(logits, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(y))
    parts = np.array_split(order, min(folds, len(y)))
    scores = {}
    for m in methods:
        tot = 0.0
        for k in range(len(parts)):
            test = parts[k]
            fit = np.concatenate([parts[j] for j in range(len(parts)) if j != k])
            cal = fit_calibration(y[fit], z[fit], m, positive)
            tot += nll(y[test], calibrated_logits(z[test], cal, positive)) * len(test)
        scores[m] = tot / len(y)
    best = min(scores, key=scores.get)
    return fit_calibration(y, z, best, positive), scores


def decision_ece(y_true, prob, decision, bins=10):
    """Return (ECE, reliability table) for the decision the application makes and the confidence it shows.

    The application shows the probability of its decided class (for a binary model decided by a threshold that may
    be below one half, so the shown confidence can be under 0.5). decision holds the decided class per image. The
    table lists per equal-width confidence bin: lower edge, upper edge, count, mean confidence, accuracy.
    """
    prob = np.asarray(prob, dtype=np.float64)
    y = np.asarray(y_true)
    dec = np.asarray(decision)
    if len(y) == 0:
        raise ValueError("ece needs at least one example")
    conf = prob[np.arange(len(y)), dec]
    correct = (dec == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    table, total = [], 0.0
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        m = (conf > lo) & (conf <= hi) if b > 0 else (conf >= lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
            table.append([float(lo), float(hi), int(m.sum()), float(conf[m].mean()), float(correct[m].mean())])
        else:
            table.append([float(lo), float(hi), 0, None, None])
    return float(total), table


def decide(prob, positive=None, threshold=None):
    """Return the decided class per row: the threshold rule for binary models, else the arg-max."""
    prob = np.asarray(prob, dtype=np.float64)
    if positive is not None and threshold is not None:
        return np.where(prob[:, positive] >= threshold, positive, 1 - positive)
    return prob.argmax(axis=1)


def threshold_at_recall(y_true, score, recall):
    """Return (threshold, figures) of the highest threshold whose sensitivity is at least recall.

    Descriptive only (it reads the threshold off the labelled set it is computed on): used to compare with the
    seed model at its published recall. figures = accuracy, sensitivity, specificity, precision at that threshold.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    t = max_threshold_with_sensitivity(y, s, recall)
    pred = s >= t
    tp, fp = int(np.sum(pred & y)), int(np.sum(pred & ~y))
    tn, fn = int(np.sum(~pred & ~y)), int(np.sum(~pred & y))
    return t, {"accuracy": (tp + tn) / len(y), "sensitivity": tp / max(tp + fn, 1),
               "specificity": tn / max(tn + fp, 1), "precision": tp / max(tp + fp, 1)}


def subtype_macro_f1(y_true, pred, subtypes):
    """Macro-F1 over the given classes, scored on the images whose truth is one of them.

    A prediction outside the subtypes (e.g. "normal" for a cancer slice) counts as a miss for the true class and as
    a false positive for none of them.
    """
    y = np.asarray(y_true)
    p = np.asarray(pred)
    m = np.isin(y, subtypes)
    y, p = y[m], p[m]
    f1s = []
    for c in subtypes:
        tp = np.sum((p == c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        fn = np.sum((p != c) & (y == c))
        f1s.append(2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0)
    return float(np.mean(f1s))
