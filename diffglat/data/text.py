"""Sentence normalisation and tokenisation per language, and detokenisation back to plain text.

The paper's preprocessing follows Zhou et al. (2020) and Kasai et al. (2020): Moses-tokenised text
segmented into BPE subwords. Per sentence:

  normalise   control and format characters removed; Unicode NFKC (NFC for Chinese, where NFKC
              would turn the full-width ，？！ the references use into ASCII); Moses punctuation
              normalisation (not for Chinese, for the same reason); Romanian ş ţ (cedilla) to
              ș ț (comma below) as in WMT16; whitespace collapsed to single spaces.
  tokenise    Moses tokenisation (sacremoses, no escaping); Chinese is segmented into words with
              jieba (pure Python, ships its dictionary), so BPE merges stay inside words as they
              do for the space-separated languages.
  detokenise  the inverse, applied to model output before sacreBLEU scores it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from functools import lru_cache

from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer

LANGUAGES = ("en", "de", "fr", "es", "ro", "zh")
CEDILLA_TO_COMMA = str.maketrans("şţŞŢ", "șțȘȚ")
# Chinese characters, CJK punctuation and full-width forms: detokenised Chinese has no space
# next to any of them.
CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
SPACE_BY_CJK = re.compile(f"(?<=[{CJK}]) | (?=[{CJK}])")


@lru_cache(maxsize=None)
def _moses(lang: str) -> tuple[MosesPunctNormalizer, MosesTokenizer, MosesDetokenizer]:
    return MosesPunctNormalizer(lang), MosesTokenizer(lang), MosesDetokenizer(lang)


@lru_cache(maxsize=None)
def _jieba():
    with warnings.catch_warnings():  # jieba 0.42 imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import jieba
    jieba.setLogLevel(logging.WARNING)
    return jieba


def _check(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r} (supported: {', '.join(LANGUAGES)})")


def normalise(text: str, lang: str) -> str:
    """A raw sentence -> its normalised form ("" when nothing printable is left)."""
    _check(lang)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf") or c.isspace())
    if lang == "zh":
        text = unicodedata.normalize("NFC", text)
    else:
        text = _moses(lang)[0].normalize(unicodedata.normalize("NFKC", text))
    if lang == "ro":
        text = text.translate(CEDILLA_TO_COMMA)
    return " ".join(text.split())


def tokenise(text: str, lang: str) -> str:
    """A normalised sentence -> space-separated tokens."""
    _check(lang)
    if lang == "zh":
        return " ".join(word for word in _jieba().lcut(text) if not word.isspace())
    return " ".join(_moses(lang)[1].tokenize(text, escape=False))  # (its string form can end in a space)


def detokenise(text: str, lang: str) -> str:
    """Space-separated tokens (e.g. decoded model output) -> plain text for sacreBLEU."""
    _check(lang)
    if lang == "zh":
        return SPACE_BY_CJK.sub("", text)
    return _moses(lang)[2].detokenize(text.split())
