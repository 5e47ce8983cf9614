"""Small builders shared by tests: a tiny saved image model, PNG payloads, a published image dataset and a\n``python -m`` run against a data folder."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def save_image_model(folder: Path, labels: list[str], version: str = "t1", seed: int = 0) -> Path:
    """An untrained (random-weight) image classifier saved the way training saves one."""
    from training.config import ImageModelConfig
    from training.models import as_served, build_image_model, keras  # via training: TF_USE_LEGACY_KERAS set first

    keras.utils.set_random_seed(seed)
    model = as_served(build_image_model(ImageModelConfig(conv_filters=(4,), dense_units=8), (28, 28, 1), len(labels)))
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    (folder / "labels.json").write_text(json.dumps(labels))
    (folder / "model.json").write_text(json.dumps({"kind": "image", "name": "image_classifier", "version": version}))
    return folder


def random_pngs(n: int, seed: int = 3) -> tuple[list[np.ndarray], list[bytes]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 255, (28, 28), dtype=np.uint8) for _ in range(n)]
    pngs = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    return arrays, pngs


def publish_images(spark, paths, corpus: Path, dt: str, shards):
    """``corpus`` cleaned (no near-duplicate stage), published and passed through the gate, in-process.
    -> (the dataset version's folder, its manifest)."""
    from schemas.warehouse import CLEAN_IMAGES
    from spark_jobs.common.files import read_files
    from spark_jobs.common.flagged import accepted
    from spark_jobs.common.warehouse import replace_partitions
    from spark_jobs.imaging.clean import ImageCleanConfig
    from spark_jobs.imaging.clean import transform as clean_images
    from spark_jobs.publish_dataset import SplitConfig, publish
    from spark_jobs.validate_dataset import gate

    cfg = ImageCleanConfig(root_uri=corpus.as_uri().replace("file:///", "file:/"))
    flagged = clean_images(read_files(spark, str(corpus)), cfg, near=None)  # training, not dedup, is tested here
    replace_partitions(spark, accepted(flagged, dt), CLEAN_IMAGES, {"dt": dt})
    manifest, _ = publish(spark, "image", dt, SplitConfig(), shards, paths)
    gate(paths, "image", manifest["version"])
    return paths.datasets / "image" / manifest["version"], manifest


def run_module(args: list[str], paths, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    """``python -m *args`` with SHARDLINE_HOME set to ``paths``' data folder, output captured."""
    env = {**os.environ, "SHARDLINE_HOME": str(paths.home)}
    return subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=timeout,
                          **kw)
