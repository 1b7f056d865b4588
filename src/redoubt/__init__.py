"""Redoubt: a self-hosted team chat server and bot platform."""

__version__ = "0.1.0"
