package document

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"
)

// wRouteAttrs reads the string values of a Resource's (res, already
// checked by wServiceName) attributes that keys name: of keys[0] (dataset)
// and keys[1] (namespace), the first key in its list with a non-empty
// string value wins. The values share res's bytes: Options.Route must copy
// what it keeps.
func wRouteAttrs(res []byte, keys *[2][]string) (dataset, namespace string) {
	// rank[i] is the list position of the value found so far for i (one
	// past the list: none yet).
	rank := [2]int{len(keys[0]), len(keys[1])}
	var val [2]string
	for len(res) > 0 {
		f, n := next(res)
		if n == 0 {
			break
		}
		res = res[n:]
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		k, v, ok := parseKV(f.b)
		if !ok || v.typ != pcommon.ValueTypeStr || len(v.b) == 0 {
			continue
		}
		for i := range keys {
			for j, key := range keys[i][:rank[i]] {
				if str(k) == key {
					rank[i], val[i] = j, str(v.b)
					break
				}
			}
		}
	}
	return val[0], val[1]
}
