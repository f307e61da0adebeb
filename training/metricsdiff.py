"""Print a model card's test figures beside the previous release's, as `make metrics-diff MODEL=...` shows them.

Usage: metricsdiff.py MODEL_DIR/model.yaml

Reads only the card (evaluate.py put both models' figures there, scored on the same test list, with the paired
bootstrap interval of each difference): no scoring, no test access.
"""

import sys

import yaml

ORDER = ("accuracy", "macro_f1", "auc", "sensitivity", "specificity", "precision", "ece", "subtype_macro_f1")


def fmt(v, nd=4):
    return "-" if v is None else f"{v:.{nd}f}"


def interval(iv):
    return "-" if not iv or iv[0] is None else f"[{iv[0]:.4f}, {iv[1]:.4f}]"


def table(card):
    """Return the comparison as a list of text lines."""
    ev = card["evaluation"]
    prev = ev.get("previous")
    ivs = ev.get("intervals", {})
    lines = [f"{card['id']} {card['version']} on {ev['files']} (n = {ev['n']})"
             + (f" vs {prev['version']} (sha256 {prev['sha256'][:12]})" if prev else ": no previous release scored")]
    head = f"{'figure':<18} {'previous':>9} {'new':>9} {'new 95% CI':>18} {'difference':>10} {'diff 95% CI':>19}  prev in new CI"
    lines += [head, "-" * len(head)]
    new_vals = dict(ev)
    if "subtype" in ev:
        new_vals["subtype_macro_f1"] = ev["subtype"]["macro_f1"]
    for k in ORDER:
        if k not in new_vals or not isinstance(new_vals[k], (int, float)):
            continue
        pv = prev["figures"].get(k) if prev else None
        d = prev["difference"].get(k) if prev else None
        di = prev["difference_interval"].get(k) if prev else None
        inside = prev["inside_new_interval"].get(k) if prev else None
        lines.append(f"{k:<18} {fmt(pv):>9} {fmt(new_vals[k]):>9} {interval(ivs.get(k)):>18} "
                     f"{('-' if d is None else f'{d:+.4f}'):>10} {interval(di):>19}  "
                     f"{'-' if inside is None else ('yes' if inside else 'no')}")
    at = ev.get("at_seed_recall")
    if at:
        pat = (prev or {}).get("at_seed_recall", {})
        lines.append(f"at the seed's recall {at['recall']} (threshold read off test): accuracy {fmt(at['accuracy'])} "
                     f"(previous {fmt(pat.get('accuracy'))}, seed {at['seed'].get('accuracy')}), precision "
                     f"{fmt(at['precision'])} (previous {fmt(pat.get('precision'))}, seed {at['seed'].get('precision')}); "
                     f"floor met: {'yes' if at['floor_met'] else 'no'}")
    rb = ev.get("robustness")
    if rb:
        prb = (prev or {}).get("robustness_test")
        lines.append(f"robustness (accuracy points lost on perturbed copies): test {rb['test']['mean_points_lost']} "
                     f"(worst {rb['test']['worst']} {rb['test']['points_lost'][rb['test']['worst']]}), valid "
                     f"{rb['valid']['mean_points_lost']}"
                     + (f"; previous on test {prb['mean_points_lost']} (worst {prb['worst']} "
                        f"{prb['points_lost'][prb['worst']]})" if prb else ""))
    cv = ev.get("cross_validation")
    if cv:
        oof = cv["out_of_fold"]
        lines.append(f"grouped {cv['folds']}-fold CV over train+valid ({cv['folds_done']} folds done): "
                     + ", ".join(f"{k} {fmt(v)}" for k, v in oof.items() if isinstance(v, float)))
    return lines


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: metricsdiff.py MODEL_DIR/model.yaml", file=sys.stderr)
        return 2
    try:
        with open(argv[0]) as f:
            card = yaml.safe_load(f)
    except OSError as e:
        print(f"metrics-diff: cannot read the card: {e}", file=sys.stderr)
        return 1
    if "intervals" not in card.get("evaluation", {}):
        print(f"metrics-diff: {argv[0]} has no intervals: re-score it with `make evaluate`", file=sys.stderr)
        return 1
    print("\n".join(table(card)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
