"""mlstack: a DVC + MLflow reference stack for satellite change detection and novel view synthesis."""

__version__ = "0.1.0"
