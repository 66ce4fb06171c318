"""Golden logits of torchvision's and timm's own ResNets, for the import tests.

Run where torch, torchvision and timm are installed (not in CI):

    python tests/goldens/make_goldens.py

Each model is filled with `random_weights.draw` (a fixed numpy seed, its real
state-dict keys), run by its own framework in eval mode on `random_weights.images`
normalised as the checkpoint expects, and only the key list and the logits are
stored (goldens.json, a few kB), so CI can redraw the same weights without torch.
"""

import json
import os
import sys

import timm
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import random_weights  # noqa: E402

MODELS = {
    "torchvision/resnet18": lambda: torchvision.models.resnet18(),
    "torchvision/resnet50": lambda: torchvision.models.resnet50(),
    "timm/resnet50": lambda: timm.create_model("resnet50", pretrained=False),
    "torchvision/resnext50_32x4d": lambda: torchvision.models.resnext50_32x4d(),
    "torchvision/wide_resnet50_2": lambda: torchvision.models.wide_resnet50_2(),
    "timm/resnext50_32x4d": lambda: timm.create_model("resnext50_32x4d", pretrained=False),
    "timm/resnet18d": lambda: timm.create_model("resnet18d", pretrained=False),
    "timm/resnet50d": lambda: timm.create_model("resnet50d", pretrained=False),
    "timm/seresnet50": lambda: timm.create_model("seresnet50", pretrained=False),
    "timm/seresnext50_32x4d": lambda: timm.create_model("seresnext50_32x4d", pretrained=False),
}
SEED, IMAGE_SEED, BATCH, SIZE = 7, 11, 2, 64
# 80 px leaves odd maps (5x5) before the last stride: ResNet-D's ceil-mode pooling.
SIZES = {"timm/resnet50d": 80}


def golden(name: str) -> dict:
    model = MODELS[name]().eval()
    keys = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    state = random_weights.draw(keys, SEED)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    size = SIZES.get(name, SIZE)
    pixels = random_weights.images(IMAGE_SEED, BATCH, size)
    x = (pixels / 255.0 - random_weights.IMAGE_MEAN) / random_weights.IMAGE_STD
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    return {"keys": keys, "seed": SEED, "image_seed": IMAGE_SEED, "batch": BATCH, "size": size,
            "logits": logits.tolist(),
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                         "timm": timm.__version__}}


if __name__ == "__main__":
    out = {name: golden(name) for name in MODELS}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}: {', '.join(out)}")
