"""One exception base for everything ais-watch raises on purpose (the pyais way)."""


class AisWatchError(Exception):
    """Base of every error ais-watch raises deliberately."""


class ConfigError(AisWatchError):
    """A setting or config file is wrong; the message names the setting and what is wrong."""


class DecodeError(AisWatchError):
    """One input line or message could not be used. `reason` is a short stable label for counters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StoreError(AisWatchError):
    """The database could not be reached or refused a write after retries."""


class ReplayError(AisWatchError):
    """A replay file cannot be read at all (missing, unknown format, a CSV layout it cannot map)."""
