"""CTC-NAT (Libovicky and Helcl 2018): a NAT decoding `upsample` x the source length frames,
trained with CTC against the target (losses/ctc.py) and decoded by collapsing repeats and
dropping blanks (decoding/ctc.py). The vocabulary's <blank> symbol is the CTC blank."""

from __future__ import annotations

from .nat import UpsampledNAT


class CTCNAT(UpsampledNAT):
    """All of it is the upsampled NAT: what makes it CTC is its criterion and its decoding."""
