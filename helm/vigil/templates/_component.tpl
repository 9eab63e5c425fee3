{{/*
ConfigMap, Deployment and Service of a Vigil component that reads a
standalone file (pipeline, detector, alerting):
(dict "root" $ "component" "pipeline" "env" "<env YAML>" "replicas" true|false
"tls" (dict "kafka" true "opensearch" true)), tls naming the Secret mounts (vigil.tls.sources)
*/}}
{{- define "vigil.component" -}}
{{- $root := .root }}
{{- $vals := index $root.Values .component }}
{{- $c := dict "root" $root "component" .component }}
{{- $name := include "vigil.componentName" $c }}
{{- $config := include "vigil.config.file" (dict "root" $root "component" .component "port" $vals.adminPort) }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "vigil.labels" $c | nindent 4 }}
data:
  {{ .component }}.yaml: |
    {{- $config | nindent 4 }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "vigil.labels" $c | nindent 4 }}
spec:
  {{- if .replicas }}
  replicas: {{ $vals.replicas }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "vigil.selectorLabels" $c | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "vigil.labels" $c | nindent 8 }}
      annotations:
        checksum/config: {{ sha256sum $config }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "vigil.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "vigil.podSecurityContext" $root | nindent 8 }}
      # Components drain (commit offsets, flush bulks, send queued messages)
      # within their drain_timeout (30s by default) after SIGTERM.
      terminationGracePeriodSeconds: 45
      containers:
        - name: {{ .component }}
          image: {{ include "vigil.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [{{ .component | quote }}, "--config", "/etc/vigil/{{ .component }}.yaml"]
          {{- $env := trim (.env | default "") }}
          {{- if or $env $vals.extraEnv }}
          env:
            {{- with $env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $vals.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          ports:
            - {name: admin, containerPort: {{ $vals.adminPort }}, protocol: TCP}
          {{- include "vigil.probes" $root | nindent 10 }}
          securityContext:
            {{- include "vigil.containerSecurityContext" $root | nindent 12 }}
          resources:
            {{- toYaml $vals.resources | nindent 12 }}
          {{- $tls := merge (dict "root" $root) (.tls | default dict) }}
          volumeMounts:
            - {name: config, mountPath: /etc/vigil, readOnly: true}
            - {name: tmp, mountPath: /tmp}
            {{- with include "vigil.tls.volumeMounts" $tls }}{{ . | nindent 12 }}{{ end }}
      volumes:
        - name: config
          configMap:
            name: {{ $name }}
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with include "vigil.tls.volumes" $tls }}{{ . | nindent 8 }}{{ end }}
      {{- with $vals.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $vals.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $vals.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "vigil.labels" $c | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "vigil.selectorLabels" $c | nindent 4 }}
  ports:
    - {name: admin, port: {{ $vals.adminPort }}, targetPort: admin, protocol: TCP}
{{- if and (hasKey $vals "pdb") $vals.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "vigil.labels" $c | nindent 4 }}
spec:
  maxUnavailable: {{ $vals.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "vigil.selectorLabels" $c | nindent 6 }}
{{- end }}
{{- end }}
