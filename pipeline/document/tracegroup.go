package document

// UpdateDoc is the partial document that gives an already indexed span its
// trace group: traceGroup and traceGroupFields exactly as Render writes them
// with g, for a bulk "update" (as {"doc": ...}). Updating a span twice with
// it changes nothing the second time.
func (g TraceGroup) UpdateDoc() []byte {
	o := newObj(make([]byte, 0, 128+len(g.Name)), nil)
	o.str("traceGroup", g.Name)
	o.key("traceGroupFields")
	f := newObj(o.b, nil)
	appendTime(&f, "endTime", g.EndTime)
	f.int("durationInNanos", g.DurationInNanos)
	f.int("statusCode", int64(g.StatusCode))
	o.b = f.close()
	return o.close()
}
