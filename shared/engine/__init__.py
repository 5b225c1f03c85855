"""charlstm's ML engine: a plain library (keras + keras.ops, no web or queue code).

Modules: config (Hyperparameters), corpus (cleaning, vocabulary, built-in corpora), batching
(windows and interleaved stateful batches), model (the network), train (training loop, callbacks,
checkpoints, resume), sample (fast generation).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
