package document

import (
	"encoding/base64"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// SpanFacts is what Dashboards APM's derivation (pipeline/apm) reads of a
// span, handed out by the wire renderer in the same pass that renders the
// span's document (Options.Facts), so that the derivation needs no second
// decoding of the record. The strings point into the request's bytes: a
// caller that keeps one copies it.
type SpanFacts struct {
	TraceID              pcommon.TraceID
	SpanID, ParentSpanID pcommon.SpanID
	Name                 string
	Kind                 int32 // as sent (an unknown kind is not repaired)
	Start, End           uint64
	StatusCode           int32
	// Attrs are the span's attributes among FactKeys; Resource its
	// resource's, shared by the spans of one resource.
	Attrs    FactAttrs
	Resource *FactAttrs
}

// FactKeys are the attributes the derivation reads, of spans and
// resources.
var FactKeys = [...]string{
	"service.name",
	"deployment.environment.name", "deployment.environment",
	"cloud.platform", "aws.api_gateway.stage", "aws.ecs.launchtype",
	"cloud.resource_id", "aws.lambda.invoked_arn", "cloud.provider", "faas.name",
	"http.response.status_code", "http.status_code",
	"http.request.method", "http.method",
	"http.path", "http.target", "http.url", "url.full",
}

// factKey is k's index in FactKeys, -1 when it is not one.
func factKey(k string) int {
	switch k {
	case "service.name":
		return 0
	case "deployment.environment.name":
		return 1
	case "deployment.environment":
		return 2
	case "cloud.platform":
		return 3
	case "aws.api_gateway.stage":
		return 4
	case "aws.ecs.launchtype":
		return 5
	case "cloud.resource_id":
		return 6
	case "aws.lambda.invoked_arn":
		return 7
	case "cloud.provider":
		return 8
	case "faas.name":
		return 9
	case "http.response.status_code":
		return 10
	case "http.status_code":
		return 11
	case "http.request.method":
		return 12
	case "http.method":
		return 13
	case "http.path":
		return 14
	case "http.target":
		return 15
	case "http.url":
		return 16
	case "url.full":
		return 17
	}
	return -1
}

// FactValue is one attribute's value as pcommon.Value.AsString writes it,
// and its integer when the value is an int.
type FactValue struct {
	Str   string
	Int   int64
	IsInt bool
}

// FactAttrs are the FactKeys attributes of one attribute set: for each,
// the first with that key, as pcommon.Map.Get finds it.
type FactAttrs struct {
	has uint32 // bit i: FactKeys[i] is present
	v   [len(FactKeys)]FactValue
	// Unsure is set when one of them is an array or a map, whose
	// AsString (JSON) the wire renderer does not write: the caller
	// derives from pdata instead.
	Unsure bool
}

// Get is the attribute named k, when k is one of FactKeys and present.
func (a *FactAttrs) Get(k string) (FactValue, bool) {
	i := factKey(k)
	if i < 0 || a.has&(1<<i) == 0 {
		return FactValue{}, false
	}
	v := a.v[i]
	if v.IsInt {
		v.Str = strconv.FormatInt(v.Int, 10) // only when asked: it allocates
	}
	return v, true
}

// scan reads the FactKeys of the attributes r holds.
func (a *FactAttrs) scan(r kvReader) bool {
	*a = FactAttrs{}
	for {
		// Most keys are not FactKeys: the key alone is read (kvKey), and
		// the value only of those that are.
		if k, n := kvKey(r.msg, r.tag); n > 0 {
			if i := factKey(str(k)); i < 0 || a.has&(1<<i) != 0 {
				r.msg = r.msg[n:]
				continue
			}
		}
		k, v, _, st := r.next()
		switch st {
		case kvEnd:
			return true
		case kvBad:
			return false
		}
		i := factKey(str(k))
		if i < 0 || a.has&(1<<i) != 0 {
			continue
		}
		a.has |= 1 << i
		fv := &a.v[i]
		switch v.typ {
		case pcommon.ValueTypeStr:
			fv.Str = str(v.b)
		case pcommon.ValueTypeInt:
			fv.Int, fv.IsInt = int64(v.u), true
		case pcommon.ValueTypeBool:
			fv.Str = strconv.FormatBool(v.u != 0)
		case pcommon.ValueTypeDouble:
			fv.Str = pcommon.NewValueDouble(math.Float64frombits(v.u)).AsString()
		case pcommon.ValueTypeBytes:
			fv.Str = base64.StdEncoding.EncodeToString(v.b)
		case pcommon.ValueTypeEmpty:
		default:
			a.Unsure = true
		}
	}
}

// facts appends s's facts to w.facts when they are asked for.
func (w *spanWriter) facts(s *wspan) bool {
	if w.opt.Facts == nil {
		return true
	}
	f := SpanFacts{
		Name: str(s.name), Kind: s.kind, Start: s.start, End: s.end,
		StatusCode: s.statusCode, Resource: w.resFacts,
	}
	copy(f.TraceID[:], s.traceID)
	copy(f.SpanID[:], s.spanID)
	copy(f.ParentSpanID[:], s.parentID)
	if len(s.attrs) > 0 && !f.Attrs.scan(attrsOf(s.attrs, 9, false)) {
		return false
	}
	w.factsOut = append(w.factsOut, f)
	return true
}

// resourceFacts reads a resource's facts when they are asked for.
func (w *spanWriter) resourceFacts(res []byte) bool {
	if w.opt.Facts == nil {
		return true
	}
	w.resFacts = &FactAttrs{}
	return w.resFacts.scan(attrsOf(res, 1, false))
}

// kvKey reads, at the start of msg, the key of a KeyValue field with the
// one-byte tag (0 matches nothing) whose lengths are one or two bytes and
// whose fields are one key and one value, in either order; n is the bytes
// the field takes, 0 when msg starts with anything else (then the general
// reader decides). It does not look into the value: a caller that wants
// it reads the field again with kvReader.next.
func kvKey(msg []byte, tag byte) (k []byte, n int) {
	if len(msg) < 2 || msg[0] != tag || tag == 0 {
		return nil, 0
	}
	l, m := uvarint2(msg[1:])
	if m == 0 || uint64(len(msg)-1-m) < l {
		return nil, 0
	}
	end := 1 + m + int(l)
	kv := msg[1+m : end]
	haveK, haveV := false, false
	for len(kv) > 0 {
		t := kv[0]
		fl, fm := uvarint2(kv[1:])
		if fm == 0 || uint64(len(kv)-1-fm) < fl {
			return nil, 0
		}
		f := kv[1+fm : 1+fm+int(fl)]
		kv = kv[1+fm+int(fl):]
		switch {
		case t == 0x0a && !haveK:
			haveK, k = true, f
		case t == 0x12 && !haveV:
			haveV = true
		default:
			return nil, 0
		}
	}
	if !haveK || !haveV {
		return nil, 0
	}
	return k, end
}
