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

var healthSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(HealthChangedSchema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://vigil.dev/schemas/health-changed.v1.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
})

// ValidateHealthChanged checks a record value (a structured CloudEvent)
// against HealthChangedSchema. The error names every violation.
func ValidateHealthChanged(value []byte) error {
	sch, err := healthSchema()
	if err != nil {
		return fmt.Errorf("events: health schema: %w", err)
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
