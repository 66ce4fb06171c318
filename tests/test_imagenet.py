"""keras.applications' module functions: decode_predictions over the shipped class list, preprocess_input."""

import numpy as np
import pytest

import keras_resnet
from keras_resnet.weights import imagenet


def test_the_class_list_is_imagenets_standard_order():
    classes = imagenet.class_index()
    assert len(classes) == 1000 and len({wnid for wnid, _ in classes}) == 1000
    assert classes[0] == ("n01440764", "tench")
    assert classes[207] == ("n02099601", "golden retriever")
    assert classes[999] == ("n15075141", "toilet tissue")
    assert [wnid for wnid, _ in classes] == sorted(wnid for wnid, _ in classes)


def test_decode_predictions_has_keras_applications_structure():
    preds = np.zeros((2, 1000), np.float32)
    preds[0, [207, 3, 999]] = [0.7, 0.2, 0.1]
    preds[1, 1] = 1.0
    decoded = keras_resnet.decode_predictions(preds, top=3)
    assert [len(d) for d in decoded] == [3, 3]
    assert decoded[0][0][:2] == ("n02099601", "golden retriever")
    assert [round(float(s), 3) for _, _, s in decoded[0]] == [0.7, 0.2, 0.1]
    assert decoded[1][0][1] == "goldfish"


@pytest.mark.parametrize("preds, top, message", [
    (np.zeros((2, 10)), 5, r"shape \(samples, 1000\)"),
    (np.zeros(1000), 5, r"shape \(samples, 1000\)"),
    (np.zeros((1, 1000)), 0, "top must be an integer"),
])
def test_decode_predictions_refuses_other_shapes(preds, top, message):
    with pytest.raises(ValueError, match=message):
        keras_resnet.decode_predictions(preds, top=top)


def test_preprocess_input_passes_inputs_through():
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)
    assert keras_resnet.preprocess_input(x) is x
    assert keras_resnet.preprocess_input(x, data_format="channels_last") is x
