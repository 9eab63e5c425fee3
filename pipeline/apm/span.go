package apm

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/pipeline/document"
)

// DefaultEnvironment is the environment of a service whose resource names
// none (Data Prepper's value).
const DefaultEnvironment = "generic:default"

// Span kinds the derivation looks at.
const (
	kindClient = "SPAN_KIND_CLIENT"
	kindServer = "SPAN_KIND_SERVER"
)

// Span is what the derivation needs of one span.
type Span struct {
	TraceID              pcommon.TraceID
	SpanID, ParentSpanID pcommon.SpanID // ParentSpanID empty: a root
	Service              string
	Kind                 string
	// Operation is the span's operation as Data Prepper derives it
	// (operationName): the span name, or "METHOD /first-path" when the
	// name is only the HTTP method.
	Operation   string
	Environment string
	// Error is 1 for an HTTP 4xx response; Fault for a 5xx, or a span
	// status ERROR when there is no HTTP status code.
	Error, Fault int
	// DurationNanos is end - start (0 when not positive).
	DurationNanos int64
}

var kinds = map[ptrace.SpanKind]string{
	ptrace.SpanKindClient: kindClient, ptrace.SpanKindServer: kindServer,
}

// FromTraces returns the client and server spans of td that have a service
// name: only those take part in the application map and the RED metrics.
func FromTraces(td ptrace.Traces, out []Span) []Span {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		svc, ok := res.Get("service.name")
		if !ok || svc.AsString() == "" {
			continue
		}
		service := svc.AsString()
		env := environment(pmap(res))
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				kind, ok := kinds[sp.Kind()]
				if !ok || sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
					continue
				}
				senv := env
				if aws := awsEnvironment(pmap(sp.Attributes()), pmap(res)); aws != "" {
					senv = aws
				}
				s := Span{
					TraceID: sp.TraceID(), SpanID: sp.SpanID(), ParentSpanID: sp.ParentSpanID(),
					Service: service, Kind: kind, Environment: senv,
					Operation: operationName(sp.Name(), pmap(sp.Attributes())),
				}
				if st, et := sp.StartTimestamp(), sp.EndTimestamp(); et > st {
					s.DurationNanos = int64(et - st)
				}
				s.Error, s.Fault = errorFault(sp.Status().Code(), pmap(sp.Attributes()))
				out = append(out, s)
			}
		}
	}
	return out
}

// Environment is the service's environment from its resource:
// deployment.environment.name, then deployment.environment (blank values
// skipped), else generic:default. A span on an AWS platform has its own
// (awsEnvironment), which comes first.
func Environment(res pcommon.Map) string { return environment(pmap(res)) }

func environment[M attrMap](res M) string {
	for _, k := range []string{"deployment.environment.name", "deployment.environment"} {
		if v, ok := res.Get(k); ok && strings.TrimSpace(v.Str) != "" {
			return v.Str
		}
	}
	return DefaultEnvironment
}

// awsEnvironment is Data Prepper's AWS service environment, from the span's
// attributes or else its resource's: by cloud.platform, or a Lambda
// function recognised by its ARN or faas.name; "" when none applies.
func awsEnvironment[M attrMap](attrs, res M) string {
	get := func(k string) (string, bool) {
		if v, ok := attrs.Get(k); ok {
			return v.Str, true
		}
		if v, ok := res.Get(k); ok {
			return v.Str, true
		}
		return "", false
	}
	platform, _ := get("cloud.platform")
	switch platform {
	case "":
	case "aws_api_gateway":
		stage, ok := get("aws.api_gateway.stage")
		if !ok {
			stage = "null" // Java's string concatenation of a missing stage
		}
		return "api-gateway:" + stage
	case "aws_ec2":
		return "ec2:default"
	case "aws_ecs":
		switch lt, _ := get("aws.ecs.launchtype"); lt {
		case "fargate":
			return "ecs-fargate:default"
		case "ec2":
			return "ecs-ec2:default"
		}
		return "ecs:default"
	case "aws_eks":
		return "eks:default"
	case "aws_elastic_beanstalk":
		return "elastic-beanstalk:default"
	case "aws_lambda":
		return "lambda:default"
	}
	if id, _ := get("cloud.resource_id"); strings.HasPrefix(id, "arn:aws:lambda:") {
		return "lambda:default"
	}
	if _, ok := get("aws.lambda.invoked_arn"); ok {
		return "lambda:default"
	}
	if p, ok := res.Get("cloud.provider"); ok && p.Str == "aws" {
		if _, ok := res.Get("faas.name"); ok {
			return "lambda:default"
		}
	}
	return ""
}

// errorFault classifies a span as Data Prepper does: the HTTP status code
// (http.response.status_code, then http.status_code) decides when present;
// otherwise a span status ERROR is a fault.
func errorFault[M attrMap](code ptrace.StatusCode, attrs M) (errs, fault int) {
	v, ok := attrs.Get("http.response.status_code")
	if !ok {
		v, ok = attrs.Get("http.status_code")
	}
	if ok {
		var n int64
		var err error
		if v.IsInt {
			n = v.Int
		} else {
			n, err = strconv.ParseInt(v.Str, 10, 32)
		}
		if err == nil {
			switch {
			case n >= 500:
				return 0, 1
			case n >= 400:
				return 1, 0
			}
			return 0, 0
		}
	}
	if code == ptrace.StatusCodeError {
		return 0, 1
	}
	return 0, 0
}

func str[M attrMap](attrs M, keys ...string) (string, bool) {
	for _, k := range keys {
		if v, ok := attrs.Get(k); ok {
			return v.Str, true
		}
	}
	return "", false
}

// operationName is Data Prepper's computeOperationName: a span named only
// by its HTTP method (or UnknownOperation) becomes "METHOD /first-segment"
// when a path is known, so that operations stay few.
func operationName[M attrMap](name string, attrs M) string {
	method, hasMethod := str(attrs, "http.request.method", "http.method")
	if !hasMethod || (name != "" && name != "UnknownOperation" && name != method) {
		// The common case, decided without looking for a path.
		if name == "" {
			return "UnknownOperation"
		}
		return name
	}
	path, hasPath := str(attrs, "http.path", "http.target", "http.url", "url.full")
	if hasMethod && hasPath && path != "" && (name == "" || name == "UnknownOperation" || name == method) {
		clean := path
		if i := strings.IndexAny(clean, "?#"); i >= 0 {
			clean = clean[:i]
		}
		if !strings.HasPrefix(clean, "/") {
			clean = "/" + clean
		}
		if i := strings.IndexByte(clean[1:], '/'); i >= 0 {
			clean = clean[:i+1]
		}
		return method + " " + clean
	}
	if hasMethod && name == method {
		return "UnknownOperation"
	}
	if name == "" {
		return "UnknownOperation"
	}
	return name
}

// attrMap is what the derivation reads of an attribute set: a value as
// pcommon.Value.AsString writes it, and its integer when it is an int.
// pdata's maps (pmap) and the wire renderer's facts (document.FactAttrs)
// both give it.
type attrMap interface {
	Get(k string) (document.FactValue, bool)
}

type pmap pcommon.Map

func (m pmap) Get(k string) (document.FactValue, bool) {
	v, ok := pcommon.Map(m).Get(k)
	if !ok {
		return document.FactValue{}, false
	}
	fv := document.FactValue{Str: v.AsString()}
	if v.Type() == pcommon.ValueTypeInt {
		fv.Int, fv.IsInt = v.Int(), true
	}
	return fv, true
}

// FromFacts is FromTraces for the spans the wire renderer described
// (document.Options.Facts): the same Spans, with no second decoding of
// the record. ok is false, and out as it was, when an attribute the
// derivation reads is an array or a map: derive from FromTraces then.
func FromFacts(facts []document.SpanFacts, out []Span) (_ []Span, ok bool) {
	n := len(out)
	var res *document.FactAttrs // the resource service and env are of
	var service, env string
	for i := range facts {
		f := &facts[i]
		if f.Resource != res {
			res = f.Resource
			if res.Unsure {
				return out[:n], false
			}
			service, env = "", ""
			if v, ok := res.Get("service.name"); ok && v.Str != "" {
				// Copies: windows outlive the request's bytes.
				service, env = strings.Clone(v.Str), strings.Clone(environment(res))
			}
		}
		if service == "" {
			continue
		}
		var kind string
		switch ptrace.SpanKind(f.Kind) {
		case ptrace.SpanKindClient:
			kind = kindClient
		case ptrace.SpanKindServer:
			kind = kindServer
		default:
			continue
		}
		if f.TraceID.IsEmpty() || f.SpanID.IsEmpty() {
			continue
		}
		if f.Attrs.Unsure {
			return out[:n], false
		}
		s := Span{
			TraceID: f.TraceID, SpanID: f.SpanID, ParentSpanID: f.ParentSpanID,
			Service: service, Kind: kind, Environment: env,
			Operation: operationName(f.Name, &f.Attrs),
		}
		if s.Operation == f.Name {
			s.Operation = strings.Clone(f.Name) // the others are new strings
		}
		if aws := awsEnvironment(&f.Attrs, res); aws != "" {
			s.Environment = aws // a constant or a new string
		}
		if f.End > f.Start {
			s.DurationNanos = int64(f.End - f.Start)
		}
		s.Error, s.Fault = errorFault(ptrace.StatusCode(f.StatusCode), &f.Attrs)
		out = append(out, s)
	}
	return out, true
}
