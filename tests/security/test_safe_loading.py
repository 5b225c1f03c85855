"""No checkpoint is loaded through pickle or with arbitrary code enabled: malicious checkpoint
folders (a Lambda layer carrying Python bytecode, a layer from an unregistered module, a pickle
named model.keras, a checkpoint.json pointing outside the run) are refused with CheckpointError,
by the engine and by the sampling worker's loader, and their payload never runs. A source scan
keeps pickle & co. out of shared/, workers/ and services/."""

import ast
import json
import pickle
import sys
import zipfile
from pathlib import Path

import pytest

from shared.engine.config import Hyperparameters
from shared.engine.training import checkpoint as ckpt
from shared.engine.training.checkpoint import CheckpointError
from shared.engine.training.checkpoint import load as load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
HP = Hyperparameters(mode="stateless", layers=1, units=4, seq_len=5, batch_size=2)
VOCAB = list("abcd")


def meta(**extra) -> dict:
    return {
        "epoch": 1,
        "best_epoch": 1,
        "history": [],
        "hyperparameters": HP.model_dump(mode="json"),
        "vocabulary": VOCAB,
        "warmup_text": "abcd",
        **extra,
    }


def save(model, run: Path) -> Path:
    return ckpt.save(model, meta(), run)


def lambda_model(marker: Path):
    """A model whose Lambda layer creates `marker` when it runs (bytecode, no closure: Keras stores it)."""
    import keras

    payload = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t)[1]")
    inputs = keras.Input(shape=(3,))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Lambda(payload)(inputs)))


def rewrite_config(path: Path, change) -> None:
    """Edit config.json inside a .keras zip."""
    with zipfile.ZipFile(path) as z:
        files = {name: z.read(name) for name in z.namelist()}
    config = json.loads(files["config.json"])
    change(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


@pytest.mark.filterwarnings("ignore:Skipping variable loading")  # an untrained optimizer
def test_a_real_checkpoint_loads_in_keras_safe_mode(tmp_path, monkeypatch):
    import keras

    from shared.engine.training.model import build_model

    folder = save(build_model(HP, len(VOCAB)), tmp_path)
    seen = []
    real = keras.saving.load_model

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    loaded = load_checkpoint(tmp_path)
    assert loaded.path == folder and loaded.vocabulary.chars == "abcd"
    assert seen and all(kw.get("safe_mode") is True for kw in seen)


def test_a_lambda_layer_is_refused_and_its_code_does_not_run(tmp_path, store):
    from workers.sampling import load_from_store

    marker = tmp_path / "payload-ran"
    folder = save(lambda_model(marker), tmp_path / "run")
    marker.unlink()  # building the model ran it once
    import keras

    keras.saving.load_model(folder / ckpt.MODEL_FILE, safe_mode=False)  # the payload is real ...
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CheckpointError, match="Lambda"):  # ... and never runs through our loaders
        load_checkpoint(tmp_path / "run")
    store.put_dir("jobs/1/epoch-0001", folder)
    with pytest.raises(CheckpointError, match="Lambda"):
        load_from_store("jobs/1/epoch-0001", store)
    assert not marker.exists()


def test_a_layer_from_an_unregistered_module_is_refused_and_not_imported(tmp_path, monkeypatch):
    import keras

    marker = tmp_path / "payload-ran"
    (tmp_path / "evilmod.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
        "import keras\nclass Evil(keras.layers.Layer):\n    def call(self, x):\n        return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    inputs = keras.Input(shape=(3,))
    folder = save(keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs)), tmp_path / "run")

    def evil(config):
        layer = next(la for la in config["config"]["layers"] if la["class_name"] == "Dense")
        layer.update(module="evilmod", class_name="Evil", registered_name="evilmod>Evil")

    rewrite_config(folder / ckpt.MODEL_FILE, evil)
    with pytest.raises(CheckpointError, match="cannot load model.keras"):
        load_checkpoint(folder)
    assert not marker.exists() and "evilmod" not in sys.modules


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_a_pickle_named_model_keras_is_refused_and_not_unpickled(tmp_path):
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "ckpt"
    folder.mkdir()
    data = pickle.dumps(Payload(marker))
    pickle.loads(data).close()  # the payload is real
    marker.unlink()
    (folder / ckpt.MODEL_FILE).write_bytes(data)
    (folder / ckpt.META_FILE).write_text(json.dumps({"format_version": ckpt.FORMAT_VERSION, **meta()}))
    with pytest.raises(CheckpointError, match="cannot load model.keras"):
        load_checkpoint(folder)
    assert not marker.exists()


@pytest.mark.parametrize("best", ["../../elsewhere/checkpoints/epoch-0001", "/tmp", True, 1.5, [1]])
def test_checkpoint_json_cannot_point_outside_the_run(tmp_path, best):
    marker = tmp_path / "payload-ran"
    elsewhere = save(lambda_model(marker), tmp_path / "elsewhere")
    marker.unlink()
    run = tmp_path / "run" / "job"
    latest = ckpt.epoch_dir(run, 2)
    latest.mkdir(parents=True)
    (latest / ckpt.MODEL_FILE).write_bytes(b"not loaded")
    (latest / ckpt.META_FILE).write_text(json.dumps({"format_version": 1, **meta(epoch=2, best_epoch=best)}))
    assert ckpt.is_checkpoint(elsewhere)
    with pytest.raises(CheckpointError, match="best_epoch must be an epoch number"):
        load_checkpoint(run)
    assert not marker.exists()


# ---- source scan --------------------------------------------------------------------------------

BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}


def unsafe_uses(source: str) -> list[str]:
    """Imports of pickle-like modules, allow_pickle=True, safe_mode=False, unsafe deserialization."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            found.append(node.module or "")
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                value = getattr(kw.value, "value", None)
                if (kw.arg, value) in (("allow_pickle", True), ("safe_mode", False)):
                    found.append(f"{kw.arg}={value}")
                if kw.arg in ("allow_pickle", "safe_mode") and not isinstance(kw.value, ast.Constant):
                    found.append(f"{kw.arg}=<not a constant>")
            if getattr(node.func, "attr", getattr(node.func, "id", "")) == "enable_unsafe_deserialization":
                found.append("enable_unsafe_deserialization")
    return found


def test_the_scan_catches_what_it_looks_for():
    bad = (
        "import pickle\nfrom joblib import load\nimport dill.settings\nnp.load(f, allow_pickle=True)\n"
        "keras.saving.load_model(p, safe_mode=False)\nkeras.config.enable_unsafe_deserialization()\n"
        "load_model(p, safe_mode=flag)\n"
    )
    assert len(unsafe_uses(bad)) == 7
    assert unsafe_uses("import json\nnp.load(f)\nload_model(p, safe_mode=True)\n") == []


def test_no_module_of_the_service_can_unpickle():
    files = [p for d in ("shared", "workers", "services") for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 30
    offenders = {str(p.relative_to(ROOT)): found for p in files if (found := unsafe_uses(p.read_text()))}
    assert offenders == {}
