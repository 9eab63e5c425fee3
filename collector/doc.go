// Package collector is Vigil's OpenTelemetry Collector distribution: a
// hand-written component list (Factories) run in-process through otelcol, so
// the collector is a subcommand of the one vigil binary rather than a second
// binary built by an external builder tool.
//
// Its configuration file is a standard OpenTelemetry Collector configuration.
// Vigil's own settings for the process (admin endpoint, log level) sit under
// an optional top-level "vigil:" key, which a converter removes before the
// collector sees the file; everything else is validated by the collector
// itself, so unknown keys and bad values are reported with their paths.
package collector
