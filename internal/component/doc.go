// Package component is the contract between the vigil binary and each of its
// components (collector, pipeline, detector, alerting), and the process
// runner that runs one or all of them.
//
// A component package exposes:
//
//	type Config struct{ ... }              // yaml tags in snake_case
//	func DefaultConfig() Config            // the one place defaults live
//	func (c Config) Validate() error       // every problem, with its path (config.Problems)
//	func New(cfg Config, deps component.Deps) (*Service, error) // no I/O
//	func (s *Service) Run(ctx context.Context) error            // blocks; nil on clean stop
//
// Run returns when ctx ends, after draining within a bounded time
// (context.WithoutCancel plus a timeout): committing offsets, flushing bulks,
// sending queued messages.
package component
