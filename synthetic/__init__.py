"""Labelled synthetic data for tests and evaluation (pure and seeded)."""

from hub.matching.labelled import Label, Payload
from synthetic.documents import generate
from synthetic.generator import Dataset

__all__ = ["Dataset", "Label", "Payload", "generate"]
