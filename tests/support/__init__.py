"""Shared test support: commands (run_pedata, run, commit, sha256), registry builders, remotes."""
