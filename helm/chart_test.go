package helm

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	chartDir  = "vigil"
	release   = "vigil"
	namespace = "observability"
)

// variant is one values file the chart is rendered with; file "" is the
// chart's defaults.
type variant struct {
	name string
	file string
}

func variants(t *testing.T) []variant {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "helm/vigil/ci holds no values files")
	vs := []variant{{name: "default"}}
	for _, f := range files {
		vs = append(vs, variant{name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), file: f})
	}
	return vs
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	require.NoError(t, err)
	return c
}

// capabilities is a cluster with the Prometheus Operator's API, so the
// monitoring templates render when their values enable them.
func capabilities(withMonitoring bool) *chartutil.Capabilities {
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}
	caps.APIVersions = slices.Clone(chartutil.DefaultVersionSet)
	if withMonitoring {
		caps.APIVersions = append(caps.APIVersions, "monitoring.coreos.com/v1")
	}
	return caps
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(file)
	require.NoError(t, err)
	return v.AsMap()
}

// render renders the chart as `helm install` would (schema validation
// included) and returns the output per template file.
func render(c *chart.Chart, vals map[string]any, caps *chartutil.Capabilities) (map[string]string, error) {
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(c, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	return engine.Render(c, rv)
}

// manifest is one decoded Kubernetes object of the output.
type manifest struct {
	source string
	kind   string
	name   string
	obj    any
}

// kinds maps apiVersion/kind to the typed object a manifest must decode
// into without unknown fields.
var kinds = map[string]func() any{
	"v1/ConfigMap":                                    func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                                       func() any { return &corev1.Secret{} },
	"v1/Service":                                      func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                               func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                              func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                             func() any { return &appsv1.StatefulSet{} },
	"apps/v1/DaemonSet":                               func() any { return &appsv1.DaemonSet{} },
	"batch/v1/Job":                                    func() any { return &batchv1.Job{} },
	"autoscaling/v2/HorizontalPodAutoscaler":          func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":                   func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":              func() any { return &networkingv1.NetworkPolicy{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	// The Prometheus Operator's types are not in the module graph: these
	// decode as maps and get the checks in checkMonitoring.
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &map[string]any{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &map[string]any{} },
}

// decode splits the output into objects and decodes each strictly.
func decode(t *testing.T, out map[string]string) []manifest {
	t.Helper()
	var ms []manifest
	for _, src := range sortedKeys(out) {
		if strings.HasSuffix(src, "NOTES.txt") {
			continue
		}
		docs := releaseutil.SplitManifests(out[src])
		keys := sortedKeys(docs)
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			doc := docs[k]
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(doc), &head), "%s", src)
			gvk := head.APIVersion + "/" + head.Kind
			mk, ok := kinds[gvk]
			require.True(t, ok, "%s: unexpected kind %s", src, gvk)
			obj := mk()
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), obj), "%s: %s %s", src, gvk, head.Metadata.Name)
			require.NotEmpty(t, head.Metadata.Name, "%s: %s without a name", src, gvk)
			ms = append(ms, manifest{source: src, kind: head.Kind, name: head.Metadata.Name, obj: obj})
		}
	}
	return ms
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func golden(t *testing.T, name string, out map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, src := range sortedKeys(out) {
		body := strings.TrimSpace(out[src])
		if body == "" {
			continue
		}
		b.WriteString("# Source: " + src + "\n" + body + "\n")
	}
	path := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./helm/ -update to create it")
	require.Equal(t, string(want), b.String(), "rendered %s differs from %s (-update rewrites it)", name, path)
}

func TestRender(t *testing.T) {
	c := loadChart(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			out, err := render(c, readValues(t, v.file), capabilities(true))
			require.NoError(t, err)
			ms := decode(t, out)
			golden(t, v.name, out)
			check, ok := variantChecks[v.name]
			require.True(t, ok, "no expectations for %s in variantChecks", v.file)
			check(t, ms)
			checkMonitoring(t, ms)
			require.Contains(t, out[chartDir+"/templates/NOTES.txt"], "port-forward")
		})
	}
}

// variantChecks say what each values file is for, beyond the golden file.
var variantChecks = map[string]func(t *testing.T, ms []manifest){
	"default": func(t *testing.T, ms []manifest) {
		require.Equal(t, map[string]int{
			"ConfigMap": 5, "Deployment": 3, "StatefulSet": 1, "Service": 4, "PodDisruptionBudget": 3,
			"ServiceAccount": 1, "Job": 1,
		}, countKinds(ms))
		// The gateway's sending queue is on a claim per replica, never an
		// emptyDir that a rescheduled pod would lose.
		col := find[*appsv1.StatefulSet](t, ms, "StatefulSet", release+"-collector")
		require.Len(t, col.Spec.VolumeClaimTemplates, 1)
		require.Equal(t, "queue", col.Spec.VolumeClaimTemplates[0].Name)
		require.Equal(t, "2Gi", col.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
		for _, v := range col.Spec.Template.Spec.Volumes {
			require.NotEqual(t, "queue", v.Name, "the queue volume comes from the claim template")
		}
		require.Contains(t, volumeMounts(col.Spec.Template.Spec.Containers[0]), "/var/lib/vigil/collector-queue")
		job := find[*batchv1.Job](t, ms, "Job", release+"-setup")
		require.Equal(t, []string{"setup", "--config", "/etc/vigil/setup.yaml"}, job.Spec.Template.Spec.Containers[0].Args)
		require.Equal(t, "post-install,post-upgrade", job.Annotations["helm.sh/hook"])
		require.Equal(t, "before-hook-creation,hook-succeeded", job.Annotations["helm.sh/hook-delete-policy"])
		require.Equal(t, int32(2), *find[*appsv1.Deployment](t, ms, "Deployment", release+"-detector").Spec.Replicas)
		// Two alerting replicas: one active, the other standing by.
		require.Equal(t, int32(2), *find[*appsv1.Deployment](t, ms, "Deployment", release+"-alerting").Spec.Replicas)
		pipe := find[*appsv1.Deployment](t, ms, "Deployment", release+"-pipeline")
		require.Equal(t, "256Mi", pipe.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String())
		require.Empty(t, envNames(pipe.Spec.Template.Spec.Containers[0]), "no credential configured, so no env")
		svc := find[*corev1.Service](t, ms, "Service", release+"-collector")
		var ports []int32
		for _, p := range svc.Spec.Ports {
			ports = append(ports, p.Port)
		}
		require.Equal(t, []int32{4317, 4318, 8889, 8881}, ports)
	},
	"agent": func(t *testing.T, ms []manifest) {
		ds := find[*appsv1.DaemonSet](t, ms, "DaemonSet", release+"-agent")
		var logs *corev1.VolumeMount
		for i, m := range ds.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.MountPath == "/var/log/pods" {
				logs = &ds.Spec.Template.Spec.Containers[0].VolumeMounts[i]
			}
		}
		require.NotNil(t, logs, "agent does not mount /var/log/pods")
		require.True(t, logs.ReadOnly)
		role := find[*rbacv1.ClusterRole](t, ms, "ClusterRole", release+"-agent")
		require.Equal(t, []string{"pods", "namespaces", "nodes"}, role.Rules[0].Resources)
		require.Equal(t, []string{"replicasets"}, role.Rules[1].Resources)
		cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", release+"-agent")
		require.Contains(t, cm.Data["collector.yaml"], "endpoint: "+release+"-collector."+namespace+".svc:4317")
	},
	"existing-secrets": func(t *testing.T, ms []manifest) {
		require.Zero(t, countKinds(ms)["Secret"], "existing secrets must not be duplicated")
		pipe := find[*appsv1.Deployment](t, ms, "Deployment", release+"-pipeline")
		require.Equal(t, map[string]string{
			"VIGIL_KAFKA_SASL_USERNAME": "vigil-kafka/user", "VIGIL_KAFKA_SASL_PASSWORD": "vigil-kafka/pass",
			"VIGIL_OPENSEARCH_USERNAME": "vigil-opensearch/username", "VIGIL_OPENSEARCH_PASSWORD": "vigil-opensearch/password",
			"VIGIL_API_TOKEN": "vigil-api/api-token",
		}, secretRefs(pipe.Spec.Template.Spec.Containers[0]))
		al := find[*appsv1.Deployment](t, ms, "Deployment", release+"-alerting")
		require.Equal(t, "vigil-slack/bot-token", secretRefs(al.Spec.Template.Spec.Containers[0])["VIGIL_SLACK_TOKEN"])
		// The setup Job installs templates and imports the Dashboards
		// objects with the OpenSearch credentials, from the Secret.
		job := find[*batchv1.Job](t, ms, "Job", release+"-setup")
		require.Equal(t, "vigil-opensearch/password", secretRefs(job.Spec.Template.Spec.Containers[0])["VIGIL_OPENSEARCH_PASSWORD"])
		var setup struct {
			OpenSearch struct {
				Addresses []string       `json:"addresses"`
				Password  map[string]any `json:"password"`
			} `json:"opensearch"`
			Dashboards map[string]any `json:"dashboards"`
		}
		cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", release+"-setup")
		require.NoError(t, yaml.Unmarshal([]byte(cm.Data["setup.yaml"]), &setup))
		require.Equal(t, []string{"https://opensearch.search.svc:9200"}, setup.OpenSearch.Addresses)
		require.Equal(t, map[string]any{
			"url": "https://dashboards.search.svc:5601/dashboards", "tenant": "global",
			"username": "${VIGIL_OPENSEARCH_USERNAME}", "password": map[string]any{"env": "VIGIL_OPENSEARCH_PASSWORD"},
		}, setup.Dashboards)
		require.Equal(t, "vigil-api/api-token", secretRefs(al.Spec.Template.Spec.Containers[0])["VIGIL_API_TOKEN"])
	},
	"inline-secrets": func(t *testing.T, ms []manifest) {
		s := find[*corev1.Secret](t, ms, "Secret", release)
		require.Equal(t, []string{"api-token", "kafka-sasl-password", "kafka-sasl-username", "opensearch-password", "opensearch-username", "slack-token"}, sortedKeys(s.Data))
		for _, m := range ms {
			if cm, ok := m.obj.(*corev1.ConfigMap); ok {
				for _, v := range cm.Data {
					for _, secret := range []string{"kafka-secret", "opensearch-secret", "xoxb-0000-test", "api-secret"} {
						require.NotContains(t, v, secret, "ConfigMap %s holds a secret", cm.Name)
					}
				}
			}
		}
		det := find[*appsv1.Deployment](t, ms, "Deployment", release+"-detector")
		require.Equal(t, release+"/api-token", secretRefs(det.Spec.Template.Spec.Containers[0])["VIGIL_API_TOKEN"])
	},
	"monitoring": func(t *testing.T, ms []manifest) {
		require.Equal(t, 1, countKinds(ms)["ServiceMonitor"])
		require.Equal(t, 1, countKinds(ms)["PrometheusRule"])
	},
	"networkpolicy": func(t *testing.T, ms []manifest) {
		require.Equal(t, 5, countKinds(ms)["NetworkPolicy"])
		np := find[*networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", release+"-collector")
		require.Len(t, np.Spec.Ingress, 3)
	},
	"collector-emptydir": func(t *testing.T, ms []manifest) {
		require.Zero(t, countKinds(ms)["StatefulSet"])
		col := find[*appsv1.Deployment](t, ms, "Deployment", release+"-collector")
		var queue *corev1.Volume
		for i, v := range col.Spec.Template.Spec.Volumes {
			if v.Name == "queue" {
				queue = &col.Spec.Template.Spec.Volumes[i]
			}
		}
		require.NotNil(t, queue)
		require.NotNil(t, queue.EmptyDir, "persistence disabled: the queue is on an emptyDir")
	},
	"autoscaling": func(t *testing.T, ms []manifest) {
		hpa := find[*autoscalingv2.HorizontalPodAutoscaler](t, ms, "HorizontalPodAutoscaler", release+"-pipeline")
		require.Equal(t, int32(12), hpa.Spec.MaxReplicas)
		require.Equal(t, release+"-pipeline", hpa.Spec.ScaleTargetRef.Name)
		pipe := find[*appsv1.Deployment](t, ms, "Deployment", release+"-pipeline")
		require.Nil(t, pipe.Spec.Replicas, "the HPA owns the replica count")
		// The setup Job creates the topics with as many partitions as the
		// HPA may start consumers.
		var setup struct {
			Topics []struct {
				Name              string            `json:"name"`
				Partitions        int               `json:"partitions"`
				ReplicationFactor int               `json:"replication_factor"`
				Configs           map[string]string `json:"configs"`
			} `json:"topics"`
		}
		cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", release+"-setup")
		require.NoError(t, yaml.Unmarshal([]byte(cm.Data["setup.yaml"]), &setup))
		require.Len(t, setup.Topics, 8)
		for _, tp := range setup.Topics {
			require.Equal(t, 3, tp.ReplicationFactor, tp.Name)
			require.Equal(t, "2", tp.Configs["min.insync.replicas"], tp.Name)
			if tp.Name == "otlp_logs" || tp.Name == "otlp_spans" || tp.Name == "otlp_logs_priority" {
				require.Equal(t, 12, tp.Partitions, tp.Name)
				// The collector's exporters send batches of up to 8 MiB.
				require.Equal(t, "8388608", tp.Configs["max.message.bytes"], tp.Name)
			}
		}
	},
}

// checkMonitoring checks the Prometheus Operator objects decoded as maps:
// the ServiceMonitor selects the release's Services by a port they have,
// and every rule expression is valid PromQL.
func checkMonitoring(t *testing.T, ms []manifest) {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	for _, m := range ms {
		obj, ok := m.obj.(*map[string]any)
		if !ok {
			continue
		}
		spec, ok := (*obj)["spec"].(map[string]any)
		require.True(t, ok, "%s %s has no spec", m.kind, m.name)
		switch m.kind {
		case "ServiceMonitor":
			eps, _ := spec["endpoints"].([]any)
			require.NotEmpty(t, eps)
			require.Equal(t, "admin", eps[0].(map[string]any)["port"])
		case "PrometheusRule":
			groups, _ := spec["groups"].([]any)
			require.NotEmpty(t, groups)
			for _, g := range groups {
				for _, r := range g.(map[string]any)["rules"].([]any) {
					rule := r.(map[string]any)
					_, err := p.ParseExpr(rule["expr"].(string))
					require.NoError(t, err, "rule %v", rule["alert"])
				}
			}
		}
	}
}

func countKinds(ms []manifest) map[string]int {
	n := map[string]int{}
	for _, m := range ms {
		n[m.kind]++
	}
	return n
}

func find[T any](t *testing.T, ms []manifest, kind, name string) T {
	t.Helper()
	for _, m := range ms {
		if m.kind == kind && m.name == name {
			return m.obj.(T)
		}
	}
	require.FailNow(t, "not rendered", "%s %s", kind, name)
	var zero T
	return zero
}

func envNames(c corev1.Container) []string {
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	return names
}

// secretRefs maps each env var set from a Secret to "secret/key".
func secretRefs(c corev1.Container) map[string]string {
	refs := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return refs
}

func TestMonitoringNeedsCapability(t *testing.T) {
	c := loadChart(t)
	vals := readValues(t, filepath.Join(chartDir, "ci", "monitoring-values.yaml"))
	for _, withAPI := range []bool{true, false} {
		out, err := render(c, vals, capabilities(withAPI))
		require.NoError(t, err)
		n := countKinds(decode(t, out))
		if withAPI {
			require.Equal(t, 1, n["ServiceMonitor"])
		} else {
			require.Zero(t, n["ServiceMonitor"]+n["PrometheusRule"], "rendered without the monitoring.coreos.com/v1 API")
		}
	}
}

func volumeMounts(c corev1.Container) []string {
	var out []string
	for _, m := range c.VolumeMounts {
		out = append(out, m.MountPath)
	}
	return out
}

// pod is a workload's pod template.
type pod struct {
	name      string
	spec      corev1.PodSpec
	longLived bool // Deployments and DaemonSets have probes; Jobs do not
}

func pods(ms []manifest) []pod {
	var ps []pod
	for _, m := range ms {
		switch o := m.obj.(type) {
		case *appsv1.Deployment:
			ps = append(ps, pod{m.kind + "/" + m.name, o.Spec.Template.Spec, true})
		case *appsv1.StatefulSet:
			ps = append(ps, pod{m.kind + "/" + m.name, o.Spec.Template.Spec, true})
		case *appsv1.DaemonSet:
			ps = append(ps, pod{m.kind + "/" + m.name, o.Spec.Template.Spec, true})
		case *batchv1.Job:
			ps = append(ps, pod{m.kind + "/" + m.name, o.Spec.Template.Spec, false})
		}
	}
	return ps
}

func TestPodSecurity(t *testing.T) {
	c := loadChart(t)
	for _, v := range variants(t) {
		out, err := render(c, readValues(t, v.file), capabilities(true))
		require.NoError(t, err, v.name)
		for _, p := range pods(decode(t, out)) {
			t.Run(v.name+"/"+p.name, func(t *testing.T) {
				psc := p.spec.SecurityContext
				require.NotNil(t, psc)
				for _, ctr := range p.spec.Containers {
					sc := ctr.SecurityContext
					require.NotNil(t, sc, ctr.Name)
					require.True(t, orPod(sc.RunAsNonRoot, psc.RunAsNonRoot), "%s: runAsNonRoot", ctr.Name)
					require.Equal(t, int64(65532), orPod(sc.RunAsUser, psc.RunAsUser), "%s: runAsUser", ctr.Name)
					require.True(t, deref(sc.ReadOnlyRootFilesystem), "%s: readOnlyRootFilesystem", ctr.Name)
					require.NotNil(t, sc.AllowPrivilegeEscalation, ctr.Name)
					require.False(t, *sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", ctr.Name)
					require.NotNil(t, sc.Capabilities, ctr.Name)
					require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, "%s: capabilities.drop", ctr.Name)
					require.Empty(t, sc.Capabilities.Add, ctr.Name)
					seccomp := sc.SeccompProfile
					if seccomp == nil {
						seccomp = psc.SeccompProfile
					}
					require.NotNil(t, seccomp, "%s: seccompProfile", ctr.Name)
					require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, seccomp.Type, ctr.Name)
					require.False(t, ctr.Resources.Requests.Cpu().IsZero(), "%s: cpu request", ctr.Name)
					require.False(t, ctr.Resources.Limits.Memory().IsZero(), "%s: memory limit", ctr.Name)
					if p.longLived {
						checkProbes(t, ctr)
					}
				}
			})
		}
	}
}

func checkProbes(t *testing.T, ctr corev1.Container) {
	t.Helper()
	var admin bool
	for _, p := range ctr.Ports {
		admin = admin || p.Name == "admin"
	}
	require.True(t, admin, "%s: no port named admin", ctr.Name)
	for _, pr := range []struct {
		probe *corev1.Probe
		path  string
	}{{ctr.LivenessProbe, "/healthz"}, {ctr.ReadinessProbe, "/readyz"}} {
		require.NotNil(t, pr.probe, "%s: probe for %s", ctr.Name, pr.path)
		require.NotNil(t, pr.probe.HTTPGet, ctr.Name)
		require.Equal(t, pr.path, pr.probe.HTTPGet.Path, ctr.Name)
		require.Equal(t, "admin", pr.probe.HTTPGet.Port.String(), ctr.Name)
	}
}

// orPod is the container's setting, else the pod's (as the kubelet applies them).
func orPod[T any](ctr, pod *T) T {
	if ctr != nil {
		return *ctr
	}
	return deref(pod)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestSchema(t *testing.T) {
	c := loadChart(t)
	tests := []struct {
		name    string
		values  string
		wantErr string // "" = valid
	}{
		{"defaults", ``, ""},
		{"valid overrides", "pipeline:\n  replicas: 3\nkafka:\n  brokers: [a:9092, b:9092]\n", ""},
		{"replicas not an integer", "pipeline:\n  replicas: two\n", "at '/pipeline/replicas': got string, want integer"},
		{"unknown top-level key", "bogus: 1\n", "additional properties 'bogus' not allowed"},
		{"misspelt component key", "detector:\n  replica: 3\n", "at '/detector': additional properties 'replica' not allowed"},
		{"log level outside the enum", "log:\n  level: loud\n", "at '/log/level'"},
		{"brokers not a list", "kafka:\n  brokers: kafka:9092\n", "at '/kafka/brokers': got string, want array"},
		{"opensearch url without scheme", "opensearch:\n  url: opensearch:9200\n", "at '/opensearch/url'"},
		{"alerting replicas negative", "alerting:\n  replicas: -1\n", "at '/alerting/replicas'"},
		{"setup dashboards import not a boolean", "setup:\n  dashboards:\n    enabled: \"yes\"\n", "at '/setup/dashboards/enabled': got string, want boolean"},
		{"misspelt setup dashboards key", "setup:\n  dashboards:\n    tennant: global\n", "at '/setup/dashboards': additional properties 'tennant' not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := chartutil.ReadValues([]byte(tt.values))
			require.NoError(t, err)
			_, err = render(c, vals.AsMap(), capabilities(false))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "values don't meet the specifications of the schema")
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestAutoscalingLimit(t *testing.T) {
	c := loadChart(t)
	tests := []struct {
		name        string
		partitions  int
		min, max    int
		wantErr     string
		wantEnabled bool
	}{
		{"max equals partitions", 6, 2, 6, "", true},
		{"max above partitions", 6, 2, 7, "pipeline.autoscaling.maxReplicas (7) must not exceed kafka.topics.partitions (6)", false},
		{"min above max", 12, 8, 4, "pipeline.autoscaling.minReplicas (8) must not exceed maxReplicas (4)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]any{
				"kafka":    map[string]any{"topics": map[string]any{"partitions": tt.partitions}},
				"pipeline": map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": tt.min, "maxReplicas": tt.max}},
			}
			out, err := render(c, vals, capabilities(false))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			hpa := find[*autoscalingv2.HorizontalPodAutoscaler](t, decode(t, out), "HorizontalPodAutoscaler", release+"-pipeline")
			require.Equal(t, int32(tt.max), hpa.Spec.MaxReplicas)
		})
	}
}

// TestConfigCheck runs every container's command (components and the setup
// Job) with its rendered configuration and --check, using the real binary: the chart's
// ConfigMaps must be configurations the components accept. The container's
// environment is given, secrets replaced by placeholders.
func TestConfigCheck(t *testing.T) {
	c := loadChart(t)
	for _, v := range variants(t) {
		out, err := render(c, readValues(t, v.file), capabilities(true))
		require.NoError(t, err, v.name)
		ms := decode(t, out)
		configMaps := map[string]*corev1.ConfigMap{}
		for _, m := range ms {
			if cm, ok := m.obj.(*corev1.ConfigMap); ok {
				configMaps[cm.Name] = cm
			}
		}
		for _, p := range pods(ms) {
			t.Run(v.name+"/"+p.name, func(t *testing.T) {
				ctr := p.spec.Containers[0]
				require.Len(t, ctr.Args, 3, "args: <component> --config <file>")
				require.Equal(t, "--config", ctr.Args[1])
				cm := configMaps[configMapOf(t, p.spec, "config")]
				require.NotNil(t, cm, "config volume's ConfigMap not rendered")
				file := filepath.Base(ctr.Args[2])
				body, ok := cm.Data[file]
				require.True(t, ok, "ConfigMap %s has no %s", cm.Name, file)
				body = materializeSecretFiles(t, p.spec, body, t.TempDir())
				path := filepath.Join(t.TempDir(), file)
				require.NoError(t, os.WriteFile(path, []byte(body), 0o600))

				cmd := exec.Command(vigiltest.Binary(t), ctr.Args[0], "--config", path, "--check")
				cmd.Env = append(os.Environ(), containerEnv(ctr)...)
				var outBuf bytes.Buffer
				cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
				require.NoError(t, cmd.Run(), "vigil %s --check:\n%s", ctr.Args[0], outBuf.String())
				require.Contains(t, outBuf.String(), "configuration is valid")
			})
		}
	}
}

func configMapOf(t *testing.T, spec corev1.PodSpec, volume string) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			return v.ConfigMap.Name
		}
	}
	require.FailNow(t, "no ConfigMap volume", volume)
	return ""
}

// containerEnv is the container's environment as NAME=value, with a
// placeholder for values the kubelet would fill in (secrets, fields).
func containerEnv(ctr corev1.Container) []string {
	var env []string
	for _, e := range ctr.Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = "placeholder-" + strings.ToLower(e.Name)
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

func TestLint(t *testing.T) {
	helm := testinfra.Tool(t, "helm")
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir}
			if v.file != "" {
				args = append(args, "--values", v.file)
			}
			out, err := exec.Command(helm, args...).CombinedOutput()
			require.NoError(t, err, "helm %s:\n%s", strings.Join(args, " "), out)
			require.Contains(t, string(out), "1 chart(s) linted, 0 chart(s) failed")
		})
	}
}
