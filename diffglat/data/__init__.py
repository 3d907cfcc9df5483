"""Corpora, dictionaries, synthetic generators and token batching (imports nothing else of diffglat)."""
