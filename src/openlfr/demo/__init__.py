"""Demo material generated at run time from package-shipped photos."""
