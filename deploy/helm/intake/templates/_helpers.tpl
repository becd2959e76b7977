{{/* Names, labels and the shared pieces of every intake pod. */}}

{{- define "intake.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "intake.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "intake.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* intake.labels: every object's labels. */}}
{{- define "intake.labels" -}}
helm.sh/chart: {{ include "intake.chart" . }}
{{ include "intake.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "intake.selectorLabels" -}}
app.kubernetes.io/name: {{ include "intake.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* intake.componentLabels: selector labels of one component, with the colour. Call with (dict "ctx" $ "component" "api"). */}}
{{- define "intake.componentLabels" -}}
{{ include "intake.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- with .ctx.Values.color }}
color: {{ . }}
{{- end }}
{{- end -}}

{{- define "intake.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "intake.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* intake.image: the reference of one intake image, by digest when one is set. Call with (dict "ctx" $ "image" .Values.image.api). */}}
{{- define "intake.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "intake.secretName" -}}
{{- default (include "intake.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
intake.generated: a random value generated once per release and kept across
upgrades: the value already in the named Secret when there is one (lookup
answers only against a cluster), else a new one, memoised for this render.
Call with (dict "ctx" $ "secret" NAME "key" KEY).
*/}}
{{- define "intake.generated" -}}
{{- $memo := printf "generated-%s-%s" .secret .key -}}
{{- if not (hasKey .ctx.Release $memo) -}}
{{- $value := randAlphaNum 32 -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- $value = index $existing.data .key | b64dec -}}
{{- end -}}
{{- $_ := set .ctx.Release $memo $value -}}
{{- end -}}
{{- index .ctx.Release $memo -}}
{{- end -}}

{{- define "intake.mongodbPassword" -}}
{{- default (include "intake.generated" (dict "ctx" . "secret" (printf "%s-mongodb" (include "intake.fullname" .)) "key" "root-password")) .Values.mongodb.rootPassword -}}
{{- end -}}

{{/* intake.databaseURL: the job store URL of the chart-managed Secret. */}}
{{- define "intake.databaseURL" -}}
{{- if .Values.mongodb.enabled -}}
{{- printf "mongodb://%s:%s@%s-mongodb:27017/%s?authSource=admin" .Values.mongodb.rootUser (include "intake.mongodbPassword" . | urlquery) (include "intake.fullname" .) .Values.database.name -}}
{{- else -}}
{{- required "database.url (or secrets.existingSecret) is required when mongodb.enabled is false" .Values.database.url -}}
{{- end -}}
{{- end -}}

{{/* intake.blobURL: the blob storage of the chart-managed Secret. */}}
{{- define "intake.blobURL" -}}
{{- if .Values.secrets.blobURL -}}
{{- .Values.secrets.blobURL -}}
{{- else if .Values.azurite.enabled -}}
{{- /* Azurite's documented, public development account. */ -}}
{{- printf "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://%s-azurite:10000/devstoreaccount1;" (include "intake.fullname" .) -}}
{{- else -}}
{{- fail "secrets.blobURL (or secrets.existingSecret, or azurite.enabled) is required: intake's pods have no writable disk for file blobs" -}}
{{- end -}}
{{- end -}}

{{/*
intake.checksum: rolls pods when the settings they read change. Generated
passwords are stable across upgrades, so the checksum covers the values that
feed the Secret and the ConfigMap, not their rendered bytes.
*/}}
{{- define "intake.checksum" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ toJson (list .Values.secrets .Values.database .Values.redis .Values.mongodb.enabled .Values.azurite.enabled) | sha256sum }}
{{- end -}}

{{/* intake.env: the environment of every intake container. */}}
{{- define "intake.env" -}}
- name: INTAKE_DATABASE_URL_FILE
  value: /etc/intake/secrets/database-url
- name: INTAKE_BLOB_URL_FILE
  value: /etc/intake/secrets/blob-url
- name: INTAKE_API_KEYS_FILE
  value: /etc/intake/secrets/api-keys
{{- if .Values.redis.enabled }}
- name: INTAKE_REDIS_URL_FILE
  value: /etc/intake/secrets/redis-url
{{- end }}
- name: INTAKE_WORKER_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- with .Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "intake.envFrom" -}}
- configMapRef:
    name: {{ include "intake.fullname" . }}
{{- end -}}

{{/* intake.volumes / intake.volumeMounts: the Secret as files, and a writable /tmp. */}}
{{- define "intake.volumes" -}}
- name: secrets
  secret:
    secretName: {{ include "intake.secretName" . }}
    defaultMode: 0440
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "intake.volumeMounts" -}}
- name: secrets
  mountPath: /etc/intake/secrets
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* intake.podSpecCommon: what every intake pod spec shares. */}}
{{- define "intake.podSpecCommon" -}}
serviceAccountName: {{ include "intake.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
intake.trigger: the KEDA trigger that counts exactly the jobs `intake work
--once` can claim. The filter and the query are the ones the stores export
(mongostore.PendingFilter, postgresstore.PendingCountQuery); deploy/helm's tests check
that they match and that they count the claimable jobs on the real servers.
Only the maintenance loop makes a job pending, so both are static.
Call with (dict "ctx" $ "perReplica" N).
*/}}
{{- define "intake.trigger" -}}
{{- if eq .ctx.Values.database.type "mongodb" -}}
- type: mongodb
  metadata:
    dbName: {{ include "intake.databaseName" .ctx | quote }}
    collection: jobs
    query: '{"status":"pending"}'
    queryValue: {{ .perReplica | quote }}
    activationQueryValue: "0"
  authenticationRef:
    name: {{ include "intake.fullname" .ctx }}-store
{{- else if eq .ctx.Values.database.type "postgresql" -}}
- type: postgresql
  metadata:
    query: "SELECT count(*) FROM jobs WHERE status = 'pending'"
    targetQueryValue: {{ .perReplica | quote }}
    activationTargetQueryValue: "0"
  authenticationRef:
    name: {{ include "intake.fullname" .ctx }}-store
{{- else -}}
{{- fail (printf "database.type %q: use mongodb or postgresql" .ctx.Values.database.type) -}}
{{- end -}}
{{- end -}}

{{/* intake.workerContainer: the worker container. Call with (dict "ctx" $ "args" LIST). */}}
{{- define "intake.workerContainer" -}}
- name: worker
  image: {{ include "intake.image" (dict "ctx" .ctx "image" .ctx.Values.image.worker) }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  args: {{ toJson .args }}
  env:
    {{- include "intake.env" .ctx | nindent 4 }}
    {{- if eq .ctx.Values.worker.mode "deployment" }}
    - name: INTAKE_WORKER_CONCURRENCY
      value: {{ .ctx.Values.worker.deployment.concurrency | quote }}
    - name: INTAKE_METRICS_ADDR
      value: 0.0.0.0:9100
    {{- else }}
    - name: INTAKE_METRICS_ADDR
      value: ""
    {{- end }}
  envFrom:
    {{- include "intake.envFrom" .ctx | nindent 4 }}
  {{- if eq .ctx.Values.worker.mode "deployment" }}
  ports:
    - name: metrics
      containerPort: 9100
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /health
      port: metrics
    periodSeconds: 10
    timeoutSeconds: 3
  {{- end }}
  securityContext:
    {{- toYaml .ctx.Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .ctx.Values.worker.resources | nindent 4 }}
  volumeMounts:
    {{- include "intake.volumeMounts" .ctx | nindent 4 }}
{{- end -}}

{{/* intake.storeEgress: egress rules to the job store. Call with (dict "ctx" $ "storePort" N). */}}
{{- define "intake.storeEgress" -}}
{{- if .ctx.Values.mongodb.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "intake.selectorLabels" .ctx | nindent 10 }}
          app.kubernetes.io/component: mongodb
  ports:
    - {port: 27017, protocol: TCP}
{{- else if .ctx.Values.networkPolicy.storeEgress -}}
{{ toYaml .ctx.Values.networkPolicy.storeEgress }}
{{- else -}}
- ports:
    - {port: {{ .storePort }}, protocol: TCP}
{{- end -}}
{{- end -}}

{{/* intake.egress: DNS, the store, blob storage and Redis, for the api and workers. */}}
{{- define "intake.egress" -}}
- to:
    {{- toYaml .ctx.Values.networkPolicy.dnsTo | nindent 4 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{ include "intake.storeEgress" . }}
{{- if .ctx.Values.azurite.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "intake.selectorLabels" .ctx | nindent 10 }}
          app.kubernetes.io/component: azurite
  ports:
    - {port: 10000, protocol: TCP}
{{- else }}
{{- with .ctx.Values.networkPolicy.blobEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- if .ctx.Values.redis.enabled }}
- ports:
    - {port: 6379, protocol: TCP}
{{- end }}
{{- end -}}

{{/*
intake.databaseName: the MongoDB database KEDA counts in: the path of
database.url when it has one (so the two cannot disagree), else
database.name (with secrets.existingSecret the chart cannot see the URL).
*/}}
{{- define "intake.databaseName" -}}
{{- $path := "" -}}
{{- if and .Values.database.url (not .Values.mongodb.enabled) -}}
{{- $path = (urlParse .Values.database.url).path | trimPrefix "/" -}}
{{- end -}}
{{- default .Values.database.name $path -}}
{{- end -}}
