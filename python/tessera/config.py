"""Package settings, set like `dask.config.set`: `tessera.config.set(progress=False)`
for the rest of the session, or `with tessera.config.set(progress=False): ...` for a block."""

import os

_DEFAULTS = {
    # None: a bar in a terminal or notebook unless TESSERA_PROGRESS=0; True/False force it.
    "progress": None,
    # Seconds a computation runs before its bar shows.
    "progress_minimum": 1.0,
}
_SETTINGS = dict(_DEFAULTS)


class set:  # noqa: N801 - named like dask.config.set
    """Change settings now; used as a context manager, restore them at the block's end."""

    def __init__(self, **options):
        unknown = sorted(k for k in options if k not in _DEFAULTS)
        if unknown:
            raise KeyError(f"unknown tessera settings {unknown}; known: {sorted(_DEFAULTS)}")
        if "progress_minimum" in options:
            options["progress_minimum"] = float(options["progress_minimum"])
            if options["progress_minimum"] < 0:
                raise ValueError("progress_minimum must be at least 0 seconds")
        if options.get("progress") not in (None, True, False):
            raise TypeError("progress must be True, False or None")
        self._previous = {k: _SETTINGS[k] for k in options}
        _SETTINGS.update(options)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _SETTINGS.update(self._previous)
        return False


def get(name):
    """The current value of setting `name`."""
    if name not in _SETTINGS:
        raise KeyError(f"unknown tessera setting {name!r}; known: {sorted(_DEFAULTS)}")
    return _SETTINGS[name]


def progress_enabled():
    """Whether default progress bars may show (the setting, else `TESSERA_PROGRESS`)."""
    chosen = _SETTINGS["progress"]
    if chosen is not None:
        return chosen
    return os.environ.get("TESSERA_PROGRESS", "1") != "0"
