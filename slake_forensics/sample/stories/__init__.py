"""Incident stories woven into the background, each with its answer key."""
