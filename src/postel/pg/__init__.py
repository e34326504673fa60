"""PostgreSQL as the shared store (docs/postgresql.md): connection settings and
pool, forward schema migrations, and the account store (mailboxes, messages,
content-addressed bodies) with UIDs and modseqs allocated inside transactions
and change notifications over LISTEN/NOTIFY, and the outgoing queue shared by
several nodes (claims as leases, postel.pg.queue).

Optional: needs the ``postgresql`` extra (psycopg 3 and psycopg_pool). Only
postel.pg.settings and postel.pg.target may be imported without it.
"""
