// tcpclient.go: connects to the address given, sends one line, closes
// its sending side and prints what came back; for the static binary
// scenarios (a nonblocking connect completed through Go's netpoller).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	n, err := fmt.Fprintf(c, "hello from go\n")
	if err != nil {
		fmt.Println("write:", err)
		os.Exit(1)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	fmt.Printf("sent %d bytes from %s, got %q, err %v\n", n, c.LocalAddr().(*net.TCPAddr).IP, got, err)
	c.Close()
}
