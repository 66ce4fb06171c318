"""Standard TFLite model metadata: what MediaPipe Tasks, the LiteRT support library and Android Studio read.

An exported classifier carries its name, description, version and author,
its input's image properties (RGB, and the normalisation the file expects),
its output's labels as an associated file packed inside the .tflite, and the
output's score range (probabilities, 0 to 1). MediaPipe's `ImageClassifier`
refuses a float model without the normalisation, and names no categories
without the labels.

Why this path: the metadata schema and its writers are maintained in
MediaPipe (`mediapipe.tasks.metadata`, `mediapipe.tasks.python.metadata`),
whose wheels install beside TensorFlow 2.21. `tflite-support`, where they
lived before, is archived and pins a protobuf older than TensorFlow's. The
MediaPipe wheels lack one compiled module, `_pywrap_metadata_version`, that
`metadata.MetadataPopulator` (and so every ready-made writer) imports only to
compute the minimum parser version. So the tensors' metadata is built with
MediaPipe's own `metadata_info` classes, exactly as its `ImageClassifier`
writer builds them, and `populate` does the populator's two steps here: the
metadata buffer into the model's `TFLITE_METADATA` entry, the associated
files appended as a zip.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Optional, Sequence

import flatbuffers
from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
from mediapipe.tasks.python.metadata.metadata_writers import metadata_info
from tensorflow.lite.python import schema_py_generated as schema_fb
from tensorflow.lite.tools import flatbuffer_utils

from keras_resnet.files import LABELS_FILE, labels_text

METADATA_FIELD = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
# Every field written here (model info, NormalizationOptions, ImageProperties,
# stats, TENSOR_AXIS_LABELS files without a version) is in the schema's first
# release; the compiled GetMinimumMetadataParserVersion gives 1.0.0 for them.
MIN_PARSER_VERSION = "1.0.0"
AUTHOR = "keras_resnet"
INPUT_NAME = "image"
OUTPUT_NAME = "probability"


@dataclasses.dataclass(frozen=True)
class ClassifierInfo:
    """What the metadata says of one exported image classifier.

    `norm_mean` and `norm_std` are per channel, (pixel - mean) / std: what an
    app applies before the file's input. 0 and 1 for this package's files,
    whose normalisation is inside the model.
    """

    name: str
    description: str
    version: str
    labels: Sequence[str]
    norm_mean: Sequence[float] = (0.0, 0.0, 0.0)
    norm_std: Sequence[float] = (1.0, 1.0, 1.0)
    author: str = AUTHOR
    license: Optional[str] = None


def _tensor_type(model: schema_fb.ModelT, index: int) -> int:
    subgraph = model.subgraphs[0]
    return subgraph.tensors[index].type


def build_metadata(model: schema_fb.ModelT, info: ClassifierInfo) -> bytes:
    """The metadata flatbuffer of an image classifier, as MediaPipe's ImageClassifier writer builds it."""
    subgraph = model.subgraphs[0]
    if len(subgraph.inputs) != 1 or len(subgraph.outputs) != 1:
        raise ValueError(f"An image classifier has one input and one output; this file has "
                         f"{len(subgraph.inputs)} and {len(subgraph.outputs)}")
    general = metadata_info.GeneralMd(name=info.name, version=info.version, description=info.description,
                                      author=info.author, licenses=info.license)
    image = metadata_info.InputImageTensorMd(
        name=INPUT_NAME, description="Input image: raw RGB pixels 0-255, resized to the input size.",
        norm_mean=list(info.norm_mean), norm_std=list(info.norm_std),
        color_space_type=metadata_fb.ColorSpaceType.RGB, tensor_type=_tensor_type(model, subgraph.inputs[0]))
    # LabelFileMd records the base name of the file packed beside the metadata (`populate`).
    scores = metadata_info.ClassificationTensorMd(
        name=OUTPUT_NAME, description=f"Probabilities of the {len(info.labels)} labels (softmax: they sum to 1).",
        label_files=[metadata_info.LabelFileMd(file_path=LABELS_FILE)],
        tensor_type=_tensor_type(model, subgraph.outputs[0]))
    graph = metadata_fb.SubGraphMetadataT()
    graph.inputTensorMetadata = [image.create_metadata()]
    graph.outputTensorMetadata = [scores.create_metadata()]
    metadata = general.create_metadata()
    metadata.subgraphMetadata = [graph]
    metadata.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(metadata.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def populate(flatbuffer: bytes, info: ClassifierInfo) -> bytes:
    """`flatbuffer` with `info` as its TFLite metadata and the labels packed inside.

    Raises:
        ValueError: the file is not a one-input, one-output model, or already
            carries metadata.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    if any(entry.name.decode() == METADATA_FIELD for entry in model.metadata or []):
        raise ValueError("This .tflite file already carries TFLite metadata")
    if len(info.labels) != _num_classes(model):
        raise ValueError(f"{len(info.labels)} labels for a model of {_num_classes(model)} classes")
    buffer = schema_fb.BufferT()
    buffer.data = build_metadata(model, info)
    model.buffers = (model.buffers or []) + [buffer]
    entry = schema_fb.MetadataT()
    entry.name = METADATA_FIELD
    entry.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    # The associated files follow the flatbuffer as a zip, as MetadataPopulator
    # writes them: readers find the zip's central directory from the end.
    packed = io.BytesIO(flatbuffer_utils.convert_object_to_bytearray(model))
    packed.seek(0, io.SEEK_END)
    with zipfile.ZipFile(packed, "a") as archive:
        archive.writestr(LABELS_FILE, labels_text(info.labels))
    return packed.getvalue()


def _num_classes(model: schema_fb.ModelT) -> int:
    subgraph = model.subgraphs[0]
    return int(subgraph.tensors[subgraph.outputs[0]].shape[-1])


def read(data: bytes) -> dict:
    """The metadata of a .tflite file's bytes, as a reader (MediaPipe, Android Studio) sees it.

    Returns:
        {"name", "description", "version", "author", "min_parser_version",
        "input": {"name", "color_space", "mean", "std"}, "output": {"name",
        "description", "min", "max", "labels_file", "labels"}}; the labels are
        read from the file packed inside.

    Raises:
        ValueError: the file carries no TFLite metadata.
    """
    model = schema_fb.Model.GetRootAsModel(data, 0)
    buffer_index = None
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name().decode() == METADATA_FIELD:
            buffer_index = model.Metadata(i).Buffer()
    if buffer_index is None:
        raise ValueError("This .tflite file carries no TFLite metadata")
    raw = model.Buffers(buffer_index).DataAsNumpy().tobytes()
    if not metadata_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(raw, 0):
        raise ValueError("The TFLITE_METADATA buffer is not a metadata flatbuffer (identifier M001)")
    metadata = metadata_fb.ModelMetadataT.InitFromObj(metadata_fb.ModelMetadata.GetRootAsModelMetadata(raw, 0))
    graph = metadata.subgraphMetadata[0]
    image, scores = graph.inputTensorMetadata[0], graph.outputTensorMetadata[0]
    normalization = next(unit.options for unit in image.processUnits
                         if unit.optionsType == metadata_fb.ProcessUnitOptions.NormalizationOptions)
    files = zipfile.ZipFile(io.BytesIO(data))
    labels_file = scores.associatedFiles[0].name.decode()
    decode = (lambda value: value.decode() if isinstance(value, bytes) else value)
    return {
        "name": decode(metadata.name), "description": decode(metadata.description),
        "version": decode(metadata.version), "author": decode(metadata.author),
        "min_parser_version": decode(metadata.minParserVersion),
        "input": {"name": decode(image.name), "color_space": image.content.contentProperties.colorSpace,
                  "mean": [float(v) for v in normalization.mean], "std": [float(v) for v in normalization.std]},
        "output": {"name": decode(scores.name), "description": decode(scores.description),
                   "min": [float(v) for v in scores.stats.min], "max": [float(v) for v in scores.stats.max],
                   "labels_file": labels_file,
                   "labels_file_type": scores.associatedFiles[0].type,
                   "labels": files.read(labels_file).decode().splitlines()},
    }
