"""icml22dl: the fifteen papers of the ICML 2022 "Deep Learning" oral session as reusable
PyTorch components and reproducible claims."""

__version__ = "0.1.0"
