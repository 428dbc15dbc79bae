"""Text helpers shared by indexing and querying: words, passages, highlights."""

from __future__ import annotations

import re

from django.utils.html import escape

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

MAX_QUERY_LENGTH = 200  # characters; longer queries are cut (the limit is named in the UI)
MAX_QUERY_TERMS = 12

# Words that carry no meaning for retrieval. Kept short on purpose: "not",
# "no", "can't" change meaning and stay.
STOPWORDS = frozenset(
    """a an and are as at be been being but by do does did for from had has have i i'm if in
    into is it it's its me my myself of on or our so than that the their them then there these
    they this those to too was we were what when where which who whom why will with would you
    your yours am can could should how please hi hello thanks thank get got""".split()
)


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (letters and digits; apostrophes kept inside words)."""
    return WORD.findall(text.lower().replace("’", "'"))


def query_terms(query: str) -> list[str]:
    """The meaningful words of a query, de-duplicated in order, stopwords dropped.

    When a query is made of stopwords only ("how do I"), they are kept: the
    user asked for them.
    """
    all_words = words(query[:MAX_QUERY_LENGTH])
    meaningful = [word for word in all_words if word not in STOPWORDS] or all_words
    return list(dict.fromkeys(meaningful))[:MAX_QUERY_TERMS]


def passages(text: str, *, limit: int, min_length: int = 12) -> list[str]:
    """Sentences or lines of ``text`` (the first ``limit``), for passage-level vectors."""
    pieces = [piece.strip() for piece in SENTENCE_END.split(text)]
    return [piece for piece in pieces if len(piece) >= min_length][:limit]


def _stem(word: str) -> str:
    """A crude stem for highlighting only (the index has its own stemmer)."""
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def highlight(text: str, terms: list[str], *, length: int = 240) -> str:
    """An escaped excerpt of ``text`` around the first match, matches wrapped in <mark>.

    Escaping happens piece by piece, so nothing from the text (or the query)
    can inject markup: the only tags in the result are our own <mark>s.
    """
    roots = sorted({_stem(term) for term in terms if term}, key=len, reverse=True)
    pattern = (
        re.compile(r"\b(" + "|".join(re.escape(root) for root in roots) + r")\w*", re.IGNORECASE)
        if roots
        else None
    )
    flat = _one_line(text)
    start = 0
    if pattern is not None and (first := pattern.search(flat)) is not None:
        start = max(0, first.start() - length // 3)
        if start:
            # Begin at a word boundary.
            space = flat.find(" ", start)
            start = space + 1 if 0 <= space < first.start() else start
    excerpt = flat[start : start + length]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + length < len(flat) else ""
    if pattern is None:
        return prefix + escape(excerpt) + suffix
    parts: list[str] = []
    position = 0
    for match in pattern.finditer(excerpt):
        parts.append(escape(excerpt[position : match.start()]))
        parts.append("<mark>" + escape(match.group(0)) + "</mark>")
        position = match.end()
    parts.append(escape(excerpt[position:]))
    return prefix + "".join(parts) + suffix


def _one_line(text: str) -> str:
    """``text`` on one line; a line without closing punctuation (a heading, a list
    item) is set off from the next by a middle dot, so they do not read as one sentence."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    return "".join(
        line + ("" if index == len(lines) - 1 else " " if line[-1] in ".!?:;…" else " · ")
        for index, line in enumerate(lines)
    )


def edits1(word: str) -> set[str]:
    """Every string one edit (delete, transpose, replace, insert) away from ``word``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = [left + right[1:] for left, right in splits if right]
    transposes = [
        left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1
    ]
    replaces = [left + c + right[1:] for left, right in splits if right for c in letters]
    inserts = [left + c + right for left, right in splits for c in letters]
    return set(deletes + transposes + replaces + inserts)
