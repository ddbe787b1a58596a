{{/* A bundled Postgres: a headless Service and a one-replica StatefulSet
with a volume. (dict "root" $ "name" "x-postgres" "component" "pod-postgres"
"pod" "pod-1" or "" "values" .postgres "passwordKey" "pod-1-postgres-password"
"settings" (list "wal_level=logical" ...)) */}}
{{- define "mercato.postgres" -}}
{{- $root := .root -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  labels:
    {{- include "mercato.labels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- if .pod }}
    mercato.dev/pod: {{ .pod }}
    {{- end }}
spec:
  clusterIP: None
  selector:
    {{- include "mercato.selectorLabels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- if .pod }}
    mercato.dev/pod: {{ .pod }}
    {{- end }}
  ports:
    - name: postgres
      port: 5432
      targetPort: postgres
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .name }}
  labels:
    {{- include "mercato.labels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- if .pod }}
    mercato.dev/pod: {{ .pod }}
    {{- end }}
spec:
  serviceName: {{ .name }}
  replicas: 1
  selector:
    matchLabels:
      {{- include "mercato.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
      {{- if .pod }}
      mercato.dev/pod: {{ .pod }}
      {{- end }}
  template:
    metadata:
      labels:
        {{- include "mercato.labels" (dict "root" $root "component" .component) | nindent 8 }}
        {{- if .pod }}
        mercato.dev/pod: {{ .pod }}
        {{- end }}
    spec:
      enableServiceLinks: false
      automountServiceAccountToken: false
      securityContext:
        # The postgres user of the official image.
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        fsGroup: 999
        seccompProfile:
          type: RuntimeDefault
      terminationGracePeriodSeconds: 60
      containers:
        - name: postgres
          image: {{ .values.image }}
          imagePullPolicy: IfNotPresent
          args:
            {{- range .settings }}
            - -c
            - {{ . | quote }}
            {{- end }}
          ports:
            - name: postgres
              containerPort: 5432
          env:
            - name: POSTGRES_USER
              value: mercato
            - name: POSTGRES_DB
              value: mercato
            - name: PGDATA
              value: /var/lib/postgresql/data/pgdata
            {{- include "mercato.secretEnv" (dict "root" $root "name" "POSTGRES_PASSWORD" "key" .passwordKey) | nindent 12 }}
          livenessProbe:
            exec:
              command: ["pg_isready", "-U", "mercato", "-d", "mercato", "-h", "127.0.0.1"]
            initialDelaySeconds: 30
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 6
          readinessProbe:
            exec:
              command: ["pg_isready", "-U", "mercato", "-d", "mercato", "-h", "127.0.0.1"]
            periodSeconds: 5
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: data
              mountPath: /var/lib/postgresql/data
            - name: run
              mountPath: /var/run/postgresql
      volumes:
        - name: run
          emptyDir: {}
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        {{- with .values.storage.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .values.storage.size }}
{{- end -}}

{{/* A bundled Redis with a password and an append-only file: a headless
Service and a one-replica StatefulSet. (dict "root" $ "name" "x-redis"
"pod" "pod-1" "values" .redis "passwordKey" "pod-1-redis-password") */}}
{{- define "mercato.redis" -}}
{{- $root := .root -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  labels:
    {{- include "mercato.labels" (dict "root" $root "component" "pod-redis") | nindent 4 }}
    mercato.dev/pod: {{ .pod }}
spec:
  clusterIP: None
  selector:
    {{- include "mercato.selectorLabels" (dict "root" $root "component" "pod-redis") | nindent 4 }}
    mercato.dev/pod: {{ .pod }}
  ports:
    - name: redis
      port: 6379
      targetPort: redis
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .name }}
  labels:
    {{- include "mercato.labels" (dict "root" $root "component" "pod-redis") | nindent 4 }}
    mercato.dev/pod: {{ .pod }}
spec:
  serviceName: {{ .name }}
  replicas: 1
  selector:
    matchLabels:
      {{- include "mercato.selectorLabels" (dict "root" $root "component" "pod-redis") | nindent 6 }}
      mercato.dev/pod: {{ .pod }}
  template:
    metadata:
      labels:
        {{- include "mercato.labels" (dict "root" $root "component" "pod-redis") | nindent 8 }}
        mercato.dev/pod: {{ .pod }}
    spec:
      enableServiceLinks: false
      automountServiceAccountToken: false
      securityContext:
        # The redis user of the official image.
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        fsGroup: 999
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: redis
          image: {{ .values.image }}
          imagePullPolicy: IfNotPresent
          args:
            - redis-server
            - --requirepass
            - $(REDIS_PASSWORD)
            - --appendonly
            - "yes"
            - --dir
            - /data
          ports:
            - name: redis
              containerPort: 6379
          env:
            {{- include "mercato.secretEnv" (dict "root" $root "name" "REDIS_PASSWORD" "key" .passwordKey) | nindent 12 }}
            # redis-cli reads it, so the probes need no -a.
            - name: REDISCLI_AUTH
              value: $(REDIS_PASSWORD)
          livenessProbe:
            exec:
              command: ["redis-cli", "ping"]
            initialDelaySeconds: 10
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 6
          readinessProbe:
            exec:
              command: ["redis-cli", "ping"]
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: data
              mountPath: /data
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        {{- with .values.storage.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .values.storage.size }}
{{- end -}}
