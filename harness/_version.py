"""The harness's version, in a module of its own so anything can import it without cycles."""

__version__ = "0.2.0"
