"""The network: in-graph one-hot, stacked LSTM + Dropout, Dense to vocabulary logits.

Written with `keras` and `keras.ops` (and Keras's own per-backend RNN loop, `keras.src.backend.rnn`,
for the hoisted LSTM loop), so it runs on TensorFlow, JAX or PyTorch. LSTM layers keep
Keras's defaults (tanh/sigmoid, no recurrent dropout, not unrolled, with bias) so that GPU workers
get the cuDNN kernel.
"""

import keras
from keras import ops
from keras.src.backend import rnn as backend_rnn  # Keras's own RNN loop, per backend (not public)

from .config import Hyperparameters


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


# The hoisted loop below from this many units up. Measured on 2 cores (AMD EPYC, TensorFlow, one
# thread, CPU time per character): 2 x 128 10% slower (the gates, 4 x units wide, are moved
# through the loop instead of the narrower inputs), 2 x 256 6% faster, 3 x 512 7% faster.
HOIST_MIN_UNITS = 256


class _HoistedLoop(keras.layers.RNN):
    """The LSTM's loop when no fused kernel (cuDNN) takes it: Keras's LSTM falls back to
    `RNN.inner_loop`, whose step multiplies each time step's input by the kernel on its own, a
    small matrix product per character per layer (forward and backward). Here the input half of
    every gate, `x @ kernel + bias`, is one matrix product over all time steps before the loop, and
    the step adds only `h @ recurrent_kernel`: the same arithmetic (the gates are Keras's fused
    ones), but half the per-step products become one large one, which runs near the machine's
    matrix-multiply peak, and the backward pass gets the kernel's gradient as one large product
    too. Placed after LSTM in StatefulLSTM's bases so that LSTM's `super().inner_loop` (its
    fallback after the fused kernel: cuDNN on a GPU; PyTorch's own loop on every device, so this
    runs on TensorFlow and JAX without a GPU) lands here. Cell dropout, recurrent dropout and masks
    (none of which this model uses) keep Keras's loop, and so do layers under HOIST_MIN_UNITS."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        dropout = training and (cell.dropout or cell.recurrent_dropout)
        small = cell.units < HOIST_MIN_UNITS
        if small or mask is not None or dropout or self.go_backwards or self.unroll:
            return super().inner_loop(sequences, initial_state, mask=mask, training=training)
        gates_in = ops.matmul(sequences, cell.kernel)
        if cell.use_bias:
            gates_in = gates_in + cell.bias

        def step(gates_t, states):
            h, c = states
            z = ops.split(gates_t + ops.matmul(h, cell.recurrent_kernel), 4, axis=-1)
            c, o = cell._compute_carry_and_output_fused(z, c)
            h = o * cell.activation(c)
            return h, [h, c]

        # the loop RNN.inner_loop runs (keras.ops.scan is not XLA-compilable on TensorFlow)
        return backend_rnn(
            step,
            gates_in,
            list(initial_state),
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )


@keras.saving.register_keras_serializable(package="charlstm")
class StatefulLSTM(keras.layers.LSTM, _HoistedLoop):
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
    """

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
        return super().inner_loop(sequences, initial_state, mask, training=training)


def build_model(hp: Hyperparameters, vocab_size: int) -> keras.Model:
    """Stateful models have a fixed batch shape (batch_size, seq_len) and predict every next
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
        optimizer=make_optimizer(hp),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def make_optimizer(hp: Hyperparameters) -> keras.optimizers.Optimizer:
    cls = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[hp.optimizer]
    return cls(learning_rate=hp.learning_rate, clipnorm=hp.clipnorm)


def lstm_layers(model: keras.Model) -> list[keras.layers.LSTM]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]


def reset_states(model: keras.Model) -> None:
    """Zero every stateful LSTM's carried state (Keras 3 has no Model.reset_states)."""
    for layer in lstm_layers(model):
        if layer.stateful:
            layer.reset_states()
