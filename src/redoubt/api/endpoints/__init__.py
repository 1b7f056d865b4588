"""One module per aggregate noun, mirroring ``actions/`` and ``queries/``."""
