// fifo.go: a Go program's blocking calls (its runtime makes them itself,
// not through libc) on a FIFO in the directory it is given: a read that
// waits for a writer, with signals arriving while it waits.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

// The main goroutine keeps the main thread: its first calls (mkdir's)
// give that thread its library stack, so the blocking ones after them
// run there.
func init() { runtime.LockOSThread() }

func main() {
	d := os.Args[1]
	fmt.Println("mkdir", os.MkdirAll(d, 0755))
	p := d + "/fifo"
	fmt.Println("mkfifo", syscall.Mkfifo(p, 0600))
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGUSR1)
	go func() {
		w, err := syscall.Open(p, syscall.O_WRONLY, 0)
		if err != nil {
			fmt.Println("open w", err)
			os.Exit(1)
		}
		// The reader is in its read now, or soon: signals land on it.
		for i := 0; i < 10; i++ {
			time.Sleep(20 * time.Millisecond)
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		}
		syscall.Write(w, []byte("through the fifo\n"))
		syscall.Close(w)
	}()
	// Blocking calls, not the netpoller's: the open waits for the writer,
	// the read for its write.
	r, err := syscall.Open(p, syscall.O_RDONLY, 0)
	fmt.Println("open r", err)
	b := make([]byte, 64)
	n, err := syscall.Read(r, b)
	for err == syscall.EINTR {
		n, err = syscall.Read(r, b)
	}
	fmt.Printf("read %q %v\n", b[:n], err)
	n, err = syscall.Read(r, b)
	fmt.Println("eof", n, err)
	fmt.Println("close", syscall.Close(r))
	fmt.Println("signals", len(sigs) > 0)
	fmt.Println("remove", os.Remove(p))
}
