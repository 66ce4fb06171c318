"""Export a trained model for TF Serving and Android, verified against Keras.

    python scripts/export.py --model_dir=runs/resnet20_fashion_mnist --export_dir=saved_models

SavedModel: <export_dir>/<name>/<version>/ (next free version unless --version),
plus <export_dir>/models.config for TF Serving. TFLite: <export_dir>/tflite/<name>/.
"""

import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A scripts/train.py --model_dir (or use --model_path).")
flags.DEFINE_string("model_path", None, "A .keras file saved from a keras_resnet model.")
flags.DEFINE_string("export_dir", "saved_models", "Base directory of the exports.")
flags.DEFINE_string("name", None, "Model name (TF Serving's); default the run's model name.")
flags.DEFINE_integer("version", None, "SavedModel version; default the next free one.")
flags.DEFINE_bool("overwrite", False, "Replace an existing version.")
flags.DEFINE_list("formats", ["saved_model", "tflite"], "saved_model and/or tflite.")
flags.DEFINE_list("quantizations", ["float32", "float16", "dynamic_int8", "int8"], "TFLite variants.")
flags.DEFINE_integer("num_samples", 64, "Test images to verify each artifact on.")
flags.DEFINE_integer("top_k", 5, "Classes returned by the serving signatures.")


def main(argv):
    del argv
    if bool(FLAGS.model_dir) == bool(FLAGS.model_path):
        print("error: pass exactly one of --model_dir or --model_path", file=sys.stderr)
        return 1
    from keras_resnet import export

    try:
        reports = export.export_model(
            FLAGS.model_dir or FLAGS.model_path, FLAGS.export_dir, FLAGS.name, FLAGS.version, FLAGS.overwrite,
            FLAGS.formats, FLAGS.quantizations, FLAGS.num_samples, FLAGS.top_k)
    except (ValueError, export.ExportVerificationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(export.format_reports(reports))
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
