"""Semantic candidates: exact cosine search over vectors stored in the database.

Each SearchDocument holds its vectors as float16 bytes: row 0 the whole text
(title + body), row 1 the title, rows 2.. passages (sentences or lines, each
embedded after the title: actions.contextual_passage). A
document's semantic score combines them (see ranking.WEIGHTS): the
best passage finds an article whose one sentence answers the question even
when the rest of it is about something else.

Search is exact (a matrix-vector product in numpy) over an in-process matrix
per encoder. The matrix loads once, then on each search only rows whose
``revision`` moved since are read again (a changed document's old rows are
masked, not moved; the matrix is rebuilt when a third of it is dead).
A deletion bumps a separate counter and forces a full reload, so deleted
documents never take places among the best semantic candidates.

Large one-vector-per-document matrices (a million tickets) also get an
approximate index for the searches that must look at every row (semantic
mode, or a hybrid search whose words matched nothing): faiss's inverted
lists (k-means cells, 8-bit scalar-quantised codes, a quarter of the
matrix's memory) propose ANN_CANDIDATES rows from the ANN_PROBES nearest
cells, and those rows are then scored exactly from the matrix. An exact scan
of a million rows costs 50-100 ms on one core; the probe a few ms. Smaller
matrices (articles, customers) stay exact.

Why not pgvector: its Debian package (postgresql-15-pgvector) is not
available on this machine's distribution, and an exact scan of a float32
matrix answers within the latency goal at the sizes measured in
bench/search.py; see bench/RESULTS.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection

from concierge.search.models import IndexState, SearchDocument

ROLE_WHOLE, ROLE_TITLE, ROLE_PASSAGE = 0, 1, 2
LOAD_BATCH = 50_000
# Approximate search (see the module docstring): from ANN_MIN_ROWS rows of one
# vector each; ANN_CELLS_PER_SQRT x sqrt(rows) k-means cells; a query probes
# ANN_PROBES cells and re-scores ANN_CANDIDATES rows exactly. Chosen on the
# 1,000,000-ticket bench index (recall@10 0.99 against the exact scan at 48 of
# 2,000 cells); ``./concierge bench search`` reports recall and cost.
ANN_MIN_ROWS = 200_000
ANN_CELLS_PER_SQRT = 2
ANN_PROBES = 48
ANN_CANDIDATES = 1_000


def pack(vectors: np.ndarray) -> bytes:
    return np.asarray(vectors, dtype=np.float16).tobytes()


def unpack(data: bytes | memoryview, count: int) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype=np.float16).reshape(count, -1).astype(np.float32)


def current_revision() -> tuple[int, int]:
    """(documents version, deletions version): a deletion forces a full reload."""
    versions = dict(
        IndexState.objects.filter(name__in=["documents", "deletions"]).values_list(
            "name", "version"
        )
    )
    return int(versions.get("documents", 0)), int(versions.get("deletions", 0))


@dataclass
class DocumentScores:
    document_ids: np.ndarray  # SearchDocument pks
    whole: np.ndarray
    title: np.ndarray
    best_passage: np.ndarray
    ids_sorted: bool = True  # document_ids ascending (np.unique output is)


class VectorMatrix:
    """All vectors of one encoder, with for every row its document pk, kind and role."""

    def __init__(self, encoder: str) -> None:
        self.encoder = encoder
        self.revision = -1
        self.deletions = -1
        self.vectors = np.zeros((0, 0), dtype=np.float32)  # width set by the first load
        self.document_ids = np.zeros(0, dtype=np.int64)
        self.kinds = np.zeros(0, dtype=np.int16)  # codes, see kind_code()
        self.kind_codes: dict[str, int] = {}
        self.roles = np.zeros(0, dtype=np.int8)
        self.alive = np.zeros(0, dtype=bool)
        self.ids_sorted = True  # document_ids ascending: positions by binary search
        self._single_vectors: bool | None = None
        self._starts: np.ndarray | None = None
        self._ann: Any = None  # faiss index of rows 0..ntotal-1 (see _uses_ann)
        self._ann_builder: threading.Thread | None = None
        self._full_loads = 0  # an ANN index built from an older load is thrown away
        self.approximate = True  # False: always exact (benchmarks compare the two)
        self.lock = threading.Lock()

    def refresh(self) -> None:
        revision, deletions = current_revision()
        if (revision, deletions) == (self.revision, self.deletions):
            return
        with self.lock:
            if (revision, deletions) == (self.revision, self.deletions):
                return
            full = (
                self.revision < 0
                or deletions != self.deletions
                or bool(self.alive.size and (~self.alive).mean() > 0.33)
            )
            self._load(after_revision=None if full else self.revision)
            self.revision, self.deletions = revision, deletions

    def _load(self, *, after_revision: int | None) -> None:
        new_vectors, new_ids, new_kinds, new_roles = self._fetch(after_revision)
        self._single_vectors = None
        self._starts = None
        if after_revision is None:
            self._ann = None  # rebuilt from the new matrix on first use
            self._full_loads += 1
            self.vectors, self.document_ids, self.kinds, self.roles = (
                new_vectors,
                new_ids,
                new_kinds,
                new_roles,
            )
            self.alive = np.ones(len(new_ids), dtype=bool)
            self.ids_sorted = True  # loaded in id order
            return
        # Changed documents: mask their old rows, append the new ones.
        if new_ids.size and self.document_ids.size and new_ids[0] <= self.document_ids[-1]:
            self.ids_sorted = False
        if new_ids.size:
            self.alive &= ~np.isin(self.document_ids, np.unique(new_ids))
        self.vectors = (
            np.concatenate([self.vectors, new_vectors]) if self.vectors.size else new_vectors
        )
        self.document_ids = np.concatenate([self.document_ids, new_ids])
        self.kinds = np.concatenate([self.kinds, new_kinds])
        self.roles = np.concatenate([self.roles, new_roles])
        self.alive = np.concatenate([self.alive, np.ones(len(new_ids), dtype=bool)])
        if self._ann is not None and new_vectors.size:
            # Appended rows join the cells the k-means already has (their
            # positions are the index's next ids); masked rows stay in the
            # index and are dropped from its answers by ``alive``.
            self._ann.add(np.ascontiguousarray(new_vectors, dtype=np.float32))

    def _fetch(
        self, after_revision: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Reads the vectors (newer than ``after_revision``) as row arrays sorted by document.

        One streamed query (a server-side cursor on PostgreSQL) without ORDER BY,
        and the bytes of a whole chunk decoded at once: paging by primary key
        and decoding row by row took 20 s for 200,000 tickets on PostgreSQL.
        """
        table = SearchDocument._meta.db_table
        sql = (
            f"SELECT id, kind, vector_count, vectors FROM {table} "  # noqa: S608 - constants
            "WHERE encoder = %s AND vector_count > 0 AND vectors IS NOT NULL"
        )
        params: list[str | int] = [stored_label(self.encoder)]
        if after_revision is not None:
            sql += " AND revision > %s"
            params.append(after_revision)
        # An incremental load must match the loaded width; a full load takes the rows'.
        width = self.vectors.shape[1] if after_revision is not None and self.vectors.size else 0
        blocks: list[np.ndarray] = []
        id_parts: list[np.ndarray] = []
        count_parts: list[np.ndarray] = []
        kind_parts: list[np.ndarray] = []
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while True:
                batch = cursor.fetchmany(LOAD_BATCH)
                if not batch:
                    break
                ids = np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch))
                counts = np.fromiter((row[2] for row in batch), dtype=np.int64, count=len(batch))
                sizes = np.fromiter(
                    (len(row[3]) for row in batch), dtype=np.int64, count=len(batch)
                )
                if not width:
                    width = int(sizes[0] // counts[0] // 2)
                # Rows of another width (written before an encoder change) are skipped.
                good = sizes == counts * width * 2
                if not good.all():
                    batch = [row for row, ok in zip(batch, good, strict=True) if ok]
                    ids, counts = ids[good], counts[good]
                    if not batch:
                        continue
                data = b"".join(row[3] for row in batch)
                blocks.append(np.frombuffer(data, dtype=np.float16).reshape(-1, width))
                id_parts.append(ids)
                count_parts.append(counts)
                kind_parts.append(
                    np.fromiter(
                        (self.kind_code(row[1]) for row in batch), dtype=np.int16, count=len(batch)
                    )
                )
        if not blocks:
            return (
                np.zeros((0, width), np.float32),
                np.zeros(0, np.int64),
                np.zeros(0, np.int16),
                np.zeros(0, np.int8),
            )
        counts = np.concatenate(count_parts)
        document_ids = np.concatenate(id_parts)
        total = int(counts.sum())
        starts = np.cumsum(counts) - counts
        position = np.arange(total) - np.repeat(starts, counts)
        roles = np.where(
            position == 0, ROLE_WHOLE, np.where(position == 1, ROLE_TITLE, ROLE_PASSAGE)
        ).astype(np.int8)
        row_ids = np.repeat(document_ids, counts)
        row_kinds = np.repeat(np.concatenate(kind_parts), counts)
        matrix = np.concatenate(blocks).astype(np.float32)
        if row_ids.size > 1 and (np.diff(row_ids) < 0).any():
            # Rows come in storage order, nearly always by id: sort when not
            # (stable, so each document keeps its whole/title/passage order).
            order = np.argsort(row_ids, kind="stable")
            matrix, row_ids, row_kinds, roles = (
                matrix[order],
                row_ids[order],
                row_kinds[order],
                roles[order],
            )
        return matrix, row_ids, row_kinds, roles

    def _document_starts(self) -> np.ndarray:
        """Row of each document's first vector (its whole text); needs sorted document_ids."""
        if self._starts is None:
            ids = self.document_ids
            self._starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else ids
        return self._starts

    def _allows_every_document(self, allowed_ids: AbstractSet[int]) -> bool:
        starts = self._document_starts()
        if len(allowed_ids) < starts.size:
            return False
        allowed = np.fromiter(allowed_ids, dtype=np.int64, count=len(allowed_ids))
        return bool(np.isin(self.document_ids[starts], allowed).all())

    def _score_every_row(self, similarities: np.ndarray) -> DocumentScores:
        """Per-document scores when every row counts: slices, no grouping by hash.

        Rows are sorted by document and each document's rows are its whole
        text, then its title, then passages (see _fetch), so a document's
        scores are at fixed offsets from its first row and its best passage is
        one ``maximum.reduceat``.
        """
        if self.single_vectors:
            # One vector per document (tickets): the similarities are the scores.
            return DocumentScores(
                document_ids=self.document_ids,
                whole=similarities,
                title=similarities,
                best_passage=similarities,
                ids_sorted=True,
            )
        starts = self._document_starts()
        rows = similarities.size
        whole = similarities[starts]
        second = np.minimum(starts + 1, rows - 1)
        has_title = (second > starts) & (self.roles[second] == ROLE_TITLE)
        title = np.where(has_title, similarities[second], -1.0).astype(np.float32)
        passage_only = np.where(self.roles == ROLE_PASSAGE, similarities, np.float32(-1.0))
        best = np.maximum.reduceat(passage_only, starts)
        # Same rule as the grouped path: no title or passage -> the whole text's score.
        title = np.where(title < -0.5, whole, title)
        best = np.where(best < -0.5, whole, best)
        return DocumentScores(
            document_ids=self.document_ids[starts], whole=whole, title=title, best_passage=best
        )

    @property
    def single_vectors(self) -> bool:
        """Whether every document has one vector (whole text only), computed once per load."""
        if self._single_vectors is None:
            self._single_vectors = not bool((self.roles != ROLE_WHOLE).any())
        return self._single_vectors

    @property
    def size(self) -> int:
        return int(self.alive.size)

    def _rows_of(self, document_ids: AbstractSet[int]) -> np.ndarray:
        """Row positions of these documents (all their vectors); needs sorted document_ids."""
        wanted = np.fromiter(document_ids, dtype=np.int64)
        wanted.sort()
        left = np.searchsorted(self.document_ids, wanted, side="left")
        right = np.searchsorted(self.document_ids, wanted, side="right")
        counts = right - left
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = np.cumsum(counts) - counts
        return np.repeat(left, counts) + np.arange(total) - np.repeat(offsets, counts)

    def _uses_ann(self) -> bool:
        """Whether this search may go through the ANN index (built in the background first).

        Until the index is ready (seconds to half a minute for a million
        rows) searches scan the matrix exactly, as smaller matrices always do.
        """
        if not self.approximate or self.size < ANN_MIN_ROWS or not self.single_vectors:
            return False
        if self._ann is not None:
            return True
        with self.lock:
            if self._ann_builder is None or not self._ann_builder.is_alive():
                self._ann_builder = threading.Thread(
                    target=self._build_ann,
                    args=(self.vectors, self._full_loads),
                    daemon=True,
                    name="ann-build",
                )
                self._ann_builder.start()
        return False

    def wait_for_ann(self, timeout: float | None = None) -> bool:
        """Blocks until the ANN index is built (tests, benchmarks); True when it is ready."""
        self._uses_ann()
        builder = self._ann_builder
        if builder is not None:
            builder.join(timeout)
        return self._ann is not None

    def _build_ann(self, matrix: np.ndarray, load_number: int) -> None:
        """Trains and fills a faiss inverted-list index over ``matrix`` (this load's rows)."""
        # faiss logs at INFO which CPU build it picked (and that AVX2 is absent).
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
        import faiss

        # One thread: the build runs beside live searches on a small machine.
        faiss.omp_set_num_threads(1)
        rows, dim = matrix.shape
        cells = max(1, int(min(ANN_CELLS_PER_SQRT * np.sqrt(rows), rows / 39)))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim),
            dim,
            cells,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
        # An evenly spaced sample (39 per cell, faiss's minimum) trains the
        # cells: deterministic, and it spans the whole history, not the newest rows.
        step = max(1, rows // (39 * cells))
        index.train(np.ascontiguousarray(matrix[::step], dtype=np.float32))
        for start in range(0, rows, LOAD_BATCH):
            index.add(np.ascontiguousarray(matrix[start : start + LOAD_BATCH], dtype=np.float32))
        index.nprobe = ANN_PROBES
        with self.lock:
            if self._full_loads != load_number:
                return  # the matrix was reloaded meanwhile: the next search builds anew
            # Rows appended by incremental refreshes while building join now.
            if self.vectors.shape[0] > rows:
                index.add(np.ascontiguousarray(self.vectors[rows:], dtype=np.float32))
            self._ann = index

    def _approximate_scores(self, query_vector: np.ndarray, codes: list[int]) -> DocumentScores:
        """Scores of the ANN's candidates only (exact cosines from the matrix)."""
        wanted = min(ANN_CANDIDATES, self.size)
        query = np.ascontiguousarray(query_vector[None, :], dtype=np.float32)
        with self.lock:  # faiss does not search and add (a refresh) at once
            _, found = self._ann.search(query, wanted)
        rows = found[0][found[0] >= 0]
        keep = self.alive[rows]
        if len(codes) < len(self.kind_codes):
            keep &= np.isin(self.kinds[rows], codes)
        rows = rows[keep]
        # One sort, by document id (what DocumentScores wants); rows are in
        # document order or close to it, so the gather below reads forward.
        rows = rows[np.argsort(self.document_ids[rows], kind="stable")]
        similarities = self.vectors[rows] @ query_vector
        ids = self.document_ids[rows]
        return DocumentScores(
            document_ids=ids,
            whole=similarities,
            title=similarities,
            best_passage=similarities,
            ids_sorted=True,
        )

    def kind_code(self, kind: str) -> int:
        return self.kind_codes.setdefault(kind, len(self.kind_codes))

    def scores(
        self, query_vector: np.ndarray, *, kinds: list[str], allowed_ids: AbstractSet[int] | None
    ) -> DocumentScores:
        """Per-document cosine similarities of the whole text, the title and the best passage."""
        self.refresh()
        if self.vectors.shape[0] == 0 or self.vectors.shape[1] != query_vector.shape[0]:
            # Nothing indexed yet (or vectors of another width after an encoder change).
            empty = np.zeros(0, dtype=np.float32)
            return DocumentScores(np.zeros(0, np.int64), empty, empty, empty)
        codes = [self.kind_codes[kind] for kind in kinds if kind in self.kind_codes]
        whole_matrix = (
            len(codes) == len(self.kind_codes) and self.ids_sorted and bool(self.alive.all())
        )
        if whole_matrix and allowed_ids is not None and self._allows_every_document(allowed_ids):
            # A visitor allowed every article (a public help center): the
            # restriction selects nothing away, so skip it.
            allowed_ids = None
        if allowed_ids is None and self._uses_ann():
            return self._approximate_scores(query_vector, codes)
        if whole_matrix and allowed_ids is None:
            return self._score_every_row(self.vectors @ query_vector)
        if allowed_ids is not None and self.ids_sorted:
            # A few allowed documents (a customer's, or lexical candidates to
            # re-rank): find their rows by binary search, not a full pass.
            selected = self._rows_of(allowed_ids)
            keep = self.alive[selected]
            if len(codes) < len(self.kind_codes):
                keep &= np.isin(self.kinds[selected], codes)
            selected = selected[keep]
            mask_size = self.alive.size
        else:
            mask = self.alive.copy()
            if len(codes) < len(self.kind_codes):
                mask &= np.isin(self.kinds, codes)
            if allowed_ids is not None:
                mask &= np.isin(self.document_ids, np.fromiter(allowed_ids, dtype=np.int64))
            selected = np.flatnonzero(mask)
            mask_size = mask.size
        # Scoring every row and masking afterwards is cheaper than copying the
        # selected rows out of a large matrix; a small selection is copied.
        if selected.size < 0.2 * mask_size:
            similarities = self.vectors[selected] @ query_vector
        else:
            similarities = (self.vectors @ query_vector)[selected]
        ids = self.document_ids[selected]
        roles = self.roles[selected]
        if not (roles != ROLE_WHOLE).any():
            # One vector per document (tickets): no grouping needed.
            return DocumentScores(
                document_ids=ids,
                whole=similarities,
                title=similarities,
                best_passage=similarities,
                ids_sorted=self.ids_sorted,
            )
        unique_ids, owner = np.unique(ids, return_inverse=True)
        whole = np.full(unique_ids.size, -1.0, dtype=np.float32)
        title = np.full(unique_ids.size, -1.0, dtype=np.float32)
        best = np.full(unique_ids.size, -1.0, dtype=np.float32)
        is_whole = roles == ROLE_WHOLE
        whole[owner[is_whole]] = similarities[is_whole]
        is_title = roles == ROLE_TITLE
        title[owner[is_title]] = similarities[is_title]
        is_passage = roles == ROLE_PASSAGE
        np.maximum.at(best, owner[is_passage], similarities[is_passage])
        # A document without a title or passages scores with its whole text there.
        title = np.where(title < -0.5, whole, title)
        best = np.where(best < -0.5, whole, best)
        return DocumentScores(document_ids=unique_ids, whole=whole, title=title, best_passage=best)


# Bumped when what an encoder's stored vectors mean changes (another passage
# recipe, another fusion share): rows stored under the old label are then
# ignored by searches (ranked by words alone) and re-embedded in the
# background by the periodic job ``refresh_search_vectors``. v2: article
# passages embedded with their title, MiniLM/e5 mixed 40/60.
# Not bumped for the faster MPNet build (search/mpnet.py, 8-bit throughout): its
# vectors agree with the previous build's at cosine 0.994-0.997, a smaller
# change than words-only search while a large help center re-embeds.
# v3 (v2 for MPNet's mix): an article's passages are its lines (paragraphs, list
# items, headings; knowledge.content.plain_body), no longer its flattened sentences.
FORMAT_VERSIONS = {"default": 3, "minilm+e5": 3, "mpnet+minilm+e5": 2}


def stored_label(encoder: str) -> str:
    """The ``SearchDocument.encoder`` value of rows embedded by ``encoder`` today."""
    version = FORMAT_VERSIONS.get(encoder, 1)
    return encoder if not encoder or version == 1 else f"{encoder}@v{version}"


_matrices: dict[str, VectorMatrix] = {}
_matrices_lock = threading.Lock()


def matrix(encoder: str) -> VectorMatrix:
    with _matrices_lock:
        if encoder not in _matrices:
            _matrices[encoder] = VectorMatrix(encoder)
        return _matrices[encoder]


def reset_caches() -> None:
    """Forgets every loaded matrix (tests switch databases under the same process)."""
    with _matrices_lock:
        _matrices.clear()
