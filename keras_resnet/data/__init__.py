"""Data: the data sets (IDX, CIFAR archives, image folders, tensorflow-datasets), image decoding, and the
input pipelines a run trains and evaluates on."""
