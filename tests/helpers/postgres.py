"""The tests' PostgreSQL server: benchmarks/postgres.py, which benchmarks/cluster.py starts
too (initdb and pg_ctl of Debian's package in a temporary folder, a database per test)."""

from benchmarks.postgres import USER, PostgresServer, bindir

__all__ = ["USER", "PostgresServer", "bindir"]
