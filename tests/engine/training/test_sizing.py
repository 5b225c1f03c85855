"""Sizing advice, read off the batching layout."""

from shared.engine.config import Hyperparameters
from shared.engine.data.batching import layout
from shared.engine.training.sizing import GOOD_BATCHES, advice, parameters


def test_the_readme_example_on_300_kb_is_warned_with_a_batch_size_that_helps():
    hp = Hyperparameters(layers=2, units=128, epochs=5)  # batch 128, seq_len 100
    notes = advice(300_000, hp)
    assert notes and notes[0].startswith("only 22 training batches per epoch")
    suggested = int(notes[0].split("--batch-size ")[1].split()[0])
    assert layout(300_000, hp.model_copy(update={"batch_size": suggested})).batches >= GOOD_BATCHES
    assert layout(300_000, hp.model_copy(update={"batch_size": suggested + 1})).batches < GOOD_BATCHES


def test_a_well_sized_job_gets_no_advice_and_a_huge_model_is_warned():
    assert advice(10_000_000, Hyperparameters(layers=2, units=128, batch_size=32)) == []
    notes = advice(2_000_000, Hyperparameters(layers=3, units=1024, batch_size=8))
    assert any("can memorise" in note for note in notes)
    assert advice(50, Hyperparameters()) == [advice(50, Hyperparameters())[0]]
    assert advice(50, Hyperparameters())[0].startswith("the corpus is too short")


def test_parameters_count_the_lstm_and_dense_weights():
    import keras

    from shared.engine.training.model import build_model

    hp = Hyperparameters(layers=2, units=8, seq_len=5, batch_size=2)
    model = build_model(hp, 11)
    assert parameters(hp, 11) == sum(int(keras.ops.size(w)) for w in model.weights if w.trainable)
