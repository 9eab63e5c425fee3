// Package events holds the wire formats Vigil's components share and other
// teams' services consume: health transitions on vigil.health and failover
// decisions on vigil.failover. Both are CloudEvents 1.0 in structured JSON
// mode (content-type application/cloudevents+json) in Kafka record values,
// keyed by target. These types are a public contract: change them only by
// adding fields, and bump the event type's version for anything else.
package events
