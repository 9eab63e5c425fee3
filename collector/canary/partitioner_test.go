package canary

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestPartitioner(t *testing.T) {
	tests := []struct {
		name      string
		value     []byte
		key       []byte
		n         int
		want      int  // -1: wherever the default partitioner puts it
		heartbeat bool // gets the vigil-canary header
	}{
		{name: "heartbeat to its partition", value: []byte("\x0a\x10" + route(2) + "rest"), n: 3, want: 2, heartbeat: true},
		{name: "heartbeat for a partition that does not exist", value: []byte(route(5)), n: 3, want: -1},
		{name: "marker with a bad partition", value: []byte("vigil-canary:x1;"), n: 3, want: -1},
		{name: "marker without end", value: []byte(string(routePrefix) + "1"), n: 3, want: -1},
		{name: "large record is not searched", value: append(make([]byte, maxCanaryBytes), route(1)...), n: 3, want: -1},
		{name: "keyed record as the exporter's default", value: []byte("data"), key: []byte("4bf92f3577b34da6a3ce929d0e0e4736"), n: 3, want: -1},
	}
	def := newPartitioner().inner.ForTopic("t")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPartitioner().ForTopic("t")
			r := &kgo.Record{Topic: "t", Key: tt.key, Value: tt.value}
			got := p.Partition(r, tt.n)
			if tt.want >= 0 {
				require.Equal(t, tt.want, got)
			} else if tt.key != nil {
				require.Equal(t, def.Partition(&kgo.Record{Key: tt.key}, tt.n), got)
			}
			var marked bool
			for _, h := range r.Headers {
				marked = marked || h.Key == HeaderCanary
			}
			require.Equal(t, tt.heartbeat, marked)
			require.Equal(t, tt.n, partitionCount("t"))
		})
	}
}

// The exporter shares one header slice among a request's records: marking
// a heartbeat must not write into it.
func TestPartitionerLeavesSharedHeadersAlone(t *testing.T) {
	shared := make([]kgo.RecordHeader, 1, 1)
	shared[0] = kgo.RecordHeader{Key: "vigil-collector", Value: []byte("c1")}
	hb := &kgo.Record{Value: []byte(route(0)), Headers: shared}
	other := &kgo.Record{Value: []byte("data"), Headers: shared}
	p := newPartitioner().ForTopic("t2")
	p.Partition(hb, 2)
	p.Partition(other, 2)
	require.Len(t, hb.Headers, 2)
	require.Len(t, other.Headers, 1)
	require.Len(t, shared, 1)
}

func TestConfigValidate(t *testing.T) {
	c := defaultConfig()
	err := c.Validate()
	require.EqualError(t, err, "topic: must be set\ninstance: must be set")
	c.Topic, c.Instance, c.Interval = "otlp_logs", "c1", 0
	require.EqualError(t, c.Validate(), "interval: must be > 0 (got 0s)")
}
