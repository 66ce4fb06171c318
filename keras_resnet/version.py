"""The package version, in one place: the package, its exported files and setup.py read it here."""

__version__ = "0.1.0"
