"""The networks: the table of specs, the layers and blocks, the options, the builder and its transforms.

Imports nothing else of the package; TensorFlow is not needed (any Keras backend builds these models).
"""
