"""keras_resnet: the ResNets of He et al. (2015) for Keras 3 and TensorFlow."""

import re

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "(.+)"', open("keras_resnet/version.py").read()).group(1)

EXPORT = [
    "ai-edge-litert>=2.3",
    "tensorflow-serving-api>=2.21",
    # The TFLite metadata schema and writers (tflite-support's successor) and MediaPipe Tasks'
    # ImageClassifier, which reads the files as Android's does.
    "mediapipe>=1.2",
    # ONNX export (Keras's export(format="onnx") converts with tf2onnx) and its verification.
    "tf2onnx>=1.17",
    "onnx>=1.17",
    "onnxruntime>=1.20",
]

# The documentation site (mkdocs.yml): `mkdocs build --strict` runs in the tests.
DOCS = [
    "mkdocs>=1.6",
    "mkdocs-material>=9.5",
    "mkdocstrings[python]>=0.26",
]

setup(
    name="keras_resnet",
    version=VERSION,
    description=(
        "ResNet-18..152 and the paper's CIFAR nets as Keras 3 models, with "
        "tf.distribute training, TF Serving / LiteRT / ONNX export and keras-tuner search."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_resnet", "keras_resnet.*"]),
    package_data={"keras_resnet.weights": ["imagenet_classes.json"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21",
        # 3.14 carries the recent safe-loading fixes for .keras files.
        "keras>=3.14",
        "tensorflow-datasets>=4.9",
        # tfds's download_and_prepare reaches etils.epath's importlib_resources,
        # which neither tfds nor etils installs.
        "importlib_resources",
        "keras-tuner>=1.4.8,<1.5",  # train.search_cluster works with its chief's internals
        # keras-tuner's BayesianOptimization needs it (its "bayesian" extra).
        "scikit-learn",
        "absl-py>=2.0",
        "tensorboard",
        "h5py",
        # Reads .safetensors checkpoints (timm's hub copies of the torchvision weights) without torch.
        "safetensors",
        "matplotlib",
        # keras-hub's ResNet presets, imported and written (keras_resnet.save_preset). keras-hub pulls
        # tensorflow-text, whose releases each pin one TensorFlow minor: these are the versions that work beside
        # TensorFlow 2.21 (keras-hub 0.32 needs tensorflow-text on Linux and macOS).
        "keras-hub>=0.32,<0.33",
        "tensorflow-text>=2.21,<2.22; platform_system != 'Windows'",
    ],
    extras_require={
        "export": EXPORT,
        "docs": DOCS,
        "tests": [
            "pytest>=8",
            # The suite runs one test module per core (pytest.ini): 2 cores take it under 15 minutes.
            "pytest-xdist>=3",
            "jax[cpu]",
            *EXPORT,
            *DOCS,
        ],
    },
)
