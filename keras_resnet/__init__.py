"""keras_resnet: the ResNets of He et al. (2015) for Keras 3."""

from keras_resnet.flops import count_macs
from keras_resnet.layers import MeanSubtraction, ZeroPadShortcut
from keras_resnet.models import (
    APPLICATIONS,
    PlainNet18,
    PlainNet20,
    PlainNet32,
    PlainNet34,
    PlainNet44,
    PlainNet50,
    PlainNet56,
    PlainNet101,
    PlainNet110,
    PlainNet152,
    PlainNet1202,
    ResNet18,
    ResNet20,
    ResNet32,
    ResNet34,
    ResNet44,
    ResNet50,
    ResNet56,
    ResNet101,
    ResNet110,
    ResNet152,
    ResNet1202,
    build,
    build_backbone,
    build_resnet,
    load_model,
    load_weights,
    stage_output_names,
)
from keras_resnet.specs import ResNetSpec, Stage, get_spec, list_models

__version__ = "0.1.0"
