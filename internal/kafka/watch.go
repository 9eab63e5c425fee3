package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// How often a connection failure that persists is reported again: first
// after watchFirstRepeat, then twice as long each time up to watchMaxRepeat.
// franz-go keeps retrying with its own backoff meanwhile; these bound the
// log, not the retries.
const (
	watchFirstRepeat = 10 * time.Second
	watchMaxRepeat   = 5 * time.Minute
)

// Watch returns a franz-go option that reports failed connections to the
// brokers: the first failure of a broker for a given cause as one line
// naming the broker and the cause (at Error when only the operator can fix
// it: credentials, certificates; at Warn for a broker that is down or
// unreachable), the same failure again only at Warn and with a growing
// interval, counting the attempts in between, and the recovery at Info.
// Give every client of a component the same option, so that the component
// reports a broker once, not once per client.
func (c Conn) Watch(log *slog.Logger) kgo.Opt {
	return kgo.WithHooks(&watch{log: log, mechanism: strings.ToUpper(c.SASL.Mechanism), now: time.Now, failing: map[string]*failure{}})
}

type watch struct {
	log       *slog.Logger
	mechanism string
	now       func() time.Time

	mu      sync.Mutex
	failing map[string]*failure // by broker address
}

type failure struct {
	cause    string
	since    time.Time
	next     time.Time
	every    time.Duration
	attempts int // failed attempts since the last report
}

var _ kgo.HookBrokerConnect = (*watch)(nil)

// OnBrokerConnect is called by franz-go after every connection attempt,
// with the error of the dial, the TLS handshake, ApiVersions or SASL.
func (w *watch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.failing[addr]
	if err == nil {
		if f != nil {
			delete(w.failing, addr)
			w.log.Info("kafka broker connection restored", "broker", addr, "failed_for", now.Sub(f.since).Round(time.Second))
		}
		return
	}
	cause, hint, operator := describe(err, w.mechanism)
	if f == nil || f.cause != cause {
		w.failing[addr] = &failure{cause: cause, since: now, next: now.Add(watchFirstRepeat), every: watchFirstRepeat}
		level := slog.LevelWarn
		if operator {
			level = slog.LevelError
		}
		w.log.Log(context.Background(), level, "kafka broker connection failed; retrying with backoff", "broker", addr, "cause", cause, "hint", hint)
		return
	}
	f.attempts++
	if now.Before(f.next) {
		return
	}
	w.log.Warn("kafka broker connection still failing; retrying with backoff", "broker", addr, "cause", cause,
		"failing_for", now.Sub(f.since).Round(time.Second), "attempts", f.attempts)
	f.attempts = 0
	f.every = min(2*f.every, watchMaxRepeat)
	f.next = now.Add(f.every)
}

// describe names the cause of a failed connection in words an operator
// acts on, with the setting to check; operator is false for failures that
// end by themselves (a broker restarting, a network blip).
func describe(err error, mechanism string) (cause, hint string, operator bool) {
	var (
		unknownCA x509.UnknownAuthorityError
		verify    *tls.CertificateVerificationError
		hostname  x509.HostnameError
		alert     tls.AlertError
		recordHdr tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Sprintf("SASL %s authentication failed: %v", orUnknown(mechanism), err),
			"check kafka.sasl.username and kafka.sasl.password (and the mechanism the broker enables)", true
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return fmt.Sprintf("SASL %s refused by the broker: %v", orUnknown(mechanism), err), "check kafka.sasl.mechanism", true
	case errors.As(err, &unknownCA):
		return "TLS: " + unknownCA.Error(), "the broker's certificate is not signed by a CA in kafka.tls.ca_file (or the system roots)", true
	case errors.As(err, &hostname):
		return "TLS: " + hostname.Error(), "the broker's certificate does not name the address in kafka.brokers", true
	case errors.As(err, &verify):
		return "TLS: " + verify.Error(), "check kafka.tls.ca_file", true
	case errors.As(err, &alert):
		return "TLS: the broker refused the connection: " + err.Error(), "the broker requires a client certificate it trusts: check kafka.tls.cert_file and kafka.tls.key_file", true
	case errors.As(err, &recordHdr):
		return "TLS: the broker did not answer TLS: " + err.Error(), "check kafka.tls.enabled against the broker's listener", true
	case strings.Contains(err.Error(), "remote error: tls:"):
		return "TLS: the broker refused the connection: " + err.Error(), "the broker requires a client certificate it trusts: check kafka.tls.cert_file and kafka.tls.key_file", true
	}
	var fre *kgo.ErrFirstReadEOF
	if errors.As(err, &fre) {
		return fre.Error(), "check kafka.tls.enabled and kafka.sasl against the broker's listener", true
	}
	return err.Error(), "is the broker running and reachable?", false
}

func orUnknown(mechanism string) string {
	if mechanism == "" {
		return "(none configured)"
	}
	return mechanism
}
