"""Labelled synthetic data for tests and evaluation (pure and seeded)."""

from hub.matching.synthetic.documents import generate
from hub.matching.synthetic.generator import Dataset, Label, Payload

__all__ = ["Dataset", "Label", "Payload", "generate"]
