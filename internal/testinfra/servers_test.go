package testinfra

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestServersAnswer talks to each real server the harness provides, with a
// real client each, so a broken provisioning step shows up here first.
func TestServersAnswer(t *testing.T) {
	t.Run("kafka metadata via kcat", func(t *testing.T) {
		addr := Kafka(t)
		out, err := exec.Command(Tool(t, "kcat"), "-b", addr, "-L", "-J", "-m", "10").Output()
		if err != nil {
			t.Fatalf("kcat -L: %v", err)
		}
		var md struct {
			Brokers []struct {
				Name string `json:"name"`
			} `json:"brokers"`
		}
		if err := json.Unmarshal(out, &md); err != nil {
			t.Fatalf("kcat metadata: %v\n%s", err, out)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].Name != addr {
			t.Fatalf("want one broker advertised at %s, got %+v", addr, md.Brokers)
		}
	})
	t.Run("opensearch version and health", func(t *testing.T) {
		base := OpenSearch(t)
		var root struct {
			Version struct {
				Distribution string `json:"distribution"`
				Number       string `json:"number"`
			} `json:"version"`
		}
		getJSON(t, base+"/", &root)
		if root.Version.Distribution != "opensearch" || !(strings.HasPrefix(root.Version.Number, "2.19.") || strings.HasPrefix(root.Version.Number, "3.")) {
			t.Fatalf("want OpenSearch 2.19.x or 3.x, got %+v", root.Version)
		}
		var health struct {
			Status        string `json:"status"`
			NumberOfNodes int    `json:"number_of_nodes"`
		}
		getJSON(t, base+"/_cluster/health", &health)
		if health.NumberOfNodes != 1 || (health.Status != "green" && health.Status != "yellow") {
			t.Fatalf("want a healthy single node, got %+v", health)
		}
		t.Logf("OpenSearch %s, status %s", root.Version.Number, health.Status)
	})
	t.Run("prometheus build info", func(t *testing.T) {
		var bi struct {
			Status string `json:"status"`
			Data   struct {
				Version string `json:"version"`
			} `json:"data"`
		}
		getJSON(t, Prometheus(t)+"/api/v1/status/buildinfo", &bi)
		if bi.Status != "success" || bi.Data.Version == "" {
			t.Fatalf("unexpected build info %+v", bi)
		}
		t.Logf("Prometheus %s", bi.Data.Version)
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
