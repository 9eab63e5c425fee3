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
	return command{"setup", "create Kafka topics, install index templates and Dashboards objects (idempotent)", runSetup}
}

func runSetup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "setup configuration file (YAML); defaults apply without one")
	dryRun := fs.Bool("dry-run", false, "report what would change and change nothing")
	check := fs.Bool("check", false, "validate the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil setup [--config FILE] [--dry-run] [--check]\n\nCreate Kafka topics with their partitions and configs, install the OpenSearch index templates and\nISM policies, and import the OpenSearch Dashboards saved objects when dashboards.url is set.\nIdempotent: each run reports what it changed, and a run with nothing to do says so.\n\nFlags:\n")
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
