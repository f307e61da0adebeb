"""Run tracking in MLflow's file-store layout, written and read by hand (MLflow itself is not installable here).

<store>/<experiment-id>/meta.yaml, <store>/<experiment-id>/<run-id>/{meta.yaml, params/<key>, metrics/<key>
("<ms-timestamp> <value> <step>" lines), tags/<key>, artifacts/...}.

Two stores: training/mlruns/ (git-ignored) takes every run as it happens; training/runs/ (committed) keeps a compact
record of each released run, copied there by record() when evaluate.py writes a model card: params, per-epoch and
final metrics, tags and the small artefacts (train.json, the card), no checkpoints. Artefact locations in meta.yaml
are paths relative to the repository root (MLflow resolves a relative location against the directory it is started
in), so `mlflow ui --backend-store-uri training/runs`, started in the repository root, finds them on any machine.
read_store() reads either store back; the tests use it to check the layout.
"""

import hashlib
import os
import shutil
import subprocess
import time
import uuid
import zlib

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RECORD_MAX_ARTIFACT_BYTES = 512 * 1024


def _now_ms():
    return int(time.time() * 1000)


def git_commit(repo_dir):
    """Return the HEAD commit of repo_dir, $TUMORTRACER_RECIPE_COMMIT outside a git checkout, else "unknown"."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("TUMORTRACER_RECIPE_COMMIT", "unknown")


def recipe_digest(folder=HERE):
    """Return the SHA-256 over the recipe's source: every training/*.py and params.yaml, sorted by name.

    It identifies the code a run used even where no git checkout travels (the GPU machine gets a plain copy).
    """
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py") or name == "params.yaml":
            h.update(name.encode() + b"\0")
            with open(os.path.join(folder, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def flatten(d, prefix=""):
    """Flatten nested dicts into {"a.b": value}; lists become their YAML flow text."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if not isinstance(v, list) else yaml.safe_dump(v, default_flow_style=True).strip()
    return out


def experiment_id(name):
    """The experiment id of an experiment name: stable across machines, so stores can be merged."""
    return str(zlib.crc32(name.encode()) % 10**9)


def relative_location(path, base=REPO):
    """A store path as MLflow's meta.yaml should hold it here: relative to base (the repository root)."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(base))


def _write_experiment_meta(exp_dir, exp_id, name, base):
    meta = os.path.join(exp_dir, "meta.yaml")
    if not os.path.exists(meta):
        with open(meta, "w") as f:
            yaml.safe_dump({"artifact_location": relative_location(exp_dir, base), "experiment_id": exp_id,
                            "lifecycle_stage": "active", "name": name,
                            "creation_time": _now_ms(), "last_update_time": _now_ms()}, f)


class Run:
    """One MLflow run in the file store: params, metrics per step, tags and artefacts.

    base is the folder the artefact locations are relative to (default: the repository root; a store outside the
    repository uses its own parent).
    """

    def __init__(self, root, experiment, run_name, source_commit, base=None):
        self.root = os.path.abspath(root)
        if base is None:
            base = REPO if not os.path.relpath(self.root, REPO).startswith("..") else os.path.dirname(self.root)
        exp_id = experiment_id(experiment)
        exp_dir = os.path.join(self.root, exp_id)
        os.makedirs(exp_dir, exist_ok=True)
        _write_experiment_meta(exp_dir, exp_id, experiment, base)
        self.run_id = uuid.uuid4().hex
        self.dir = os.path.join(exp_dir, self.run_id)
        for sub in ("params", "metrics", "tags", "artifacts"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.meta = {"artifact_uri": relative_location(os.path.join(self.dir, "artifacts"), base), "end_time": None,
                     "entry_point_name": "", "experiment_id": exp_id, "lifecycle_stage": "active",
                     "run_id": self.run_id, "run_name": run_name, "run_uuid": self.run_id, "source_name": "",
                     "source_type": 4, "source_version": source_commit, "start_time": _now_ms(),
                     "status": 1, "tags": [], "user_id": os.environ.get("USER", "root")}
        self._write_meta()
        self.set_tag("mlflow.runName", run_name)
        self.set_tag("mlflow.source.git.commit", source_commit)

    def _write_meta(self):
        with open(os.path.join(self.dir, "meta.yaml"), "w") as f:
            yaml.safe_dump(self.meta, f)

    def set_tag(self, key, value):
        """Write one tag."""
        with open(os.path.join(self.dir, "tags", key), "w") as f:
            f.write(str(value))

    def log_params(self, params):
        """Write every (flattened) param as params/<key>."""
        for k, v in flatten(params).items():
            with open(os.path.join(self.dir, "params", k.replace("/", "_")), "w") as f:
                f.write(str(v))

    def log_metric(self, key, value, step=0):
        """Append one "<ms-timestamp> <value> <step>" line to metrics/<key>."""
        with open(os.path.join(self.dir, "metrics", key.replace("/", "_")), "a") as f:
            f.write(f"{_now_ms()} {float(value)} {int(step)}\n")

    def log_artifact(self, path):
        """Copy a file into artifacts/."""
        shutil.copy(path, os.path.join(self.dir, "artifacts", os.path.basename(path)))

    def end(self, ok=True):
        """Mark the run FINISHED (3) or FAILED (4)."""
        self.meta["status"] = 3 if ok else 4
        self.meta["end_time"] = _now_ms()
        self._write_meta()


def find_run(root, run_id):
    """Return the folder of run_id in a store, or None."""
    if not os.path.isdir(root):
        return None
    for exp in os.listdir(root):
        d = os.path.join(root, exp, run_id)
        if os.path.isfile(os.path.join(d, "meta.yaml")):
            return d
    return None


def record(run_dir, dest_root, experiment, base=REPO, replace_tag=None):
    """Copy one run into the committed record store, compactly, with locations relative to base.

    Artefacts over RECORD_MAX_ARTIFACT_BYTES are left out (checkpoints never belong in git). replace_tag=(key,
    value) first removes earlier runs of the experiment carrying that tag, so re-scoring a release replaces its
    evaluate record instead of piling up. Returns the recorded run's folder.
    """
    with open(os.path.join(run_dir, "meta.yaml")) as f:
        meta = yaml.safe_load(f)
    exp_id = experiment_id(experiment)
    exp_dir = os.path.join(dest_root, exp_id)
    os.makedirs(exp_dir, exist_ok=True)
    _write_experiment_meta(exp_dir, exp_id, experiment, base)
    if replace_tag is not None:
        for other in os.listdir(exp_dir):
            tag = os.path.join(exp_dir, other, "tags", replace_tag[0])
            if other == meta["run_id"] or not os.path.isfile(tag):
                continue
            with open(tag) as f:
                stale = f.read() == replace_tag[1]
            if stale:
                shutil.rmtree(os.path.join(exp_dir, other))
    dest = os.path.join(exp_dir, meta["run_id"])
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    for sub in ("params", "metrics", "tags"):
        shutil.copytree(os.path.join(run_dir, sub), os.path.join(dest, sub))
    os.makedirs(os.path.join(dest, "artifacts"))
    for name in sorted(os.listdir(os.path.join(run_dir, "artifacts"))):
        src = os.path.join(run_dir, "artifacts", name)
        if os.path.isfile(src) and os.path.getsize(src) <= RECORD_MAX_ARTIFACT_BYTES:
            shutil.copy(src, os.path.join(dest, "artifacts", name))
    meta["experiment_id"] = exp_id
    meta["artifact_uri"] = relative_location(os.path.join(dest, "artifacts"), base)
    with open(os.path.join(dest, "meta.yaml"), "w") as f:
        yaml.safe_dump(meta, f)
    return dest


def read_store(root, base=REPO):
    """Read a file store back: {experiment name: {run id: {"meta", "params", "metrics", "tags", "artifacts"}}}.

    metrics maps a key to its [(timestamp, value, step)] lines; artifacts lists the files found where the run's
    artifact_uri points (resolved against base when relative). Raises ValueError on a malformed store.
    """
    out = {}
    for exp in sorted(os.listdir(root)):
        exp_dir = os.path.join(root, exp)
        if not os.path.isfile(os.path.join(exp_dir, "meta.yaml")):
            continue
        with open(os.path.join(exp_dir, "meta.yaml")) as f:
            emeta = yaml.safe_load(f)
        if str(emeta.get("experiment_id")) != exp:
            raise ValueError(f"{exp_dir}: meta.yaml names experiment {emeta.get('experiment_id')}")
        runs = out.setdefault(emeta["name"], {})
        for run_id in sorted(os.listdir(exp_dir)):
            rdir = os.path.join(exp_dir, run_id)
            if not os.path.isdir(rdir):
                continue
            with open(os.path.join(rdir, "meta.yaml")) as f:
                meta = yaml.safe_load(f)
            if meta.get("run_id") != run_id:
                raise ValueError(f"{rdir}: meta.yaml names run {meta.get('run_id')}")
            rec = {"meta": meta, "params": {}, "metrics": {}, "tags": {}}
            for sub in ("params", "tags"):
                for name in sorted(os.listdir(os.path.join(rdir, sub))):
                    with open(os.path.join(rdir, sub, name)) as f:
                        rec[sub][name] = f.read()
            for name in sorted(os.listdir(os.path.join(rdir, "metrics"))):
                lines = []
                with open(os.path.join(rdir, "metrics", name)) as f:
                    for line in f:
                        ts, val, step = line.split()
                        lines.append((int(ts), float(val), int(step)))
                rec["metrics"][name] = lines
            uri = meta["artifact_uri"]
            if uri.startswith("file://"):
                uri = uri[len("file://"):]
            art = uri if os.path.isabs(uri) else os.path.join(base, uri)
            rec["artifacts"] = sorted(os.listdir(art)) if os.path.isdir(art) else None
            runs[run_id] = rec
    return out
