// http.go: a Go HTTP server and its client in one program, both through
// Go's netpoller (edge-triggered epoll on non-blocking sockets): the
// server listens on the loopback, the client asks it twice over one kept
// connection and once over a new one. The directory argument is unused.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	// A wait never woken fails the test rather than hanging it.
	time.AfterFunc(20*time.Second, func() {
		fmt.Println("stuck")
		os.Exit(1)
	})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen", err)
		os.Exit(1)
	}
	fmt.Println("listen", ln.Addr().(*net.TCPAddr).IP)
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from go\n", r.URL.Query().Get("n"))
	})
	go http.Serve(ln, nil)
	url := "http://" + ln.Addr().String() + "/hello?n="
	kept := &http.Client{Timeout: 5 * time.Second}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i, c := range []*http.Client{kept, kept, fresh} {
		resp, err := c.Get(fmt.Sprint(url, i))
		if err != nil {
			fmt.Println("get", i, err)
			os.Exit(1)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("get %d %s %q %v\n", i, resp.Status, body, err)
	}
	// A read that waits in the netpoller until its deadline.
	conn, err := net.Dial("tcp4", ln.Addr().String())
	fmt.Println("dial", err)
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	fmt.Println("idle read timeout", os.IsTimeout(err))
	fmt.Println("close", conn.Close(), ln.Close())
}
