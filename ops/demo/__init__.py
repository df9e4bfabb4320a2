"""`hubctl demo`: the exchange brought up with demo participants of several provinces."""

from ops.demo.namespace import DemoRun, default_root, load_run, retire
from ops.demo.runner import Demo, Outcome, where_next

__all__ = ["Demo", "DemoRun", "Outcome", "default_root", "load_run", "retire", "where_next"]
