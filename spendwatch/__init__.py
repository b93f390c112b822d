"""spendwatch: LLM API spend monitoring. The spine: config, store, scheduler, CLI."""

__all__ = ["__version__"]
__version__ = "0.1.0"
