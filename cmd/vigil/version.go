package main

import (
	"fmt"
	"io"
	"runtime"
)

func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "vigil version: unexpected argument %q\n", args[0])
		return exitBadArgs
	}
	fmt.Fprintf(stdout, "vigil %s %s/%s %s\n", versionString(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return exitOK
}

// extraCommands are the operator verbs that are not components (dlq,
// failover, setup), added by the packages that provide them.
func extraCommands() []command { return []command{setupCommand(), failoverCommand(), dlqCommand()} }
