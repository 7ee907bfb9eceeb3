// files.go: a Go program's file calls (its runtime makes them itself, not
// through libc) on the directory it is given.
package main

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
)

func main() {
	d := os.Args[1]
	fmt.Println("mkdir", os.MkdirAll(d, 0755))
	fmt.Println("write", os.WriteFile(d+"/g.txt", []byte("from go\n"), 0644))
	b, err := os.ReadFile(d + "/g.txt")
	fmt.Printf("read %q %v\n", b, err)
	if st, err := os.Stat(d + "/g.txt"); err == nil {
		fmt.Println("stat", st.Size(), st.Mode())
	} else {
		fmt.Println("stat", err)
	}
	es, err := os.ReadDir(d)
	names := []string{}
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Println("dir", names, err)
	// Enough calls, from goroutines on several threads, for the
	// runtime's preemption signals and collections to land while calls
	// are in the library.
	var same atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if b, err := os.ReadFile(d + "/g.txt"); err == nil && string(b) == "from go\n" {
					same.Add(1)
				}
				_ = make([]byte, 64<<10)
			}
		}()
	}
	wg.Wait()
	fmt.Println("reads", same.Load())
	fmt.Println("remove", os.Remove(d+"/g.txt"))
}
