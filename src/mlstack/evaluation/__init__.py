"""Evaluation: metrics from global confusion matrices, and figures."""
