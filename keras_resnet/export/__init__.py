"""Export: a trained model as a SavedModel for TF Serving, LiteRT files for Android (with TFLite metadata) and
an ONNX file, each verified against Keras; the serving protocol and prediction with each."""
