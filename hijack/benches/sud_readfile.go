// sud_readfile.go: `sud_readfile PATH N` writes 4 KiB to PATH, then reads
// it back with os.ReadFile N times and prints the mean ns per read
// (benches/sud.rs, a static Go binary under rumpctl run and on the host).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	path := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	if err := os.WriteFile(path, make([]byte, 4096), 0644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := os.ReadFile(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("%.1f\n", float64(time.Since(start).Nanoseconds())/float64(n))
	os.Remove(path)
}
