package apm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// ErrRejected marks samples Prometheus refused for good (HTTP 4xx): most
// often a window already written, derived again after a restart or a
// rebalance, whose sample for the same series and timestamp differs
// (Prometheus keeps the first). Retrying cannot help.
var ErrRejected = errors.New("remote write rejected")

// RemoteWriter sends windows to Prometheus' remote-write endpoint
// (protocol 1.0: snappy-compressed prompb.WriteRequest).
type RemoteWriter struct {
	url    string
	client *http.Client
}

// NewRemoteWriter returns a writer for url (e.g.
// http://prometheus:9090/api/v1/write).
func NewRemoteWriter(url string, timeout time.Duration) *RemoteWriter {
	return &RemoteWriter{url: url, client: &http.Client{Timeout: timeout}}
}

// Close closes idle connections.
func (w *RemoteWriter) Close() { w.client.CloseIdleConnections() }

// WriteRequest builds the request for the windows' series.
func WriteRequest(ws []Window) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for _, w := range ws {
		ms := w.Start.UnixMilli()
		for _, s := range w.Series {
			ts := prompb.TimeSeries{Labels: make([]prompb.Label, len(s.Labels)), Samples: []prompb.Sample{{Value: s.Value, Timestamp: ms}}}
			for i, l := range s.Labels {
				ts.Labels[i] = prompb.Label{Name: l.Name, Value: l.Value}
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
	}
	return req
}

// Write sends the windows' samples. An error wrapping ErrRejected is
// permanent; any other may be retried.
func (w *RemoteWriter) Write(ctx context.Context, ws []Window) error {
	req := WriteRequest(ws)
	if len(req.Timeseries) == 0 {
		return nil
	}
	raw, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("encode write request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		return fmt.Errorf("remote write: %w", err)
	}
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	hr.Header.Set("User-Agent", "vigil-pipeline")
	res, err := w.client.Do(hr)
	if err != nil {
		return fmt.Errorf("remote write: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	switch {
	case res.StatusCode/100 == 2:
		return nil
	case res.StatusCode/100 == 4 && res.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: %s", ErrRejected, res.Status, bytes.TrimSpace(body))
	}
	return fmt.Errorf("remote write: %s: %s", res.Status, bytes.TrimSpace(body))
}
