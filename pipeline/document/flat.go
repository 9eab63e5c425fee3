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
// With memo, attributes that repeat the last span's are written the short
// way (keyMemo): a key's name and place are the memo's, and a member whose
// bytes repeat is its output.
func (c *wctx) flatAttrs(b []byte, r kvReader, prefix string, fx *fixes, field string, s *attrSink, memo *keyMemo) ([]byte, bool) {
	ks := keySet{at: true}
	mw := newMemoWalk(memo)
	for {
		if e := mw.replay(r.msg); e != nil {
			b = append(b, e.out...)
			r.msg = r.msg[len(e.wire):]
			continue
		}
		kb, v, l := pdataKV(r.msg, r.tag)
		var wire []byte
		if l > 0 {
			wire, r.msg = r.msg[:l:l], r.msg[l:]
		} else {
			var st kvState
			if kb, v, wire, st = r.next(); st != kvOK {
				return b, st == kvEnd
			}
		}
		k := str(kb)
		e := mw.follow(k)
		over := e != nil && e.over
		if e == nil {
			mw.leave(&ks)
			raw := k != "" && plain(k, false)
			if !raw {
				k = sanitizeKey(k, fx, field)
			}
			// ks.seen(k) written out, as in appendMap.
			if w, bit := ks.filterBit(k); ks.filter[w]&bit == 0 && ks.n < len(ks.small) {
				ks.filter[w] |= bit
				ks.small[ks.n] = k
				ks.n++
			} else if ks.seenSlow(k, w, bit) {
				fx.add(field, "duplicate attribute key dropped")
				continue
			}
			if s.known != nil {
				_, known := s.known[k]
				over = !known
			}
			if e = mw.note(k, raw); e != nil {
				e.over = over
				if over {
					e.name = appendKey(append(e.name[:0], ','), "", k, false)
				} else {
					e.name = appendKey(append(e.name[:0], ','), prefix, k, true)
				}
				e.name = append(e.name, ':')
			}
		}
		n := flatName{written: prefix, full: prefix, key: k, at: true}
		if over {
			n = flatName{full: overflowField + ".", key: k}
		}
		var ok bool
		switch {
		case e == nil && over:
			s.over, ok = c.flatMember(s.over, n, v, fx, field, s)
		case e == nil:
			b, ok = c.flatMember(b, n, v, fx, field, s)
		case over:
			s.over, ok = c.flatValue(append(s.over, e.name...), n, v, fx, field, s)
		default:
			start, fixed := len(b), fx.count()
			if b, ok = c.flatValue(append(b, e.name...), n, v, fx, field, s); ok {
				e.remember(wire, b[start:len(b):len(b)], fx.count() == fixed)
			}
		}
		if !ok {
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

// flatMember appends one flat attribute, with its leading comma, to dst
// (flatValue).
func (c *wctx) flatMember(dst []byte, n flatName, v wvalue, fx *fixes, field string, s *attrSink) ([]byte, bool) {
	dst = append(dst, ',')
	dst = appendKey(dst, n.written, n.key, n.at)
	dst = append(dst, ':')
	return c.flatValue(dst, n, v, fx, field, s)
}

// flatValue appends a flat attribute's value to dst: a string longer than
// MaxKeywordValue bytes cut, and whole in s.full.
func (c *wctx) flatValue(dst []byte, n flatName, v wvalue, fx *fixes, field string, s *attrSink) ([]byte, bool) {
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
