"""The training augmentations' names and defaults: the vocabulary of `--augmentation`, without TensorFlow.

`keras_resnet.data.pipelines` implements them; settings (a run's, a benchmark's) take their choices from here,
so validating a setting imports no TensorFlow.
"""

AUGMENTATIONS = ("cifar", "imagenet", "none")
# The paper's CIFAR augmentation pads 4 pixels on each side before its random 32x32 crop.
CROP_PADDING = 4
