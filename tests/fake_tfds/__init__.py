"""A tfds builder package for tests: tfds resolves a builder's code path from its package."""
