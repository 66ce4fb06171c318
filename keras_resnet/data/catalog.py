"""The data sets by name, without TensorFlow: those read offline, and the check of any other name against tfds."""

from __future__ import annotations

IMAGE_FOLDER = "image_folder"
# Names with an offline reader (`keras_resnet.data.sources`); any other tfds builder name goes to tfds.
LOCAL_DATASETS = ("fashion_mnist", "mnist", "cifar10", "cifar100", IMAGE_FOLDER)

__all__ = ["IMAGE_FOLDER", "LOCAL_DATASETS", "check_dataset_name"]


def check_dataset_name(name: str) -> None:
    """Check a data set name: offline, or a tensorflow-datasets builder (tfds is imported only for those).

    Raises:
        ValueError: a name that is neither, naming the offline ones.
    """
    if name in LOCAL_DATASETS:
        return
    import tensorflow_datasets as tfds

    builders = tfds.list_builders()
    if name not in builders:
        raise ValueError(
            f"Unknown dataset {name!r}; offline: {', '.join(LOCAL_DATASETS)}; "
            f"or a tensorflow-datasets name such as imagenette, imagenet2012 ({len(builders)} known)."
        )
