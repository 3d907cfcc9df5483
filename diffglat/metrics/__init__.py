"""Scorers (imports nothing of diffglat but `data`)."""
