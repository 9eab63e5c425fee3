package alerting

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/internal/events"
)

// render turns incidents into Slack messages. Parents and storm summaries
// are Block Kit; replies are mrkdwn text, which Slack shows the same in a
// thread and which reads well in webhook mode where replies are messages of
// their own.
type render struct {
	links LinksConfig
}

var emoji = map[events.Status]string{
	events.Critical: ":red_circle:",
	events.Caution:  ":large_yellow_circle:",
	events.Unknown:  ":white_circle:",
	events.Healthy:  ":large_green_circle:",
}

// parent renders an incident's parent message; resolvedAt non-zero renders
// it resolved (the chat.update on recovery).
func (r render) parent(inc *incident, route Route, resolvedAt time.Time) slack.Message {
	h := inc.Opening
	resolved := !resolvedAt.IsZero()
	status := string(inc.Status)
	head := emoji[inc.Status] + " " + status + " — " + h.Target
	if resolved {
		head = ":white_check_mark: RESOLVED — " + h.Target
	}
	summary := r.summary(h)
	text := status + ": " + h.Target + " — " + summary
	if resolved {
		text = "RESOLVED: " + h.Target + " — recovered after " + fmtDuration(resolvedAt.Sub(inc.OpenedAt))
	}

	blocks := []goslack.Block{
		goslack.NewHeaderBlock(goslack.NewTextBlockObject(goslack.PlainTextType, slack.Truncate(head, slack.MaxHeaderText), true, false)),
		goslack.NewSectionBlock(mrkdwn(escape(summary)), nil, nil),
	}
	fields := []*goslack.TextBlockObject{
		mrkdwn("*Status*\n" + statusField(inc, resolved)),
		mrkdwn("*Target*\n`" + escape(h.Target) + "`"),
	}
	if v := valueField(h); v != "" {
		fields = append(fields, mrkdwn("*Value*\n"+v))
	}
	fields = append(fields, mrkdwn("*Since*\n"+slackDate(inc.OpenedAt)))
	if resolved {
		fields = append(fields, mrkdwn("*Resolved*\n"+slackDate(resolvedAt)+" (after "+fmtDuration(resolvedAt.Sub(inc.OpenedAt))+")"))
	}
	if h.Rule != "" {
		fields = append(fields, mrkdwn("*Rule*\n"+escape(h.Rule)))
	}
	blocks = append(blocks, goslack.NewSectionBlock(nil, fields, nil))
	if l := r.linkLine(h); l != "" {
		blocks = append(blocks, goslack.NewSectionBlock(mrkdwn(l), nil, nil))
	}
	if !resolved && inc.Status == events.Critical && route.MentionGroup != "" {
		m := mention(route.MentionGroup)
		blocks = append(blocks, goslack.NewSectionBlock(mrkdwn(m+" on call: please take a look."), nil, nil))
		text = m + " " + text
	}
	blocks = append(blocks, goslack.NewContextBlock("", mrkdwn("Incident `"+escape(inc.ID)+"` · route "+escape(inc.Route)+" · changes follow in this thread")))
	return slack.Message{Text: text, Blocks: blocks}
}

func statusField(inc *incident, resolved bool) string {
	if resolved {
		return "RESOLVED (was " + string(inc.Opening.Status) + ")"
	}
	return emoji[inc.Status] + " " + string(inc.Status)
}

// change renders a status change as a thread reply.
func (r render) change(inc *incident, h events.Health, route Route) slack.Message {
	t := fmt.Sprintf("%s *%s* is now *%s* (was %s) — %s", emoji[h.Status], escape(h.Target), h.Status, h.PreviousStatus, escape(r.summary(h)))
	if v := valueField(h); v != "" {
		t += "\nValue " + v
	}
	if h.Status == events.Critical && route.MentionGroup != "" {
		t = mention(route.MentionGroup) + " " + t
	}
	return slack.Message{Text: t}
}

// recovered renders the thread reply that closes an incident.
func (r render) recovered(inc *incident, at time.Time) slack.Message {
	return slack.Message{Text: fmt.Sprintf(":white_check_mark: *%s* recovered after %s", escape(inc.Opening.Target), fmtDuration(at.Sub(inc.OpenedAt)))}
}

// reminder renders one reminder for the incidents of one thread.
func (r render) reminder(incs []*incident, now time.Time) slack.Message {
	if len(incs) == 1 {
		inc := incs[0]
		return slack.Message{Text: fmt.Sprintf("%s *%s* is still *%s* after %s", emoji[inc.Status], escape(inc.Opening.Target), inc.Status, fmtDuration(now.Sub(inc.OpenedAt)))}
	}
	var b strings.Builder
	fmt.Fprintf(&b, ":red_circle: %d incidents in this storm are still *CRITICAL*:", len(incs))
	for _, inc := range incs {
		fmt.Fprintf(&b, "\n• *%s* for %s", escape(inc.Opening.Target), fmtDuration(now.Sub(inc.OpenedAt)))
	}
	return slack.Message{Text: b.String()}
}

// failover renders a failover decision or outcome.
func (r render) failover(typ string, f events.Failover) slack.Message {
	var what string
	switch typ {
	case events.FailoverRequestedType:
		what = ":arrows_counterclockwise: Failover requested"
	case events.FailoverCompletedType:
		what = ":white_check_mark: Failover completed"
	case events.FailoverFailedType:
		what = ":x: Failover failed"
	case events.FailbackRequestedType:
		what = ":leftwards_arrow_with_hook: Failback requested"
	case events.FailbackCompletedType:
		what = ":white_check_mark: Failback completed"
	default:
		what = typ
	}
	t := fmt.Sprintf("%s for *%s*: %s → %s", what, escape(f.Target), escape(f.From), escape(f.To))
	if f.Reason != "" {
		t += " — " + escape(f.Reason)
	}
	if f.Actor != "" {
		t += " (by " + escape(f.Actor) + ")"
	}
	if f.Error != "" {
		t += "\nError: `" + escape(f.Error) + "`"
	}
	return slack.Message{Text: t}
}

// stormSummary renders the message that stands for the incidents folded
// during a storm in one channel.
func (r render) stormSummary(channel string, incs []*incident, threshold int, window time.Duration) slack.Message {
	sort.Slice(incs, func(i, j int) bool { return incs[i].Opening.Target < incs[j].Opening.Target })
	head := fmt.Sprintf(":rotating_light: Incident storm: %d more incidents opened", len(incs))
	text := fmt.Sprintf("Incident storm: more than %d incidents opened within %s; %d more folded into this message", threshold, fmtDuration(window), len(incs))
	var b strings.Builder
	shown := 0
	for _, inc := range incs {
		line := fmt.Sprintf("%s *%s* %s — %s\n", emoji[inc.Status], escape(inc.Opening.Target), inc.Status, escape(slack.Truncate(r.summary(inc.Opening), 120)))
		if b.Len()+len(line) > slack.MaxSectionText-40 {
			break
		}
		b.WriteString(line)
		shown++
	}
	if shown < len(incs) {
		fmt.Fprintf(&b, "…and %d more", len(incs)-shown)
	}
	blocks := []goslack.Block{
		goslack.NewHeaderBlock(goslack.NewTextBlockObject(goslack.PlainTextType, head, true, false)),
		goslack.NewSectionBlock(mrkdwn(fmt.Sprintf("More than %d incidents opened within %s; the ones below are grouped here instead of one message each.", threshold, fmtDuration(window))), nil, nil),
		goslack.NewSectionBlock(mrkdwn(strings.TrimRight(b.String(), "\n")), nil, nil),
		goslack.NewContextBlock("", mrkdwn("Changes and recoveries of these targets follow in this thread")),
	}
	return slack.Message{Text: text, Blocks: blocks}
}

func (r render) summary(h events.Health) string {
	if s := h.Annotations[r.links.Summary]; s != "" {
		return s
	}
	if h.Reason != "" {
		return h.Reason
	}
	return "status " + string(h.Status)
}

func (r render) linkLine(h events.Health) string {
	var parts []string
	for _, l := range []struct{ key, label string }{
		{r.links.Runbook, "Runbook"},
		{r.links.Dashboards, "Dashboards"},
		{r.links.Graph, "Prometheus graph"},
	} {
		if u := h.Annotations[l.key]; u != "" {
			parts = append(parts, "<"+u+"|"+l.label+">")
		}
	}
	return strings.Join(parts, " · ")
}

func valueField(h events.Health) string {
	switch {
	case h.Value != nil && h.Threshold != nil:
		return fmtFloat(*h.Value) + " (threshold " + fmtFloat(*h.Threshold) + ")"
	case h.Value != nil:
		return fmtFloat(*h.Value)
	}
	return ""
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

func mrkdwn(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.MarkdownType, s, false, false)
}

func mention(group string) string { return "<!subteam^" + group + ">" }

// slackDate shows t in each reader's time zone, with UTC as the fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// escape makes text safe for mrkdwn: Slack requires &, < and > escaped.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// fmtDuration writes 12m30s, 1h5m or 2h rather than Go's 1h5m0s.
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return d.String()
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
