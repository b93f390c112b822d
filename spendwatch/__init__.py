"""spendwatch: LLM API spend monitoring. The spine: config, store, scheduler, CLI."""

from typing import Any

__all__ = ["__version__", "open"]
__version__ = "0.1.0"


def open(target: Any, **kwargs: Any) -> Any:  # noqa: A001
    """A read-only pandas handle on a store: `spendwatch.open("config.toml").chargeback("2026-11")`.

    See spendwatch.api (imported lazily so that the CLI starts without pandas)."""
    from .api import open as _open

    return _open(target, **kwargs)
