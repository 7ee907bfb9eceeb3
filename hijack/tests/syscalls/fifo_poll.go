// fifo_poll.go: a Go program reading a FIFO through os.File, so through
// Go's netpoller: the read finds the FIFO empty (EAGAIN on the
// non-blocking fd Go makes of it), parks, and is woken by epoll when a
// writer fills it later; a read deadline expires in the poller too.
package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

func main() {
	// A wait never woken fails the test rather than hanging it.
	time.AfterFunc(20*time.Second, func() {
		fmt.Println("the read was never woken")
		os.Exit(1)
	})
	d := os.Args[1]
	fmt.Println("mkdir", os.MkdirAll(d, 0755))
	p := d + "/fifo"
	fmt.Println("mkfifo", syscall.Mkfifo(p, 0600))
	opened := make(chan *os.File)
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			fmt.Println("open w", err)
			os.Exit(1)
		}
		opened <- w
	}()
	r, err := os.Open(p)
	fmt.Println("open r", err)
	w := <-opened
	b := make([]byte, 64)
	// Empty: a deadline ends the wait (only a pollable file has one).
	fmt.Println("deadline", r.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	n, err := r.Read(b)
	fmt.Println("empty read", n, os.IsTimeout(err))
	fmt.Println("no deadline", r.SetReadDeadline(time.Time{}))
	go func() {
		time.Sleep(100 * time.Millisecond)
		w.Write([]byte("filled later\n"))
		time.Sleep(50 * time.Millisecond)
		w.Write([]byte("and again\n"))
		w.Close()
	}()
	start := time.Now()
	n, err = r.Read(b)
	fmt.Printf("read %q %v waited %v\n", b[:n], err, time.Since(start) >= 50*time.Millisecond)
	rest, err := io.ReadAll(r)
	fmt.Printf("rest %q %v\n", rest, err)
	fmt.Println("close", r.Close())
	fmt.Println("remove", os.Remove(p))
}
