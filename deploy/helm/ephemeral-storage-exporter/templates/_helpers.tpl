{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "ese.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name. */}}
{{- define "ese.fullname" -}}
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

{{- define "ese.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ese.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ese.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ese.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: ephemeral-storage-exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ese.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ese.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ese.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* nodes/proxy is granted only when a setting needs it. */}}
{{- define "ese.needsNodesProxy" -}}
{{- if or (eq .Values.kubelet.mode "apiserver-proxy") .Values.eviction.fromConfigz }}true{{ end }}
{{- end }}

{{/* The agent's arguments, one YAML list item a line. */}}
{{- define "ese.args" -}}
{{- $mode := .Values.kubelet.mode }}
{{- if not (has $mode (list "direct" "apiserver-proxy")) }}
{{- fail (printf "kubelet.mode must be direct or apiserver-proxy, not %q" $mode) }}
{{- end }}
- {{ printf "--web.listen-address=:%d" (int .Values.service.port) | quote }}
- {{ printf "--kubelet.mode=%s" $mode | quote }}
{{- if eq $mode "direct" }}
{{- if .Values.kubelet.insecureSkipTLSVerify }}
- "--kubelet.insecure-skip-tls-verify"
{{- else if .Values.kubelet.caFile }}
- {{ printf "--kubelet.ca-file=%s" .Values.kubelet.caFile | quote }}
{{- end }}
{{- with .Values.kubelet.url }}
- {{ printf "--kubelet.url=%s" . | quote }}
{{- end }}
{{- end }}
{{- with .Values.kubelet.imagefs }}
- {{ printf "--kubelet.imagefs=%s" . | quote }}
{{- end }}
{{- with .Values.kubelet.timeout }}
- {{ printf "--kubelet.timeout=%s" . | quote }}
{{- end }}
{{- with .Values.kubelet.minInterval }}
- {{ printf "--kubelet.min-interval=%s" . | quote }}
{{- end }}
{{- with .Values.eviction.hard }}
- {{ printf "--eviction.hard=%s" . | quote }}
{{- end }}
{{- if .Values.eviction.fromConfigz }}
- "--eviction.from-configz"
{{- end }}
{{- if not .Values.readOnlyHints.enabled }}
- "--no-readonly.hint-events"
{{- end }}
{{- if .Values.events.clusterWatch }}
- "--events.cluster-watch"
{{- end }}
{{- if .Values.logScan.enabled }}
- "--logscan.enabled"
- "--logscan.root=/var/log/pods"
{{- end }}
- {{ printf "--web.probe-address=:%d" (int .Values.probes.port) | quote }}
- {{ printf "--log.level=%s" .Values.log.level | quote }}
- {{ printf "--log.format=%s" .Values.log.format | quote }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Seconds in a Prometheus duration ("1h30m" -> 5400), for the alert overrides: PromQL takes
time-to-limit horizons in seconds.
*/}}
{{- define "ese.durationSeconds" -}}
{{- $s := toString . -}}
{{- if not (regexMatch "^([0-9]+(ms|s|m|h|d|w|y))+$" $s) -}}
{{- fail (printf "prometheusRule.alertOverrides: %q is not a Prometheus duration" $s) -}}
{{- end -}}
{{- $units := dict "ms" 0 "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 "y" 31536000 -}}
{{- $total := 0 -}}
{{- range $m := regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" $s -1 -}}
{{- $total = add $total (mul (regexFind "^[0-9]+" $m | atoi) (get $units (regexReplaceAll "^[0-9]+" $m ""))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}
