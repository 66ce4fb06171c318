"""The package itself: Keras's own load finds its classes whichever is imported first."""

import os
import subprocess
import sys

import numpy as np
import pytest

import keras_resnet


@pytest.mark.slow
@pytest.mark.parametrize("imports", ["import keras, keras_resnet", "import keras_resnet, keras",
                                     "import keras_resnet.export.serving; import keras"])
def test_plain_keras_load_model_finds_the_classes_in_a_fresh_process(imports, tmp_path):
    path = str(tmp_path / "net.keras")
    model = keras_resnet.build("resnet", depth=8, input_shape=(32, 32, 3), mean=np.full((32, 32, 3), 9.0))
    model.save(path)
    code = (f"{imports}; model = keras.saving.load_model({path!r}); "
            "print(type(model).__name__, type(model.get_layer('preprocessing')).__name__, model.count_params())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["ResNet", "MeanSubtraction", str(model.count_params())]


# The package's layers, lowest first: a module imports only modules of its own layer or of lower ones.
LAYERS = ("version", "extras", "files", "settings", "arch", "weights", "factory", "applications", "data", "train",
          "search", "export", "research", "cli", "__main__")
PACKAGE_DIR = os.path.dirname(keras_resnet.__file__)


def _import_graph() -> dict:
    """{module: {modules it imports}} over every import statement of the package, inside functions too."""
    import ast

    graph = {}
    for folder, _, names in os.walk(PACKAGE_DIR):
        for file_name in names:
            if not file_name.endswith(".py"):
                continue
            path = os.path.join(folder, file_name)
            parts = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].split(os.sep)
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            targets = graph.setdefault(module, set())
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "keras_resnet":
                    for alias in node.names:
                        submodule = f"{node.module}.{alias.name}"
                        found = os.path.join(os.path.dirname(PACKAGE_DIR), *submodule.split("."))
                        targets.add(submodule if os.path.exists(found + ".py") or os.path.isdir(found)
                                    else node.module)
                elif isinstance(node, ast.Import):
                    targets.update(a.name for a in node.names if a.name.split(".")[0] == "keras_resnet")
    return graph


def _layer(module: str) -> str:
    return module.split(".")[1]


def test_the_folders_are_layers_that_import_only_downwards():
    graph = _import_graph()
    assert {_layer(m) for m in graph if m != "keras_resnet"} == set(LAYERS)
    upward = sorted(f"{m} imports {t}" for m, targets in graph.items() if m != "keras_resnet" for t in targets
                    if t == "keras_resnet" or LAYERS.index(_layer(t)) > LAYERS.index(_layer(m)))
    assert upward == []


def test_there_is_no_import_cycle_even_through_imports_inside_functions():
    graph = _import_graph()
    graph.pop("keras_resnet")  # the facade imports everything lazily; nothing imports it
    state, cycles = {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
    assert len(graph) >= 45  # every module was read


def test_every_public_name_resolves_to_its_module():
    for name in keras_resnet.__all__:
        assert getattr(keras_resnet, name) is not None, name


BLOCK_TENSORFLOW = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked in this test")
sys.meta_path.insert(0, Block())
"""


@pytest.mark.slow
def test_the_models_and_the_benchmark_need_no_tensorflow():
    """On a machine with Keras on JAX and no TensorFlow (an accelerator host), the networks build and the
    benchmark's settings validate."""
    code = BLOCK_TENSORFLOW + (
        "import keras_resnet\n"
        "from keras_resnet import settings\n"
        "from keras_resnet.research import benchmark\n"
        "settings.validate(benchmark.BenchmarkConfig(model='resnet20', dtypes=('auto',)))\n"
        "model = keras_resnet.build('resnet20')\n"
        "print(model.count_params(), 'tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["271098", "False"]  # resnet20: 269,722 trainable and the BN statistics
