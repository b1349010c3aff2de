"""The per-camera live engine: tracking, best shots, fusion, alerts, metrics."""
