"""The augmentations' names and defaults: the vocabulary of `--augmentation` and `--tta`, without TensorFlow.

`keras_resnet.data.pipelines` implements them; settings (a run's, a benchmark's) take their choices from here,
so validating a setting imports no TensorFlow.
"""

AUGMENTATIONS = ("cifar", "imagenet", "none")
# Test-time augmentations of a run's final evaluation (--tta): flip is `keras_resnet.with_flip_tta`.
TTA_MODES = ("none", "flip")
# The paper's CIFAR augmentation pads 4 pixels on each side before its random 32x32 crop.
CROP_PADDING = 4
