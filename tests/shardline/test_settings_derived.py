"""Every default is written once, in shardline/settings.py: the job configs, training's configs, `shardline run`'s
flags and the DAG's Params are derived from it. These compare them field by field against the settings
(expectations come from the settings' own defaults, never from the derived object)."""
from __future__ import annotations

import ast
import math
from pathlib import Path

from shardline import settings
from shardline.settings import ImagesSettings, Settings, TextSettings, TrainSettings

REPO = Path(__file__).resolve().parents[2]


def test_image_job_configs_are_the_settings():
    from PIL import ImageColor

    from spark_jobs.imaging.decode import ImageCleanConfig
    from spark_jobs.imaging.dedup import NearDupConfig

    s = ImagesSettings()
    for cfg in (ImageCleanConfig.from_settings(s, "file:/x"), ImageCleanConfig(root_uri="file:/x")):
        assert (cfg.target_width, cfg.target_height, cfg.mode, cfg.resize, cfg.output_format, cfg.jpeg_quality,
                cfg.min_size, cfg.max_pixels, cfg.max_file_bytes, cfg.hash) == \
            (s.size, s.size, s.mode, s.resize, s.format, s.jpeg_quality, s.min_size, s.max_pixels,
             s.max_file_bytes, s.near_dup_hash)
        assert cfg.background == ImageColor.getrgb(s.background)[:3]
        assert cfg.pad_color == ImageColor.getrgb(s.pad_color)[:3]
    for near in (NearDupConfig.from_settings(s), NearDupConfig()):
        assert (near.threshold, near.max_difference, near.tables, near.bits, near.max_bucket) == \
            (s.near_dup_threshold, s.near_dup_max_difference, s.lsh_tables, s.lsh_bits, s.max_bucket)
    assert NearDupConfig.from_settings(ImagesSettings(near_dup_threshold=-1)) is None


def test_text_job_configs_are_the_settings():
    from spark_jobs.text import quality
    from spark_jobs.text.config import TextCleanConfig
    from spark_jobs.text.minhash import MinHashConfig

    s = TextSettings()
    for cfg in (TextCleanConfig.from_settings(s), TextCleanConfig()):
        assert (cfg.text_field, cfg.label_field, cfg.id_field, cfg.normal_form, cfg.strip_markup,
                cfg.drop_boilerplate, cfg.redact_pii, cfg.max_doc_bytes, cfg.filters) == \
            (s.text_field, s.label_field, s.id_field, s.normal_form, s.strip_markup, s.drop_boilerplate,
             s.redact_pii, s.max_doc_bytes, quality.PRESETS[s.preset])
    for mh in (MinHashConfig.from_settings(s), MinHashConfig()):
        assert (mh.ngram, mh.shingle, mh.bands, mh.rows, mh.threshold, mh.max_extra_words, mh.min_words,
                mh.max_bucket) == (s.ngram, s.shingle, s.minhash_bands, s.minhash_rows, s.threshold,
                                   s.max_extra_words, s.near_dup_min_words, s.max_bucket)
    assert MinHashConfig.from_settings(TextSettings(near_dup=False)) is None


def test_publishing_configs_are_the_settings():
    from shardline.settings import DatasetSettings
    from spark_jobs.publish_dataset import ShardConfig, SplitConfig

    d = DatasetSettings()
    assert (SplitConfig().train, SplitConfig().val, SplitConfig().seed) == (d.train_fraction, d.val_fraction,
                                                                          d.split_seed)
    for kind in ("image", "text"):
        shard = ShardConfig.for_kind(kind)
        assert (shard.target_file_mb, shard.row_group_mb, shard.max_workers) == \
            (getattr(d, f"{kind}_file_mb"), getattr(d, f"{kind}_row_group_mb"), d.max_workers)
    assert ShardConfig.for_kind("text", DatasetSettings(text_file_mb=8.0), row_group_mb=2.0).target_file_mb == 8.0


def test_training_configs_are_the_settings():
    from training.config import TrainConfig
    from training.train import Gate

    t = TrainSettings()
    for kind, epochs in (("image", t.image_epochs), ("text", t.text_epochs)):
        cfg = TrainConfig.from_settings(kind, t)
        assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.seed, cfg.shuffle_buffer, cfg.class_weight,
                cfg.min_steps_per_epoch, cfg.image, cfg.text) == \
            (epochs, t.batch_size, t.learning_rate, t.seed, t.shuffle_buffer, t.class_weight,
             t.min_steps_per_epoch, t.image, t.text)
    assert Gate() == Gate.from_settings(t) == Gate(t.promotion_tolerance, t.baseline_policy, t.baseline_margin,
                                                   t.serve_baseline)
    custom = TrainSettings(batch_size=7, text_epochs=3)
    assert (TrainConfig.from_settings("text", custom).batch_size, TrainConfig.from_settings("text", custom).epochs) \
        == (7, 3)


def test_run_flags_and_dag_params_are_generated_from_the_same_table():
    from shardline_ops.cli import build_parser

    run = next(a for a in build_parser()._subparsers._group_actions[0].choices["run"]._actions
               if a.dest == "image_size").container
    flags = {a.dest for a in run._actions if a.option_strings} - {"help", "date", "image_corpus", "text_corpus",
                                                                  "config", "set_items", "verbose"}
    assert flags == set(settings.OVERRIDES)
    # the DAG file's params, read from its source: the override names come from dag_params() alone
    dag = ast.parse((REPO / "dags" / "nightly_retrain.py").read_text())
    assert any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "dag_params" for n in ast.walk(dag))
    params = settings.dag_params()
    assert set(params) == set(settings.OVERRIDES) >= {"image_resize", "rare_labels", "image_size", "epochs"}
    # each override's type, bounds and choices are its field's
    for name, o in settings.OVERRIDES.items():
        for target in o.targets:
            section, key = target.split(".")
            assert isinstance(getattr(getattr(Settings(), section), key), o.type)
    assert params["image_size"]["minimum"] == 8 and params["image_size"]["maximum"] == settings.MAX_IMAGE_SIDE
    assert params["baseline_policy"]["enum"] == [None, "refuse", "warn", "off"]
    assert "pHash" not in params["image_near_dup_threshold"]["description"]


def test_every_field_has_help_and_its_default_holds_its_bounds():
    for dotted, f, default in settings.field_table():
        m = f.metadata
        assert m.get("help"), f"{dotted} has no help"
        if m["choices"]:
            assert default in m["choices"], dotted
        if isinstance(default, (int, float)) and not isinstance(default, bool) and not math.isinf(default):
            assert settings._in_bounds(default, m), dotted
