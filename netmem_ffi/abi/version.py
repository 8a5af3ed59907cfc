"""The package version: one place, read by the facade, snapshots, the CLI and the build."""

__version__ = "0.2.0"
