package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main is every binary's main: it calls run with the process's arguments,
// environment and standard streams, under a context that SIGINT and
// SIGTERM cancel (so that a round or a request in flight can finish), and
// exits with run's code. run takes everything as arguments so that tests
// call it in process.
func Main(run func(ctx context.Context, args, env []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// ExitError ends a command early, with Code, once it has said what it had
// to: -h (0), -check (CheckOne's code) and -init (0) end this way. It is
// an error so that the code that stops a command is one return path.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Exit is the exit code of a command that ended with err: 0 for nil, an
// *ExitError's Code, else 1 with err's one line on stderr (Fail).
func Exit(stderr io.Writer, name string, err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	}
	return Fail(stderr, name, err)
}
