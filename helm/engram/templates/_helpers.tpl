{{- define "engram.labels" -}}
app.kubernetes.io/name: engram-injector
app.kubernetes.io/part-of: engram
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "engram.name" -}}
{{ .Release.Name }}-injector
{{- end }}
