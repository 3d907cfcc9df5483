"""Translation scores with sacreBLEU (Post 2018): corpus BLEU and chrF on detokenised text.

The signature string goes with every score, so a number can always say how it was computed.
BLEU tokenises Chinese with sacreBLEU's `zh` tokenizer (the paper's 'tok.zh' for En-Zh), every
other target language with the default `13a`. References are one per sentence, or several per
item (captioning): sacreBLEU then scores against the first k of every item's references, k the
fewest any item has (sacreBLEU takes k parallel reference streams), and says k.
"""

from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF


def corpus_scores(hypotheses: list[str], references: list[str] | list[list[str]], target_lang: str) -> dict:
    """BLEU and chrF of the hypotheses; references: one string per hypothesis, or a list of them."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    several = bool(references) and isinstance(references[0], list)
    if several and any(not refs for refs in references):
        raise ValueError(f"item {next(i for i, refs in enumerate(references) if not refs)} has no reference")
    per_item = min(len(refs) for refs in references) if several and references else 1
    streams = [[refs[k] for refs in references] for k in range(per_item)] if several else [references]
    bleu = BLEU(tokenize="zh" if target_lang == "zh" else "13a")
    chrf = CHRF()
    bleu_score = bleu.corpus_score(hypotheses, streams)
    chrf_score = chrf.corpus_score(hypotheses, streams)
    return {"bleu": bleu_score.score, "bleu_signature": str(bleu.get_signature()), "references_per_item": per_item,
            "bleu_details": {"precisions": bleu_score.precisions, "bp": bleu_score.bp,
                             "sys_len": bleu_score.sys_len, "ref_len": bleu_score.ref_len},
            "chrf": chrf_score.score, "chrf_signature": str(chrf.get_signature())}
