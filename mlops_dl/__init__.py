"""mlops-dl: the MLOps cycle for transformer text classifiers, as one CLI and one package."""

__version__ = "0.1.0"
