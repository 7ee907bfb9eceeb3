# sqlite.py DIR JOURNAL_MODE: Python's sqlite3 module on a database in DIR
# (created): 10,000 rows in one transaction, then the dump, the directory
# listing and the integrity check. hijack/tests/sqlite.rs compares what it
# prints on a host directory and on /rump.
import os
import sqlite3
import sys

base, journal = sys.argv[1], sys.argv[2]
os.makedirs(base)
db = os.path.join(base, "py.db")
c = sqlite3.connect(db)
print("journal_mode", c.execute(f"pragma journal_mode={journal}").fetchone()[0])
c.execute("create table t(i integer primary key, name text, sq real, b blob)")
with c:
    c.executemany(
        "insert into t values(?, ?, ?, ?)",
        ((i, f"row {i}", i * i / 7, bytes([i % 256]) * (i % 17)) for i in range(10000)),
    )
print("rows", c.execute("select count(*), sum(i), total(sq) from t").fetchone())
c.close()
c = sqlite3.connect(db)
for line in c.iterdump():
    print(line)
print("integrity", c.execute("pragma integrity_check").fetchone()[0])
c.close()
print("files", sorted(os.listdir(base)))
