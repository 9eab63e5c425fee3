package demo

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// LogBodyBytes is the length of every body Logs writes.
const LogBodyBytes = 200

var logServices = [...]string{Frontend, Checkout, Payment, "inventory"}

// Logs builds n log records the way the collector's batch processor hands
// them to its Kafka exporter (one Kafka record per call): one resource per
// service, each with the attributes the collector adds, one scope, and
// records carrying trace context, severity, a LogBodyBytes-byte body and 20
// attributes of mixed types, as an HTTP server's request log would. seq
// numbers the first record, so that bodies and attribute values differ from
// batch to batch as real ones do. The same seed gives the same records.
func Logs(n, seq int, start time.Time, seed uint64) plog.Logs {
	rng := rand.New(rand.NewPCG(seed, uint64(seq)))
	ld := plog.NewLogs()
	scopes := make([]plog.LogRecordSlice, len(logServices))
	for i, svc := range logServices {
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		ra.PutStr("service.name", svc)
		ra.PutStr("service.version", "1.42.0")
		ra.PutStr("service.instance.id", fmt.Sprintf("%s-7d9f-%05d", svc, i))
		ra.PutStr("host.name", fmt.Sprintf("node-%d", i))
		ra.PutStr("k8s.namespace.name", "shop")
		ra.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f-abcde", svc))
		ra.PutStr("deployment.environment", "production")
		ra.PutStr("vigil.collector", "vigil-collector-0")
		rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/example/" + svc + "/log")
		sl.Scope().SetVersion("0.9.0")
		scopes[i] = sl.LogRecords()
	}
	for i := range n {
		k := seq + i
		lr := scopes[k%len(scopes)].AppendEmpty()
		at := start.Add(time.Duration(k) * time.Microsecond)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at.Add(3 * time.Millisecond)))
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], rng.Uint64())
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
		lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
		status := 200
		if k%20 == 0 {
			status = 503
			lr.SetSeverityNumber(plog.SeverityNumberError)
			lr.SetSeverityText("ERROR")
		} else {
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
		}
		body := fmt.Sprintf("request %d POST /api/v1/orders/%d user=user-%d status=%d duration_ms=%d; order accepted, payment authorised, stock reserved, confirmation mail queued for delivery ",
			k, rng.IntN(1_000_000), rng.IntN(1000), status, rng.IntN(900)+5)
		for len(body) < LogBodyBytes {
			body += "."
		}
		lr.Body().SetStr(body[:LogBodyBytes])
		a := lr.Attributes()
		a.EnsureCapacity(20)
		a.PutStr("http.request.method", "POST")
		a.PutStr("url.path", "/api/v1/orders/"+strconv.Itoa(rng.IntN(1_000_000)))
		a.PutStr("url.scheme", "https")
		a.PutInt("http.response.status_code", int64(status))
		a.PutStr("server.address", "orders.internal")
		a.PutInt("server.port", 8443)
		a.PutStr("client.address", fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256)))
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
		a.PutStr("network.protocol.version", "1.1")
		a.PutInt("http.request.body.size", int64(rng.IntN(4096)))
		a.PutInt("http.response.body.size", int64(rng.IntN(65536)))
		a.PutStr("enduser.id", "user-"+strconv.Itoa(rng.IntN(1000)))
		a.PutStr("session.id", fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()))
		a.PutBool("cache.hit", rng.IntN(2) == 0)
		a.PutDouble("db.duration_ms", float64(rng.IntN(100000))/100)
		a.PutStr("db.system", "postgresql")
		a.PutStr("db.operation", "SELECT")
		a.PutStr("code.function", "OrdersHandler.Create")
		a.PutStr("code.namespace", "github.com/example/orders")
		a.PutStr("thread.name", "worker-"+strconv.Itoa(rng.IntN(64)))
	}
	return ld
}
