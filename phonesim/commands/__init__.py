"""Subcommands of the ``phonesim`` command line, one module each (see :mod:`phonesim.cli`)."""
