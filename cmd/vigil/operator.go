package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-dev/vigil/alerting"
	"github.com/vigil-dev/vigil/internal/config"
)

// Operator verbs that talk to a running alerting process over its admin API:
// vigil failover status|ack|failback and vigil alerting silence add|list|delete.

// componentFile is a component's standalone file as the operator verbs
// read it: the process keys (admin, log) beside the component's own.
type componentFile[C any, PC interface {
	*C
	config.Validator
}] struct {
	processConfig `yaml:",inline"`
	Component     C `yaml:",inline"`
}

func (f *componentFile[C, PC]) Validate() error {
	var p config.Problems
	p.Merge("", f.processConfig.Validate())
	p.Merge("", PC(&f.Component).Validate())
	return p.Err()
}

// loadComponentFile reads path over the defaults.
func loadComponentFile[C any, PC interface {
	*C
	config.Validator
}](path, adminAddr string, defaults func() C) (processConfig, C, error) {
	f := &componentFile[C, PC]{processConfig: defaultProcessConfig(adminAddr), Component: defaults()}
	err := config.Load(path, f)
	return f.processConfig, f.Component, err
}

// operatorFlags are the flags every operator verb takes.
type operatorFlags struct {
	fs     *flag.FlagSet
	config *string
	admin  *string
}

func newOperatorFlags(name, usage string, stderr io.Writer) operatorFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	o := operatorFlags{
		fs:     fs,
		config: fs.String("config", "configs/alerting.yaml", "the alerting configuration (for api.token and admin.listen_address)"),
		admin:  fs.String("admin", "", "the alerting process's admin address, host:port (default: admin.listen_address from --config)"),
	}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return o
}

// load reads the alerting file and returns it with the admin address to call.
func (o operatorFlags) load() (alerting.Config, string, error) {
	pc, cfg, err := loadComponentFile[alerting.Config](*o.config, "127.0.0.1:8884", alerting.DefaultConfig)
	if err != nil {
		return cfg, "", err
	}
	addr := pc.Admin.ListenAddress
	if *o.admin != "" {
		addr = *o.admin
	}
	return cfg, addr, nil
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("failover ack db-1 --config F"), returning the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func failoverCommand() command {
	return command{"failover", "show or steer failovers: status | ack TARGET | failback TARGET", runFailover}
}

func runFailover(args []string, stdout, stderr io.Writer) int {
	o := newOperatorFlags("failover", "vigil failover status | ack TARGET | failback TARGET [--config F] [--admin ADDR]", stderr)
	pos, err := parseInterspersed(o.fs, args)
	if err != nil {
		return flagExit(err)
	}
	verb, target := "", ""
	switch {
	case len(pos) == 1 && pos[0] == "status":
		verb = "status"
	case len(pos) == 2 && (pos[0] == "ack" || pos[0] == "failback"):
		verb, target = pos[0], pos[1]
	default:
		fmt.Fprintf(stderr, "vigil failover: expected status, ack TARGET or failback TARGET (got %q)\n", strings.Join(pos, " "))
		o.fs.Usage()
		return exitBadArgs
	}
	cfg, addr, err := o.load()
	if err != nil {
		fmt.Fprintf(stderr, "vigil failover: %v\n", err)
		return exitBadArgs
	}
	c, err := alerting.NewClient(cfg, addr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil failover: %v\n", err)
		return exitBadArgs
	}
	ctx, stop := signalContext()
	defer stop()
	switch verb {
	case "status":
		var list []alerting.TargetStatus
		if list, err = c.FailoverStatus(ctx); err == nil {
			err = printFailoverStatus(stdout, list)
		}
	case "ack":
		var st alerting.TargetStatus
		if st, err = c.Ack(ctx, target); err == nil {
			_, err = fmt.Fprintf(stdout, "%s: block acknowledged (active %s)\n", st.Target, st.Active)
		}
	case "failback":
		var st alerting.TargetStatus
		if st, err = c.Failback(ctx, target); err == nil {
			_, err = fmt.Fprintf(stdout, "%s: failback requested (generation %d)\n", st.Target, st.Generation)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil failover %s: %v\n", verb, err)
		return exitFailed
	}
	return exitOK
}

// runSilence is "vigil alerting silence add|list|delete".
func runSilence(args []string, stdout, stderr io.Writer) int {
	o := newOperatorFlags("alerting silence", "vigil alerting silence add --matcher target=db-1 [--matcher ...] --for 2h --reason TEXT | list | delete ID [--config F] [--admin ADDR]", stderr)
	var matchers stringList
	o.fs.Var(&matchers, "matcher", "label matcher, e.g. target=db-1 or env=~prod-.* (add; repeatable)")
	dur := o.fs.Duration("for", time.Hour, "how long the silence lasts (add)")
	reason := o.fs.String("reason", "", "why (add; required)")
	by := o.fs.String("by", os.Getenv("USER"), "who silences (add)")
	pos, err := parseInterspersed(o.fs, args)
	if err != nil {
		return flagExit(err)
	}
	ok := len(pos) == 1 && (pos[0] == "add" || pos[0] == "list") || len(pos) == 2 && pos[0] == "delete"
	if !ok {
		fmt.Fprintf(stderr, "vigil alerting silence: expected add, list or delete ID (got %q)\n", strings.Join(pos, " "))
		o.fs.Usage()
		return exitBadArgs
	}
	if pos[0] == "add" && (len(matchers) == 0 || *reason == "") {
		fmt.Fprintln(stderr, "vigil alerting silence add: --matcher and --reason are required")
		return exitBadArgs
	}
	cfg, addr, err := o.load()
	if err != nil {
		fmt.Fprintf(stderr, "vigil alerting silence: %v\n", err)
		return exitBadArgs
	}
	c, err := alerting.NewClient(cfg, addr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil alerting silence: %v\n", err)
		return exitBadArgs
	}
	ctx, stop := signalContext()
	defer stop()
	switch pos[0] {
	case "add":
		var s alerting.Silence
		req := alerting.SilenceRequest{Matchers: matchers, Duration: dur.String(), Reason: *reason, CreatedBy: *by}
		if s, err = c.CreateSilence(ctx, req); err == nil {
			err = printSilenceCreated(stdout, s)
		}
	case "list":
		var list []alerting.Silence
		if list, err = c.Silences(ctx); err == nil {
			err = printSilences(stdout, list)
		}
	case "delete":
		if err = c.DeleteSilence(ctx, pos[1]); err == nil {
			_, err = fmt.Fprintf(stdout, "silence %s deleted\n", pos[1])
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil alerting silence %s: %v\n", pos[0], err)
		return exitFailed
	}
	return exitOK
}

func flagExit(err error) int {
	if err == flag.ErrHelp {
		return exitOK
	}
	return exitBadArgs
}
