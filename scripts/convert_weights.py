"""Convert a published checkpoint to a keras_resnet .weights.h5 and print its parity with the original.

    python scripts/convert_weights.py --input=resnet50-11ad3fa6.pth --model=resnet50 \
        --output=resnet50_tv2.weights.h5
    python scripts/convert_weights.py --input=resnet_v2_50_imagenet/ --output=resnetv2_50.weights.h5

The format (torch .pth/.pt, .safetensors, keras.applications .h5/.weights.h5)
is found from the file's content; a directory is a keras-hub preset, which
names its own network.
"""

from absl import flags

from keras_resnet import cli

cli.import_tensorflow()
FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "The checkpoint file, or a keras-hub preset directory.", required=True)
flags.DEFINE_string("model", None,
                    "The keras_resnet model it is for, e.g. resnet50; a keras-hub preset names its own.")
flags.DEFINE_string("output", None, "The .weights.h5 to write.", required=True)
flags.DEFINE_enum("stride_in_1x1", "auto", ["auto", "true", "false"],
                  "Bottleneck stride on the 1x1: auto is true for keras.applications files, false otherwise.")
flags.DEFINE_integer("image_size", 224, "Side of the random images the parity is measured on.")
flags.DEFINE_integer("num_images", 4, "How many.")


def main(argv):
    del argv
    from keras_resnet.weights import convert

    stride = {"auto": None, "true": True, "false": False}[FLAGS.stride_in_1x1]
    result = convert.convert(FLAGS.input, FLAGS.model, FLAGS.output, stride_in_1x1=stride,
                             image_size=FLAGS.image_size, num_images=FLAGS.num_images)
    print(f"{FLAGS.input} ({result['format']}) -> {result['output']}: {result['assigned']} tensors assigned")
    if result["reference"] and result["top1_agreement"] is None:
        print(f"parity against {result['reference']} on {FLAGS.num_images} random images: max |diff| of the "
              f"feature maps {result['max_abs_diff']:.2e}")
    elif result["reference"]:
        print(f"parity against {result['reference']} on {FLAGS.num_images} random images: max |diff| of "
              f"probabilities {result['max_abs_diff']:.2e}, top-1 agreement {result['top1_agreement']:.0%}")
    else:
        print(f"parity not measured: {result['reason']}")
    return 0


if __name__ == "__main__":
    cli.run(main)
