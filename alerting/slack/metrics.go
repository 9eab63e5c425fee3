package slack

import "github.com/prometheus/client_golang/prometheus"

// Results of a Slack request, the result label of
// vigil_alerting_slack_requests_total.
const (
	resultOK          = "ok"
	resultRateLimited = "rate_limited"
	resultServerError = "server_error"
	resultNetwork     = "network_error"
	resultSlackError  = "slack_error"
	resultFound       = "found_existing"
)

type metrics struct {
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerting_slack_requests_total",
			Help: "Requests to Slack by method (chat.postMessage, chat.update, conversations.history, conversations.replies, webhook) and result (ok, rate_limited, server_error, network_error, slack_error, found_existing).",
		}, []string{"method", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests)
	}
	return m
}
