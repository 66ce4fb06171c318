"""A tiny tensorflow-datasets builder that needs no download.

It lives two module levels deep, as tfds's own builders do: that is where
tfds's `code_path` needs `importlib_resources`, the dependency the install
once missed.
"""

import numpy as np
import tensorflow_datasets as tfds


class FakeDigits(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(names=["even", "odd"]),
            }),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(20), "test": self._generate_examples(6)}

    def _generate_examples(self, count):
        for i in range(count):
            yield i, {"image": np.full((8, 8, 1), i * 10, np.uint8), "label": i % 2}
