"""Translation scores with sacreBLEU (Post 2018): corpus BLEU and chrF on detokenised text.

The signature string goes with every score, so a number can always say how it was computed.
BLEU tokenises Chinese with sacreBLEU's `zh` tokenizer (the paper's 'tok.zh' for En-Zh), every
other target language with the default `13a`.
"""

from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF


def corpus_scores(hypotheses: list[str], references: list[str], target_lang: str) -> dict:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU(tokenize="zh" if target_lang == "zh" else "13a")
    chrf = CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {"bleu": bleu_score.score, "bleu_signature": str(bleu.get_signature()),
            "bleu_details": {"precisions": bleu_score.precisions, "bp": bleu_score.bp,
                             "sys_len": bleu_score.sys_len, "ref_len": bleu_score.ref_len},
            "chrf": chrf_score.score, "chrf_signature": str(chrf.get_signature())}
