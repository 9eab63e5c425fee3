//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/vigil-dev/vigil/internal/vigiltest"
	"github.com/vigil-dev/vigil/pipeline/dlq"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// statusField is the span attribute http.response.status_code as the span
// documents hold it (dots written as @).
const statusField = "span.attributes.http@response@status_code"

// TestPoisonRecords: records produced with kcat into one
// partition of each topic, poison between good ones: garbage bytes and a
// 20 MB truncated OTLP request (logs topic), and a span whose
// http.response.status_code is text where the operator's template maps it
// as long (spans topic). The three land in the DLQ, byte for byte, with
// their causes in headers; every good record, before and after them, is
// indexed. Then the operator fixes the template the way OpenSearch allows
// (a field's type cannot change in an existing index): a new template
// version mapping the field as keyword and a rollover, so the write index
// has the fixed mapping; `vigil dlq replay --error-type
// mapper_parsing_exception` then indexes the span, and replaying it again
// changes nothing.
func TestPoisonRecords(t *testing.T) {
	s := newStack(t, 1)
	p := s.startPipeline("")

	// The operator's customisation: a newer template version (the
	// pipeline never downgrades it) typing the attribute as long, in force
	// from the next backing index on.
	s.putSpanTemplate(opensearch.TemplateVersion+1, map[string]any{"type": "long"})
	s.rollover(s.spanAlias)

	dir := t.TempDir()
	file := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	base := time.Now().Add(-time.Minute)
	goodLogs := func(from int) []byte {
		b, err := plogotlp.NewExportRequestFromLogs(seqLogs(from, from+100, base)).MarshalProto()
		require.NoError(t, err)
		return b
	}
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	garbage[0] = 0xff // not a valid protobuf tag
	// 20 MB of log records, cut short: a truncated protobuf.
	bigReq := plogotlp.NewExportRequestFromLogs(seqLogs(1000, 1001, base))
	bigReq.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().SetStr(strings.Repeat("x", 20<<20))
	big, err := bigReq.MarshalProto()
	require.NoError(t, err)
	big = big[:20<<20]

	kcat(t, s.broker, s.logsTopic,
		file("good1.pb", goodLogs(0)), file("garbage.bin", garbage), file("big.pb", big), file("good2.pb", goodLogs(100)))
	kcat(t, s.broker, s.spansTopic,
		file("span1.pb", spanRecord(t, 1, 200)), file("conflict.pb", spanRecord(t, 2, "two hundred")), file("span3.pb", spanRecord(t, 3, 204)))

	s.waitCount(s.logsStream, 200, 3*time.Minute)
	s.waitCount(s.spanAlias, 2, 3*time.Minute)

	recs := readDLQ(t, s, 3)
	require.Len(t, recs, 3, "DLQ records")
	byValue := map[string]dlq.Entry{}
	for _, r := range recs {
		e, err := dlq.Parse(r.Headers)
		require.NoError(t, err)
		byValue[string(r.Value)] = e
		t.Logf("DLQ: %s from %s/%d@%d status %d index %q: %.200s", e.ErrorType, e.SourceTopic, e.SourcePartition, e.SourceOffset, e.HTTPStatus, e.TargetIndex, e.Reason)
	}
	for _, tc := range []struct {
		name   string
		value  []byte
		topic  string
		offset int64
		typ    string
		status int
	}{
		{"garbage", garbage, s.logsTopic, 1, dlq.ErrorTypeDecode, 0},
		{"20 MB truncated", big, s.logsTopic, 2, dlq.ErrorTypeDecode, 0},
		{"conflicting type", spanRecord(t, 2, "two hundred"), s.spansTopic, 1, "mapper_parsing_exception", 400},
	} {
		e, ok := byValue[string(tc.value)]
		require.True(t, ok, "%s: no DLQ record holds the original value", tc.name)
		require.Equal(t, tc.topic, e.SourceTopic, tc.name)
		require.Equal(t, int32(0), e.SourcePartition, tc.name)
		require.Equal(t, tc.offset, e.SourceOffset, tc.name)
		require.Equal(t, tc.typ, e.ErrorType, tc.name)
		require.Equal(t, tc.status, e.HTTPStatus, tc.name)
		require.NotEmpty(t, e.Reason, tc.name)
		require.False(t, e.FirstFailure.IsZero(), tc.name)
		require.False(t, e.LastFailure.Before(e.FirstFailure), tc.name)
		if tc.status != 0 {
			require.Contains(t, e.Reason, "http@response@status_code", "%s: the reason names the field", tc.name)
			require.Equal(t, s.spanAlias+"-000002", e.TargetIndex, tc.name)
		}
	}

	cfg := filepath.Join(s.dir, "pipeline.yaml")
	out := vigil(t, "dlq", "list", "--config", cfg)
	require.Regexp(t, `decode_error\s+2\s`, out)
	require.Regexp(t, `mapper_parsing_exception\s+1\s`, out)

	// The fix: the next template version maps the field as keyword.
	s.putSpanTemplate(opensearch.TemplateVersion+2, map[string]any{"type": "keyword", "ignore_above": 1024})
	s.rollover(s.spanAlias)
	out = vigil(t, "dlq", "replay", "--config", cfg, "--error-type", "mapper_parsing_exception")
	require.Contains(t, out, "replayed 1 records to "+s.spansTopic)
	s.waitCount(s.spanAlias, 3, 3*time.Minute)
	var hit struct {
		Hits struct {
			Hits []struct {
				Index  string         `json:"_index"`
				Source map[string]any `json:"_source"`
			}
		}
	}
	require.NoError(t, osDo(s.osURL, http.MethodPost, "/"+s.spanAlias+"/_search",
		map[string]any{"query": map[string]any{"term": map[string]any{statusField: "two hundred"}}}, &hit))
	require.Len(t, hit.Hits.Hits, 1, "the replayed span, found by its once conflicting value")
	require.Equal(t, s.spanAlias+"-000003", hit.Hits.Hits[0].Index)

	// Replaying again is harmless: same ids, create -> 409.
	vigil(t, "dlq", "replay", "--config", cfg, "--error-type", "mapper_parsing_exception")
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		v, err := metric(p.admin, "vigil_pipeline_documents_total", `kind="span"`, `outcome="duplicate"`)
		if err == nil && v < 1 {
			err = fmt.Errorf("no duplicate span yet")
		}
		return err
	}))
	s.waitCount(s.spanAlias, 3, time.Minute)
	s.waitCount(s.logsStream, 200, time.Minute)

	// Replaying the undecodable ones, the 20 MB record included, puts them
	// back through the pipeline, which dead-letters them again.
	out = vigil(t, "dlq", "replay", "--config", cfg, "--error-type", dlq.ErrorTypeDecode)
	require.Contains(t, out, "replayed 2 records to "+s.logsTopic)
	recs = readDLQ(t, s, 5)
	require.Len(t, recs, 5, "DLQ records after the decode errors went round again")
	bigs := 0
	for _, r := range recs {
		if bytes.Equal(r.Value, big) {
			bigs++
		}
	}
	require.Equal(t, 2, bigs, "the 20 MB record, dead-lettered again byte for byte")
}

// spanRecord is an OTLP traces request holding one root span (trace n)
// with http.response.status_code = status.
func spanRecord(t *testing.T, n int, status any) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "poison")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(seqTraceID(n))
	sp.SetSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, byte(n)})
	sp.SetName("GET /status")
	sp.SetKind(ptrace.SpanKindServer)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Millisecond)))
	switch v := status.(type) {
	case int:
		sp.Attributes().PutInt("http.response.status_code", int64(v))
	case string:
		sp.Attributes().PutStr("http.response.status_code", v)
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return b
}

// putSpanTemplate installs the span template the pipeline installed, with
// the status attribute mapped as field and the given version.
func (s *stack) putSpanTemplate(version int, field map[string]any) {
	t := s.t
	t.Helper()
	name := s.spanAlias + "-template"
	var cur struct {
		IndexTemplates []struct {
			IndexTemplate map[string]any `json:"index_template"`
		} `json:"index_templates"`
	}
	require.NoError(t, osDo(s.osURL, http.MethodGet, "/_index_template/"+name, nil, &cur))
	require.Len(t, cur.IndexTemplates, 1)
	tpl := cur.IndexTemplates[0].IndexTemplate
	tpl["version"] = version
	props := tpl["template"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)
	props[statusField] = field
	require.NoError(t, osDo(s.osURL, http.MethodPut, "/_index_template/"+name, tpl, nil))
}

func (s *stack) rollover(alias string) {
	s.t.Helper()
	require.NoError(s.t, osDo(s.osURL, http.MethodPost, "/"+alias+"/_rollover", nil, nil))
}

// readDLQ reads the stack's DLQ topic from the start until it holds want
// records (or two minutes pass).
func readDLQ(t *testing.T, s *stack, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.ConsumeTopics(s.dlqTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) {
			if ctx.Err() == nil {
				t.Logf("fetch %s/%d: %v", tp, p, err)
			}
		})
		recs = append(recs, fs.Records()...)
	}
	// Anything beyond want would be a record dead-lettered twice.
	late, cancelLate := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelLate()
	recs = append(recs, cl.PollFetches(late).Records()...)
	return recs
}

// vigil runs a short vigil command and returns its output.
func vigil(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vigiltest.Binary(t), args...)
	cmd.Dir = vigiltest.RepoRoot(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "vigil %v:\n%s", args, out.String())
	t.Logf("vigil %s:\n%s", strings.Join(args, " "), out.String())
	return out.String()
}
