"""The package's version and its distribution name, in one place: the package, its exported files, the command's
--version and pyproject.toml read them here (a test checks pyproject.toml's name against DISTRIBUTION)."""

__version__ = "0.2.0"

# The name on PyPI. PyPI's `keras-resnet` is another project (Keras 2, 2019) with the same import name.
DISTRIBUTION = "resnet-keras"
