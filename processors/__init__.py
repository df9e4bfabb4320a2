"""Faust processors: thin agents that call the domain core in hub/."""
