// files.go: the file calls of Go's os package on a base directory, one
// line each, for tools/tests/run.rs (static binaries under rumpctl run).
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func say(what string, err error) {
	if err != nil {
		// The base differs between runs: show only the error itself.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		fmt.Printf("%s: %s\n", what, msg)
		return
	}
	fmt.Printf("%s: ok\n", what)
}

func main() {
	base := os.Args[1]
	say("mkdir", os.Mkdir(base, 0755))
	say("write", os.WriteFile(base+"/g.txt", []byte("from go\n"), 0644))
	b, err := os.ReadFile(base + "/g.txt")
	say("read", err)
	fmt.Printf("content %q\n", b)
	say("mkdir d", os.Mkdir(base+"/d", 0700))
	say("rename", os.Rename(base+"/g.txt", base+"/d/h.txt"))
	st, err := os.Stat(base + "/d/h.txt")
	say("stat", err)
	if err == nil {
		fmt.Printf("size %d mode %v dir %v\n", st.Size(), st.Mode(), st.IsDir())
	}
	_, err = os.Stat(base + "/g.txt")
	say("stat moved", err)
	f, err := os.OpenFile(base+"/d/h.txt", os.O_APPEND|os.O_WRONLY, 0)
	say("open append", err)
	if err == nil {
		_, err = f.WriteString("more\n")
		say("append", err)
		say("close", f.Close())
	}
	b, _ = os.ReadFile(base + "/d/h.txt")
	fmt.Printf("content %q\n", b)
	for _, dir := range []string{base, base + "/d"} {
		es, err := os.ReadDir(dir)
		say("readdir", err)
		names := []string{}
		for _, e := range es {
			names = append(names, fmt.Sprintf("%s(dir=%v)", e.Name(), e.IsDir()))
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, " "))
	}
	say("remove", os.Remove(base+"/d/h.txt"))
	say("remove dir", os.Remove(base+"/d"))
	say("remove missing", os.Remove(base+"/d"))
}
