"""Small shims so the package needs nothing beyond httpx and websockets."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

__all__ = ["override"]

if sys.version_info >= (3, 12):
    from typing import override
elif TYPE_CHECKING:
    from typing_extensions import override
else:

    def override(func):  # type: ignore[no-untyped-def]  # runtime no-op before 3.12
        return func
