"""The PostgreSQL cluster fixtures (tests/pgcluster.py) for the tests of postel.pg."""

from pgcluster import pg_cluster, pg_database, pg_dsn

__all__ = ["pg_cluster", "pg_database", "pg_dsn"]
