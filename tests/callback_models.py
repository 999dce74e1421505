"""Small models shaped like the keras-io examples, with synthetic data: the callback's tests and benchmark use them."""

import keras
import numpy as np
import tensorflow as tf


def transfer(size=8, filters=4):
  """The transfer-learning guide: a frozen pretrained base (with BatchNorm) inside a new model."""
  base_in = keras.Input((size, size, 3))
  h = keras.layers.Conv2D(filters, 3, activation="relu", name="conv")(base_in)
  h = keras.layers.BatchNormalization(name="bn")(h)
  base = keras.Model(base_in, keras.layers.GlobalAveragePooling2D(name="pool")(h), name="base")
  base.trainable = False
  inputs = keras.Input((size, size, 3), name="image")
  x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
  x = base(x, training=False)
  x = keras.layers.Dropout(0.2, name="dropout")(x)
  model = keras.Model(inputs, keras.layers.Dense(1, name="head")(x), name="transfer")
  model.compile(optimizer=keras.optimizers.Adam(0.01),
                loss=keras.losses.BinaryCrossentropy(from_logits=True),
                metrics=[keras.metrics.BinaryAccuracy()])
  return model


def transfer_data(n=32, size=8, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32),
          rng.integers(0, 2, (n, 1)).astype(np.float32))


class GAN(keras.Model):
  """The GAN guide's model: its own compile with two optimizers, its own train_step."""

  def __init__(self, discriminator, generator, latent_dim):
    super().__init__()
    self.discriminator = discriminator
    self.generator = generator
    self.latent_dim = latent_dim
    self.seed_generator = keras.random.SeedGenerator(1337)

  def compile(self, d_optimizer, g_optimizer, loss_fn):  # pylint: disable=arguments-differ
    super().compile()
    self.d_optimizer = d_optimizer
    self.g_optimizer = g_optimizer
    self.loss_fn = loss_fn
    self.d_loss_metric = keras.metrics.Mean(name="d_loss")
    self.g_loss_metric = keras.metrics.Mean(name="g_loss")

  @property
  def metrics(self):
    return [self.d_loss_metric, self.g_loss_metric]

  def train_step(self, real_images):
    batch_size = tf.shape(real_images)[0]
    latent = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
    generated = self.generator(latent)
    combined = tf.concat([generated, real_images], axis=0)
    labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
    with tf.GradientTape() as tape:
      d_loss = self.loss_fn(labels, self.discriminator(combined))
    grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
    self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
    latent = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
    misleading = tf.zeros((batch_size, 1))
    with tf.GradientTape() as tape:
      g_loss = self.loss_fn(misleading, self.discriminator(self.generator(latent)))
    grads = tape.gradient(g_loss, self.generator.trainable_weights)
    self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
    self.d_loss_metric.update_state(d_loss)
    self.g_loss_metric.update_state(g_loss)
    return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


def gan(latent_dim=3, size=8):
  discriminator = keras.Sequential([
      keras.Input((size, size, 1)),
      keras.layers.Conv2D(4, 3, strides=2, padding="same", name="d_conv"),
      keras.layers.LeakyReLU(negative_slope=0.2, name="d_relu"),
      keras.layers.GlobalMaxPooling2D(name="d_pool"),
      keras.layers.Dense(1, name="d_out"),
  ], name="discriminator")
  generator = keras.Sequential([
      keras.Input((latent_dim,)),
      keras.layers.Dense(size * size, name="g_dense"),
      keras.layers.Reshape((size, size, 1), name="g_reshape"),
      keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="g_conv"),
  ], name="generator")
  model = GAN(discriminator, generator, latent_dim)
  model.compile(d_optimizer=keras.optimizers.Adam(0.001), g_optimizer=keras.optimizers.Adam(0.001),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
  return model


def gan_data(n=16, size=8, batch=4, seed=0):
  images = np.random.default_rng(seed).uniform(0, 1, (n, size, size, 1)).astype(np.float32)
  return tf.data.Dataset.from_tensor_slices(images).batch(batch), images


def multi_io(vocab=20, title_len=5, body_len=7, num_tags=3, departments=3, units=4, embed=4):
  """The functional API guide's ticket model: three inputs, two outputs, two LSTMs."""
  title = keras.Input((title_len,), name="title", dtype="int32")
  body = keras.Input((body_len,), name="body", dtype="int32")
  tags = keras.Input((num_tags,), name="tags")
  title_features = keras.layers.LSTM(units, name="title_lstm")(
      keras.layers.Embedding(vocab, embed, name="title_embed")(title))
  body_features = keras.layers.LSTM(units, name="body_lstm")(
      keras.layers.Embedding(vocab, embed, name="body_embed")(body))
  x = keras.layers.concatenate([title_features, body_features, tags], name="concat")
  priority = keras.layers.Dense(1, name="priority")(x)
  department = keras.layers.Dense(departments, name="department")(x)
  model = keras.Model([title, body, tags], {"priority": priority, "department": department},
                      name="tickets")
  model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
                      "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
                loss_weights={"priority": 1.0, "department": 0.2},
                metrics={"priority": ["mae"]})
  return model


def multi_io_data(n=32, vocab=20, title_len=5, body_len=7, num_tags=3, departments=3, seed=0):
  rng = np.random.default_rng(seed)
  x = {"title": rng.integers(0, vocab, (n, title_len)).astype(np.int32),
       "body": rng.integers(0, vocab, (n, body_len)).astype(np.int32),
       "tags": rng.integers(0, 2, (n, num_tags)).astype(np.float32)}
  y = {"priority": rng.uniform(0, 1, (n, 1)).astype(np.float32),
       "department": np.eye(departments, dtype=np.float32)[rng.integers(0, departments, n)]}
  return x, y


def bilstm(vocab=50, units=4, embed=4):
  """bidirectional_lstm_imdb: integer token inputs of any length, two stacked BiLSTMs."""
  inputs = keras.Input((None,), dtype="int32", name="tokens")
  x = keras.layers.Embedding(vocab, embed, name="embed")(inputs)
  x = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True), name="bi1")(x)
  x = keras.layers.Bidirectional(keras.layers.LSTM(units), name="bi2")(x)
  model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(x),
                      name="bilstm")
  model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
  return model


def bilstm_data(n=32, length=10, vocab=50, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, vocab, (n, length)).astype(np.int32),
          rng.integers(0, 2, (n, 1)).astype(np.float32))


def mnist_convnet(size=28, classes=10):
  """mnist_convnet: two conv blocks, dropout, softmax."""
  model = keras.Sequential([
      keras.Input((size, size, 1)),
      keras.layers.Conv2D(32, 3, activation="relu", name="conv1"),
      keras.layers.MaxPooling2D(2, name="pool1"),
      keras.layers.Conv2D(64, 3, activation="relu", name="conv2"),
      keras.layers.MaxPooling2D(2, name="pool2"),
      keras.layers.Flatten(name="flatten"),
      keras.layers.Dropout(0.5, name="dropout"),
      keras.layers.Dense(classes, activation="softmax", name="softmax"),
  ], name="mnist_convnet")
  model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
  return model


def mnist_data(n=64, size=28, classes=10, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.uniform(0, 1, (n, size, size, 1)).astype(np.float32),
          np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)])
