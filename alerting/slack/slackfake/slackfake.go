// Package slackfake is a Slack Web API for tests: slack-go's slacktest server
// with the methods alerting needs and slacktest lacks or gets wrong for it
// (chat.postMessage with unique timestamps and metadata, chat.update,
// conversations.history and conversations.replies with metadata,
// conversations.list with pagination, incoming webhooks), plus injected faults: 429 with Retry-After, 503 before posting,
// and 503 after posting (the ambiguous case).
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
)

// Fault is an injected failure for one request.
type Fault int

// Faults.
const (
	// RateLimited answers 429 with Retry-After: 1; nothing is posted.
	RateLimited Fault = iota + 1
	// Unavailable answers 503; nothing is posted.
	Unavailable
	// PostedThenUnavailable posts the message and then answers 503, as a
	// request that timed out after Slack acted on it.
	PostedThenUnavailable
	// InvalidBlocks answers ok=false invalid_blocks when the request has
	// blocks; nothing is posted.
	InvalidBlocks
	// InternalError answers 500; nothing is posted.
	InternalError
	// MissingScope answers ok=false missing_scope, as for a token without
	// the method's scope.
	MissingScope
)

// MissingChannel is a channel every method answers channel_not_found for.
const MissingChannel = "C0MISSING"

// Message is a message as the server holds it.
type Message struct {
	Channel  string              `json:"channel"`
	TS       string              `json:"ts"`
	ThreadTS string              `json:"thread_ts,omitempty"`
	Text     string              `json:"text"`
	Blocks   json.RawMessage     `json:"blocks,omitempty"`
	Metadata slack.SlackMetadata `json:"metadata"`
}

// Key is the message's metadata key, as alerting/slack sets it.
func (m Message) Key() string {
	k, _ := m.Metadata.EventPayload["key"].(string)
	return k
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	*slacktest.Server

	mu      sync.Mutex
	seq     int
	posts   []Message
	updates []Message
	faults  map[string][]Fault
	calls   map[string]int
	// channels maps a channel's name to its ID, for conversations.list;
	// pageSize caps the channels of one page.
	channels map[string]string
	pageSize int
}

// New starts a server; Close stops it.
func New() *Server {
	s := &Server{faults: map[string][]Fault{}, calls: map[string]int{}, channels: map[string]string{}, pageSize: 100}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", s.handle("chat.postMessage", s.postMessage))
		c.Handle("/chat.update", s.handle("chat.update", s.update))
		c.Handle("/conversations.history", s.handle("conversations.history", s.history))
		c.Handle("/conversations.replies", s.handle("conversations.replies", s.replies))
		c.Handle("/conversations.list", s.handle("conversations.list", s.list))
		c.Handle("/webhook/", s.handle("webhook", s.webhook))
	})
	s.Start()
	return s
}

// Close stops the server.
func (s *Server) Close() { s.Stop() }

// URL is the Web API base URL for slack.OptionAPIURL.
func (s *Server) URL() string { return s.GetAPIURL() }

// WebhookURL is the incoming-webhook URL that posts to channel.
func (s *Server) WebhookURL(channel string) string {
	return s.GetAPIURL() + "webhook/" + url.PathEscape(channel)
}

// Inject queues faults for the next requests to method (e.g.
// "chat.postMessage", "webhook"); each request takes one.
func (s *Server) Inject(method string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], faults...)
}

// AddChannel makes a channel named name with ID id known to
// conversations.list. Methods given the name instead of the ID answer as
// Slack does: chat.postMessage accepts it, conversations.history and
// conversations.replies answer channel_not_found.
func (s *Server) AddChannel(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[name] = id
}

// SetPageSize caps the channels of one conversations.list page (default
// 100), so that a few channels already need several pages.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// isName reports whether channel is the name of a known channel.
func (s *Server) isName(channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.channels[strings.TrimPrefix(channel, "#")]
	return ok
}

// Posts returns every message posted, in order.
func (s *Server) Posts() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.posts...)
}

// Updates returns every chat.update applied, in order.
func (s *Server) Updates() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.updates...)
}

// Calls counts requests to method, faults included.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Message returns the current content of the message at channel/ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.posts {
		if m.Channel == channel && m.TS == ts {
			for _, u := range s.updates {
				if u.Channel == channel && u.TS == ts {
					m.Text, m.Blocks = u.Text, u.Blocks
				}
			}
			return m, true
		}
	}
	return Message{}, false
}

type handler func(w http.ResponseWriter, r *http.Request, form url.Values)

func (s *Server) handle(method string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		if method == "webhook" {
			form = url.Values{"channel": {strings.TrimPrefix(r.URL.Path, "/webhook/")}, "json": {string(body)}}
		}
		s.mu.Lock()
		s.calls[method]++
		var f Fault
		if q := s.faults[method]; len(q) > 0 {
			f, s.faults[method] = q[0], q[1:]
		}
		s.mu.Unlock()
		switch f {
		case RateLimited:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "rate limited", http.StatusTooManyRequests)
			return
		case Unavailable:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		case InternalError:
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		case MissingScope:
			writeJSON(w, map[string]any{"ok": false, "error": "missing_scope"})
			return
		case PostedThenUnavailable:
			h(httptestDiscard{}, r, form)
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		case InvalidBlocks:
			if form.Get("blocks") != "" || strings.Contains(form.Get("json"), `"blocks"`) {
				if method == "webhook" {
					http.Error(w, "invalid_blocks", http.StatusBadRequest)
				} else {
					writeJSON(w, map[string]any{"ok": false, "error": "invalid_blocks"})
				}
				return
			}
		}
		if form.Get("channel") == MissingChannel {
			writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		h(w, r, form)
	}
}

func (s *Server) newTS() string {
	// Unique, unlike slacktest's whole seconds, and ordered like Slack's.
	s.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
}

// formMessage reads the fields chat.postMessage and chat.update share.
func formMessage(f url.Values) Message {
	m := Message{Channel: f.Get("channel"), TS: f.Get("ts"), ThreadTS: f.Get("thread_ts"), Text: f.Get("text")}
	if b := f.Get("blocks"); b != "" {
		m.Blocks = json.RawMessage(b)
	}
	if md := f.Get("metadata"); md != "" {
		_ = json.Unmarshal([]byte(md), &m.Metadata)
	}
	return m
}

// record gives m a new timestamp and keeps it as posted.
func (s *Server) record(m Message) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.TS = s.newTS()
	s.posts = append(s.posts, m)
	return m
}

func (s *Server) postMessage(w http.ResponseWriter, _ *http.Request, f url.Values) {
	m := formMessage(f)
	s.mu.Lock()
	if id, ok := s.channels[strings.TrimPrefix(m.Channel, "#")]; ok {
		m.Channel = id // Slack posts to a channel given by name and answers its ID
	}
	s.mu.Unlock()
	m = s.record(m)
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "message": m})
}

func (s *Server) webhook(w http.ResponseWriter, _ *http.Request, f url.Values) {
	var wm slack.WebhookMessage
	if err := json.Unmarshal([]byte(f.Get("json")), &wm); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	m := Message{Channel: f.Get("channel"), Text: wm.Text, ThreadTS: wm.ThreadTimestamp}
	if wm.Blocks != nil {
		m.Blocks, _ = json.Marshal(wm.Blocks.BlockSet)
	}
	s.record(m)
	_, _ = io.WriteString(w, "ok")
}

func (s *Server) update(w http.ResponseWriter, _ *http.Request, f url.Values) {
	m := formMessage(f)
	if _, ok := s.Message(m.Channel, m.TS); !ok {
		writeJSON(w, map[string]any{"ok": false, "error": "message_not_found"})
		return
	}
	s.mu.Lock()
	s.updates = append(s.updates, m)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "text": m.Text})
}

// list answers the known channels sorted by name, a page at a time: the
// cursor is the index of the page's first channel.
func (s *Server) list(w http.ResponseWriter, _ *http.Request, f url.Values) {
	s.mu.Lock()
	names := make([]string, 0, len(s.channels))
	for n := range s.channels {
		names = append(names, n)
	}
	sort.Strings(names)
	size := s.pageSize
	if l, err := strconv.Atoi(f.Get("limit")); err == nil && l > 0 && l < size {
		size = l
	}
	from, _ := strconv.Atoi(f.Get("cursor"))
	from = min(max(from, 0), len(names))
	to := min(from+size, len(names))
	page := make([]map[string]any, 0, to-from)
	for _, n := range names[from:to] {
		page = append(page, map[string]any{"id": s.channels[n], "name": n, "is_channel": true})
	}
	s.mu.Unlock()
	next := ""
	if to < len(names) {
		next = strconv.Itoa(to)
	}
	writeJSON(w, map[string]any{"ok": true, "channels": page, "response_metadata": map[string]any{"next_cursor": next}})
}

// history answers newest first, as Slack does; it ignores paging.
func (s *Server) history(w http.ResponseWriter, _ *http.Request, f url.Values) {
	ch := f.Get("channel")
	if s.isName(ch) {
		writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	var out []Message
	for _, m := range s.Posts() {
		if m.Channel == ch && m.ThreadTS == "" && m.TS >= f.Get("oldest") {
			out = append([]Message{m}, out...)
		}
	}
	writeJSON(w, map[string]any{"ok": true, "messages": out, "has_more": false})
}

// replies answers the parent then the replies, oldest first, as Slack does.
func (s *Server) replies(w http.ResponseWriter, _ *http.Request, f url.Values) {
	ch, ts := f.Get("channel"), f.Get("ts")
	if s.isName(ch) {
		writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	var out []Message
	for _, m := range s.Posts() {
		if m.Channel == ch && (m.TS == ts || m.ThreadTS == ts) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		writeJSON(w, map[string]any{"ok": false, "error": "thread_not_found"})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "messages": out, "has_more": false})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// httptestDiscard swallows a response whose request is answered with a fault.
type httptestDiscard struct{}

func (httptestDiscard) Header() http.Header         { return http.Header{} }
func (httptestDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (httptestDiscard) WriteHeader(int)             {}
