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
	// dupCheckUnavailable counts channels whose duplicate check Slack
	// refused at start.
	dupCheckUnavailable prometheus.Counter
	// dupCheckSkipped counts posts retried after an ambiguous failure with
	// no duplicate check.
	dupCheckSkipped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerting_slack_requests_total",
			Help: "Requests to Slack by method (chat.postMessage, chat.update, conversations.history, conversations.replies, conversations.list, webhook) and result (ok, rate_limited, server_error, network_error, slack_error, found_existing).",
		}, []string{"method", "result"}),
		dupCheckUnavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerting_slack_duplicate_check_unavailable_channels_total",
			Help: "Channels whose duplicate check Slack refused when alerting started (missing scope, bot not in the channel); the start-up log names them.",
		}),
		dupCheckSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerting_slack_posts_without_duplicate_check_total",
			Help: "Posts sent again after an ambiguous failure without the duplicate check (refused for their channel); each may have made a duplicate.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.dupCheckUnavailable, m.dupCheckSkipped)
	}
	return m
}
