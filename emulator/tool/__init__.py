"""mwaa-local as a tool in someone else's project: the `mwaa-local` command a user's Python runs
(launcher.py), which installs mwaa-local's own platform once, beside the user's Python and
never into it (install.py), from the files the wheel carries (bundle.py). Standard library
only: it runs before anything else of mwaa-local is installed."""
