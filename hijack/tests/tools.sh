#!/bin/bash
# Real tools against a directory: run once on a host tmpfs directory and
# once on /rump (embedded and remote) by hijack/tests/tools.rs, which
# compares the transcripts. Usage: tools.sh CASE DIR HOSTDIR
#   DIR      the directory under test (host or /rump/...), created here
#   HOSTDIR  a host directory for copies across kernels
# Output is normalised so that it does not depend on where DIR is.
set -u
case_name=$1 D=$2 H=$3
mkdir -p "$D" "$H" || exit 99

# Runs a command, printing its output with DIR and HOSTDIR made neutral
# and its exit status.
run() {
  local out
  out=$("$@" 2>&1)
  local rc=$?
  printf '$ %s\n%s\n[rc=%d]\n' "$(norm "$*")" "$(norm "$out")" "$rc"
}
norm() { local s=${1//"$D"/D}; s=${s//"${D#/}"/D}; printf '%s' "${s//"$H"/H}"; }

# As run, shown as LABEL, its output with the mount point's name MNT made
# neutral (walks_from_above).
named() {
  local label=$1 out
  shift
  out=$("$@" 2>&1)
  local rc=$?
  printf '$ %s\n%s\n[rc=%d]\n' "$label" "${out//"$mnt"/MNT}" "$rc"
}

fixture() {
  mkdir -p "$D/src/sub/deep"
  printf 'alpha\nbeta\ngamma\ndelta\n' > "$D/src/a.txt"
  printf 'one\ntwo\nthree\n' > "$D/src/sub/b.txt"
  printf 'needle in sub\n' > "$D/src/sub/deep/c.txt"
  seq 1 2000 > "$D/src/numbers"
  ln -s a.txt "$D/src/link"
  touch -d '2020-02-02 02:02:02' "$D/src" "$D/src/a.txt" "$D/src/sub" "$D/src/sub/b.txt" \
    "$D/src/sub/deep" "$D/src/sub/deep/c.txt" "$D/src/numbers"
}

case $case_name in
read_tools)
  fixture
  run cat "$D/src/a.txt"
  run sh -c "cat < '$D/src/a.txt'"
  run head -n 2 "$D/src/numbers"
  run head -c 7 "$D/src/a.txt"
  run tail -n 3 "$D/src/numbers"
  run tail -c 10 "$D/src/numbers"
  run wc "$D/src/a.txt" "$D/src/numbers"
  run sha256sum "$D/src/numbers" "$D/src/a.txt"
  run cat "$D/missing"
  run cat "$D/src"
  ;;
ls)
  fixture
  run ls "$D/src"
  run ls -la --time-style=+%F "$D/src" 
  run ls -R "$D/src"
  run ls -l --time-style=+%F "$D/src/link" "$D/src/numbers"
  run ls "$D/nope"
  ;;
copy_move)
  fixture
  run cp "$D/src/a.txt" "$D/copy.txt"
  run cat "$D/copy.txt"
  run cp -r "$D/src" "$D/tree"
  run ls -R "$D/tree"
  run cp "$D/src/numbers" "$H/from_d"
  run sha256sum "$H/from_d"
  printf 'host data\n' > "$H/host.txt"
  run cp "$H/host.txt" "$D/to_d"
  run cat "$D/to_d"
  run mv "$D/copy.txt" "$D/moved.txt"
  run cat "$D/moved.txt" "$D/copy.txt"
  run mv "$D/moved.txt" "$H/moved_out"
  run cat "$H/moved_out"
  run mv "$H/moved_out" "$D/moved_in"
  run cat "$D/moved_in"
  run cp --reflink=always "$D/src/a.txt" "$D/clone"
  run cp --reflink=always "$D/src/a.txt" "$H/clone_out"
  run cp --reflink=always "$H/host.txt" "$D/clone_in"
  run cp --reflink=auto "$D/src/a.txt" "$D/clone_auto"
  run cat "$D/clone_auto"
  run rm -r "$D/tree"
  run ls "$D"
  ;;
namespace)
  run mkdir -p "$D/x/y/z"
  run mkdir "$D/x"
  run rmdir "$D/x/y/z"
  run rmdir "$D/x"
  run ls -R "$D/x"
  run touch "$D/x/t"
  run touch -d '2001-01-01 00:00:00' "$D/x/t"
  run stat -c '%n %s %F %a %h %U %G %y' "$D/x/t"
  run ln -s t "$D/x/sl"
  run readlink "$D/x/sl"
  run readlink -f "$D/x/sl"
  run readlink -f "$D/x/../x/./sl"
  run stat -c '%n %F %N' "$D/x/sl"
  run ln "$D/x/t" "$D/x/hard"
  run stat -c '%n %h' "$D/x/t"
  run rm "$D/x/t"
  run stat -c '%n %h' "$D/x/hard"
  ;;
dd_sort)
  run dd if=/dev/zero of="$D/z" bs=4k count=10 status=none
  run dd if="$D/z" of="$D/z2" bs=1k skip=2 count=3 status=none
  run wc -c "$D/z" "$D/z2"
  printf '3\n1\n2\n' > "$D/unsorted"
  run sort -o "$D/sorted" "$D/unsorted"
  run cat "$D/sorted"
  run sort -n -r "$D/unsorted"
  ;;
tar_find_grep)
  fixture
  run tar cf "$D/a.tar" -C "$D" src
  run sh -c "tar tf '$D/a.tar' | sort"
  mkdir -p "$D/out"
  run tar xf "$D/a.tar" -C "$D/out"
  run ls -R "$D/out"
  run cat "$D/out/src/sub/deep/c.txt"
  run sh -c "find '$D/src' | sort"
  run sh -c "find '$D/src' -type f -name '*.txt' | sort"
  run sh -c "cd '$D/src' && find . -type d | sort"
  run sh -c "grep -r needle '$D/src'"
  run sh -c "grep -rn beta '$D'/src | sort"
  run grep -c . "$D/src/numbers"
  run du -s "$D/src/numbers"
  run du -sh "$D/src"
  ;;
git_make)
  mkdir -p "$D/repo" && cd "$D/repo" || exit 99
  export HOME=$H GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_DATE=2020-02-02T02:02:02Z GIT_COMMITTER_DATE=2020-02-02T02:02:02Z
  for i in 1 2 3; do mkdir -p d$i; printf 'int f%d(void) { return %d; }\n' $i $i > d$i/f$i.c; done
  printf 'int f1(void), f2(void), f3(void);\nint main(void) { return f1() + f2() + f3(); }\n' > main.c
  printf 'OBJS := main.o d1/f1.o d2/f2.o d3/f3.o\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n%%.o: %%.c\n\t$(CC) -c -o $@ $<\n' > Makefile
  printf '*.o\nprog\n' > .gitignore
  run git init -q -b main .
  run git add -A
  run git -c user.name=t -c user.email=t@t commit -q -m first
  run git log --format='%H %s'
  run make -j2 -s
  run ./prog
  run git status --porcelain
  echo 'int f1(void) { return 10; }' > d1/f1.c
  touch new.txt
  run git rm -q --cached d3/f3.c
  run git status --porcelain
  run git diff --stat
  run make -s
  run ./prog
  run make -s
  run git -c user.name=t -c user.email=t@t commit -q -am second
  run git log --format='%H %s'
  ;;
df)
  mkdir -p "$D/sub"
  out=$(df "$D/sub")
  echo "df rc=$?"
  last=$(printf '%s\n' "$out" | tail -n 1)
  mount_point=${last##* }
  case $D/ in "$mount_point"/*) echo "mounted on a prefix of DIR";; *) echo "no mount for DIR: $last";; esac
  ;;
shells)
  fixture
  for sh in dash bash; do
    run $sh -c "echo hi > '$D/o'; echo more >> '$D/o'; cat '$D/o'"
    run $sh -c "ls '$D/nope' 2> '$D/err'; cat '$D/err'"
    run $sh -c "cat < '$D/src/a.txt' | tr a-z A-Z"
    run $sh -c "while read l; do echo \"<\$l>\"; done < '$D/src/sub/b.txt'"
    run $sh -c "cd '$D/src' && cat a.txt | wc -l && pwd"
    run $sh -c "exec cat '$D/o'"
    run $sh -c "{ echo one; echo two; } > '$D/g'; read first < '$D/g'; echo \$first; wc -l < '$D/g'"
  done
  ;;
python)
  fixture
  run python3 - "$D" <<'PY'
import os, shutil, sys
d = sys.argv[1]
with open(os.path.join(d, "p.txt"), "w") as f:
    f.write("written by python\n" * 3)
with open(os.path.join(d, "p.txt")) as f:
    print(f.read(), end="")
with open(os.path.join(d, "p.txt"), "rb") as f:
    f.seek(7); print(f.read(10))
print(sorted(os.listdir(os.path.join(d, "src"))))
for root, dirs, files in sorted(os.walk(os.path.join(d, "src"))):
    print(root.replace(d, "D"), sorted(dirs), sorted(files))
shutil.copytree(os.path.join(d, "src"), os.path.join(d, "copy"), symlinks=True)
print(sorted(os.listdir(os.path.join(d, "copy", "sub"))))
print(os.readlink(os.path.join(d, "copy", "link")))
st = os.stat(os.path.join(d, "copy", "numbers"))
print(st.st_size, oct(st.st_mode))
try:
    open(os.path.join(d, "nope"))
except OSError as e:
    print(type(e).__name__, e.errno)
PY
  ;;
inotifywait)
  # inotifywait -m -r on DIR/w while other processes change the tree; each
  # step waits until the watcher has printed the step before, so a new
  # directory is watched before anything happens in it.
  mkdir -p "$D/w/old"
  inotifywait -m -r -e create,modify,close_write,moved_from,moved_to,delete \
    --format '%w%f %e' "$D/w" > "$H/events" 2> "$H/setup" &
  watcher=$!
  seen() {
    for _ in $(seq 250); do grep -qsF -- "$1" "$H/$2" && return; sleep 0.02; done
    echo "no \"$1\" in $2"
  }
  seen 'Watches established' setup
  echo hello > "$D/w/f"
  mkdir "$D/w/sub"
  seen 'w/sub CREATE,ISDIR' events
  echo inner > "$D/w/sub/g"
  printf more >> "$D/w/f"
  mv "$D/w/f" "$D/w/sub/f2"
  mv "$D/w/sub/f2" "$D/w/moved"
  rm "$D/w/moved" "$D/w/sub/g"
  rmdir "$D/w/old"
  seen 'w/old DELETE,ISDIR' events
  kill "$watcher"
  wait "$watcher"
  run cat "$H/events"
  ;;
fds)
  # The program's fds 3-9, on files of DIR and of HOSTDIR, held across
  # children and execs; the library's own fds must stay out of their way.
  fixture
  printf 'host data\n' > "$H/host.txt"
  for sh in dash bash; do
    run $sh -c 'mkdir "$1/d_'$sh'"; exec 3<"$1/d_'$sh'"; /bin/true; echo "true: $?"' _ "$D"
    run $sh -c 'exec 3>"$1/f_'$sh'"; echo to3 >&3; /bin/true; cat "$1/f_'$sh'"' _ "$D"
    run $sh -c '
      exec 3<"$1/src/a.txt" 4>"$1/out4_'$sh'" 5<"$2/host.txt" 6>"$2/out6_'$sh'" 7<>"$1/rw7_'$sh'" 8<"$1/src" 9>>"$1/out4_'$sh'"
      read l <&3; echo "3: $l"
      echo four >&4; echo nine >&9
      cat <&5; echo six >&6; echo seven >&7
      /bin/true
      sh -c "echo child >&4; read m <&3; echo \"child 3: \$m\""
      (echo subshell >&9; read n <&3; echo "subshell 3: $n")
      bash -c "exec cat <&3"
      exec 3<&- 5<&-
      exec 3>"$2/out3_'$sh'"; echo host3 >&3; exec 3>&-
      cat "$1/out4_'$sh'" "$2/out6_'$sh'" "$1/rw7_'$sh'" "$2/out3_'$sh'"
      exec 8>&- 9<&-; ls "$1/src" >&4; exec 4>&-; tail -n 3 "$1/out4_'$sh'"
    ' _ "$D" "$H"
    run $sh -c 'exec 3<"$1/src/a.txt"; exec '$sh' -c "head -n 2 <&3; exec cat <&3"' _ "$D"
  done
  run python3 - "$D" <<'PY'
import os, sys
d = sys.argv[1]
with open(os.path.join(d, "x"), "w") as f:
    f.write("before closerange\n")
os.closerange(3, 100000)
print(open(os.path.join(d, "x")).read(), end="")
fd = os.open(os.path.join(d, "src", "a.txt"), os.O_RDONLY)
for n in (4, 9, 100, 255, 1000, 1001, 1023):
    os.dup2(fd, n)
    print(n, os.read(n, 6))
    os.close(n)
os.close(fd)
os.closerange(3, 100000)
print(sorted(os.listdir(d)))
r = os.system("cat " + os.path.join(d, "x"))
print("system", r)
import subprocess
r, w = os.pipe()
os.dup2(w, 1000)
os.close(w)
c = subprocess.run(["bash", "-c", 'cat "$1"; echo to1000 >&1000', "_", os.path.join(d, "x")],
                   capture_output=True, pass_fds=(1000,))
os.close(1000)
print(c.returncode, c.stdout, c.stderr, os.read(r, 100))
PY
  ;;
rsync)
  # Walks that reach DIR through a directory above it: rsync opens "/"
  # and descends one component at a time; find and tar from "/".
  fixture
  run rsync -a --delete "$D/src/" "$H/from_d/"
  run diff -r "$D/src" "$H/from_d"
  run rsync -a --delete "$H/from_d/" "$D/back/"
  run diff -r "$D/src" "$D/back"
  touch "$D/back/stale"; mkdir -p "$D/back/stale_dir/x"; rm "$D/back/a.txt"
  run rsync -a --delete -i "$H/from_d/" "$D/back/"
  run diff -r "$D/src" "$D/back"
  run rsync -a --delete "$D/back/" "$D/again/"
  run diff -r "$D/src" "$D/again"
  run ls -lR --time-style=+%F "$D/again"
  run sh -c "cd / && find '${D#/}/src' -name '*.txt' | sort"
  run sh -c "cd /tmp && cat ../'${D#/}'/src/sub/b.txt"
  run sh -c "tar -C / -cf - '${D#/}/src/sub' | tar -tf - | sort"
  run tar -C / -cf "$H/t.tar" "${D#/}/src"
  run sh -c "tar -tvf '$H/t.tar' | awk '{print \$1, \$2, \$3, \$6, \$7, \$8}' | sort -k4"
  # `..` past the top of DIR's file system lands on the host's /, and
  # from there back into DIR: more `..` than DIR is deep, as from a cwd,
  # a dirfd and an absolute path.
  up=../../../../../../../..
  run sh -c "cd '$D/src' && cat $up/etc/hostname >/dev/null && ls -d $up/tmp && cat $up/'${D#/}'/src/a.txt"
  run sh -c "cd -P '$D/src/$up' && pwd && ls -d etc"
  run stat -c '%F %a' "$D/$up/etc/hostname" "$D/src/$up/${D#/}/src/a.txt"
  run cat "$D/$up/${D#/}/src/sub/b.txt"
  printf 'moved\n' > "$H/m1"
  run mv "$D/src/$up$H/m1" "$D/src/$up$H/m2"
  run ln "$D/src/$up$H/m2" "$H/m3"
  run cat "$H/m3"
  run "$D/src/$up/bin/echo" exec through DIR/..
  run python3 -c "
import os, sys
d = sys.argv[1]
fd = os.open(os.path.join(d, 'src'), os.O_RDONLY)
up = os.open('$up', os.O_RDONLY, dir_fd=fd)
print('etc' in os.listdir(up), os.stat('etc/hostname', dir_fd=up).st_size == os.stat('/etc/hostname').st_size)
print(open(os.path.join(d, '$up', 'etc', 'hostname')).read() == open('/etc/hostname').read())
os.chdir(os.path.join(d, 'src')); os.chdir('$up'); print(os.getcwd())
" "$D"
  ;;
walks_from_above)
  # DIR is MOUNT/t/CASE, MOUNT an empty host directory where /rump has it:
  # walks from MOUNT's parent list MOUNT and go on into it.
  fixture
  M=${D%/t/*} mnt=${D%/t/*}; mnt=${mnt##*/}
  cd "$M/.." || exit 99
  named "find the mount point from its parent" \
    sh -c "find . -mindepth 1 -maxdepth 5 \( -path './$mnt' -o -path './$mnt/t*' \) -print -o -prune | sort"
  named "find in it by a relative path" sh -c "find '$mnt/t' -name '*.txt' | sort"
  named "tar -C its parent" tar -C "$M/.." -cf "$H/m.tar" "$mnt/t/$case_name/src/sub"
  named "tar -t" sh -c "tar -tf '$H/m.tar' | sort"
  named "du" sh -c "du -a '$mnt/t/$case_name/src/sub' | sort -k2"
  named "rsync from it by its parent" rsync -a --delete "$M/../$mnt/t/$case_name/src/" "$H/copy/"
  named "diff -r" diff -r "$D/src" "$H/copy"
  ;;
*) echo "unknown case $case_name"; exit 99 ;;
esac
