package document

import (
	"crypto/md5"
	"encoding/base64"
)

// Endpoint is one side of a service-map edge: a service (domain) and the
// operation called on it (resource).
type Endpoint struct {
	Domain   string
	Resource string
}

// Relationship is one otel-v1-apm-service-map document, as Data Prepper's
// service-map processor writes it: a caller's "destination" relationship and
// the callee's "target" relationship share destination/target endpoints, which
// is how Dashboards draws the edge between the two services.
type Relationship struct {
	ServiceName    string
	Kind           string
	Destination    *Endpoint
	Target         *Endpoint
	TraceGroupName string
}

// SpanInfo is the part of a span the service map needs.
type SpanInfo struct {
	SpanID       string
	ParentSpanID string
	ServiceName  string
	Kind         string
	Name         string
}

// Info returns the span's service-map view.
func (s *Span) Info() SpanInfo {
	return SpanInfo{SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, ServiceName: s.ServiceName, Kind: s.Kind, Name: s.Name}
}

// Edge returns the two relationships a client span calling a server span in
// another service establishes, or nil when the pair is not such a call.
func Edge(client, server SpanInfo, traceGroup string) []Relationship {
	if client.Kind != "SPAN_KIND_CLIENT" || server.Kind != "SPAN_KIND_SERVER" ||
		server.ParentSpanID != client.SpanID || client.ServiceName == "" || server.ServiceName == "" ||
		client.ServiceName == server.ServiceName {
		return nil
	}
	ep := &Endpoint{Domain: server.ServiceName, Resource: server.Name}
	return []Relationship{
		{ServiceName: client.ServiceName, Kind: client.Kind, Destination: ep, TraceGroupName: traceGroup},
		{ServiceName: server.ServiceName, Kind: server.Kind, Target: ep, TraceGroupName: traceGroup},
	}
}

// ID is the relationship's document id: the same inputs as Data Prepper's
// hashId (MD5 of the comma-joined fields, base64), so the same edge is one
// document however often it is seen.
func (r Relationship) ID() string {
	s := r.ServiceName + "," + r.Kind + "," + r.TraceGroupName + ","
	if r.Target != nil {
		s += r.Target.Resource + "," + r.Target.Domain
	}
	s += ","
	if r.Destination != nil {
		s += r.Destination.Resource + "," + r.Destination.Domain
	}
	sum := md5.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Render returns the JSON document.
func (r Relationship) Render() []byte {
	o := newObj(make([]byte, 0, 256), nil)
	o.str("serviceName", r.ServiceName)
	o.str("kind", r.Kind)
	endpoint := func(k string, e *Endpoint) {
		if e == nil {
			o.raw(k, []byte("null"))
			return
		}
		o.key(k)
		eo := newObj(o.b, nil)
		eo.str("domain", e.Domain)
		eo.str("resource", e.Resource)
		o.b = eo.close()
	}
	endpoint("destination", r.Destination)
	endpoint("target", r.Target)
	o.strOrNull("traceGroupName", r.TraceGroupName)
	o.str("hashId", r.ID())
	return o.close()
}
