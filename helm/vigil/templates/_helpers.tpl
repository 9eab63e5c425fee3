{{/* Names */}}
{{- define "vigil.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vigil.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of a component's resources: (dict "root" $ "component" "pipeline") */}}
{{- define "vigil.componentName" -}}
{{- printf "%s-%s" (include "vigil.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vigil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vigil.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels: (dict "root" $ "component" "pipeline") */}}
{{- define "vigil.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "vigil.selectorLabels" . }}
app.kubernetes.io/version: {{ include "vigil.imageTag" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: vigil
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Image */}}
{{- define "vigil.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "vigil.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "vigil.imageTag" .) }}
{{- end }}

{{/* Secrets: each helper prints "name/key" of the secretKeyRef, or nothing
when the credential is not configured. */}}
{{- define "vigil.secret.slackToken" -}}
{{- if .Values.slack.existingSecret }}{{ .Values.slack.existingSecret }}/{{ .Values.slack.existingSecretKey }}
{{- else if .Values.slack.token }}{{ include "vigil.fullname" . }}/slack-token{{ end }}
{{- end }}

{{- define "vigil.secret.apiToken" -}}
{{- if .Values.apiToken.existingSecret }}{{ .Values.apiToken.existingSecret }}/{{ .Values.apiToken.existingSecretKey }}
{{- else if .Values.apiToken.token }}{{ include "vigil.fullname" . }}/api-token{{ end }}
{{- end }}

{{- define "vigil.secret.opensearchUsername" -}}
{{- if .Values.opensearch.auth.existingSecret }}{{ .Values.opensearch.auth.existingSecret }}/{{ .Values.opensearch.auth.usernameKey }}
{{- else if .Values.opensearch.auth.username }}{{ include "vigil.fullname" . }}/opensearch-username{{ end }}
{{- end }}

{{- define "vigil.secret.opensearchPassword" -}}
{{- if .Values.opensearch.auth.existingSecret }}{{ .Values.opensearch.auth.existingSecret }}/{{ .Values.opensearch.auth.passwordKey }}
{{- else if .Values.opensearch.auth.password }}{{ include "vigil.fullname" . }}/opensearch-password{{ end }}
{{- end }}

{{- define "vigil.secret.kafkaUsername" -}}
{{- if .Values.kafka.sasl.existingSecret }}{{ .Values.kafka.sasl.existingSecret }}/{{ .Values.kafka.sasl.usernameKey }}
{{- else if .Values.kafka.sasl.username }}{{ include "vigil.fullname" . }}/kafka-sasl-username{{ end }}
{{- end }}

{{- define "vigil.secret.kafkaPassword" -}}
{{- if .Values.kafka.sasl.existingSecret }}{{ .Values.kafka.sasl.existingSecret }}/{{ .Values.kafka.sasl.passwordKey }}
{{- else if .Values.kafka.sasl.password }}{{ include "vigil.fullname" . }}/kafka-sasl-password{{ end }}
{{- end }}

{{/* One env entry from a secret: (dict "env" "NAME" "ref" "secret/key") */}}
{{- define "vigil.secretEnv" -}}
{{- if .ref }}
{{- $parts := splitn "/" 2 .ref }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ $parts._0 }}
      key: {{ $parts._1 }}
{{- end }}
{{- end }}

{{/* The ServiceMonitor's job of each component (its Service's name), for
the detector's liveness rules (up{job=...}). */}}
{{- define "vigil.env.scrapeJobs" -}}
{{- range $c := list "collector" "pipeline" "detector" "alerting" }}
- name: VIGIL_{{ upper $c }}_SCRAPE_JOB
  value: {{ printf "%s-%s" (include "vigil.fullname" $) $c | quote }}
{{- end }}
{{- end }}

{{- define "vigil.env.kafka" -}}
{{- include "vigil.secretEnv" (dict "env" "VIGIL_KAFKA_SASL_USERNAME" "ref" (include "vigil.secret.kafkaUsername" .)) }}
{{- include "vigil.secretEnv" (dict "env" "VIGIL_KAFKA_SASL_PASSWORD" "ref" (include "vigil.secret.kafkaPassword" .)) }}
{{- end }}

{{- define "vigil.env.opensearch" -}}
{{- include "vigil.secretEnv" (dict "env" "VIGIL_OPENSEARCH_USERNAME" "ref" (include "vigil.secret.opensearchUsername" .)) }}
{{- include "vigil.secretEnv" (dict "env" "VIGIL_OPENSEARCH_PASSWORD" "ref" (include "vigil.secret.opensearchPassword" .)) }}
{{- end }}

{{- define "vigil.env.slack" -}}
{{- include "vigil.secretEnv" (dict "env" "VIGIL_SLACK_TOKEN" "ref" (include "vigil.secret.slackToken" .)) }}
{{- end }}

{{- define "vigil.env.apiToken" -}}
{{- include "vigil.secretEnv" (dict "env" "VIGIL_API_TOKEN" "ref" (include "vigil.secret.apiToken" .)) }}
{{- end }}

{{/* Security and probes shared by every container. */}}
{{- define "vigil.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "vigil.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{- define "vigil.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: admin
  {{- toYaml .Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
  {{- toYaml .Values.probes.readiness | nindent 2 }}
{{- end }}

{{/* The admin listen address in-cluster. */}}
{{- define "vigil.adminAddress" -}}
{{- printf "0.0.0.0:%d" (int .) }}
{{- end }}
