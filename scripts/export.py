"""Export a trained model for TF Serving (SavedModel), Android (LiteRT) and ONNX Runtime, verified.

    python scripts/export.py --model_dir=runs/resnet20_fashion_mnist --export_dir=saved_models
"""

from keras_resnet import cli

cli.import_tensorflow()
from absl import flags  # noqa: E402

from keras_resnet.artifacts import DEFAULT_FORMATS, FORMATS  # noqa: E402

flags.DEFINE_string("model_dir", None, "A scripts/train.py --model_dir (or use --model_path).")
flags.DEFINE_string("model_path", None, "A .keras file saved from a keras_resnet model.")
flags.DEFINE_string("export_dir", "saved_models", "Base directory of the exports.")
flags.DEFINE_string("name", None, "Model name (TF Serving's); default the run's model name.")
flags.DEFINE_integer("version", None, "SavedModel version; default the next free one (or the one already "
                     "exported from the same weights).")
flags.DEFINE_bool("overwrite", False, "Replace an existing version.")
flags.DEFINE_list("formats", list(DEFAULT_FORMATS), f"Any of {', '.join(FORMATS)}.")
flags.DEFINE_list("quantizations", ["float32", "float16", "dynamic_int8", "int8"], "TFLite variants.")
flags.DEFINE_integer("num_samples", 64, "Test images to verify each artifact on.")
flags.DEFINE_integer("eval_examples", None, "Test images on which every artifact's top-1 accuracy (and the "
                     "Keras model's) is measured; default the run's whole test split, 0 to skip.")
flags.DEFINE_integer("top_k", 5, "Classes returned by the serving signatures.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if bool(FLAGS.model_dir) == bool(FLAGS.model_path):
        raise ValueError("pass exactly one of --model_dir or --model_path")
    from keras_resnet import export

    with cli.native_stderr_silenced():  # LiteRT's converter and interpreter print from C++
        reports = export.export_model(
            FLAGS.model_dir or FLAGS.model_path, FLAGS.export_dir, FLAGS.name, FLAGS.version, FLAGS.overwrite,
            FLAGS.formats, FLAGS.quantizations, FLAGS.num_samples, FLAGS.top_k, FLAGS.eval_examples)
    print(export.format_reports(reports))
    return 0


if __name__ == "__main__":
    from keras_resnet.artifacts import ExportVerificationError

    cli.run(main, errors=(ValueError, ExportVerificationError))
