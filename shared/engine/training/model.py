"""The network: in-graph one-hot, stacked LSTM + Dropout, Dense to vocabulary logits.

Written with `keras` and `keras.ops` only, so it runs on TensorFlow, JAX or PyTorch. LSTM layers keep
Keras's defaults (tanh/sigmoid, no recurrent dropout, not unrolled, with bias) so that GPU workers
get the cuDNN kernel; where Keras runs its own loop instead (on CPUs), the cell's products take
their gradients through weights transposed once per sequence (`TransposedGradientCell`).
"""

import keras
from keras import ops

from ..config import Hyperparameters


@keras.saving.register_keras_serializable(package="charlstm")
class OneHot(keras.layers.Layer):
    """Integer character ids -> one-hot floats, in the graph (no one-hot arrays in memory)."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, inputs):
        return ops.one_hot(ops.cast(inputs, "int32"), self.depth)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


@ops.custom_gradient
def product(x, w, w_t):
    """x @ w, whose gradient for x is `upstream @ w_t`, with w_t = w transposed beforehand.

    Backpropagating x @ w asks for upstream @ transpose(w). On CPUs, TensorFlow multiplies by a
    transposed operand 1.9-2.9x slower than by a stored one for the LSTM's per-step shapes (batch
    64-128 x 2048 by 2048 x 512: 60-96 GFLOP/s against 178-188 on 2 cores), and that product is a
    third of a training step's arithmetic (docs/benchmarks.md: 3 x 512 trains 1.4-1.5x faster).
    w_t gets no gradient: it is w's copy.
    """

    def grad(*args, upstream=None):
        if upstream is None:  # TensorFlow and JAX pass it alone, PyTorch by keyword
            (upstream,) = args
        return ops.matmul(upstream, w_t), ops.matmul(ops.transpose(x), upstream), ops.zeros_like(w_t)

    return ops.matmul(x, w), grad


class TransposedGradientCell(keras.layers.LSTMCell):
    """Keras's LSTM cell computing the same gates, with its two products through `product`.

    The layer sets `transposed` (kernel and recurrent kernel, transposed) before it runs a sequence
    through Keras's loop and clears it after, so the transposes are made once per sequence, not per
    step. Without them (outside training, or with cell dropout) the cell is Keras's own.
    """

    transposed: tuple | None = None

    def call(self, inputs, states, training=False):
        if self.transposed is None or self.dropout or self.recurrent_dropout or not self.use_bias:
            return super().call(inputs, states, training=training)
        h_tm1, c_tm1 = states
        kernel_t, recurrent_t = self.transposed
        z = product(inputs, self.kernel.value, kernel_t) + product(h_tm1, self.recurrent_kernel.value, recurrent_t)
        z_i, z_f, z_c, z_o = ops.split(ops.add(z, self.bias), 4, axis=1)
        c = self.recurrent_activation(z_f) * c_tm1 + self.recurrent_activation(z_i) * self.activation(z_c)
        h = self.recurrent_activation(z_o) * self.activation(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="charlstm")
class StatefulLSTM(keras.layers.LSTM):
    """Keras's LSTM, trainable statefully on every backend.

    On PyTorch the fused loop keeps the state variables' own tensors for the backward pass, and the
    stateful layer then overwrites them in place (`assign`), so `backward` fails. Copying the initial
    state first (`keras.ops.copy`, PyTorch only) keeps the graph's tensors untouched.

    On JAX the compiled train and test steps are pure functions of the variables the model lists;
    Keras keeps the state variables out of every list, so each batch started from zeros and the new
    state was dropped (stateful training was silently stateless). Listing them among the layer's
    `variables` (hence its non-trainable variables, which JAX threads through the steps) carries
    the state; they stay out of `weights`, so checkpoints and `get_weights` are unchanged.
    TensorFlow runs Keras's LSTM unchanged (cuDNN included).

    Its cell is a `TransposedGradientCell`: Keras's LSTM makes its own `LSTMCell` and takes no cell
    class, so the cell's class is set after; the cell has the same weights and configuration, and
    checkpoints are unchanged.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell.__class__ = TransposedGradientCell

    @property
    def variables(self):
        found = super().variables
        if self.stateful and self.states is not None:
            seen = {id(v) for v in found}
            found += [v for v in self.states if id(v) not in seen]
        return found

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if self.stateful and keras.backend.backend() == "torch":
            initial_state = [ops.copy(state) for state in initial_state]
        cell = self.cell
        if training:  # only the gradients use the transposes
            cell.transposed = (ops.transpose(cell.kernel.value), ops.transpose(cell.recurrent_kernel.value))
        try:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        finally:
            cell.transposed = None


def build_model(hp: Hyperparameters, vocab_size: int, steps: int | None = None) -> keras.Model:
    """`steps`: the batches the run plans (the cosine schedule's length; 1 epoch of 1 batch if None).

    Stateful models have a fixed batch shape (batch_size, seq_len) and predict every next
    character; stateless ones take windows (any batch, seq_len) and predict the one next character."""
    if hp.stateful:
        inputs = keras.Input(batch_shape=(hp.batch_size, hp.seq_len), dtype="int32", name="chars")
    else:
        inputs = keras.Input(shape=(hp.seq_len,), dtype="int32", name="chars")
    x = OneHot(vocab_size, name="one_hot")(inputs)
    for i in range(hp.layers):
        last = i == hp.layers - 1
        x = StatefulLSTM(
            hp.units,
            return_sequences=hp.stateful or not last,
            stateful=hp.stateful,
            name=f"lstm_{i}",
        )(x)
        x = keras.layers.Dropout(hp.dropout, seed=hp.seed + i, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    model = keras.Model(inputs, logits, name=f"charlstm_{hp.mode}")
    model.compile(
        optimizer=make_optimizer(hp, steps),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


COSINE_FLOOR = 0.1  # the cosine schedule ends at this share of its peak learning rate


def learning_rate(hp: Hyperparameters, steps: int | None = None):
    """The optimizer's learning rate: `hp.learning_rate`, or with schedule cosine a linear warm-up
    from 0 over `hp.warmup_steps` batches to it, then a cosine decay to COSINE_FLOOR of it at
    batch `steps` (the run's planned batches). Keras's own schedule, so checkpoints restore it."""
    if hp.schedule == "constant":
        return hp.learning_rate
    warmup = min(hp.warmup_steps, max((steps or 1) - 1, 0))
    decay = max((steps or 1) - warmup, 1)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(hp.learning_rate, decay, alpha=COSINE_FLOOR)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay, alpha=COSINE_FLOOR, warmup_target=hp.learning_rate, warmup_steps=warmup
    )


def make_optimizer(hp: Hyperparameters, steps: int | None = None) -> keras.optimizers.Optimizer:
    cls = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[hp.optimizer]
    return cls(learning_rate=learning_rate(hp, steps), clipnorm=hp.clipnorm)


def lstm_layers(model: keras.Model) -> list[keras.layers.LSTM]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]


def reset_states(model: keras.Model) -> None:
    """Zero every stateful LSTM's carried state (Keras 3 has no Model.reset_states)."""
    for layer in lstm_layers(model):
        if layer.stateful:
            layer.reset_states()
