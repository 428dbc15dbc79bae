"""Semantic candidates: exact cosine search over vectors stored in the database.

Each SearchDocument holds its vectors as float16 bytes: row 0 the whole text
(title + body), row 1 the title, rows 2.. passages (sentences or lines). A
document's semantic score combines them (see ranking.SEMANTIC_WEIGHTS): the
best passage finds an article whose one sentence answers the question even
when the rest of it is about something else.

Search is exact (a matrix-vector product in numpy) over an in-process matrix
per encoder. The matrix loads once, then on each search only rows whose
``revision`` moved since are read again (a changed document's old rows are
masked, not moved; the matrix is rebuilt when a third of it is dead).
A deletion bumps a separate counter and forces a full reload, so deleted
documents never take places among the best semantic candidates.

Why not pgvector: its Debian package (postgresql-15-pgvector) is not
available on this machine's distribution, and an exact scan of a float32
matrix answers within the latency goal at the sizes measured in
bench/search.py; see bench/RESULTS.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from concierge.search.models import IndexState, SearchDocument

ROLE_WHOLE, ROLE_TITLE, ROLE_PASSAGE = 0, 1, 2
LOAD_BATCH = 20_000


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
        rows = SearchDocument.objects.filter(encoder=self.encoder, vector_count__gt=0)
        if after_revision is not None:
            rows = rows.filter(revision__gt=after_revision)
        vectors: list[np.ndarray] = []
        document_ids: list[np.ndarray] = []
        kinds: list[np.ndarray] = []
        roles: list[np.ndarray] = []
        last_id = 0
        while True:
            batch = list(
                rows.filter(id__gt=last_id)
                .order_by("id")
                .values_list("id", "kind", "vector_count", "vectors")[:LOAD_BATCH]
            )
            if not batch:
                break
            last_id = batch[-1][0]
            for document_id, kind, count, data in batch:
                if data is None:
                    continue
                block = unpack(data, count)
                vectors.append(block)
                document_ids.append(np.full(count, document_id, dtype=np.int64))
                kinds.append(np.full(count, self.kind_code(kind), dtype=np.int16))
                role = np.full(count, ROLE_PASSAGE, dtype=np.int8)
                role[0] = ROLE_WHOLE
                if count > 1:
                    role[1] = ROLE_TITLE
                roles.append(role)
        width = vectors[0].shape[1] if vectors else self.vectors.shape[1]
        new_vectors = np.concatenate(vectors) if vectors else np.zeros((0, width), np.float32)
        new_ids = np.concatenate(document_ids) if document_ids else np.zeros(0, np.int64)
        new_kinds = np.concatenate(kinds) if kinds else np.zeros(0, dtype=np.int16)
        new_roles = np.concatenate(roles) if roles else np.zeros(0, np.int8)
        if after_revision is None:
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

    @property
    def size(self) -> int:
        return int(self.alive.size)

    def _rows_of(self, document_ids: set[int]) -> np.ndarray:
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

    def kind_code(self, kind: str) -> int:
        return self.kind_codes.setdefault(kind, len(self.kind_codes))

    def scores(
        self, query_vector: np.ndarray, *, kinds: list[str], allowed_ids: set[int] | None
    ) -> DocumentScores:
        """Per-document cosine similarities of the whole text, the title and the best passage."""
        self.refresh()
        if self.vectors.shape[0] == 0 or self.vectors.shape[1] != query_vector.shape[0]:
            # Nothing indexed yet (or vectors of another width after an encoder change).
            empty = np.zeros(0, dtype=np.float32)
            return DocumentScores(np.zeros(0, np.int64), empty, empty, empty)
        codes = [self.kind_codes[kind] for kind in kinds if kind in self.kind_codes]
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
