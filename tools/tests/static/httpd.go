// httpd.go: an HTTP server on the address given, answering every path
// with one line naming the path and the client's address; for the static
// binary scenarios (Go's netpoller: epoll, nonblocking sockets, an
// eventfd to wake itself).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", ln.Addr())
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "hello from go, path %s, client %s\n", r.URL.Path, host)
	})
	fmt.Println("serve:", http.Serve(ln, nil))
}
