package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestLogs(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ld := Logs(2048, 4096, start, 1)
	require.Equal(t, 2048, ld.LogRecordCount())
	require.Equal(t, len(logServices), ld.ResourceLogs().Len())
	lr := ld.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(3)
	require.Len(t, lr.Body().Str(), LogBodyBytes)
	require.Equal(t, 20, lr.Attributes().Len())
	require.False(t, lr.TraceID().IsEmpty())
	require.Equal(t, ld, Logs(2048, 4096, start, 1), "same seed, same records")
	other := Logs(2048, 0, start, 1)
	require.NotEqual(t, lr.Body().Str(), other.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(3).Body().Str())
	_, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
}
