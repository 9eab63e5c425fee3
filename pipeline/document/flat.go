package document

// overflowField is the flat_object that holds the span attributes whose
// keys are not in knownSpanAttributes (see "Span attributes" in doc.go).
const overflowField = "span.attributes.overflow"

// attrSink is what flatAttrs writes besides the top-level members.
type attrSink struct {
	// known, when set, are the keys written as members of their own;
	// the others go to over. Nil: every key is a member.
	known map[string]struct{}
	// over holds the overflow object's members, each with a leading
	// comma: the original key (dots kept) and the value.
	over []byte
	// full holds vigil.full's members, each with a leading comma: the
	// field's name in the document and the whole value of a string cut
	// to MaxKeywordValue bytes (long.go).
	full []byte
}

// flatAttrs appends each attribute r reads as a top-level member named
// prefix+key (dots in the key written as "@"), with a leading comma, and
// returns b; with s.known, an attribute whose key is not known goes to
// s.over instead. Values are scalars (see appendScalar), so the keyword
// dynamic template accepts every one of them whatever type an earlier
// document used. A value longer than MaxKeywordValue bytes is written cut,
// and whole in s.full. (Span, resource and scope attributes of spans.)
func (c *wctx) flatAttrs(b []byte, r kvReader, prefix string, fx *fixes, field string, s *attrSink) ([]byte, bool) {
	ks := keySet{at: true}
	for {
		kb, v, _, st := r.next()
		if st != kvOK {
			return b, st == kvEnd
		}
		k, _, dup := ks.admit(str(kb), fx, field)
		if dup {
			fx.add(field, "duplicate attribute key dropped")
			continue
		}
		var ok bool
		if s.known != nil {
			if _, known := s.known[k]; !known {
				if s.over, ok = c.flatMember(s.over, flatName{full: overflowField + ".", key: k}, v, fx, field, s); !ok {
					return b, false
				}
				continue
			}
		}
		if b, ok = c.flatMember(b, flatName{written: prefix, full: prefix, key: k, at: true}, v, fx, field, s); !ok {
			return b, false
		}
	}
}

// flatName is a flat attribute's name: written as written+key in its
// object and as full+key in vigil.full, with at dots in key as "@".
type flatName struct {
	written, full, key string
	at                 bool
}

// flatMember appends one flat attribute, with its leading comma, to dst: a
// string value longer than MaxKeywordValue bytes cut, and whole in s.full.
func (c *wctx) flatMember(dst []byte, n flatName, v wvalue, fx *fixes, field string, s *attrSink) ([]byte, bool) {
	dst = append(dst, ',')
	dst = appendKey(dst, n.written, n.key, n.at)
	dst = append(dst, ':')
	start := len(dst)
	dst, ok := c.appendScalar(dst, v, fx, field)
	if ok && len(dst)-start > MaxKeywordValue+2 && dst[start] == '"' {
		s.full = append(s.full, ',')
		s.full = appendKey(s.full, n.full, n.key, n.at)
		s.full = append(s.full, ':')
		whole := len(s.full)
		s.full = append(s.full, dst[start:]...)
		dst, _ = cutString(dst[:start], s.full[whole:], MaxKeywordValue)
		fx.add(field, "values longer than 1024 bytes indexed by their first 1024 bytes; whole in vigil.full")
	}
	return dst, ok
}
