"""Trainable parameters of each network of the table as its publisher counts them: the tests' oracle.

Each count is with the network's default head and shortcut; `ResNetSpec.params_source` names whose count it is
(PAPER.md gives the sources). Plain twins have none: a plain twin has its option-A ResNet's parameters, which the
tests derive rather than hard-code. The table (`keras_resnet.arch.specs`) does not read these: they check it.
"""

PARAMS = {
    # torchvision (option B, 1000 classes)
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    # Table 6 (option A, 10 classes; the paper rounds them)
    "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018, "resnet110": 1_727_962,
    "resnet1202": 19_421_274,
    # torchvision
    "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336, "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
    # timm
    "resnet18d": 11_708_744, "resnet34d": 21_816_904, "resnet50d": 25_576_264, "resnet101d": 44_568_392,
    "resnet152d": 60_212_040, "seresnet50": 28_088_024, "seresnext50_32x4d": 27_559_896,
    # keras-hub (its backbone and a 1000-class head)
    "resnet18_vd": 11_712_968, "resnet34_vd": 21_821_128,
    "resnetv2_50": 25_549_352, "resnetv2_101": 44_541_480, "resnetv2_152": 60_185_128,
    # keras.applications
    "resnet50v2": 25_568_360, "resnet101v2": 44_577_896, "resnet152v2": 60_236_904,
    # this build's exact counts, 10 classes: the papers round them (1.7M, 1.7M, 10.2M; 11.0M, 36.5M)
    "preact_resnet110": 1_730_522, "preact_resnet164": 1_703_258, "preact_resnet1001": 10_327_706,
    "wrn16_8": 10_961_370, "wrn28_10": 36_479_194,
}

# keras.applications' v2 nets: all their weights, the batch norms' statistics included.
PREACT_IMAGENET_TOTALS = {50: 25_613_800, 101: 44_675_560, 152: 60_380_648}
