{{/*
Component configurations. Each helper prints the component's keys as YAML:
the values map merged over what the chart derives from the shared values
(broker and OpenSearch addresses, references to secrets), so a key set in
<component>.config wins. Secrets appear only as {env: NAME} references or
${NAME} expansions of environment variables set from Secrets.
*/}}

{{- define "vigil.config.pipeline" -}}
{{- $os := dict "addresses" (list .Values.opensearch.url) }}
{{- if include "vigil.secret.opensearchUsername" . }}
{{- $_ := set $os "username" "${VIGIL_OPENSEARCH_USERNAME}" }}
{{- end }}
{{- if include "vigil.secret.opensearchPassword" . }}
{{- $_ := set $os "password" (dict "env" "VIGIL_OPENSEARCH_PASSWORD") }}
{{- end }}
{{- with include "vigil.config.opensearchTLS" . }}
{{- $_ := set $os "tls" (fromYaml .) }}
{{- end }}
{{- $derived := dict "kafka" (dict "brokers" .Values.kafka.brokers) "opensearch" $os }}
{{- with include "vigil.config.kafkaSASL" . }}
{{- $_ := set $derived.kafka "sasl" (fromYaml .) }}
{{- end }}
{{- with include "vigil.config.kafkaTLS" . }}
{{- $_ := set $derived.kafka "tls" (fromYaml .) }}
{{- end }}
{{- if include "vigil.secret.apiToken" . }}
{{- $_ := set $derived "admin_token" (dict "env" "VIGIL_API_TOKEN") }}
{{- end }}
{{- $cfg := mustMergeOverwrite (deepCopy $derived) (deepCopy .Values.pipeline.config) }}
{{- /* An empty file setting in the map (configs/pipeline.yaml has
ca_file: "") does not undo a mounted Secret. */}}
{{- range $k, $v := (dig "opensearch" "tls" dict $derived) }}
{{- if not (get $cfg.opensearch.tls $k) }}{{ $_ := set $cfg.opensearch.tls $k $v }}{{ end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{- define "vigil.config.detector" -}}
{{- $derived := dict "kafka" (dict "brokers" .Values.kafka.brokers) "prometheus" (dict "url" .Values.prometheus.url) }}
{{- with include "vigil.config.kafkaSASL" . }}
{{- $_ := set $derived.kafka "sasl" (fromYaml .) }}
{{- end }}
{{- with include "vigil.config.kafkaTLS" . }}
{{- $_ := set $derived.kafka "tls" (fromYaml .) }}
{{- end }}
{{- if include "vigil.secret.apiToken" . }}
{{- $_ := set $derived "webhooks" (dict "token" (dict "env" "VIGIL_API_TOKEN")) }}
{{- end }}
{{- toYaml (mustMergeOverwrite $derived (deepCopy .Values.detector.config)) }}
{{- end }}

{{/* kafka.sasl of a component using internal/kafka.Conn, when configured. */}}
{{- define "vigil.config.kafkaSASL" -}}
{{- if and .Values.kafka.sasl.mechanism (include "vigil.secret.kafkaUsername" .) }}
{{- $sasl := dict "mechanism" .Values.kafka.sasl.mechanism "username" (dict "env" "VIGIL_KAFKA_SASL_USERNAME") "password" (dict "env" "VIGIL_KAFKA_SASL_PASSWORD") }}
{{- if .Values.kafka.sasl.allowPlaintext }}
{{- $_ := set $sasl "allow_plaintext" true }}
{{- end }}
{{- toYaml $sasl }}
{{- end }}
{{- end }}

{{- define "vigil.config.alerting" -}}
{{- $derived := dict "kafka" (dict "brokers" .Values.kafka.brokers) }}
{{- with include "vigil.config.kafkaSASL" . }}
{{- $_ := set $derived.kafka "sasl" (fromYaml .) }}
{{- end }}
{{- with include "vigil.config.kafkaTLS" . }}
{{- $_ := set $derived.kafka "tls" (fromYaml .) }}
{{- end }}
{{- if include "vigil.secret.slackToken" . }}
{{- $_ := set $derived "slack" (dict "bot_token" (dict "env" "VIGIL_SLACK_TOKEN")) }}
{{- end }}
{{- if include "vigil.secret.apiToken" . }}
{{- $_ := set $derived "api" (dict "token" (dict "env" "VIGIL_API_TOKEN")) }}
{{- end }}
{{- toYaml (mustMergeOverwrite $derived (deepCopy .Values.alerting.config)) }}
{{- end }}

{{/* The vigil: section of a collector file: (dict "root" $ "port" 8881) */}}
{{- define "vigil.config.collectorVigil" -}}
{{- $telemetryPort := 8888 }}
{{- toYaml (dict
  "admin" (dict "listen_address" (include "vigil.adminAddress" .port))
  "log" .root.Values.log
  "telemetry_url" (printf "http://127.0.0.1:%d/metrics" $telemetryPort)) }}
{{- end }}

{{- define "vigil.config.collector" -}}
{{- $cfg := deepCopy .Values.collector.config }}
{{- $sasl := .Values.kafka.sasl }}
{{- range $name, $exp := $cfg.exporters }}
{{- if and (hasPrefix "kafka" $name) (kindIs "map" $exp) }}
{{- if not (hasKey $exp "brokers") }}
{{- $_ := set $exp "brokers" $.Values.kafka.brokers }}
{{- end }}
{{- if and $sasl.mechanism (include "vigil.secret.kafkaUsername" $) (not (hasKey $exp "auth")) }}
{{- $_ := set $exp "auth" (dict "sasl" (dict "mechanism" $sasl.mechanism "username" "${env:VIGIL_KAFKA_SASL_USERNAME}" "password" "${env:VIGIL_KAFKA_SASL_PASSWORD}")) }}
{{- if and $sasl.allowPlaintext (not (hasKey $exp "tls")) }}
{{- /* The collector refuses SASL without tls; insecure: true is the opt-in. */}}
{{- $_ := set $exp "tls" (dict "insecure" true) }}
{{- end }}
{{- end }}
{{- with include "vigil.config.kafkaExporterTLS" $ }}
{{- if not (hasKey $exp "tls") }}
{{- $_ := set $exp "tls" (fromYaml .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.otlpAuth.enabled }}
{{- include "vigil.config.otlpAuth" (dict "root" . "cfg" $cfg) }}
{{- end }}
{{- include "vigil.config.recipes" (dict "root" . "cfg" $cfg) }}
{{- $_ := set $cfg "vigil" (include "vigil.config.collectorVigil" (dict "root" . "port" .Values.collector.adminPort) | fromYaml) }}
{{- toYaml $cfg }}
{{- end }}

{{- define "vigil.config.agent" -}}
{{- $cfg := deepCopy .Values.collector.agent.config }}
{{- $gateway := printf "%s.%s.svc:4317" (include "vigil.componentName" (dict "root" . "component" "collector")) .Release.Namespace }}
{{- range $name, $exp := $cfg.exporters }}
{{- if and (hasPrefix "otlp" $name) (kindIs "map" $exp) (not (hasKey $exp "endpoint")) }}
{{- $_ := set $exp "endpoint" $gateway }}
{{- end }}
{{- end }}
{{- $filelog := dig "receivers" "filelog" nil $cfg }}
{{- if and (kindIs "map" $filelog) (not (hasKey $filelog "exclude")) }}
{{- $_ := set $filelog "exclude" (list (printf "%s/%s_%s-*/*/*.log" .Values.collector.agent.logsPath .Release.Namespace (include "vigil.componentName" (dict "root" . "component" "agent")))) }}
{{- end }}
{{- if .Values.otlpAuth.enabled }}
{{- include "vigil.config.otlpAuthClient" (dict "root" . "cfg" $cfg) }}
{{- end }}
{{- $_ := set $cfg "vigil" (include "vigil.config.collectorVigil" (dict "root" . "port" .Values.collector.agent.adminPort) | fromYaml) }}
{{- toYaml $cfg }}
{{- end }}

{{/* A standalone component file: admin and log, then the component's keys. */}}
{{- define "vigil.config.file" -}}
admin:
  listen_address: {{ include "vigil.adminAddress" .port | quote }}
log:
  {{- toYaml .root.Values.log | nindent 2 }}
{{ include (printf "vigil.config.%s" .component) .root }}
{{- end }}

{{/*
setup.yaml (cmd/vigil setupConfig): the Kafka topics `vigil setup` creates
or reconciles, named as the components' configurations name them (the
retention and size configs are setup's defaults, internal/kafka
DefaultTopics); the
pipeline's opensearch and indices, for the index templates and ISM policies;
and, with opensearch.dashboardsUrl, Dashboards for the saved objects.
*/}}
{{- define "vigil.config.setup" -}}
{{- $t := .Values.kafka.topics }}
{{- $rf := int $t.replicationFactor }}
{{- $common := dict }}
{{- if gt (int $t.minInsyncReplicas) 0 }}
{{- $_ := set $common "min.insync.replicas" (toString (int $t.minInsyncReplicas)) }}
{{- end }}
{{- $pk := .Values.pipeline.config.kafka }}
{{- $dk := .Values.detector.config.kafka }}
{{- $ak := .Values.alerting.config.kafka }}
{{- $retain := dict "retention.ms" "259200000" "max.message.bytes" "8388608" }}
{{- $compact := dict "cleanup.policy" "compact" }}
{{- $topics := list
  (dict "name" $pk.logs.topic "partitions" (int $t.partitions) "configs" (merge (deepCopy $retain) $common))
  (dict "name" $pk.spans.topic "partitions" (int $t.partitions) "configs" (merge (deepCopy $retain) $common))
  (dict "name" $pk.dlq_topic "partitions" 3 "configs" (merge (dict "retention.ms" "1209600000" "max.message.bytes" "33554432") $common))
  (dict "name" $dk.health_topic "partitions" 1 "configs" (merge (deepCopy $compact) $common))
  (dict "name" $dk.leader_topic "partitions" 1 "configs" (deepCopy $common))
  (dict "name" $ak.state_topic "partitions" 1 "configs" (merge (deepCopy $compact) $common)) }}
{{- with ($pk.priority).topic }}
{{- $topics = append $topics (dict "name" . "partitions" (int $t.partitions) "configs" (merge (deepCopy $retain) $common)) }}
{{- end }}
{{- if $ak.failover_topic }}
{{- $topics = append $topics (dict "name" $ak.failover_topic "partitions" 1 "configs" (merge (deepCopy $compact) $common)) }}
{{- end }}
{{- range $topics }}
{{- $_ := set . "replication_factor" $rf }}
{{- if not .configs }}{{ $_ := unset . "configs" }}{{ end }}
{{- end }}
{{- $kafka := dict "brokers" .Values.kafka.brokers "client_id" "vigil-setup" }}
{{- with include "vigil.config.kafkaSASL" . }}
{{- $_ := set $kafka "sasl" (fromYaml .) }}
{{- end }}
{{- with include "vigil.config.kafkaTLS" . }}
{{- $_ := set $kafka "tls" (fromYaml .) }}
{{- end }}
{{- /* OpenSearch and indices exactly as the pipeline has them, so setup
installs the templates the pipeline would. */}}
{{- $pipeline := include "vigil.config.pipeline" . | fromYaml }}
{{- $cfg := dict "kafka" $kafka "topics" $topics "opensearch" $pipeline.opensearch "indices" $pipeline.indices "timeout" "2m" }}
{{- if and .Values.opensearch.dashboardsUrl .Values.setup.dashboards.enabled }}
{{- $dash := dict "url" .Values.opensearch.dashboardsUrl }}
{{- with $pipeline.opensearch.username }}{{ $_ := set $dash "username" . }}{{ end }}
{{- with $pipeline.opensearch.password }}{{ $_ := set $dash "password" . }}{{ end }}
{{- with .Values.setup.dashboards.tenant }}{{ $_ := set $dash "tenant" . }}{{ end }}
{{- with dig "tls" "ca_file" "" $pipeline.opensearch }}{{ $_ := set $dash "tls" (dict "ca_file" .) }}{{ end }}
{{- $_ := set $cfg "dashboards" $dash }}
{{- end }}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy .Values.setup.config)) }}
{{- end }}

{{/* The enabled recipes (collector.recipes, configs/recipes/*.yaml), merged
into the gateway's configuration in place: (dict "root" $ "cfg" $cfg). A
recipe's components are merged over the configuration; a pipeline's processor
list is not replaced as a merged file would replace it, so that recipes
combine: the processors a recipe lists that the pipeline lacks are added after
memory_limiter, recipe by recipe in a fixed order. */}}
{{- define "vigil.config.recipes" -}}
{{- $cfg := .cfg }}
{{- $v := .root.Values.collector }}
{{- $added := dict }}
{{- range $name := list "parseBody" "dropDebug" "redact" "tailSampling" }}
{{- $r := index $v.recipes $name }}
{{- if $r.enabled }}
{{- if and (eq $name "tailSampling") (gt (int $v.replicas) 1) }}
{{- fail "collector.recipes.tailSampling needs every span of a trace on one collector: set collector.replicas: 1 (several replicas: docs/recipes.md, load balancing)" }}
{{- end }}
{{- $rc := deepCopy $r.config }}
{{- range $section, $m := $rc }}
{{- if ne $section "service" }}
{{- $_ := set $cfg $section (mergeOverwrite (get $cfg $section | default dict) $m) }}
{{- end }}
{{- end }}
{{- range $p, $pl := (($rc.service | default dict).pipelines | default dict) }}
{{- $base := index $cfg.service.pipelines $p }}
{{- if not $base }}{{ fail (printf "collector.recipes.%s adds to pipeline %s, which collector.config.service.pipelines lacks" $name $p) }}{{ end }}
{{- $list := get $added $p | default list }}
{{- range $proc := $pl.processors }}
{{- if and (not (has $proc $base.processors)) (not (has $proc $list)) }}
{{- $list = append $list $proc }}
{{- end }}
{{- end }}
{{- $_ := set $added $p $list }}
{{- end }}
{{- end }}
{{- end }}
{{- range $p, $list := $added }}
{{- $pipe := index $cfg.service.pipelines $p }}
{{- $procs := $pipe.processors | default list }}
{{- if and $procs (eq (first $procs) "memory_limiter") }}
{{- $_ := set $pipe "processors" (concat (list "memory_limiter") $list (rest $procs)) }}
{{- else }}
{{- $_ := set $pipe "processors" (concat $list $procs) }}
{{- end }}
{{- end }}
{{- end }}
