"""Petastorm Unischemas of the published training datasets (one constant per dataset).

The Spark schema used to write a split is derived with ``as_spark_schema()``.
"""
from __future__ import annotations

import numpy as np
from petastorm.codecs import ScalarCodec
from petastorm.unischema import Unischema, UnischemaField
from pyspark.sql.types import BinaryType, IntegerType, StringType

ImageDatasetSchema = Unischema("ImageDatasetSchema", [
    UnischemaField("id", np.str_, (), ScalarCodec(StringType()), False),
    UnischemaField("image", np.bytes_, (), ScalarCodec(BinaryType()), False),  # PNG bytes, decoded in tf.data
    UnischemaField("label", np.str_, (), ScalarCodec(StringType()), False),
    UnischemaField("label_index", np.int32, (), ScalarCodec(IntegerType()), False),
])

TextDatasetSchema = Unischema("TextDatasetSchema", [
    UnischemaField("id", np.str_, (), ScalarCodec(StringType()), False),
    UnischemaField("text", np.str_, (), ScalarCodec(StringType()), False),
    UnischemaField("label", np.str_, (), ScalarCodec(StringType()), False),
    UnischemaField("label_index", np.int32, (), ScalarCodec(IntegerType()), False),
])

SCHEMAS = {"image": ImageDatasetSchema, "text": TextDatasetSchema}
SPLITS = ("train", "val", "test")
