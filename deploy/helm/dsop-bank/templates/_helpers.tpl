{{/* Names and labels. */}}
{{- define "dsop-bank.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dsop-bank.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dsop-bank.labels" -}}
{{ include "dsop-bank.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image, by digest when one is given. */}}
{{- define "dsop-bank.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* https when the listeners have TLS (secrets.tls.name), for probes and the ServiceMonitor. */}}
{{- define "dsop-bank.scheme" -}}
{{- if .Values.secrets.tls.name -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/* Where each mounted Secret appears in the containers. */}}
{{- define "dsop-bank.paths" -}}
server: /run/secrets/dsop
tls: /run/secrets/tls
konkursvarsel: /run/secrets/konkursvarsel
console: /run/secrets/console-oidc
bankData: /bank-data
state: /var/lib/dsop-bank
{{- end -}}

{{/*
The environment of every container: the settings map, then what the chart derives from its
values (listen addresses, paths of mounted Secrets), then the database URL of the given role.
Call with (dict "ctx" $ "dbKey" "servingKey").
*/}}
{{- define "dsop-bank.env" -}}
{{- $v := .ctx.Values -}}
{{- $p := include "dsop-bank.paths" .ctx | fromYaml -}}
- name: DSOP_ENV
  value: {{ $v.env | quote }}
- name: DSOP_STATE_DIR
  value: {{ $p.state }}
- name: DSOP_ADDR
  value: {{ printf "0.0.0.0:%d" (int $v.ports.api) | quote }}
- name: DSOP_ADMIN_ADDR
  value: {{ printf "0.0.0.0:%d" (int $v.ports.admin) | quote }}
{{- range $name, $value := $v.settings }}
{{- if ne (toString $value) "" }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- if $v.secrets.server.name }}
- name: DSOP_SECRET_FILE
  value: {{ printf "%s/%s" $p.server $v.secrets.server.key | quote }}
{{- end }}
{{- if $v.secrets.tls.name }}
- name: DSOP_TLS_CERT
  value: {{ printf "%s/tls.crt" $p.tls | quote }}
- name: DSOP_TLS_KEY
  value: {{ printf "%s/tls.key" $p.tls | quote }}
{{- if $v.secrets.tls.clientCAKey }}
- name: DSOP_TLS_CLIENT_CA
  value: {{ printf "%s/%s" $p.tls $v.secrets.tls.clientCAKey | quote }}
{{- end }}
{{- end }}
{{- if $v.secrets.konkursvarsel.name }}
- name: DSOP_KONKURSVARSEL_CERT
  value: {{ printf "%s/tls.crt" $p.konkursvarsel | quote }}
- name: DSOP_KONKURSVARSEL_KEY
  value: {{ printf "%s/tls.key" $p.konkursvarsel | quote }}
{{- end }}
{{- if $v.console.enabled }}
- name: DSOP_CONSOLE_ADDR
  value: {{ printf "0.0.0.0:%d" (int $v.ports.console) | quote }}
{{- with $v.console.url }}
- name: DSOP_CONSOLE_URL
  value: {{ . | quote }}
{{- end }}
{{- with $v.console.oidcIssuer }}
- name: DSOP_CONSOLE_OIDC_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with $v.console.oidcClientID }}
- name: DSOP_CONSOLE_OIDC_CLIENT_ID
  value: {{ . | quote }}
{{- end }}
{{- if $v.secrets.consoleOIDC.name }}
- name: DSOP_CONSOLE_OIDC_CLIENT_SECRET_FILE
  value: {{ printf "%s/%s" $p.console $v.secrets.consoleOIDC.key | quote }}
{{- end }}
{{- end }}
{{- if $v.secrets.database.name }}
- name: DSOP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.database.name }}
      key: {{ index $v.secrets.database .dbKey }}
{{- end }}
{{- end -}}

{{/* The mounted Secrets and the state directory, for the pod's volumes and the container's mounts. */}}
{{- define "dsop-bank.volumes" -}}
{{- $v := .Values -}}
# Mode 0440 with the pod's group (fsGroup): production refuses a secret readable by others.
- name: state
  emptyDir: {}
{{- if $v.secrets.server.name }}
- name: server-secret
  secret: { secretName: {{ $v.secrets.server.name }}, defaultMode: 0440 }
{{- end }}
{{- if $v.secrets.tls.name }}
- name: tls
  secret: { secretName: {{ $v.secrets.tls.name }}, defaultMode: 0440 }
{{- end }}
{{- if $v.secrets.konkursvarsel.name }}
- name: konkursvarsel
  secret: { secretName: {{ $v.secrets.konkursvarsel.name }}, defaultMode: 0440 }
{{- end }}
{{- if and $v.console.enabled $v.secrets.consoleOIDC.name }}
- name: console-oidc
  secret: { secretName: {{ $v.secrets.consoleOIDC.name }}, defaultMode: 0440 }
{{- end }}
{{- end -}}

{{- define "dsop-bank.volumeMounts" -}}
{{- $v := .Values -}}
{{- $p := include "dsop-bank.paths" . | fromYaml -}}
- { name: state, mountPath: {{ $p.state }} }
{{- if $v.secrets.server.name }}
- { name: server-secret, mountPath: {{ $p.server }}, readOnly: true }
{{- end }}
{{- if $v.secrets.tls.name }}
- { name: tls, mountPath: {{ $p.tls }}, readOnly: true }
{{- end }}
{{- if $v.secrets.konkursvarsel.name }}
- { name: konkursvarsel, mountPath: {{ $p.konkursvarsel }}, readOnly: true }
{{- end }}
{{- if and $v.console.enabled $v.secrets.consoleOIDC.name }}
- { name: console-oidc, mountPath: {{ $p.console }}, readOnly: true }
{{- end }}
{{- end -}}

{{/* The pod's and the container's security contexts: non-root, read-only, no capabilities. */}}
{{- define "dsop-bank.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "dsop-bank.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: ["ALL"] }
{{- end -}}

{{/* The pod spec of a Job: one container running args with the given database role. */}}
{{- define "dsop-bank.jobPod" -}}
{{- $v := .ctx.Values -}}
metadata:
  labels:
    {{- include "dsop-bank.selectorLabels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  restartPolicy: Never
  {{- if not .hook }}
  {{- /* A hook runs before the release's ServiceAccount exists: it keeps the namespace's default. */}}
  serviceAccountName: {{ include "dsop-bank.fullname" .ctx }}
  {{- end }}
  automountServiceAccountToken: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets: {{ toYaml . | nindent 4 }}
  {{- end }}
  securityContext: {{ include "dsop-bank.podSecurityContext" .ctx | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "dsop-bank.image" .ctx }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args: {{ toJson .args }}
      env: {{ include "dsop-bank.env" (dict "ctx" .ctx "dbKey" .dbKey) | nindent 8 }}
      securityContext: {{ include "dsop-bank.securityContext" .ctx | nindent 8 }}
      resources: {{ toYaml $v.jobResources | nindent 8 }}
      volumeMounts:
        {{- include "dsop-bank.volumeMounts" .ctx | nindent 8 }}
        {{- with .extraMount }}
        - {{ toJson . }}
        {{- end }}
  volumes:
    {{- include "dsop-bank.volumes" .ctx | nindent 4 }}
    {{- with .extraVolume }}
    - {{ toJson . }}
    {{- end }}
{{- end -}}
