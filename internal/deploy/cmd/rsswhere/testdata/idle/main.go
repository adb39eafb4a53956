// Command idle is rsswhere's test subject: a Go binary built with its
// symbols that says "ready" and waits until its stdin closes.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}
