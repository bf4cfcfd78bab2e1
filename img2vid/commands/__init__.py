"""The bodies of the ``img2vid`` subcommands, one module each; ``img2vid.cli`` builds the
parser and imports a command's module only when that command runs."""
