"""build_model for each dataset kind. Text models learn their vocabulary from the train split and carry
it inside the saved model, so inference takes raw strings."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from training.config import ImageModelConfig, TextModelConfig


def build_image_model(cfg: ImageModelConfig, input_shape: tuple[int, int, int], n_classes: int) -> keras.Model:
    layers = [keras.Input(input_shape)]
    for filters in cfg.conv_filters:
        layers += [keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                   keras.layers.MaxPooling2D()]
    layers += [keras.layers.Flatten(), keras.layers.Dropout(cfg.dropout),
               keras.layers.Dense(cfg.dense_units, activation="relu"),
               keras.layers.Dense(n_classes, activation="softmax")]
    return keras.Sequential(layers, name="image_classifier")


def build_vectorizer(cfg: TextModelConfig, train_texts: tf.data.Dataset) -> keras.layers.TextVectorization:
    vectorizer = keras.layers.TextVectorization(max_tokens=cfg.max_tokens,
                                                output_sequence_length=cfg.sequence_length)
    vectorizer.adapt(train_texts)
    return vectorizer


def build_text_model(cfg: TextModelConfig, vectorizer: keras.layers.TextVectorization,
                     n_classes: int) -> keras.Model:
    inputs = keras.Input(shape=(), dtype=tf.string)
    x = vectorizer(inputs)
    x = keras.layers.Embedding(vectorizer.vocabulary_size(), cfg.embedding_dim)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="text_classifier")


def compile_model(model: keras.Model, learning_rate: float) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
