"""The hyperparameter search, a layer above training: its settings (`config`), the search space and tuner
(`tuning`), the record of its trials (`trials`), and the distributed search's chief and workers (`cluster`).

Each trial is a training run of `keras_resnet.train`; the search adds only what chooses, spreads and records them.
"""
