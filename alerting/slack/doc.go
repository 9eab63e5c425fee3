// Package slack is Vigil's transport to Slack: it posts, threads and updates
// messages for the alerting component and owns everything that makes that
// reliable, while the alerting package decides what to say and renders it.
//
// Three modes, chosen by configuration:
//
//   - Bot-token mode (bot_token set): chat.postMessage, chat.update and
//     threads. Every message carries Slack message metadata (event type
//     "vigil_alert", payload {"key": ...}) so that a message can be found
//     again after an ambiguous failure.
//   - Incoming-webhook mode (webhooks set, one URL per channel): plain posts
//     only. An incoming webhook cannot reply in a thread, update a message or
//     read history, so Threads reports false and the alerting package posts
//     every change, reminder and recovery as a message of its own, naming the
//     incident; the parent is never marked resolved, and a post after an
//     ambiguous failure may be duplicated (see below).
//   - Console mode (neither set, for local runs): nothing leaves the process;
//     every message that would be posted is logged at Info.
//
// Delivery rules, the same in every mode that talks to Slack:
//
//   - At most PerChannelRate messages per second per channel (Slack allows
//     about one), by a token-bucket limiter per channel.
//   - HTTP 429 means Slack did not post the message: Client waits for
//     Retry-After (one second when absent) and sends again, without limit
//     until the context ends. A 429 can therefore never lose or double a
//     message.
//   - A connection that could not be opened means nothing was sent: retried
//     with exponential backoff, also without limit.
//   - A 5xx answer, a timeout or a connection broken mid-request is
//     ambiguous: Slack may have posted the message. Before posting again,
//     in bot mode, Client looks for a message carrying the same key in the
//     channel's history (conversations.history) or in the thread
//     (conversations.replies), and returns that message if it is there.
//     When the lookup itself is refused (for example a token without
//     channels:history), or in webhook mode where there is no lookup, Client
//     posts again and accepts a possible duplicate, logging a warning.
//   - chat.update is idempotent and is simply retried.
//   - A message whose blocks exceed Slack's budgets (50 blocks, 3000
//     characters of section text, 150 of header text) or that Slack refuses
//     as invalid_blocks is sent as plain text instead; text is cut to 40000
//     characters.
//   - Any other Slack error (channel_not_found, not_in_channel, invalid_auth,
//     ...) is permanent and returned as *PermanentError: an operator must act.
package slack
