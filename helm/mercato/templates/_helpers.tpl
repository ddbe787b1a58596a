{{/* Names */}}
{{- define "mercato.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every resource's name. Kept to 30 characters so that a
pod's `<fullname>-<pod>-postgres` stays a valid name. */}}
{{- define "mercato.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 30 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mercato.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "router") */}}
{{- define "mercato.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mercato.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label of one component's resources. */}}
{{- define "mercato.labels" -}}
{{ include "mercato.selectorLabels" . }}
helm.sh/chart: {{ include "mercato.chart" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mercato
{{- end -}}

{{- define "mercato.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "mercato.secretName" -}}
{{- default (printf "%s-secrets" (include "mercato.fullname" .)) .Values.secrets.name -}}
{{- end -}}

{{/* An environment variable from a key of the Secret: (dict "root" $ "name" "X" "key" "k") */}}
{{- define "mercato.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mercato.secretName" .root }}
      key: {{ .key }}
{{- end -}}

{{/* The variables every Mercato process reads besides its own. */}}
{{- define "mercato.commonEnv" -}}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
- name: MERCATO_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- end -}}

{{- define "mercato.prometheusAnnotations" -}}
{{- if .Values.metrics.annotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: "8080"
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* Probes of a Mercato process on its `http` port. readiness: the path. */}}
{{- define "mercato.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: {{ .readiness }}
    port: http
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
{{- end -}}

{{/* Public URL pieces: the port suffix of public URLs (":8443" or ""). */}}
{{- define "mercato.publicPort" -}}
{{- if and .Values.platform.port (ne (int .Values.platform.port) 0) -}}
{{- printf ":%d" (int .Values.platform.port) -}}
{{- end -}}
{{- end -}}

{{- define "mercato.controlPlaneUrl" -}}
{{- printf "http://%s-control-plane:8080" (include "mercato.fullname" .) -}}
{{- end -}}

{{/* A commerce pod's resource name: (dict "root" $ "pod" "pod-1") */}}
{{- define "mercato.podFullname" -}}
{{- printf "%s-%s" (include "mercato.fullname" .root) .pod -}}
{{- end -}}

{{/* A commerce pod's internal URL: what routers, the control plane and the
test gateway call. */}}
{{- define "mercato.podUrl" -}}
{{- printf "http://%s.%s.svc:8080" (include "mercato.podFullname" .) .root.Release.Namespace -}}
{{- end -}}

{{/* A pod's entry with podDefaults filled in, as YAML (read it back with
fromYaml). Key by key with `dig`, so that a pod's `false` or `0` wins over
a default (mergeOverwrite would skip them). */}}
{{- define "mercato.podValues" -}}
{{- $d := .root.Values.podDefaults -}}
{{- $p := .pod -}}
{{- $pg := $d.postgres -}}
{{- $rd := $d.redis -}}
{{- $out := dict
  "name" $p.name
  "replicas" (dig "replicas" $d.replicas $p)
  "capacity" (dig "capacity" $d.capacity $p)
  "region" (dig "region" $d.region $p)
  "config" (dig "config" $d.config $p)
  "resources" (dig "resources" $d.resources $p)
  "nodeSelector" (dig "nodeSelector" $d.nodeSelector $p)
  "tolerations" (dig "tolerations" $d.tolerations $p)
  "affinity" (dig "affinity" $d.affinity $p)
  "postgres" (dict
    "bundled" (dig "postgres" "bundled" $pg.bundled $p)
    "image" (dig "postgres" "image" $pg.image $p)
    "storage" (dict
      "size" (dig "postgres" "storage" "size" $pg.storage.size $p)
      "storageClass" (dig "postgres" "storage" "storageClass" $pg.storage.storageClass $p))
    "resources" (dig "postgres" "resources" $pg.resources $p))
  "redis" (dict
    "bundled" (dig "redis" "bundled" $rd.bundled $p)
    "image" (dig "redis" "image" $rd.image $p)
    "storage" (dict
      "size" (dig "redis" "storage" "size" $rd.storage.size $p)
      "storageClass" (dig "redis" "storage" "storageClass" $rd.storage.storageClass $p))
    "resources" (dig "redis" "resources" $rd.resources $p))
-}}
{{- toYaml $out -}}
{{- end -}}

{{/* Refuses values the processes would refuse later, at render time. */}}
{{- define "mercato.validate" -}}
{{- $names := dict -}}
{{- range .Values.pods -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$" (toString .name)) -}}
{{- fail (printf "pods: %q is not a pod name (1-30 lowercase letters, digits and -)" (toString .name)) -}}
{{- end -}}
{{- if hasKey $names .name -}}
{{- fail (printf "pods: %q is listed twice" .name) -}}
{{- end -}}
{{- $_ := set $names .name true -}}
{{- $p := include "mercato.podValues" (dict "root" $ "pod" .) | fromYaml -}}
{{- if and (gt (int $p.replicas) 1) (eq $.Values.media.store "local") (not $.Values.media.sharedClaim) -}}
{{- fail (printf "pods: %s has %d replicas: with media.store local they need media.sharedClaim (a ReadWriteMany claim), or use media.store s3" .name (int $p.replicas)) -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.media.store (list "local" "s3")) -}}
{{- fail "media.store must be local or s3" -}}
{{- end -}}
{{- end -}}
