"""The inspector's widgets, one class per module, each with its own ``DEFAULT_CSS``."""
