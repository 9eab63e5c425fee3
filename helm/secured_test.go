package helm

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// tlsDir is where the chart mounts certificates, keys and tokens from Secrets.
const tlsDir = "/var/run/secrets/vigil"

var secretFile = regexp.MustCompile(regexp.QuoteMeta(tlsDir) + `/[a-z0-9-]+/[a-z0-9.]+`)

func init() {
	variantChecks["secured"] = checkSecured
}

// checkSecured: the fully secured install (ci/secured-values.yaml).
func checkSecured(t *testing.T, ms []manifest) {
	require.Zero(t, countKinds(ms)["Secret"], "every credential comes from an existing Secret")
	requireSecretFilesMounted(t, ms)

	pipe := find[*appsv1.Deployment](t, ms, "Deployment", release+"-pipeline")
	require.Equal(t, map[string]string{
		"kafka-ca": "kafka-ca", "kafka-client": "vigil-kafka-client",
		"opensearch-ca": "opensearch-ca", "opensearch-client": "vigil-opensearch-client",
	}, secretVolumes(pipe.Spec.Template.Spec))
	var pcfg struct {
		Kafka struct {
			SASL map[string]any `json:"sasl"`
			TLS  map[string]any `json:"tls"`
		} `json:"kafka"`
		OpenSearch struct {
			Addresses []string       `json:"addresses"`
			TLS       map[string]any `json:"tls"`
			Password  map[string]any `json:"password"`
		} `json:"opensearch"`
	}
	configOf(t, ms, "pipeline", &pcfg)
	require.Equal(t, map[string]any{
		"enabled": true, "ca_file": tlsDir + "/kafka-ca/ca.crt",
		"cert_file": tlsDir + "/kafka-client/tls.crt", "key_file": tlsDir + "/kafka-client/tls.key",
	}, pcfg.Kafka.TLS)
	require.Equal(t, "SCRAM-SHA-512", pcfg.Kafka.SASL["mechanism"], "SASL beside TLS: SASL_SSL")
	require.Equal(t, map[string]any{
		"insecure_skip_verify": false, // from pipeline.config, as in configs/pipeline.yaml
		"ca_file":              tlsDir + "/opensearch-ca/ca.crt",
		"cert_file":            tlsDir + "/opensearch-client/tls.crt", "key_file": tlsDir + "/opensearch-client/tls.key",
	}, pcfg.OpenSearch.TLS)
	require.Equal(t, map[string]any{"env": "VIGIL_OPENSEARCH_PASSWORD"}, pcfg.OpenSearch.Password)

	// Every Kafka client has the same TLS settings.
	for _, c := range []string{"detector", "alerting", "setup"} {
		var cfg struct {
			Kafka struct {
				TLS map[string]any `json:"tls"`
			} `json:"kafka"`
		}
		configOf(t, ms, c, &cfg)
		require.Equal(t, pcfg.Kafka.TLS, cfg.Kafka.TLS, c)
	}

	// The collector: OTLP over TLS with the bearer token on both
	// protocols, Kafka exporters over TLS with SASL.
	var ccfg struct {
		Extensions map[string]map[string]any `json:"extensions"`
		Receivers  struct {
			OTLP struct {
				Protocols map[string]struct {
					TLS  map[string]any `json:"tls"`
					Auth map[string]any `json:"auth"`
				} `json:"protocols"`
			} `json:"otlp"`
		} `json:"receivers"`
		Exporters map[string]map[string]any `json:"exporters"`
		Service   struct {
			Extensions []string `json:"extensions"`
		} `json:"service"`
	}
	configOf(t, ms, "collector", &ccfg)
	require.Equal(t, tlsDir+"/otlp-token/token", ccfg.Extensions["bearertokenauth"]["filename"])
	require.Contains(t, ccfg.Service.Extensions, "bearertokenauth")
	require.Len(t, ccfg.Receivers.OTLP.Protocols, 2)
	for name, p := range ccfg.Receivers.OTLP.Protocols {
		require.Equal(t, map[string]any{"authenticator": "bearertokenauth"}, p.Auth, name)
		require.Equal(t, tlsDir+"/otlp-tls/tls.crt", p.TLS["cert_file"], name)
		require.Equal(t, tlsDir+"/otlp-tls/tls.key", p.TLS["key_file"], name)
	}
	for _, e := range []string{"kafka/logs", "kafka/traces"} {
		require.Equal(t, map[string]any{
			"insecure": false, "ca_file": tlsDir + "/kafka-ca/ca.crt",
			"cert_file": tlsDir + "/kafka-client/tls.crt", "key_file": tlsDir + "/kafka-client/tls.key",
		}, ccfg.Exporters[e]["tls"], e)
		require.NotNil(t, ccfg.Exporters[e]["auth"], e)
	}
	col := find[*appsv1.StatefulSet](t, ms, "StatefulSet", release+"-collector")
	require.Equal(t, map[string]string{
		"kafka-ca": "kafka-ca", "kafka-client": "vigil-kafka-client",
		"otlp-tls": "vigil-otlp-tls", "otlp-token": "vigil-otlp-token",
	}, secretVolumes(col.Spec.Template.Spec))

	// The agent verifies the gateway with the CA of the same Secret and
	// sends the token.
	var acfg struct {
		Exporters map[string]map[string]any `json:"exporters"`
	}
	configOf(t, ms, "agent", &acfg)
	require.Equal(t, map[string]any{"ca_file": tlsDir + "/otlp-tls/ca.crt"}, acfg.Exporters["otlp"]["tls"])
	require.Equal(t, map[string]any{"authenticator": "bearertokenauth"}, acfg.Exporters["otlp"]["auth"])
}

// configOf decodes the configuration file of a component's ConfigMap.
func configOf(t *testing.T, ms []manifest, component string, out any) {
	t.Helper()
	cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", release+"-"+component)
	require.Len(t, cm.Data, 1, "ConfigMap %s", cm.Name)
	for _, body := range cm.Data {
		require.NoError(t, yaml.Unmarshal([]byte(body), out), cm.Name)
	}
}

// secretVolumes maps each Secret volume to its Secret.
func secretVolumes(spec corev1.PodSpec) map[string]string {
	out := map[string]string{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			out[v.Name] = v.Secret.SecretName
		}
	}
	return out
}

// requireSecretFilesMounted: every file under tlsDir that a pod's
// configuration names is an item of a Secret volume the pod mounts there,
// readable by nobody but the owner and group.
func requireSecretFilesMounted(t *testing.T, ms []manifest) {
	t.Helper()
	configMaps := map[string]*corev1.ConfigMap{}
	for _, m := range ms {
		if cm, ok := m.obj.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	for _, p := range pods(ms) {
		files := mountedSecretFiles(p.spec)
		cm := configMaps[configMapOf(t, p.spec, "config")]
		for _, body := range cm.Data {
			for _, f := range secretFile.FindAllString(body, -1) {
				require.Contains(t, files, f, "%s: its configuration names %s, which no Secret volume provides", p.name, f)
			}
		}
		for _, v := range p.spec.Volumes {
			if v.Secret != nil {
				require.Equal(t, int32(0o440), *v.Secret.DefaultMode, "%s: volume %s", p.name, v.Name)
			}
		}
	}
}

// mountedSecretFiles maps each file path a pod's Secret volumes provide (in
// its first container) to its Secret's key, as "secret/key".
func mountedSecretFiles(spec corev1.PodSpec) map[string]string {
	vols := map[string]*corev1.SecretVolumeSource{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			vols[v.Name] = v.Secret
		}
	}
	out := map[string]string{}
	for _, m := range spec.Containers[0].VolumeMounts {
		if s, ok := vols[m.Name]; ok {
			for _, it := range s.Items {
				out[path.Join(m.MountPath, it.Path)] = s.SecretName + "/" + it.Key
			}
		}
	}
	return out
}

// materializeSecretFiles does the kubelet's part for TestConfigCheck: it
// writes every file the pod's Secret volumes provide into dir (certificates
// and keys generated at run time, a placeholder token) and returns the
// configuration with tlsDir pointing there.
func materializeSecretFiles(t *testing.T, spec corev1.PodSpec, body, dir string) string {
	t.Helper()
	files := mountedSecretFiles(spec)
	if len(files) == 0 {
		return body
	}
	pki := vigiltest.NewPKI(t)
	for f := range files {
		src := map[string]string{"ca.crt": pki.CAFile, "tls.crt": pki.CertFile, "tls.key": pki.KeyFile}[path.Base(f)]
		content := []byte("placeholder-token\n")
		if src != "" {
			var err error
			content, err = os.ReadFile(src)
			require.NoError(t, err)
		}
		dst := filepath.Join(dir, strings.TrimPrefix(f, tlsDir))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o700))
		require.NoError(t, os.WriteFile(dst, content, 0o600))
	}
	return strings.ReplaceAll(body, tlsDir, dir)
}

// TestOTLPAuthSwitch: otlpAuth.enabled with an inline token stores it in the
// chart's Secret, mounts it into the collector and keeps it out of every
// ConfigMap; the switch without a certificate Secret or a token is refused.
func TestOTLPAuthSwitch(t *testing.T) {
	c := loadChart(t)
	const token = "otlp-token-value-0123"
	out, err := render(c, map[string]any{"otlpAuth": map[string]any{"enabled": true, "token": token, "tlsSecret": "otlp-cert"}}, capabilities(false))
	require.NoError(t, err)
	ms := decode(t, out)
	s := find[*corev1.Secret](t, ms, "Secret", release)
	require.Equal(t, token, string(s.Data["otlp-token"]))
	col := find[*appsv1.StatefulSet](t, ms, "StatefulSet", release+"-collector")
	require.Equal(t, map[string]string{"otlp-tls": "otlp-cert", "otlp-token": release}, secretVolumes(col.Spec.Template.Spec))
	require.Equal(t, release+"/otlp-token", mountedSecretFiles(col.Spec.Template.Spec)[tlsDir+"/otlp-token/token"])
	requireSecretFilesMounted(t, ms)
	for _, m := range ms {
		if cm, ok := m.obj.(*corev1.ConfigMap); ok {
			for _, v := range cm.Data {
				require.NotContains(t, v, token, "ConfigMap %s holds the token", cm.Name)
			}
		}
	}
	// Without the switch nothing changes: no extension, no mounts.
	out, err = render(c, map[string]any{}, capabilities(false))
	require.NoError(t, err)
	require.NotContains(t, out[chartDir+"/templates/collector.yaml"], "bearertokenauth")
	require.NotContains(t, out[chartDir+"/templates/collector.yaml"], tlsDir)

	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no certificate", map[string]any{"enabled": true, "token": token}, "/otlpAuth/tlsSecret"},
		{"no token", map[string]any{"enabled": true, "tlsSecret": "otlp-cert"}, "/otlpAuth/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(c, map[string]any{"otlpAuth": tc.vals}, capabilities(false))
			require.ErrorContains(t, err, tc.want)
		})
	}
}
