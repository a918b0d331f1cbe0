"""The command bodies, one module per group; ``main`` imports a module only when one of its
commands runs, and each imports its heavy dependencies (PyGithub, DSPy, Jinja2) inside the
function that needs them.

Every command is ``cmd_<name>(args, ctx) -> int``: the parsed arguments and the ``Invocation``
(environment, console, runner I/O) in, the exit code out. ``setup``: init, doctor, schema,
completion; ``loop``: run, train, runs; ``collect``: collect; ``action``: action, respond;
``measure``: report, versions; ``local``: inspect, report-failure.
"""
