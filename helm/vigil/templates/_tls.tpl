{{/*
Certificates, keys and the OTLP bearer token, mounted from Secrets as files
under /var/run/secrets/vigil/<name>/ (never under /etc/vigil, the read-only
ConfigMap mount), and the configuration keys that name them. Only keys of
Secrets the values name are mounted, each under a fixed file name, so the
configuration does not depend on the Secret's key names.
*/}}

{{- define "vigil.tls.dir" -}}/var/run/secrets/vigil{{- end }}

{{/*
The mounts a process needs: list of (dict "name" "kafka-ca" "secret" S "items"
(list (dict "key" K "path" P))), for (dict "root" $ "kafka" bool "opensearch"
bool "otlp" bool "otlpClient" bool).
*/}}
{{- define "vigil.tls.sources" -}}
{{- $v := .root.Values }}
{{- $out := list }}
{{- if .kafka }}
{{- with $v.kafka.tls }}
{{- if and .enabled .caSecret }}
{{- $out = append $out (dict "name" "kafka-ca" "secret" .caSecret "items" (list (dict "key" .caKey "path" "ca.crt"))) }}
{{- end }}
{{- if and .enabled .clientSecret }}
{{- $out = append $out (dict "name" "kafka-client" "secret" .clientSecret "items" (list (dict "key" .certKey "path" "tls.crt") (dict "key" .keyKey "path" "tls.key"))) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .opensearch }}
{{- with $v.opensearch.tls }}
{{- if .caSecret }}
{{- $out = append $out (dict "name" "opensearch-ca" "secret" .caSecret "items" (list (dict "key" .caKey "path" "ca.crt"))) }}
{{- end }}
{{- if .clientSecret }}
{{- $out = append $out (dict "name" "opensearch-client" "secret" .clientSecret "items" (list (dict "key" .certKey "path" "tls.crt") (dict "key" .keyKey "path" "tls.key"))) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.otlpAuth.enabled (or .otlp .otlpClient) }}
{{- with $v.otlpAuth }}
{{- if $.otlp }}
{{- $out = append $out (dict "name" "otlp-tls" "secret" .tlsSecret "items" (list (dict "key" .certKey "path" "tls.crt") (dict "key" .keyKey "path" "tls.key"))) }}
{{- else }}
{{- $out = append $out (dict "name" "otlp-tls" "secret" .tlsSecret "items" (list (dict "key" .caKey "path" "ca.crt"))) }}
{{- end }}
{{- $out = append $out (dict "name" "otlp-token" "secret" (include "vigil.secret.otlpToken" $.root | splitList "/" | first) "items" (list (dict "key" (include "vigil.secret.otlpToken" $.root | splitList "/" | last) "path" "token"))) }}
{{- end }}
{{- end }}
{{- toYaml (dict "sources" $out) }}
{{- end }}

{{/* volumeMounts entries for vigil.tls.sources' arguments. */}}
{{- define "vigil.tls.volumeMounts" -}}
{{- range (include "vigil.tls.sources" . | fromYaml).sources }}
- {name: {{ .name }}, mountPath: {{ include "vigil.tls.dir" $ }}/{{ .name }}, readOnly: true}
{{- end }}
{{- end }}

{{/* volumes entries for vigil.tls.sources' arguments. */}}
{{- define "vigil.tls.volumes" -}}
{{- range (include "vigil.tls.sources" . | fromYaml).sources }}
- name: {{ .name }}
  secret:
    secretName: {{ .secret }}
    # Owner and group (fsGroup) may read; nobody else.
    defaultMode: 0440
    items:
      {{- range .items }}
      - {key: {{ .key }}, path: {{ .path }}}
      {{- end }}
{{- end }}
{{- end }}

{{/* kafka.tls of a component using internal/kafka.Conn, when enabled. */}}
{{- define "vigil.config.kafkaTLS" -}}
{{- with .Values.kafka.tls }}
{{- if .enabled }}
{{- $t := dict "enabled" true }}
{{- if .caSecret }}{{ $_ := set $t "ca_file" (printf "%s/kafka-ca/ca.crt" (include "vigil.tls.dir" $)) }}{{ end }}
{{- if .clientSecret }}
{{- $_ := set $t "cert_file" (printf "%s/kafka-client/tls.crt" (include "vigil.tls.dir" $)) }}
{{- $_ := set $t "key_file" (printf "%s/kafka-client/tls.key" (include "vigil.tls.dir" $)) }}
{{- end }}
{{- toYaml $t }}
{{- end }}
{{- end }}
{{- end }}

{{/* tls of the collector's Kafka exporters (configtls.ClientConfig), when enabled. */}}
{{- define "vigil.config.kafkaExporterTLS" -}}
{{- with include "vigil.config.kafkaTLS" . | fromYaml }}
{{- $_ := unset . "enabled" }}
{{- $_ := set . "insecure" false }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* opensearch.tls file keys, when a CA or client certificate is given. */}}
{{- define "vigil.config.opensearchTLS" -}}
{{- $t := dict }}
{{- with .Values.opensearch.tls }}
{{- if .caSecret }}{{ $_ := set $t "ca_file" (printf "%s/opensearch-ca/ca.crt" (include "vigil.tls.dir" $)) }}{{ end }}
{{- if .clientSecret }}
{{- $_ := set $t "cert_file" (printf "%s/opensearch-client/tls.crt" (include "vigil.tls.dir" $)) }}
{{- $_ := set $t "key_file" (printf "%s/opensearch-client/tls.key" (include "vigil.tls.dir" $)) }}
{{- end }}
{{- end }}
{{- if $t }}{{ toYaml $t }}{{ end }}
{{- end }}

{{/* The OTLP bearer token as "secret/key". */}}
{{- define "vigil.secret.otlpToken" -}}
{{- if .Values.otlpAuth.existingSecret }}{{ .Values.otlpAuth.existingSecret }}/{{ .Values.otlpAuth.existingSecretKey }}
{{- else if .Values.otlpAuth.token }}{{ include "vigil.fullname" . }}/otlp-token{{ end }}
{{- end }}

{{/*
Authenticated OTLP ingress on a collector configuration map (modified in
place): TLS and the bearertokenauth authenticator on every protocol of every
otlp receiver, as configs/collector-auth.yaml does. A protocol that already
sets tls or auth keeps it.
*/}}
{{- define "vigil.config.otlpAuth" -}}
{{- $cfg := .cfg }}
{{- $dir := include "vigil.tls.dir" .root }}
{{- if not .root.Values.otlpAuth.tlsSecret }}{{ fail "otlpAuth.enabled needs otlpAuth.tlsSecret (a Secret with the receivers' certificate and key)" }}{{ end }}
{{- if not (include "vigil.secret.otlpToken" .root) }}{{ fail "otlpAuth.enabled needs otlpAuth.token or otlpAuth.existingSecret" }}{{ end }}
{{- $ext := $cfg.extensions | default dict }}
{{- $_ := set $ext "bearertokenauth" (dict "filename" (printf "%s/otlp-token/token" $dir)) }}
{{- $_ := set $cfg "extensions" $ext }}
{{- range $name, $r := $cfg.receivers }}
{{- if and (hasPrefix "otlp" $name) (kindIs "map" $r) }}
{{- range $proto, $p := ($r.protocols | default dict) }}
{{- if kindIs "map" $p }}
{{- if not (hasKey $p "tls") }}
{{- $_ := set $p "tls" (dict "cert_file" (printf "%s/otlp-tls/tls.crt" $dir) "key_file" (printf "%s/otlp-tls/tls.key" $dir) "min_version" "1.2") }}
{{- end }}
{{- if not (hasKey $p "auth") }}
{{- $_ := set $p "auth" (dict "authenticator" "bearertokenauth") }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $svc := $cfg.service | default dict }}
{{- $exts := $svc.extensions | default list }}
{{- if not (has "bearertokenauth" $exts) }}
{{- $_ := set $svc "extensions" (append $exts "bearertokenauth") }}
{{- end }}
{{- end }}

{{/*
The agent's side of authenticated OTLP: its otlp exporters to the gateway
verify the gateway's certificate with the CA of otlpAuth.tlsSecret and send
the bearer token (bearertokenauth as a client authenticator). An exporter
that already sets auth is left alone.
*/}}
{{- define "vigil.config.otlpAuthClient" -}}
{{- $cfg := .cfg }}
{{- $dir := include "vigil.tls.dir" .root }}
{{- $ext := $cfg.extensions | default dict }}
{{- $_ := set $ext "bearertokenauth" (dict "filename" (printf "%s/otlp-token/token" $dir)) }}
{{- $_ := set $cfg "extensions" $ext }}
{{- range $name, $e := $cfg.exporters }}
{{- if and (hasPrefix "otlp" $name) (kindIs "map" $e) (not (hasKey $e "auth")) }}
{{- $_ := set $e "tls" (dict "ca_file" (printf "%s/otlp-tls/ca.crt" $dir)) }}
{{- $_ := set $e "auth" (dict "authenticator" "bearertokenauth") }}
{{- end }}
{{- end }}
{{- $svc := $cfg.service | default dict }}
{{- $exts := $svc.extensions | default list }}
{{- if not (has "bearertokenauth" $exts) }}
{{- $_ := set $svc "extensions" (append $exts "bearertokenauth") }}
{{- end }}
{{- end }}
