package opensearch

import "bytes"

// bulkFilterPath is the filter_path of every bulk request: OpenSearch then
// leaves out of each item what the pipeline never reads (_id, _version,
// result, _shards, _seq_no, _primary_term), about two thirds of the answer
// it renders and sends. What stays is what classification needs: the
// status of each item (a 409 counts as indexed), the error of a failed one,
// and the concrete index a dead-lettered document names.
const bulkFilterPath = "errors,items.*.status,items.*.error,items.*._index"

// scanSuccess fills out from a bulk response whose "errors" is false, in
// which every item succeeded, without decoding it: one pass over the bytes
// that reads each item's status and skips the rest. It reports false when
// the response has errors, has a different number of items than out, or is
// anything it does not expect; the caller then decodes it fully, which
// gives the exact outcome of each item or says what is wrong.
func scanSuccess(b []byte, out []ItemResult) bool {
	s := scanner{b: b}
	if !s.consume('{') {
		return false
	}
	noErrors, items := false, -1
	for first := true; ; first = false {
		if s.consume('}') {
			break
		}
		if !first && !s.consume(',') {
			return false
		}
		key, ok := s.str()
		if !ok || !s.consume(':') {
			return false
		}
		switch string(key) {
		case "errors":
			if !s.literal("false") {
				return false // true, or not a boolean: decode
			}
			noErrors = true
		case "items":
			if items = s.items(out); items < 0 {
				return false
			}
		default: // took, ingest_took
			if !s.skip() {
				return false
			}
		}
	}
	return noErrors && items == len(out)
}

// scanner walks compact JSON as OpenSearch writes it (no insignificant
// whitespace).
type scanner struct {
	b []byte
	i int
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) literal(l string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(l)) {
		s.i += len(l)
		return true
	}
	return false
}

// str reads a string and returns its raw bytes (escapes left as they are:
// only keys without any are compared).
func (s *scanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			return nil, false
		}
		s.i += j + 1
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		bs := 0
		for k := s.i - 2; k >= start && s.b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return s.b[start : s.i-1], true
		}
	}
}

// skip passes over one value of any kind.
func (s *scanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) && s.b[s.i] != ',' && s.b[s.i] != '}' && s.b[s.i] != ']' {
			s.i++
		}
		return s.i > start
	}
}

// items reads the items array into out and returns how many it held, or
// -1 when one is not a successful create or index result or there are
// more than out holds.
func (s *scanner) items(out []ItemResult) int {
	if !s.consume('[') {
		return -1
	}
	n := 0
	for first := true; ; first = false {
		if s.consume(']') {
			return n
		}
		if !first && !s.consume(',') {
			return -1
		}
		if n == len(out) || !s.consume('{') {
			return -1
		}
		action, ok := s.str()
		if !ok || (string(action) != "create" && string(action) != "index") || !s.consume(':') {
			return -1
		}
		status := s.itemStatus()
		if status < 200 || status >= 300 || !s.consume('}') {
			return -1
		}
		out[n] = ItemResult{Status: status, Class: Done}
		n++
	}
}

// itemStatus reads one item's object and returns its status, or -1.
func (s *scanner) itemStatus() int {
	if !s.consume('{') {
		return -1
	}
	status := -1
	for first := true; ; first = false {
		if s.consume('}') {
			return status
		}
		if !first && !s.consume(',') {
			return -1
		}
		key, ok := s.str()
		if !ok || !s.consume(':') {
			return -1
		}
		switch string(key) {
		case "status":
			status = s.int()
		case "error":
			return -1
		default:
			if !s.skip() {
				return -1
			}
		}
	}
}

// int reads a non-negative integer of at most 3 digits (an HTTP status).
func (s *scanner) int() int {
	v, d := 0, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && d < 4 {
		v = v*10 + int(s.b[s.i]-'0')
		s.i++
		d++
	}
	if d == 0 || d > 3 {
		return -1
	}
	return v
}
