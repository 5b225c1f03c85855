"""The devices a job asks for: served when this process has them, refused at once otherwise."""

import pytest

from shared.engine.config import Hyperparameters
from shared.engine.training import devices
from shared.engine.training.train import train


@pytest.mark.backends
def test_this_process_lists_its_devices_and_describes_them():
    import keras

    have = devices.available()
    assert have and all(isinstance(d, str) and d for d in have)
    line = devices.describe()
    assert line.startswith(keras.backend.backend()) and have[0] in line


def test_one_device_is_the_default_and_is_served():
    assert Hyperparameters().devices == 1
    devices.check(Hyperparameters())


def test_a_job_asking_for_more_devices_than_this_process_has_is_refused_before_training(tmp_path):
    many = len(devices.available()) + 1
    hp = Hyperparameters(layers=1, units=4, seq_len=5, batch_size=2, epochs=1, devices=many)
    with pytest.raises(devices.DeviceError, match=f"asks for {many} devices; this worker has"):
        train("abcdefghij" * 20, hp, tmp_path)
    assert not (tmp_path / "checkpoints").exists()
    with pytest.raises(ValueError, match="less than or equal to 64"):
        Hyperparameters(devices=65)
