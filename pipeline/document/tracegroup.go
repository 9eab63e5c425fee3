package document

// UpdateDoc is the partial document that gives an already indexed span its
// trace group: traceGroup and traceGroupFields exactly as Render writes them
// with g, for a bulk "update" (as {"doc": ...}). Updating a span twice with
// it changes nothing the second time.
func (g TraceGroup) UpdateDoc() []byte {
	b := appendGroup(append(make([]byte, 0, 128+len(g.Name)), '{'), &g)
	return append(b, '}')
}
