package main

import (
	"os"

	"github.com/vigil-dev/vigil/alerting"
	"github.com/vigil-dev/vigil/detector"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/pipeline"
)

func alertingTarget() target {
	return define("alerting", "consume health events; Slack incidents and failover decisions", "127.0.0.1:8884",
		alerting.DefaultConfig,
		func(c alerting.Config, d component.Deps) (component.Runner, error) { return alerting.New(c, d) })
}

func detectorTarget() target {
	return define("detector", "evaluate health rules over metrics and webhooks; publish health events", "127.0.0.1:8883",
		detector.DefaultConfig,
		func(c detector.Config, d component.Deps) (component.Runner, error) { return detector.New(c, d) })
}

// pipelineAdminEnv overrides the default admin address of `vigil pipeline`
// (admin.listen_address in its file still wins), as VIGIL_COLLECTOR_ADMIN
// does the collector's: a second stack on one machine moves it without a
// file of its own. configs/pipeline.yaml cannot name it, because `vigil
// all` reads that file as a section, which has no admin key.
const pipelineAdminEnv = "VIGIL_PIPELINE_ADMIN"

// pipelineAdminAddr is the default admin address of `vigil pipeline`.
func pipelineAdminAddr() string {
	if a := os.Getenv(pipelineAdminEnv); a != "" {
		return a
	}
	return "127.0.0.1:8882"
}

func pipelineTarget() target {
	t := define("pipeline", "consume Kafka and index logs and traces into OpenSearch", pipelineAdminAddr(),
		pipeline.DefaultConfig,
		func(c pipeline.Config, d component.Deps) (component.Runner, error) { return pipeline.New(c, d) })
	// The binary's own code and read-only data are about 50 MiB of the
	// pipeline's RSS even after start-up's pages are released, so its heap
	// must stay near its live data for the whole process to stay within
	// 128 MiB; in `vigil all` the process is shared and keeps Go's defaults.
	t.memoryLimit, t.gcPercent = pipeline.DefaultMemoryLimit, pipeline.DefaultGCPercent
	return t
}
