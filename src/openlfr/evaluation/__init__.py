"""Accuracy and equity evaluation: datasets, protocols, metrics and reports."""
