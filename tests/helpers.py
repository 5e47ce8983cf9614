"""Small builders shared by tests: a tiny saved image model and PNG payloads."""
from __future__ import annotations

import io
import json
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
