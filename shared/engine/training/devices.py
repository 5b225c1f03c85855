"""The devices a job trains on: what this backend sees, the check that a job asking for devices it
cannot use is refused before it starts (rather than run on fewer, wrongly), and the data-parallel
scope that trains one job on several.

Several devices: Keras's distribution API, `keras.distribution.DataParallel` over the first
`devices` devices (JAX). Each batch's rows are split into contiguous blocks, one per device; a
stateful batch's row r is the r-th contiguous stream of the corpus (batching.py), so every device
trains on whole streams and the LSTM state of row r is computed from row r only. JAX runs the
sharded program with the single-device semantics: the same loss, the same state per row.
"""

import contextlib

from ..config import Hyperparameters


class DeviceError(ValueError):
    """A job this process cannot run as asked (too many devices, or no multi-device support)."""


def available() -> list[str]:
    """This backend's devices of its default kind ("gpu:0", "gpu:1" ... or "cpu:0"), as Keras's
    distribution API lists them; PyTorch has none there: the device a new tensor lands on."""
    import keras

    try:
        return [str(device).lower() for device in keras.distribution.list_devices()]
    except (AttributeError, NotImplementedError, ImportError):
        device = getattr(keras.ops.zeros((1,)), "device", "cpu")
        return [str(device).lower()]


def describe() -> str:
    """One line for the logs: the backend and the devices it trains on."""
    import keras

    devices = available()
    return f"{keras.backend.backend()} on {len(devices)} device(s): {', '.join(devices)}"


def check(hp: Hyperparameters) -> None:
    """Refuse a job whose `devices` this process cannot serve."""
    have = available()
    if hp.devices > len(have):
        raise DeviceError(f"the job asks for {hp.devices} devices; this worker has {len(have)} ({', '.join(have)})")
    if hp.devices == 1:
        return
    import keras

    if keras.backend.backend() != "jax":
        raise DeviceError(
            f"the job asks for {hp.devices} devices: data-parallel training runs on the JAX backend; "
            f"this worker runs {keras.backend.backend()} (submit it with devices=1)"
        )
    if not hp.stateful:
        raise DeviceError("data-parallel training is for stateful jobs (submit a stateless one with devices=1)")
    if hp.batch_size % hp.devices:
        raise DeviceError(f"batch_size {hp.batch_size} must be a multiple of devices ({hp.devices})")


def scope(hp: Hyperparameters):
    """A context to build and train the model in: nothing for one device; for several, Keras's
    DataParallel over the first `hp.devices` devices (`check` first)."""
    if hp.devices == 1:
        return contextlib.nullcontext()
    import keras

    return keras.distribution.DataParallel(devices=available()[: hp.devices]).scope()
