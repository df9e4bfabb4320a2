"""Evaluation reports for the joint office: figure arithmetic and disclosure control, no I/O."""

from hub.reports.suppression import Share, SuppressedRow, share, suppress_row

__all__ = ["Share", "SuppressedRow", "share", "suppress_row"]
