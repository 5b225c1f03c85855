"""charlstm's ML engine: a plain library (keras + keras.ops, no web or queue code).

Parts, each resting only on those listed before it (.importlinter's engine-roles contract):
- `config`: Hyperparameters, the one validated object of a training run (engine root: every part reads it).
- `data/`: the corpus (cleaning, vocabulary), the built-in corpus, batching (windows and the
  paper's interleaved stateful batches).
- `training/`: the network, the training loop, checkpoints, devices, sizing advice.
- `inference/`: sampling (Keras, fused numpy, int8, light), the next-character distribution.
- `measures/`: sample quality, novelty against the corpus, the figures stored with each sample.
- `inspection/`: neuron activations, features of Python text, the neuron analysis.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
