// httpd.go: an HTTP server on the address given, answering every path
// with one line naming the path and the client's address, until SIGTERM;
// for the static binary scenarios (Go's netpoller: epoll, nonblocking
// sockets, an eventfd to wake itself; a signal reaching a program whose
// threads wait in the supervisor).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", ln.Addr())
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		fmt.Println("terminated")
		os.Exit(0)
	}()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "hello from go, path %s, client %s\n", r.URL.Path, host)
	})
	fmt.Println("serve:", http.Serve(ln, nil))
}
