package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/pipeline"
)

func dlqCommand() command {
	return command{"dlq", "inspect and replay dead-lettered records: list | replay", runDLQ}
}

// parseWhen reads a --from/--to value: RFC 3339 ("2026-11-22T10:00:00Z"), or
// a duration meaning that long before now ("2h").
func parseWhen(flagName, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: want an RFC 3339 time or a duration before now, like 2h (got %q)", flagName, v)
	}
	return t, nil
}

func runDLQ(args []string, stdout, stderr io.Writer) int {
	// Not operatorFlags: dlq reads the pipeline's file, for its Kafka
	// connection and DLQ topic, and calls no admin server.
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	cfgPath := fs.String("config", "configs/pipeline.yaml", "the pipeline configuration (for kafka and kafka.dlq_topic)")
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil dlq list [--from T] [--to T] | replay [--from T] [--to T] [--error-type X] [--to-topic T] [--dry-run] [--config F]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	from := fs.String("from", "", "only records dead-lettered at or after: RFC 3339 time, or a duration before now (2h)")
	to := fs.String("to", "", "only records dead-lettered before: RFC 3339 time, or a duration before now")
	errType := fs.String("error-type", "", "replay only this error type (see list)")
	toTopic := fs.String("to-topic", "", "replay into this topic instead of each record's source topic")
	dryRun := fs.Bool("dry-run", false, "replay: report what would be republished, produce nothing")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 || (pos[0] != "list" && pos[0] != "replay") {
		fmt.Fprintf(stderr, "vigil dlq: expected list or replay (got %q)\n", strings.Join(pos, " "))
		fs.Usage()
		return exitBadArgs
	}
	now := time.Now()
	fromT, err := parseWhen("from", *from, now)
	if err == nil {
		var toT time.Time
		toT, err = parseWhen("to", *to, now)
		if err == nil && !fromT.IsZero() && !toT.IsZero() && !toT.After(fromT) {
			err = fmt.Errorf("--to must be after --from")
		}
		if err == nil {
			return dlqRun(pos[0], *cfgPath, fromT, toT, *errType, *toTopic, *dryRun, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "vigil dlq: %v\n", err)
	return exitBadArgs
}

func dlqRun(verb, path string, from, to time.Time, errType, toTopic string, dryRun bool, stdout, stderr io.Writer) int {
	_, cfg, err := loadComponentFile[pipeline.Config](path, pipelineAdminAddr(), pipeline.DefaultConfig)
	if err != nil {
		fmt.Fprintf(stderr, "vigil dlq: %v\n", err)
		return exitBadArgs
	}
	ctx, stop := signalContext()
	defer stop()
	if verb == "list" {
		err = pipeline.ListDLQ(ctx, cfg, from, to, stdout)
	} else {
		err = pipeline.ReplayDLQ(ctx, cfg, pipeline.ReplayOptions{From: from, To: to, ErrorType: errType, ToTopic: toTopic, DryRun: dryRun}, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil dlq %s: %v\n", verb, err)
		return exitFailed
	}
	return exitOK
}
