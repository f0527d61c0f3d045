"""The ``cercle`` command line: parsing and the entry point (``main``), one module per
group of commands, their output, and the supervisor of the processes it starts."""
