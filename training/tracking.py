"""Run tracking in MLflow's file-store layout, written by hand (no mlflow package needed to write or read it).

mlruns/<experiment-id>/meta.yaml, mlruns/<experiment-id>/<run-id>/{meta.yaml, params/<key>, metrics/<key>
("<ms-timestamp> <value> <step>" lines), tags/<key>, artifacts/...}; `mlflow ui --backend-store-uri mlruns` browses it.
"""

import os
import shutil
import subprocess
import time
import uuid
import zlib

import yaml


def _now_ms():
    return int(time.time() * 1000)


def git_commit(repo_dir):
    """Return the HEAD commit of repo_dir, or "unknown" outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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


class Run:
    """One MLflow run in the file store: params, metrics per step, tags and artefacts."""

    def __init__(self, root, experiment, run_name, source_commit):
        self.root = os.path.abspath(root)
        exp_id = str(zlib.crc32(experiment.encode()) % 10**9)
        exp_dir = os.path.join(self.root, exp_id)
        os.makedirs(exp_dir, exist_ok=True)
        meta = os.path.join(exp_dir, "meta.yaml")
        if not os.path.exists(meta):
            with open(meta, "w") as f:
                yaml.safe_dump({"artifact_location": "file://" + exp_dir, "experiment_id": exp_id,
                                "lifecycle_stage": "active", "name": experiment,
                                "creation_time": _now_ms(), "last_update_time": _now_ms()}, f)
        self.run_id = uuid.uuid4().hex
        self.dir = os.path.join(exp_dir, self.run_id)
        for sub in ("params", "metrics", "tags", "artifacts"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.meta = {"artifact_uri": "file://" + os.path.join(self.dir, "artifacts"), "end_time": None,
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
