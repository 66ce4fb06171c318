"""Classify image files with an exported model: SavedModel, .tflite, or TF Serving.

    python scripts/predict.py --saved_model=saved_models/resnet20 images/*.png
    python scripts/predict.py --tflite=saved_models/tflite/resnet20/resnet20_int8.tflite images/*.png
    python scripts/predict.py --onnx=saved_models/onnx/resnet20/resnet20.onnx images/*.png
    python scripts/predict.py --server=http://localhost:8501 --model_name=resnet20 images/*.png
    python scripts/predict.py --grpc=localhost:8500 --model_name=resnet20 images/*.png
"""

import os

from keras_resnet import cli  # isort: skip  (first: it quiets TensorFlow's logs before anything imports it)

from absl import flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("saved_model", None, "A SavedModel version directory, or its base (newest version).")
flags.DEFINE_string("tflite", None, "A .tflite file (its labels are packed inside, or labels.txt is beside it).")
flags.DEFINE_string("onnx", None, "An .onnx file exported by scripts/export.py (ONNX Runtime).")
flags.DEFINE_string("server", None, "TF Serving REST address, e.g. http://localhost:8501.")
flags.DEFINE_string("grpc", None, "TF Serving gRPC address, e.g. localhost:8500.")
flags.DEFINE_string("model_name", None, "Model name on the server.")
flags.DEFINE_integer("top_k", 3, "Labels to print per image.")
flags.DEFINE_float("timeout", 30.0, "Seconds to wait for a server.")


def main(argv):
    files = argv[1:]
    targets = [t for t in (FLAGS.saved_model, FLAGS.tflite, FLAGS.onnx, FLAGS.server, FLAGS.grpc) if t]
    if len(targets) != 1:
        raise ValueError("pass exactly one of --saved_model, --tflite, --onnx, --server, --grpc")
    if not files:
        raise ValueError("name at least one image file")
    if FLAGS.top_k < 1:
        raise ValueError(f"--top_k must be >= 1 (labels printed per image). Received: top_k={FLAGS.top_k}")
    folders = [f for f in files if os.path.isdir(f)]
    if folders:
        raise ValueError(f"directories, not image files: {', '.join(folders)} (name the images, e.g. "
                         f"{os.path.join(folders[0], '*.png')})")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise ValueError(f"no such file(s): {', '.join(missing)}")
    if (FLAGS.server or FLAGS.grpc) and not FLAGS.model_name:
        raise ValueError("--model_name is needed with --server/--grpc")
    if not FLAGS.server:  # the REST client needs no TensorFlow
        cli.import_tensorflow()
    from keras_resnet.export import predict

    images = []
    for path in files:
        with open(path, "rb") as f:
            images.append(f.read())
    if FLAGS.saved_model:
        results = predict.predict_saved_model(FLAGS.saved_model, images, names=files)
    elif FLAGS.tflite:
        results = predict.predict_tflite(FLAGS.tflite, images, names=files)
    elif FLAGS.onnx:
        results = predict.predict_onnx(FLAGS.onnx, images, names=files)
    elif FLAGS.server:
        results = predict.predict_rest(FLAGS.server, FLAGS.model_name, images, FLAGS.timeout, names=files)
    else:
        results = predict.predict_grpc(FLAGS.grpc, FLAGS.model_name, images, FLAGS.timeout, names=files)
    for path, (labels, scores) in zip(files, results):
        shown = ", ".join(f"{l} {s:.3f}" for l, s in list(zip(labels, scores))[: FLAGS.top_k])
        print(f"{path}: {shown}")
    return 0


if __name__ == "__main__":
    cli.run(main, errors=(ValueError, OSError))
