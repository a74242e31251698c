"""ais-watch: watches ships through AIS and alerts on sanctioned port calls and dark periods."""

__version__ = "0.1.0"
