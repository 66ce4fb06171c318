"""Print the README's model table: parameters and multiply-adds of every net."""

from absl import app, flags

import keras_resnet
from keras_resnet.arch import specs

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Models to list; default: all of list_models().")


def main(argv):
    del argv
    print("| model | family | blocks | trainable params | params as counted by | multiply-adds | "
          "published multiply-adds |")
    print("|---|---|---|---|---|---|---|")
    for name in FLAGS.models or keras_resnet.list_models():
        spec = keras_resnet.get_spec(name)
        model = keras_resnet.build(name)
        params = sum(int(w.numpy().size) for w in model.trainable_weights)
        macs = keras_resnet.count_macs(model)
        side = spec.input_shape[0]
        source = "torchvision" if specs.family(spec) in ("resnext", "wide") else "Table 1"
        paper = f"{spec.macs_paper / 1e9:.{1 if source == 'Table 1' else 3}f} G ({source})" if spec.macs_paper else ""
        blocks = ",".join(str(s.blocks) for s in spec.stages)
        if spec.groups > 1:
            blocks += f"; 3x3 in {spec.groups} groups of {spec.width_per_group}"
        elif spec.width_per_group != 64:
            blocks += f"; 3x3 {spec.width_per_group // 64}x wide"
        if spec.deep_stem:
            blocks += "; deep stem"
        if spec.avg_down:
            blocks += "; pooled projections"
        if spec.project_first:
            blocks += "; each stage's first block projects"
        if spec.se_ratio:
            blocks += f"; SE 1/{round(1 / spec.se_ratio)}"
        if spec.widen_factor:
            blocks += f"; {spec.widen_factor}x wide"
        if spec.preact:
            blocks += "; pre-activation" + (", stride in each stage's last block" if spec.stride_last else
                                             ", -inf-padded max pool" if spec.inf_pool_padding else "")
        counted = spec.params_source or ("its option-A ResNet's" if not spec.residual else "")
        print(f"| {name} | {spec.family} {side}x{side} | {spec.block} {blocks} | "
              f"{params:,} | {counted} | {macs / 1e9:.3f} G | {paper} |")


if __name__ == "__main__":
    app.run(main)
