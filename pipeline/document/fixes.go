package document

import (
	"sort"
)

// fixes collects what was repaired while building one document. It is
// written into the document as "vigil.sanitized" (a sorted list of
// "field: what" strings) so that a repaired document says so, instead of
// silently differing from what the application sent. A nil *fixes ignores
// everything.
type fixes struct {
	set map[string]struct{}
	n   int // adds, repeats included
}

// count is how many fixes were added so far, repeats included.
func (f *fixes) count() int {
	if f == nil {
		return 0
	}
	return f.n
}

func (f *fixes) add(field, what string) {
	if f == nil {
		return
	}
	f.n++
	if f.set == nil {
		f.set = map[string]struct{}{}
	}
	if field == "" {
		field = "document"
	}
	f.set[field+": "+what] = struct{}{}
}

// resetTo makes f a copy of base (which may be nil), keeping f's map.
func (f *fixes) resetTo(base *fixes) {
	f.n = 0
	clear(f.set)
	if base != nil {
		for k := range base.set {
			if f.set == nil {
				f.set = make(map[string]struct{}, len(base.set))
			}
			f.set[k] = struct{}{}
		}
	}
}

// clone returns a copy to which a document adds its own fixes.
func (f *fixes) clone() *fixes {
	c := &fixes{}
	c.resetTo(f)
	return c
}

func (f *fixes) list() []string {
	if f == nil || len(f.set) == 0 {
		return nil
	}
	out := make([]string, 0, len(f.set))
	for k := range f.set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// appendTo writes the "vigil.sanitized" member when anything was fixed.
func (f *fixes) appendTo(o *obj) {
	l := f.list()
	if len(l) == 0 {
		return
	}
	o.key("vigil.sanitized")
	o.b = append(o.b, '[')
	for i, s := range l {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendString(o.b, s, nil, "")
	}
	o.b = append(o.b, ']')
}

// timeText writes timestamps as Data Prepper does and date_nanos parses
// them: RFC 3339 in UTC with the nanoseconds, trailing zeros cut (Go's
// time.RFC3339Nano), quoted. It keeps the last second's date and time of
// day: a request's records mostly share theirs. Every timestamp of every
// document is written by appendSecond and appendFraction.
type timeText struct {
	sec  int64
	text []byte // sec's appendSecond; nil until the first
}

func (t *timeText) append(b []byte, ns uint64) []byte {
	if sec := int64(ns / 1e9); sec != t.sec || t.text == nil {
		t.text = appendSecond(t.text[:0], sec)
		t.sec = sec
	}
	b = append(b, t.text...)
	return appendFraction(b, ns%1e9)
}

// appendSecond opens a timestamp: the quote, date and time of day of sec
// (0 <= sec, year <= 9999), as time.Format writes them, without its
// general machinery (it was most of Render's time).
func appendSecond(b []byte, sec int64) []byte {
	days, rem := sec/86400, sec%86400
	// Days since 1970-01-01 to a civil date (Howard Hinnant's
	// days_from_civil inverse, for days >= 0).
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	var t [20]byte
	t[0] = '"'
	t[1], t[2], t[3], t[4] = byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10)
	t[5], t[6], t[7] = '-', byte('0'+m/10), byte('0'+m%10)
	t[8], t[9], t[10] = '-', byte('0'+d/10), byte('0'+d%10)
	h, mi, s := rem/3600, rem/60%60, rem%60
	t[11], t[12], t[13] = 'T', byte('0'+h/10), byte('0'+h%10)
	t[14], t[15], t[16] = ':', byte('0'+mi/10), byte('0'+mi%10)
	t[17], t[18], t[19] = ':', byte('0'+s/10), byte('0'+s%10)
	return append(b, t[:]...)
}

// appendFraction closes a timestamp: frac nanoseconds as a fraction
// without trailing zeros (none when 0), the zone and the quote.
func appendFraction(b []byte, frac uint64) []byte {
	if frac != 0 {
		// Three digits at a time, and whole groups of trailing zeros
		// cut without looking at their digits (a clock in micro- or
		// milliseconds leaves them).
		hi, mid, lo := frac/1e6, frac/1e3%1000, frac%1000
		d := [10]byte{'.'}
		copy(d[1:4], digits3[hi*3:hi*3+3])
		copy(d[4:7], digits3[mid*3:mid*3+3])
		copy(d[7:10], digits3[lo*3:lo*3+3])
		n := len(d)
		switch {
		case lo != 0:
		case mid != 0:
			n = 7
		default:
			n = 4
		}
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, 'Z', '"')
}

// digits3 is "000001002...999": i's three digits at 3*i.
var digits3 = func() (d [3000]byte) {
	for i := range 1000 {
		d[3*i], d[3*i+1], d[3*i+2] = byte('0'+i/100), byte('0'+i/10%10), byte('0'+i%10)
	}
	return d
}()
