package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWatch: a broker failing every second for 200 s is reported once at
// Error, then at Warn 10, 30, 70 and 150 s in, and its recovery at Info.
func TestWatch(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	w := &watch{log: slog.New(slog.NewTextHandler(&buf, nil)), mechanism: "SCRAM-SHA-512", now: func() time.Time { return now }, failing: map[string]*failure{}}
	meta := kgo.BrokerMetadata{Host: "10.0.0.1", Port: 9094}
	for i := 0; i < 200; i++ {
		w.OnBrokerConnect(meta, 0, nil, fmt.Errorf("wrapped: %w", kerr.SaslAuthenticationFailed))
		now = now.Add(time.Second)
	}
	w.OnBrokerConnect(meta, 0, nil, nil)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 6, buf.String())
	require.Contains(t, lines[0], "level=ERROR")
	require.Contains(t, lines[0], "broker=10.0.0.1:9094")
	require.Contains(t, lines[0], "SASL SCRAM-SHA-512 authentication failed")
	for _, l := range lines[1:5] {
		require.Contains(t, l, "level=WARN")
		require.Contains(t, l, "still failing")
	}
	require.Contains(t, lines[1], "failing_for=10s")
	require.Contains(t, lines[4], "failing_for=2m30s")
	require.Contains(t, lines[5], "level=INFO msg=\"kafka broker connection restored\"")
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		err      error
		cause    string
		operator bool
	}{
		{kerr.SaslAuthenticationFailed, "SASL PLAIN authentication failed", true},
		{errors.New("read tcp 1.2.3.4:5->6.7.8.9:10: remote error: tls: certificate required"), "TLS: the broker refused the connection", true},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), "connection refused", false},
	} {
		cause, hint, op := describe(tc.err, "PLAIN")
		require.Contains(t, cause, tc.cause)
		require.NotEmpty(t, hint)
		require.Equal(t, tc.operator, op, cause)
	}
}
