"""Caption and paraphrase scores with pycocoevalcap, the COCO caption evaluation code the paper's
appendix H points to (for MS-COCO: BLEU-4, METEOR, ROUGE-L, CIDEr; for QQP: BLEU-4 and ROUGE-L).

What the COCO evaluation does, and so what these numbers mean:
- every text goes through its PTB tokenizer (Stanford CoreNLP 3.4.1, run with Java): lowercased,
  split, punctuation dropped;
- each hypothesis is scored against all references of its item (five captions of an image, one
  paraphrase of a question);
- BLEU-4 is corpus BLEU (no smoothing, closest-reference brevity penalty); ROUGE-L the mean over
  items of an LCS F-measure (beta 1.2) of the best precision and the best recall over the item's
  references (which may come from different references); METEOR 1.5 (Java) with its English
  paraphrase table, over the pooled statistics of all items; CIDEr-D with document frequencies
  from the references of the scored set.
Scores are percentages (x100), as the paper prints them (CIDEr 112.3 is pycocoevalcap's 1.123).
SPICE is left out: its first use downloads Stanford CoreNLP models, and this project runs offline.
"""

from __future__ import annotations

import shutil

METRICS = ("bleu4", "meteor", "rouge_l", "cider")


class JavaMissing(RuntimeError):
    """pycocoevalcap's tokenizer and METEOR run `java`, which is not on PATH."""


def require_java() -> None:
    if shutil.which("java") is None:
        raise JavaMissing("pycocoevalcap needs Java (its PTB tokenizer and METEOR run `java`), which is not on PATH: "
                          "install a headless JRE (Debian: apt-get install default-jre-headless; `make setup` does "
                          "this as root)")


def _scorer(name: str):
    # imported here: pycocoevalcap is only needed when a caption or paraphrase set is scored
    if name == "bleu4":
        from pycocoevalcap.bleu.bleu import Bleu
        return Bleu(4)
    if name == "meteor":
        from pycocoevalcap.meteor.meteor import Meteor
        return Meteor()
    if name == "rouge_l":
        from pycocoevalcap.rouge.rouge import Rouge
        return Rouge()
    from pycocoevalcap.cider.cider import Cider
    return Cider()


def coco_scores(hypotheses: list[str], references: list[list[str]], metrics: tuple[str, ...] = METRICS) -> dict:
    """{metric: percentage} of the hypotheses, item i against all of references[i]."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} reference sets")
    if not hypotheses:
        raise ValueError("no hypotheses to score")
    if any(not refs for refs in references):
        raise ValueError(f"item {next(i for i, refs in enumerate(references) if not refs)} has no reference")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown COCO metric {unknown[0]!r} (known: {', '.join(METRICS)})")
    require_java()
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    refs = tokenizer.tokenize({i: [{"caption": r} for r in item] for i, item in enumerate(references)})
    hyps = tokenizer.tokenize({i: [{"caption": h}] for i, h in enumerate(hypotheses)})
    scores = {}
    for name in metrics:
        scorer = _scorer(name)
        try:
            value, _ = scorer.compute_score(refs, hyps, verbose=0) if name == "bleu4" else scorer.compute_score(refs, hyps)
        finally:
            if name == "meteor":
                scorer.__del__()  # ends its Java process now (1.2 has no close(); a second call is harmless)
        scores[name] = 100 * (value[3] if name == "bleu4" else value)
    return scores
