# sqlite.sh DIR: two sqlite3 processes write one database in DIR (created).
# First one waits on the other's lock: A holds a write transaction open
# (BEGIN IMMEDIATE) while B, with a busy timeout, tries to insert; B must
# still be waiting when A commits. Then two writers race, each insert its
# own transaction. Prints the counts and the integrity check, which
# hijack/tests/sqlite.rs compares between a host directory and /rump.
set -e
dir=$1
mkdir "$dir"
db=$dir/c.db
sqlite3 "$db" 'create table t(who text, i int);'
rows() { seq "$2" | sed "s/.*/insert into t values('$1', &);/"; }
{
    echo "begin immediate; insert into t values('a', 0);"
    # A holds the write lock once a writer without a timeout is refused.
    until ! sqlite3 "$db" 'begin immediate; rollback;' 2>/dev/null; do sleep 0.02; done
    (rows b 200 | sqlite3 -cmd '.timeout 20000' "$db" && : > "$dir/b.done") &
    sleep 0.3
    if [ -e "$dir/b.done" ]; then echo "b did not wait for a" >&2; fi
    rows a 200
    echo "commit;"
    wait
} | sqlite3 -cmd '.timeout 20000' "$db"
for w in c d; do
    rows "$w" 100 | sqlite3 -cmd '.timeout 20000' "$db" &
done
wait
sqlite3 "$db" 'select who, count(*), sum(i) from t group by who order by who; pragma integrity_check;'
ls "$dir"
