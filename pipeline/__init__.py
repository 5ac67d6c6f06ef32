"""unmark: remove watermarks with a Deep Image Prior, at full resolution."""

__version__ = "0.1.0"
