package document

// knownSpanAttributes are the span attribute keys written as fields of
// their own ("span.attributes.<key>", as Data Prepper writes every key):
// OpenTelemetry's semantic conventions for spans, current and the older
// names instrumentations still send, which is what Trace Analytics users
// filter on. Every other key goes into the span.attributes.overflow
// flat_object, so that the span index's fields are bounded by this list
// (about 200, against index.mapping.total_fields.limit 5000) however many
// distinct keys applications invent. A key moves only by changing this
// list: a key's field must not depend on the data, or the same key would
// be a field in one span and in the overflow in the next.
var knownSpanAttributes = keySetOf(
	// HTTP (current and before semantic conventions 1.21).
	"http.request.method", "http.request.method_original", "http.response.status_code",
	"http.route", "http.request.body.size", "http.response.body.size",
	"http.request.resend_count", "http.request.size", "http.response.size",
	"http.method", "http.status_code", "http.url", "http.target", "http.host",
	"http.scheme", "http.flavor", "http.user_agent", "http.client_ip",
	"http.server_name", "http.request_content_length", "http.response_content_length",
	"url.full", "url.path", "url.query", "url.scheme", "url.fragment", "url.template",
	"url.domain", "url.original",
	"user_agent.original", "user_agent.name", "user_agent.version",
	// Network, server, client, peer.
	"server.address", "server.port", "client.address", "client.port",
	"network.protocol.name", "network.protocol.version", "network.transport",
	"network.type", "network.peer.address", "network.peer.port",
	"network.local.address", "network.local.port",
	"net.peer.name", "net.peer.ip", "net.peer.port", "net.host.name",
	"net.host.ip", "net.host.port", "net.transport", "net.sock.peer.addr",
	"net.sock.peer.port", "net.sock.host.addr", "net.protocol.name",
	"net.protocol.version", "peer.service", "service.peer.name", "service.peer.namespace",
	// Databases.
	"db.system", "db.system.name", "db.name", "db.namespace", "db.statement",
	"db.query.text", "db.query.summary", "db.operation", "db.operation.name",
	"db.collection.name", "db.sql.table", "db.user", "db.connection_string",
	"db.response.status_code", "db.response.returned_rows", "db.stored_procedure.name",
	"db.operation.batch.size", "db.redis.database_index", "db.mongodb.collection",
	"db.cassandra.keyspace", "db.elasticsearch.path_parts.index",
	// RPC and GraphQL.
	"rpc.system", "rpc.service", "rpc.method", "rpc.grpc.status_code",
	"rpc.jsonrpc.version", "rpc.jsonrpc.request_id", "rpc.jsonrpc.error_code",
	"rpc.connect_rpc.error_code", "graphql.operation.name", "graphql.operation.type",
	"graphql.document",
	// Messaging.
	"messaging.system", "messaging.operation", "messaging.operation.type",
	"messaging.operation.name", "messaging.destination", "messaging.destination.name",
	"messaging.destination.template", "messaging.destination.temporary",
	"messaging.destination.anonymous", "messaging.destination.partition.id",
	"messaging.message.id", "messaging.message.conversation_id",
	"messaging.message.body.size", "messaging.message.envelope.size",
	"messaging.batch.message_count", "messaging.client.id", "messaging.client_id",
	"messaging.consumer.group.name", "messaging.kafka.consumer.group",
	"messaging.kafka.message.key", "messaging.kafka.message.offset",
	"messaging.kafka.partition", "messaging.kafka.offset",
	"messaging.kafka.destination.partition", "messaging.kafka.message.tombstone",
	"messaging.rabbitmq.destination.routing_key", "messaging.url",
	"messaging.protocol", "messaging.protocol_version",
	// Errors and exceptions.
	"error.type", "error", "exception.type", "exception.message",
	"exception.stacktrace", "exception.escaped",
	// Code and threads.
	"code.function", "code.function.name", "code.namespace", "code.filepath",
	"code.file.path", "code.lineno", "code.line.number", "code.column",
	"code.column.number", "code.stacktrace", "thread.id", "thread.name",
	// Identity and session.
	"enduser.id", "enduser.role", "enduser.scope", "user.id", "user.name",
	"session.id", "session.previous_id",
	// FaaS and cloud.
	"faas.trigger", "faas.invoked_name", "faas.invoked_provider",
	"faas.invoked_region", "faas.invocation_id", "faas.coldstart", "faas.execution",
	"faas.document.operation", "faas.document.collection", "faas.cron", "faas.time",
	"cloud.provider", "cloud.region", "cloud.account.id", "cloud.resource_id",
	"aws.request_id", "aws.region", "aws.dynamodb.table_names",
	"aws.s3.bucket", "aws.s3.key", "aws.lambda.invoked_arn",
	"gcp.client.service",
	// Feature flags, gen AI, k8s and services (sometimes sent on spans).
	"feature_flag.key", "feature_flag.provider_name", "feature_flag.variant",
	"feature_flag.result.variant", "gen_ai.system", "gen_ai.operation.name",
	"gen_ai.request.model", "gen_ai.response.model", "gen_ai.usage.input_tokens",
	"gen_ai.usage.output_tokens", "service.name", "service.version",
	"service.namespace", "service.instance.id", "host.name", "k8s.namespace.name",
	"k8s.pod.name", "k8s.deployment.name", "k8s.node.name", "container.id",
	"deployment.environment", "deployment.environment.name",
	// Instrumentation metadata.
	"otel.status_code", "otel.status_description", "otel.scope.name",
	"otel.scope.version", "otel.library.name", "otel.library.version",
	"span.kind", "component", "sampling.priority",
)

// SpanFields returns the span attribute keys written as fields of their
// own: the known ones and extra (Options.SpanFields). The map is shared and
// must not be changed.
func SpanFields(extra []string) map[string]struct{} {
	if len(extra) == 0 {
		return knownSpanAttributes
	}
	m := make(map[string]struct{}, len(knownSpanAttributes)+len(extra))
	for k := range knownSpanAttributes {
		m[k] = struct{}{}
	}
	for _, k := range extra {
		m[k] = struct{}{}
	}
	return m
}

func keySetOf(keys ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}
