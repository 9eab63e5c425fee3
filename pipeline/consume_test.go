package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/pipeline/document"
)

// TestLogDocumentsErrors: what cannot be indexed names its cause, in either
// encoding (these reasons are what `vigil dlq list` shows).
func TestLogDocumentsErrors(t *testing.T) {
	logs := func(depth int) plog.Logs {
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.Body().SetStr("hello")
		m := lr.Attributes().PutEmptyMap("m")
		for range depth {
			m = m.PutEmptyMap("m")
		}
		return ld
	}
	noRecords := plog.NewLogs()
	noRecords.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	enc := func(t *testing.T, e string, ld plog.Logs) []byte {
		var b []byte
		var err error
		if e == EncodingJSON {
			b, err = (&plog.JSONMarshaler{}).MarshalLogs(ld)
		} else {
			b, err = (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		}
		require.NoError(t, err)
		return b
	}
	for _, e := range []string{EncodingProto, EncodingJSON} {
		for _, tc := range []struct {
			name    string
			value   []byte
			wantErr string
			docs    int
		}{
			{"valid", enc(t, e, logs(3)), "", 1},
			{"nested too deep", enc(t, e, logs(200)), e + " logs: attribute values nested deeper than 128 levels", 0},
			{"no records", enc(t, e, noRecords), e + " logs: decoded to an empty request", 0},
			{"garbage", []byte("\xff\x00 not OTLP"), e + " logs: ", 0},
		} {
			t.Run(e+"/"+tc.name, func(t *testing.T) {
				docs, err := logDocuments(e, tc.value, document.Options{Now: time.Now()})
				if tc.wantErr == "" {
					require.NoError(t, err)
					require.Len(t, docs, tc.docs)
					return
				}
				require.ErrorContains(t, err, tc.wantErr)
			})
		}
	}
}
