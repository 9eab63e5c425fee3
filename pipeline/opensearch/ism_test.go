package opensearch

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeISMCluster stands in for a cluster with the index-management plugin,
// which the test cluster does not have: it records what is PUT and serves
// it back.
type fakeISMCluster struct {
	mu       sync.Mutex
	policies map[string]string // id -> description
	seqNo    int
	puts     []string // method path
}

func (f *fakeISMCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.URL.Path == "/_cat/plugins":
		fmt.Fprint(w, `[{"name":"n1","component":"opensearch-index-management","version":"2.19.0.0"}]`)
	case strings.HasPrefix(r.URL.Path, "/_plugins/_ism/policies/"):
		id := strings.TrimPrefix(r.URL.Path, "/_plugins/_ism/policies/")
		if r.Method == http.MethodGet {
			d, ok := f.policies[id]
			if !ok {
				w.WriteHeader(404)
				fmt.Fprint(w, `{"error":{"type":"status_exception"},"status":404}`)
				return
			}
			fmt.Fprintf(w, `{"_id":%q,"_seq_no":%d,"_primary_term":1,"policy":{"description":%q}}`, id, f.seqNo, d)
			return
		}
		f.puts = append(f.puts, r.Method+" "+r.URL.RequestURI())
		var p struct {
			Policy struct {
				Description string `json:"description"`
			} `json:"policy"`
		}
		json.Unmarshal(body, &p)
		f.policies[id] = p.Policy.Description
		f.seqNo++
		w.WriteHeader(201)
		fmt.Fprint(w, `{}`)
	case strings.HasPrefix(r.URL.Path, "/_index_template/"):
		if r.Method == http.MethodGet {
			w.WriteHeader(404)
			fmt.Fprint(w, `{}`)
			return
		}
		if strings.Contains(r.URL.Path, "span") && !strings.Contains(string(body), `"rollover_alias":"otel-v1-apm-span"`) {
			http.Error(w, "span template without rollover alias", 400)
			return
		}
		fmt.Fprint(w, `{"acknowledged":true}`)
	case strings.HasPrefix(r.URL.Path, "/_alias/"):
		fmt.Fprint(w, `{"otel-v1-apm-span-000001":{"aliases":{"otel-v1-apm-span":{}}}}`)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, 500)
	}
}

func TestInstallISMPolicies(t *testing.T) {
	f := &fakeISMCluster{policies: map[string]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Addresses = []string{srv.URL}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	defer c.Close()
	in := &Installer{Client: c, Names: defaultNames, Settings: defaultSettings, Lifecycle: defaultLifecycle, Log: quietLog()}

	require.NoError(t, in.Install(t.Context()))
	require.Equal(t, []string{
		"PUT /_plugins/_ism/policies/otel-v1-apm-span-policy",
		"PUT /_plugins/_ism/policies/ss4o_logs-policy",
		"PUT /_plugins/_ism/policies/otel-v2-apm-service-map-policy",
	}, f.puts)

	// Same version installed: nothing to do.
	f.puts = nil
	require.NoError(t, in.Install(t.Context()))
	require.Empty(t, f.puts)

	// An older policy is replaced, guarded by its sequence number.
	f.policies["ss4o_logs-policy"] = "vigil logs lifecycle (vigil-version 0)"
	require.NoError(t, in.Install(t.Context()))
	require.Equal(t, []string{fmt.Sprintf("PUT /_plugins/_ism/policies/ss4o_logs-policy?if_seq_no=%d&if_primary_term=1", f.seqNo-1)}, f.puts)

	// A newer one is left alone.
	f.puts = nil
	f.policies["ss4o_logs-policy"] = "vigil logs lifecycle (vigil-version 99)"
	require.NoError(t, in.Install(t.Context()))
	require.Empty(t, f.puts)
}
