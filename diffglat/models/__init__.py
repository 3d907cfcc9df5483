"""Model families: each returns a DecoderOutput. Which config name builds which class, with which
criterion and generator, is the family table in cli/families.py."""

from __future__ import annotations

from .ar import ARTransformer
from .ctc import CTCNAT
from .dat import DATransformer
from .diffglat import DiffGLAT, DiffGLATCTC, DiffGLATNAT
from .glat import GlancingNAT
from .glat_ctc import GlancingCTCNAT
from .glat_dat import GlancingDAT
from .nat import NATransformer
from .output import DecoderOutput

__all__ = ["ARTransformer", "NATransformer", "GlancingNAT", "CTCNAT", "DATransformer", "GlancingCTCNAT", "GlancingDAT",
           "DiffGLAT", "DiffGLATCTC", "DiffGLATNAT", "DecoderOutput"]
