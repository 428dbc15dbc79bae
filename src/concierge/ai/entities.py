"""Entity detection: which options of a ticket field a customer's message mentions.

Admins mark a dropdown or multi-select custom field "Detect from customers'
messages" and may give each option extra phrases that mean it ("s24" for
"Galaxy S24"). Triage then looks for every option's label and phrases in the
message. Matching is deliberately plain and explainable (no model):

* words, not characters: the text and each phrase are split into words of
  letters or of digits, so "s24" never matches inside "s240" and "Galaxy-S24",
  "galaxy  s24" and "Galaxy S 24" are all the words ``galaxy s 24``;
* case and accents do not matter ("Crème" = "creme", "STRASSE" = "straße");
* where phrases overlap, the longest wins ("Galaxy S24 Ultra" over "Galaxy S24");
* an option the customer says they do not have is not theirs: "I don't have
  an iPhone, it's a Pixel 8" names the Pixel 8 only (``_is_negated``).

This module is pure logic over plain data; ``ai.actions`` reads the fields and
stores what it finds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# A word is a run of letters or a run of digits (after folding case and accents):
# "iPhone14" and "iphone 14" are both the words "iphone", "14".
_WORD = re.compile(r"[^\W\d_]+|\d+")

# Only this much of a message is read (the same bound as the classifiers').
MAX_TEXT_CHARS = 2000

# Negation (``_is_negated``). A mention is negated when a cue governs it
# directly: the cue, then at most NEGATION_REACH of the filler words, then the
# option, within one clause. Fillers are articles, possessives and verbs of
# having or using, so "not an iPhone", "no longer using my Pixel", "I don't
# own a Galaxy" are negated, while "doesn't work on my iPhone" (the usual
# support sentence: the phone is theirs) and "my iPhone is not charging" are
# not. "can't" and "won't" are left out on purpose: "I can't use my iPhone"
# is a problem with the iPhone. English first, with the plain cues and
# articles of French, Spanish and German.
NEGATION_CUES = frozenset(
    {"not", "no", "never", "without", "nor", "neither", "dont", "doesnt", "didnt", "isnt"}
    | {"arent", "wasnt", "werent", "havent", "hasnt", "hadnt"}
    | {"pas", "sans", "jamais", "sin", "nunca", "nicht", "kein", "keine", "keinen", "ohne"}
)
# The stem of an English contraction split at its apostrophe: "don't" -> "don", "t".
NEGATED_CONTRACTION_STEMS = frozenset(
    {"don", "doesn", "didn", "isn", "aren", "wasn", "weren", "haven", "hasn", "hadn"}
)
NEGATION_FILLERS = frozenset(
    {"a", "an", "the", "my", "our", "any", "this", "that", "longer", "even", "really"}
    | {"have", "has", "had", "having", "own", "owns", "owned", "use", "uses", "using", "used"}
    | {"on", "with", "for", "about", "of", "de", "d", "un", "une", "mon", "ma", "le", "la"}
    | {"una", "mi", "el", "ein", "eine", "einen", "mein", "meine", "meinen", "das", "der"}
)
NEGATION_REACH = 3
# Punctuation that ends a clause: a cue before it does not reach past it.
_CLAUSE_BREAK = re.compile(r"[.,;:!?()\n]")


def fold(text: str) -> str:
    """``text`` without case or accents: "Crème Brûlée" -> "creme brulee"."""
    return "".join(_fold_characters(text)[0])


def _fold_characters(text: str) -> tuple[list[str], list[int]]:
    """The folded characters and, for each, the index of the character it came from.

    Folding can change lengths ("ß" -> "ss", "é" -> "e" + accent dropped); the
    index map lets a match be shown as the customer wrote it.
    """
    folded: list[str] = []
    origins: list[int] = []
    for index, character in enumerate(text):
        for piece in unicodedata.normalize("NFKD", character):
            if unicodedata.combining(piece):
                continue
            for lowered in piece.casefold():
                folded.append(lowered)
                origins.append(index)
    return folded, origins


def words(text: str) -> tuple[str, ...]:
    """The words a phrase is matched by (case and accents folded)."""
    return tuple(_WORD.findall(fold(text)))


@dataclass(frozen=True)
class _Word:
    text: str  # folded
    start: int  # in the original text
    end: int


def _words_with_positions(text: str) -> list[_Word]:
    folded, origins = _fold_characters(text)
    joined = "".join(folded)
    return [
        _Word(match.group(), origins[match.start()], origins[match.end() - 1] + 1)
        for match in _WORD.finditer(joined)
    ]


@dataclass(frozen=True)
class Mention:
    """One place the message names an option."""

    option: str
    matched: str  # the words as the customer wrote them, e.g. "Galaxy S24"
    negated: bool = False  # "not an iPhone": named, and said not to be theirs


class OptionMatcher:
    """Finds a field's options in texts; built once per field from its labels and phrases."""

    def __init__(self, options: Sequence[str], phrases: Mapping[str, Iterable[str]]):
        # first word -> [(words, option)], longest first, so the first hit is the longest.
        self._by_first_word: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        seen: set[tuple[str, ...]] = set()
        for option in options:
            for phrase in [option, *phrases.get(option, ())]:
                phrase_words = words(phrase)
                if not phrase_words or phrase_words in seen:
                    continue  # an earlier option claimed these words: it keeps them
                seen.add(phrase_words)
                self._by_first_word.setdefault(phrase_words[0], []).append((phrase_words, option))
        for candidates in self._by_first_word.values():
            candidates.sort(key=lambda candidate: len(candidate[0]), reverse=True)

    def find(self, text: str) -> list[Mention]:
        """Every mention in the order the text makes them (overlapping ones: the longest)."""
        text = text[:MAX_TEXT_CHARS]
        found = _words_with_positions(text)
        folded = [word.text for word in found]
        mentions: list[Mention] = []
        position = 0
        previous_end: int | None = None  # the word after the last mention
        while position < len(found):
            hit = self._longest_at(folded, position)
            if hit is None:
                position += 1
                continue
            length, option = hit
            matched = text[found[position].start : found[position + length - 1].end]
            negated = _is_negated(found, text, position) or (
                # "not a Pixel or an S24": "or" carries the negation on.
                previous_end is not None
                and mentions[-1].negated
                and _only_alternatives_between(found, text, previous_end, position)
            )
            mentions.append(Mention(option, " ".join(matched.split()), negated))
            position += length
            previous_end = position
        return mentions

    def _longest_at(self, folded: list[str], position: int) -> tuple[int, str] | None:
        for phrase_words, option in self._by_first_word.get(folded[position], ()):
            end = position + len(phrase_words)
            if tuple(folded[position:end]) == phrase_words:
                return len(phrase_words), option
        return None


def _is_negated(found: list[_Word], text: str, position: int) -> bool:
    """Whether a negation cue governs the mention starting at word ``position``.

    Walks back over at most NEGATION_REACH filler words to a cue, never past
    the end of a clause.
    """
    index = position - 1
    fillers = 0
    while index >= 0:
        if _CLAUSE_BREAK.search(text, found[index].end, found[index + 1].start):
            return False
        word = found[index].text
        if word in NEGATION_CUES:
            return True
        if word == "t" and index > 0 and found[index - 1].text in NEGATED_CONTRACTION_STEMS:
            return not _CLAUSE_BREAK.search(text, found[index - 1].end, found[index].start)
        if word not in NEGATION_FILLERS or fillers == NEGATION_REACH:
            return False
        fillers += 1
        index -= 1
    return False


def _only_alternatives_between(found: list[_Word], text: str, start: int, end: int) -> bool:
    """Whether words ``start``..``end`` are "or"/"nor" and fillers, within one clause."""
    between = [word.text for word in found[start:end]]
    if not between or not {"or", "nor"} & set(between):
        return False
    if any(word not in NEGATION_FILLERS | {"or", "nor"} for word in between):
        return False
    return not _CLAUSE_BREAK.search(text, found[start - 1].end, found[end].start)


@dataclass(frozen=True)
class Detection:
    """What a message says about one field: the value, how sure, and why."""

    value: str | list[str]  # a dropdown's option, or a multi-select's options (sorted)
    confidence: float
    matched: list[str]  # the distinct words matched, in text order
    ambiguous_with: list[str]  # a dropdown's other options also mentioned
    negated: list[str] = field(default_factory=list)  # words matched but said not to be theirs

    @property
    def label(self) -> str:
        """The value as one line (a multi-select's options joined by commas)."""
        return self.value if isinstance(self.value, str) else ", ".join(self.value)


def detect(mentions: Sequence[Mention], *, is_multi_select: bool) -> Detection | None:
    """The value mentions give a field; None when nothing was mentioned.

    A multi-select takes every option mentioned. A dropdown takes the first
    one; when the message names other options too, it is ambiguous: the
    confidence is the share of mentions that name the chosen option. Negated
    mentions ("not an iPhone") count for nothing but are listed, so the
    reasons can say what was set aside.
    """
    negated = list(dict.fromkeys(mention.matched for mention in mentions if mention.negated))
    mentions = [mention for mention in mentions if not mention.negated]
    if not mentions:
        return None
    matched = list(dict.fromkeys(mention.matched for mention in mentions))
    options = list(dict.fromkeys(mention.option for mention in mentions))
    if is_multi_select:
        return Detection(sorted(options), 1.0, matched, [], negated)
    chosen = options[0]
    share = sum(mention.option == chosen for mention in mentions) / len(mentions)
    return Detection(chosen, round(share, 3), matched, options[1:], negated)
