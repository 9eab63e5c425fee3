package events

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// HealthChangedSchema is the JSON Schema (draft 2020-12) of a health
// transition event: the whole CloudEvent in structured mode, data included.
//
//go:embed schema/health-changed.v1.json
var HealthChangedSchema []byte

// FailoverSchema is the JSON Schema (draft 2020-12) of every failover and
// failback event type (requests and outcomes): the whole CloudEvent in
// structured mode, data included.
//
//go:embed schema/failover.v1.json
var FailoverSchema []byte

// DetectorHeartbeatSchema is the JSON Schema (draft 2020-12) of a detector
// heartbeat: the whole CloudEvent in structured mode, data included.
//
//go:embed schema/detector-heartbeat.v1.json
var DetectorHeartbeatSchema []byte

var (
	heartbeatSchema = sync.OnceValues(compileSchema("https://vigil.dev/schemas/detector-heartbeat.v1.json", DetectorHeartbeatSchema))
	healthSchema    = sync.OnceValues(compileSchema("https://vigil.dev/schemas/health-changed.v1.json", HealthChangedSchema))
	failoverSchema  = sync.OnceValues(compileSchema("https://vigil.dev/schemas/failover.v1.json", FailoverSchema))
)

// compileSchema returns a func compiling the schema doc known as url, with
// formats (date-time, uri-reference) asserted.
func compileSchema(url string, doc []byte) func() (*jsonschema.Schema, error) {
	return func() (*jsonschema.Schema, error) {
		d, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(url, d); err != nil {
			return nil, err
		}
		return c.Compile(url)
	}
}

// ValidateHealthChanged checks a record value (a structured CloudEvent)
// against HealthChangedSchema. The error names every violation.
func ValidateHealthChanged(value []byte) error {
	return validate("health", healthSchema, value)
}

// ValidateDetectorHeartbeat checks a record value (a structured CloudEvent)
// against DetectorHeartbeatSchema. The error names every violation.
func ValidateDetectorHeartbeat(value []byte) error {
	return validate("detector heartbeat", heartbeatSchema, value)
}

// ValidateFailover checks a record value (a structured CloudEvent) against
// FailoverSchema. The error names every violation.
func ValidateFailover(value []byte) error {
	return validate("failover", failoverSchema, value)
}

func validate(name string, schema func() (*jsonschema.Schema, error), value []byte) error {
	sch, err := schema()
	if err != nil {
		return fmt.Errorf("events: %s schema: %w", name, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("events: not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}
