// serve.go: a Go HTTP server for clients in other processes. It listens
// on the address it is given, prints its port, answers /hello and, on
// /quit, answers and stops; then it says how many requests it served.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

func main() {
	// A wait never woken fails the test rather than hanging it.
	time.AfterFunc(20*time.Second, func() {
		fmt.Println("no /quit came")
		os.Exit(1)
	})
	ln, err := net.Listen("tcp4", os.Args[1])
	if err != nil {
		fmt.Println("listen", err)
		os.Exit(1)
	}
	fmt.Println("port", ln.Addr().(*net.TCPAddr).Port)
	var served atomic.Int32
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		fmt.Fprintf(w, "hello %s from go\n", r.URL.Query().Get("n"))
	})
	http.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		// Whole once flushed: main may exit as soon as the listener
		// closes, before the handler returns (a chunked reply's last
		// chunk would be written only then).
		w.Header().Set("Content-Length", "4")
		fmt.Fprintln(w, "bye")
		w.(http.Flusher).Flush()
		ln.Close()
	})
	err = http.Serve(ln, nil)
	fmt.Println("served", served.Load(), err != nil)
}
