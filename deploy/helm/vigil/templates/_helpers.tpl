{{/* The prefix of every resource name. */}}
{{- define "vigil.fullname" -}}
{{- default "vigil" .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource; pass (dict "root" $ "component" "agent"). */}}
{{- define "vigil.labels" -}}
app.kubernetes.io/name: vigil
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component's pods; pass (dict "root" $ "component" "agent"). */}}
{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: vigil
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference: repository:tag, or repository@digest when a digest is set. */}}
{{- define "vigil.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/*
The agent's added capabilities, exactly what the enabled features use (deploy/README.md):
  BPF, PERFMON   the eBPF sensor (load programs and maps, attach to tracepoints)
  SYS_PTRACE     /proc/PID/{exe,cwd,environ,ns/*} of processes of other users
  NET_ADMIN      quarantine: nftables in the pod's network namespace
  SYS_ADMIN      quarantine: setns() into the pod's network namespace
*/}}
{{- define "vigil.agentCapabilities" -}}
{{- $caps := list -}}
{{- if .Values.agent.ebpf.enabled }}{{ $caps = concat $caps (list "BPF" "PERFMON") }}{{ end -}}
{{- $caps = append $caps "SYS_PTRACE" -}}
{{- if .Values.agent.quarantine.enabled }}{{ $caps = concat $caps (list "NET_ADMIN" "SYS_ADMIN") }}{{ end -}}
{{- toJson $caps -}}
{{- end -}}

{{/* The collector's address as agents dial it. */}}
{{- define "vigil.collectorAddress" -}}
{{ include "vigil.fullname" . }}-collector.{{ .Release.Namespace }}.svc:{{ .Values.collector.grpcPort }}
{{- end -}}

{{/* The issuer of the link's certificates (cert-manager). */}}
{{- define "vigil.issuerRef" -}}
{{- if .Values.certManager.createCA -}}
name: {{ include "vigil.fullname" . }}-ca
kind: Issuer
group: cert-manager.io
{{- else -}}
{{- /* `required` lets the default, an empty map, through: ask for the issuer's name itself. */ -}}
{{- $ref := .Values.certManager.issuerRef -}}
{{- if not (and $ref $ref.name) -}}
{{- fail "certManager.issuerRef is required when certManager.createCA is false (name, kind, group)" -}}
{{- end -}}
{{ toYaml $ref }}
{{- end -}}
{{- end -}}
