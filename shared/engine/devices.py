"""The devices a job trains on: what this backend sees, and the check that a job asking for more
devices than it can use is refused before it starts (rather than run on fewer, wrongly)."""

from .config import Hyperparameters


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
    if hp.devices > 1:
        raise DeviceError(
            f"the job asks for {hp.devices} devices; data-parallel training is not available in this version: "
            "submit it with devices=1"
        )
