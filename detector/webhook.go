package detector

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/events"
)

// Webhook sources.
const (
	sourceAlertmanager = "alertmanager"
	sourceGrafana      = "grafana"
)

// maxWebhookBody bounds a webhook request body.
const maxWebhookBody = 1 << 20

// alertPayload is the part of Alertmanager's webhook (version "4") and
// Grafana unified alerting's webhook (version "1", a superset) that the
// detector reads.
type alertPayload struct {
	Version string  `json:"version"`
	Status  string  `json:"status"`
	Alerts  []alert `json:"alerts"`
}

type alert struct {
	Status       string             `json:"status"`
	Labels       map[string]string  `json:"labels"`
	Annotations  map[string]string  `json:"annotations"`
	StartsAt     time.Time          `json:"startsAt"`
	EndsAt       time.Time          `json:"endsAt"`
	GeneratorURL string             `json:"generatorURL"`
	Fingerprint  string             `json:"fingerprint"`
	Values       map[string]float64 `json:"values"` // Grafana only
	DashboardURL string             `json:"dashboardURL"`
}

// webhookError is a response to a rejected request.
type webhookError struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"`
}

// webhook serves POST /api/v1/alerts/<source>. A firing alert labelled
// target=<name> and severity=caution|critical holds that target at the
// severity until the alert resolves; the target's status stays the worst of
// its rules and alerts. Only the leader applies alerts; a follower answers
// 503 so that the sender retries.
func (s *Service) webhook(source string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := s.serveWebhook(source, w, r)
		s.m.webhooks.WithLabelValues(source, strconv.Itoa(code)).Inc()
	})
}

func (s *Service) serveWebhook(source string, w http.ResponseWriter, r *http.Request) int {
	reply := func(code int, v any) int {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
		return code
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil-detector"`)
		return reply(http.StatusUnauthorized, webhookError{Error: "missing or wrong bearer token"})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return reply(http.StatusRequestEntityTooLarge, webhookError{Error: fmt.Sprintf("body exceeds %d bytes", maxWebhookBody)})
		}
		return reply(http.StatusBadRequest, webhookError{Error: "reading body: " + err.Error()})
	}
	updates, problems := s.parseAlerts(source, body)
	if len(problems) > 0 {
		return reply(http.StatusBadRequest, webhookError{Error: "malformed " + source + " payload", Problems: problems})
	}
	eng := s.engine()
	if eng == nil {
		w.Header().Set("Retry-After", "5")
		return reply(http.StatusServiceUnavailable, webhookError{Error: "this detector replica is not the leader; retry"})
	}
	changed := 0
	now := s.now()
	for _, u := range updates {
		ok, err := eng.setExternal(r.Context(), u.target, u.key, u.ext, now)
		if err != nil {
			return reply(http.StatusServiceUnavailable, webhookError{Error: "queueing the transition: " + err.Error()})
		}
		if ok {
			changed++
		}
	}
	return reply(http.StatusOK, map[string]int{"alerts": len(updates), "transitions": changed})
}

type alertUpdate struct {
	target, key string
	ext         External
}

// parseAlerts decodes and checks a payload, naming every problem by its
// JSON path.
func (s *Service) parseAlerts(source string, body []byte) ([]alertUpdate, []string) {
	var p alertPayload
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&p); err != nil {
		return nil, []string{"body: not a valid " + source + " webhook JSON document: " + err.Error()}
	}
	var probs []string
	add := func(path, f string, args ...any) { probs = append(probs, path+": "+fmt.Sprintf(f, args...)) }
	wantVersion := map[string]string{sourceAlertmanager: "4", sourceGrafana: "1"}[source]
	if p.Version != wantVersion {
		add("version", "must be %q (got %q)", wantVersion, p.Version)
	}
	if len(p.Alerts) == 0 {
		add("alerts", "must not be empty")
	}
	var out []alertUpdate
	for i, a := range p.Alerts {
		path := fmt.Sprintf("alerts[%d]", i)
		n := len(probs)
		target, sev, name := a.Labels["target"], strings.ToLower(a.Labels["severity"]), a.Labels["alertname"]
		switch {
		case target == "":
			add(path+".labels.target", "required: names the Vigil target the alert is about")
		case !s.cfg.webhookTarget(target):
			add(path+".labels.target", "unknown target %q (not configured, or not in webhooks.targets)", target)
		}
		if sev != "caution" && sev != "critical" {
			add(path+".labels.severity", "must be caution or critical (got %q)", a.Labels["severity"])
		}
		if name == "" {
			add(path+".labels.alertname", "required")
		}
		if a.Status != "firing" && a.Status != "resolved" {
			add(path+".status", "must be firing or resolved (got %q)", a.Status)
		}
		if a.Status == "firing" && a.StartsAt.IsZero() {
			add(path+".startsAt", "required for a firing alert")
		}
		if len(probs) > n {
			continue
		}
		out = append(out, alertUpdate{target: target, key: source + ":" + fingerprint(a), ext: toExternal(source, name, sev, a)})
	}
	return out, probs
}

func (c Config) webhookTarget(name string) bool {
	found := false
	for _, t := range c.Targets {
		found = found || t.Name == name
	}
	if !found || len(c.Webhooks.Targets) == 0 {
		return found
	}
	for _, n := range c.Webhooks.Targets {
		if n == name {
			return true
		}
	}
	return false
}

// fingerprint identifies an alert across its firing and resolved
// notifications: the sender's fingerprint, else its sorted labels.
func fingerprint(a alert) string {
	if a.Fingerprint != "" {
		return a.Fingerprint
	}
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, a.Labels[k])
	}
	return b.String()
}

func toExternal(source, name, sev string, a alert) External {
	x := External{Rule: source + ":" + name, Annotations: map[string]string{}}
	for k, v := range a.Annotations {
		x.Annotations[k] = v
	}
	for k, v := range map[string]string{"generator_url": a.GeneratorURL, "dashboards_url": a.DashboardURL} {
		if v != "" {
			x.Annotations[k] = v
		}
	}
	if len(a.Values) == 1 { // Grafana's single query value
		for _, v := range a.Values {
			x.Value = &v
		}
	}
	summary := a.Annotations["summary"]
	if a.Status == "resolved" {
		x.Level, x.Since = events.Healthy, a.EndsAt
		x.Reason = fmt.Sprintf("%s alert %s resolved", source, name)
	} else {
		x.Level, x.Since = events.Status(strings.ToUpper(sev)), a.StartsAt
		x.Reason = fmt.Sprintf("%s alert %s firing (severity %s)", source, name, sev)
	}
	if summary != "" {
		x.Reason += ": " + summary
	}
	if len(x.Annotations) == 0 {
		x.Annotations = nil
	}
	return x
}
