"""`.weights.h5` files that say what they were built with, and loads that check it.

Keras keys a weights file by layer class and order, so a file whose layers
happen to have the same shapes loads silently into another network: a plain
net into its ResNet twin (option A adds no weights), a Caffe-stride ResNet-50
into a torchvision-stride one, a run's weights without its preprocessing
layer. `save_weights` stores the model's identity in the file and
`load_weights` compares identities and every tensor before assigning any.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Optional

import keras

from keras_resnet.arch.layers import CLASSIFIER
from keras_resnet.files import atomic_path

META_KEY = "keras_resnet_identity"
HEAD_GROUP = "layers/dense"  # the classifier: the only Dense layer of every model
PREPROCESSING_GROUP = "layers/mean_subtraction"

# What the weights' shapes do not show, named as in error messages.
_IDENTITY_LABELS = {
    "residual": "residual (False: the plain twin, no shortcuts)",
    "block": "block",
    "blocks": "blocks per stage",
    "shortcut": "shortcut option",
    "stride_in_1x1": "bottleneck stride on the 1x1 (Caffe) rather than the 3x3",
    "width_multiplier": "width_multiplier",
    "channels": "input channels",
    "mean_shape": "preprocessing mean shape (None: no preprocessing layer)",
    "preprocessing": "checkpoint input normalisation (None: none in the model)",
}


def check_file(path) -> None:
    """Raise a ValueError unless `path` is a readable `.weights.h5` file."""
    import h5py

    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError("weights must be a '.weights.h5' file written by model.save_weights() or "
                         f"keras_resnet.save_weights(). Received: weights={path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"Weights file not found. Received: weights={path!r}")
    try:
        with h5py.File(path, "r") as f:
            if "layers" not in f:
                raise ValueError(f"{path!r} is an HDF5 file but holds no Keras weights (no 'layers' group).")
    except OSError as error:
        raise ValueError(f"{path!r} is not a readable weights file (truncated or another format): "
                         f"{error}") from None


def save_weights(model: keras.Model, path: str, attrs: Optional[dict] = None) -> str:
    """Write `model`'s weights and identity to `path`, atomically.

    The file appears only complete: it is written under a temporary name in
    the same directory and renamed.

    Args:
        model: the model.
        path: a `.weights.h5` path.
        attrs: more HDF5 attributes to store (numbers or strings).

    Returns:
        `path`.
    """
    import h5py

    path = os.fspath(path)
    # atomic_path publishes it with the umask's mode, as other files: mkstemp's 0600 would keep a serving account
    # or a colleague's export from reading it.
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp, overwrite=True)
        meta = dict(attrs or {})
        if getattr(model, "identity", None):
            meta[META_KEY] = model.identity
        if meta:
            with h5py.File(tmp, "a") as f:
                f.attrs.update(meta)
    return path


def _layout(path: str) -> dict:
    """{group of a layer's vars: [shape of each var]} of a weights file."""
    import h5py

    layout = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.startswith("layers/"):
                group, index = name.rsplit("/vars/", 1) if "/vars/" in name else (name, "0")
                layout.setdefault(group, {})[int(index)] = tuple(obj.shape)
        f.visititems(visit)
    return {group: [shapes[i] for i in sorted(shapes)] for group, shapes in layout.items()}


def _stored_identity(path: str) -> Optional[dict]:
    import h5py

    with h5py.File(path, "r") as f:
        meta = f.attrs.get(META_KEY)
    return json.loads(meta) if meta else None


def stored_preprocessing(path: str) -> Optional[str]:
    """The checkpoint normalisation a `.weights.h5` file's model had (None: none, or no identity stored)."""
    return (_stored_identity(path) or {}).get("preprocessing")


def _differences(saved: dict, mine: dict, ignore=()) -> list:
    return [f"{_IDENTITY_LABELS[k]}: {saved.get(k)!r} in the file, {mine.get(k)!r} in the model"
            for k in _IDENTITY_LABELS if k not in ignore and saved.get(k) != mine.get(k)]


def load_weights(model: keras.Model, path: str, *, skip_head: bool = False,
                 any_preprocessing: bool = False) -> None:
    """Load a `.weights.h5` file into `model`, refusing any mismatch first.

    The classifier is skipped when the model has none (include_top=False),
    as in keras.applications. Nothing is assigned unless everything fits.

    Args:
        model: a keras_resnet model.
        path: a `.weights.h5` file.
        skip_head: keep the model's own classifier (a new head, e.g. for
            other classes) instead of loading the file's.
        any_preprocessing: accept a file saved with another checkpoint
            normalisation setting (`preprocessing`, which has no weights);
            used for converted checkpoints, whose normalisation the caller
            chose.

    Raises:
        ValueError: the file is missing, truncated or of another format, or
            was saved from a model that differs (architecture, shortcut,
            stride placement, width, channels, preprocessing, classes).
    """
    path = os.fspath(path)
    check_file(path)
    saved_identity = _stored_identity(path)
    mine = getattr(model, "identity", None)
    if saved_identity and mine:
        differences = _differences(saved_identity, json.loads(mine),
                                   ("preprocessing",) if any_preprocessing else ())
        if differences:
            raise ValueError(f"The weights file was saved from another network than {model.name!r}: "
                             + "; ".join(differences) + f". Received: weights={path!r}")
    saved = _layout(path)
    with tempfile.TemporaryDirectory() as scratch:
        reference = os.path.join(scratch, "model.weights.h5")
        model.save_weights(reference)
        expected = _layout(reference)
    if skip_head and HEAD_GROUP in expected:
        saved[HEAD_GROUP] = expected[HEAD_GROUP]
    _compare_layouts(saved, expected, model.name, path)
    if HEAD_GROUP in saved and HEAD_GROUP not in expected:
        _load_without_head(model, path)
    elif skip_head and HEAD_GROUP in expected:
        _load_with_own_head(model, path)
    else:
        model.load_weights(path)


def _compare_layouts(saved: dict, expected: dict, name: str, path: str) -> None:
    if (PREPROCESSING_GROUP in saved) != (PREPROCESSING_GROUP in expected):
        if PREPROCESSING_GROUP in saved:
            raise ValueError(
                f"The weights file carries its run's preprocessing (the training mean, shape "
                f"{saved[PREPROCESSING_GROUP][0]}) but {name!r} has no preprocessing layer, so its inputs "
                f"would not be normalised as in training. Load the run's final.keras "
                f"(keras_resnet.load_model), or build with mean_shape={list(saved[PREPROCESSING_GROUP][0])}. "
                f"Received: weights={path!r}")
        raise ValueError(f"{name!r} has a preprocessing layer (a mean) but the weights file has none: build "
                         f"without mean/mean_shape. Received: weights={path!r}")
    # The body first: a wider net also has a wider classifier, and that is not a classes mismatch.
    body_saved = {k: v for k, v in saved.items() if k != HEAD_GROUP}
    body_mine = {k: v for k, v in expected.items() if k != HEAD_GROUP}
    for group in sorted(set(body_saved) | set(body_mine), key=natural_order):
        if body_saved.get(group) != body_mine.get(group):
            raise ValueError(
                f"The weights file does not fit {name!r} (built with these arguments): {group} holds "
                f"{body_saved.get(group, 'nothing')} in the file and {body_mine.get(group, 'nothing')} in the "
                f"model (another depth, width, shortcut option or input channels?). Received: weights={path!r}")
    head_saved, head_mine = saved.get(HEAD_GROUP), expected.get(HEAD_GROUP)
    if head_saved and head_mine and head_saved != head_mine:
        classes = head_saved[0][-1]
        raise ValueError(
            f"The weights file's classifier has kernel shape {head_saved[0]} ({classes} classes) but the model's "
            f"has {head_mine[0]} ({head_mine[0][-1]} classes): pass classes={classes}, or include_top=False. "
            f"Received: weights={path!r}")


def natural_order(key: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def _load_without_head(model: keras.Model, path: str) -> None:
    """Load a file with a classifier into a headless model (include_top=False)."""
    import h5py

    with tempfile.TemporaryDirectory() as scratch:
        trimmed = os.path.join(scratch, "body.weights.h5")
        with h5py.File(path, "r") as source, h5py.File(trimmed, "w") as target:
            for key in source:
                source.copy(key, target)
            del target[HEAD_GROUP]
        model.load_weights(trimmed)


def _load_with_own_head(model: keras.Model, path: str) -> None:
    """Load a file's body, keeping the model's classifier as it is."""
    import h5py

    head = next(layer for layer in model.layers if layer.name == CLASSIFIER)
    own = [keras.ops.convert_to_numpy(w) for w in head.weights]
    with tempfile.TemporaryDirectory() as scratch:
        body = os.path.join(scratch, "body.weights.h5")
        with h5py.File(path, "r") as source, h5py.File(body, "w") as target:
            for key in source:
                source.copy(key, target)
            if HEAD_GROUP in target:
                del target[HEAD_GROUP]
            for i, value in enumerate(own):
                target.create_dataset(f"{HEAD_GROUP}/vars/{i}", data=value)
        model.load_weights(body)


class SaveBest(keras.callbacks.Callback):
    """Keep the weights of the epoch with the highest `monitor`, written atomically.

    Unlike keras.callbacks.ModelCheckpoint, which writes in place, a kill
    while saving leaves the previous best file whole; and the best score is
    stored in the file, so a resumed run only replaces a better-scored file
    with a better epoch.
    """

    SCORE_KEY = "keras_resnet_best_score"

    def __init__(self, path: str, monitor: str):
        super().__init__()
        self.path, self.monitor = path, monitor
        self.best = float("-inf")

    def on_train_begin(self, logs=None):
        import h5py

        if os.path.isfile(self.path):
            try:
                with h5py.File(self.path, "r") as f:
                    self.best = float(f.attrs.get(self.SCORE_KEY, float("-inf")))
            except OSError:  # unreadable: the next epoch replaces it
                self.best = float("-inf")

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and float(value) > self.best:
            self.best = float(value)
            save_weights(self.model, self.path, {self.SCORE_KEY: self.best, "keras_resnet_monitor": self.monitor})
