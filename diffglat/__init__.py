"""diffglat: a reproducible pipeline for the Diffusion Glancing Transformer paper."""

__version__ = "0.1.0"
