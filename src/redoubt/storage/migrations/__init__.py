"""Alembic migrations; run them with ``redoubt db upgrade``."""
