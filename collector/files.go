package collector

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-dev/vigil/internal/config"
)

// tlsFileKeys are the file settings of a receiver's tls block
// (configtls.ServerConfig).
var tlsFileKeys = []string{"cert_file", "key_file", "ca_file", "client_ca_file"}

// checkFiles reports certificate, key and token files named by receivers'
// tls blocks and by bearertokenauth extensions that are missing or
// unreadable, each with its YAML path. The collector's own dry run validates
// the configuration's shape but reads none of these files, so without this a
// wrong Secret mount is found only when the collector starts.
func checkFiles(ctx context.Context, cfg Config) error {
	res, err := confmap.NewResolver(settings(cfg).ConfigProviderSettings.ResolverSettings)
	if err != nil {
		return err
	}
	conf, err := res.Resolve(ctx)
	if err != nil {
		return err
	}
	var p config.Problems
	receivers, _ := conf.ToStringMap()["receivers"].(map[string]any)
	for _, name := range sortedKeys(receivers) {
		walkTLS(&p, "receivers."+name, receivers[name])
	}
	extensions, _ := conf.ToStringMap()["extensions"].(map[string]any)
	for _, name := range sortedKeys(extensions) {
		if typ, _, _ := strings.Cut(name, "/"); typ != "bearertokenauth" {
			continue
		}
		if m, ok := extensions[name].(map[string]any); ok {
			if f, ok := m["filename"].(string); ok {
				p.Merge("extensions."+name+".filename", config.CheckReadable(f))
			}
		}
	}
	return p.Err()
}

// walkTLS finds every "tls" mapping under v and checks its file settings.
func walkTLS(p *config.Problems, path string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, k := range sortedKeys(m) {
		if k != "tls" {
			walkTLS(p, path+"."+k, m[k])
			continue
		}
		tls, ok := m[k].(map[string]any)
		if !ok {
			continue
		}
		for _, fk := range tlsFileKeys {
			if f, ok := tls[fk].(string); ok {
				p.Merge(fmt.Sprintf("%s.tls.%s", path, fk), config.CheckReadable(f))
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
