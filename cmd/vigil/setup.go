package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/setup"
)

func setupCommand() command {
	return command{"setup", "create Kafka topics and install what Vigil needs (idempotent)", runSetup}
}

func runSetup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "setup configuration file (YAML); defaults apply without one")
	dryRun := fs.Bool("dry-run", false, "report what would change and change nothing")
	check := fs.Bool("check", false, "validate the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil setup [--config FILE] [--dry-run] [--check]\n\nCreate Kafka topics with their partitions and configs, idempotently; each run reports what it changed.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	cfg := setup.DefaultConfig()
	if *cfgPath != "" {
		if err := config.Load(*cfgPath, &cfg); err != nil {
			fmt.Fprintf(stderr, "vigil setup: %v\n", err)
			return exitBadArgs
		}
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *cfgPath)
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := setup.Run(ctx, cfg, *dryRun, stdout); err != nil {
		fmt.Fprintf(stderr, "vigil setup: %v\n", err)
		return exitFailed
	}
	return exitOK
}
