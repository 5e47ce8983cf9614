"""Training: petastorm -> tf.data -> tf-keras under MultiWorkerMirroredStrategy.

tf-keras (Keras 2 API) is used on purpose: Keras 3's ``fit`` fails under MultiWorkerMirroredStrategy on
TF 2.21 (shared/STACK.md). The variables below must be set before TensorFlow is first imported, which is
why they live in the package's ``__init__``.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
