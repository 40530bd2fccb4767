"""ingestd: a crash-safe drop-folder ingester that streams files into Pimcore in chunks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ingestd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
