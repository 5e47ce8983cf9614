"""The training run's typed configuration, built from the settings (``shardline/settings.py``, ``[train]``).

The model settings are the settings' own dataclasses (validated there, with errors naming the bad value);
``TrainConfig`` adds the kind, so one object says everything a run of one model needs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from shardline.settings import AUGMENTATIONS, ImageModelSettings, TextModelSettings, TrainSettings

ImageModelConfig = ImageModelSettings
TextModelConfig = TextModelSettings
CLASS_WEIGHTS = dict(TrainSettings.__dataclass_fields__["class_weight"].metadata)["choices"]
_DEFAULTS = TrainSettings()

__all__ = ["AUGMENTATIONS", "CLASS_WEIGHTS", "ImageModelConfig", "TextModelConfig", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """One model's run. Its defaults are the settings' defaults (``TrainConfig.for_kind``); nothing here is
    a second copy of them."""
    kind: str
    epochs: int = _DEFAULTS.image_epochs
    batch_size: int = _DEFAULTS.batch_size            # per worker; the global batch is batch_size x workers
    learning_rate: float = _DEFAULTS.learning_rate
    seed: int = _DEFAULTS.seed
    shuffle_buffer: int = _DEFAULTS.shuffle_buffer
    class_weight: str = _DEFAULTS.class_weight
    min_steps_per_epoch: int = _DEFAULTS.min_steps_per_epoch
    image: ImageModelConfig = field(default_factory=ImageModelConfig)
    text: TextModelConfig = field(default_factory=TextModelConfig)

    def __post_init__(self) -> None:
        if self.kind not in ("image", "text"):
            raise ValueError(f"kind must be 'image' or 'text', got {self.kind!r}")
        # the same bounds as the settings' fields, checked by building a section from these values
        replace(_DEFAULTS, image_epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                seed=self.seed, shuffle_buffer=self.shuffle_buffer, class_weight=self.class_weight,
                min_steps_per_epoch=self.min_steps_per_epoch)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_settings(cls, kind: str, train: TrainSettings, **overrides) -> "TrainConfig":
        """The run of ``kind`` under the ``[train]`` settings; ``overrides`` (None: not given) win."""
        values = dict(epochs=train.epochs(kind), batch_size=train.batch_size, learning_rate=train.learning_rate,
                      seed=train.seed, shuffle_buffer=train.shuffle_buffer, class_weight=train.class_weight,
                      min_steps_per_epoch=train.min_steps_per_epoch, image=train.image, text=train.text)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(kind=kind, **values)

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> "TrainConfig":
        """The default settings' run of ``kind`` (the TF-IDF MLP converges in fewer epochs than the CNN)."""
        return cls.from_settings(kind, _DEFAULTS, **overrides)
