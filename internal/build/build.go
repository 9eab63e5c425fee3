// Package build carries the binary's version, stamped at link time with
// -ldflags "-X github.com/vigil-dev/vigil/internal/build.Version=...".
package build

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the release version; "dev" for local builds.
var Version = "dev"

// Revision returns the VCS revision Go recorded, if any.
func Revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// RegisterInfo registers vigil_build_info{version,revision,goversion} = 1, the
// conventional way to join a version onto any other series in PromQL.
func RegisterInfo(reg prometheus.Registerer) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vigil_build_info",
		Help:        "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": Version, "revision": Revision(), "goversion": runtime.Version()},
	})
	g.Set(1)
	reg.MustRegister(g)
}
