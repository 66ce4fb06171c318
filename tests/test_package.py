"""The package itself: Keras's own load finds its classes whichever is imported first."""

import os
import subprocess
import sys

import numpy as np
import pytest

import keras_resnet


@pytest.mark.parametrize("imports", ["import keras, keras_resnet", "import keras_resnet, keras",
                                     "import keras_resnet.serving; import keras"])
def test_plain_keras_load_model_finds_the_classes_in_a_fresh_process(imports, tmp_path):
    path = str(tmp_path / "net.keras")
    model = keras_resnet.build("resnet", depth=8, input_shape=(32, 32, 3), mean=np.full((32, 32, 3), 9.0))
    model.save(path)
    code = (f"{imports}; model = keras.saving.load_model({path!r}); "
            "print(type(model).__name__, type(model.get_layer('preprocessing')).__name__, model.count_params())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["ResNet", "MeanSubtraction", str(model.count_params())]
