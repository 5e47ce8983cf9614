"""Fixtures of the training tests. Module-scoped: each test file trains in a registry of its own."""
import pytest

from shardline.config import Paths


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return Paths(tmp_path_factory.mktemp("train-home"))


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    """A configuration whose epoch is one pass over the train split (min_steps_per_epoch 0): the sharding
    and gate tests count epochs and steps, not accuracy on a bigger budget. No SavedModel export (about
    17 s of tracing per run on 2 cores): the digits test checks the export, with ``slim``."""
    path = tmp_path_factory.mktemp("cfg") / "one-pass.toml"
    path.write_text("[train]\nmin_steps_per_epoch = 0\nsaved_model = false\n")
    return str(path)
