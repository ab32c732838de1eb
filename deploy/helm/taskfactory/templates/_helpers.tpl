{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "taskfactory.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name of every object. */}}
{{- define "taskfactory.fullname" -}}
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

{{/* Labels on every object. */}}
{{- define "taskfactory.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "taskfactory.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskfactory
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of every object of the release. */}}
{{- define "taskfactory.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskfactory.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Object name of a component: <fullname>-<component>. */}}
{{- define "taskfactory.componentName" -}}
{{- printf "%s-%s" (include "taskfactory.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component. */}}
{{- define "taskfactory.componentSelectorLabels" -}}
{{ include "taskfactory.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Labels of one component's objects. */}}
{{- define "taskfactory.componentLabels" -}}
{{ include "taskfactory.labels" .root }}
app.kubernetes.io/component: {{ .name }}
taskfactory.io/service: {{ .c.service }}
{{- end -}}

{{/* The image reference: repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "taskfactory.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount the pods run as. */}}
{{- define "taskfactory.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "taskfactory.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the ConfigMap holding the shared, non-secret settings. */}}
{{- define "taskfactory.configName" -}}
{{- printf "%s-config" (include "taskfactory.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the definitions ConfigMap: the existing one, or the chart's. */}}
{{- define "taskfactory.definitionsName" -}}
{{- if .Values.definitions.existingConfigMap -}}
{{- .Values.definitions.existingConfigMap -}}
{{- else -}}
{{- printf "%s-definitions" (include "taskfactory.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The ingress's replica ceiling: never more consumers than the events topic has partitions. */}}
{{- define "taskfactory.ingressMaxReplicas" -}}
{{- min (int .c.autoscaling.maxReplicas) (int .root.Values.topics.partitions) -}}
{{- end -}}

{{/* The shared settings every service reads, as TASKFACTORY_* variables (non-secret only). */}}
{{- define "taskfactory.configData" -}}
{{- $v := .Values -}}
TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required: the host:port list of your Kafka brokers" $v.kafka.bootstrapServers | quote }}
TASKFACTORY_KAFKA__CLIENT_ID: {{ $v.kafka.clientId | quote }}
TASKFACTORY_KAFKA__SECURITY_PROTOCOL: {{ include "taskfactory.kafkaSecurityProtocol" . | quote }}
TASKFACTORY_KAFKA__REQUEST_TIMEOUT_MS: {{ $v.kafka.requestTimeoutMs | quote }}
{{- if $v.kafka.sasl.enabled }}
TASKFACTORY_KAFKA__SASL_MECHANISM: {{ $v.kafka.sasl.mechanism | quote }}
{{- if eq $v.kafka.sasl.mechanism "OAUTHBEARER" }}
{{- $o := $v.kafka.sasl.oauth }}
{{- with $o.tokenUrl }}
TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_URL: {{ . | quote }}
TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_ID: {{ required "kafka.sasl.oauth.clientId is required with kafka.sasl.oauth.tokenUrl" $o.clientId | quote }}
{{- end }}
{{- with $o.scope }}
TASKFACTORY_KAFKA__SASL_OAUTH_SCOPE: {{ . | quote }}
{{- end }}
{{- with $o.tokenProvider }}
TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_PROVIDER: {{ . | quote }}
{{- end }}
{{- if $o.projectedTokenAudience }}
TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_FILE: "/var/run/secrets/taskfactory/kafka-token/token"
{{- else if $o.tokenFile }}
TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_FILE: {{ $o.tokenFile | quote }}
{{- else if not (or $o.tokenUrl $o.tokenProvider) }}
{{- fail "kafka.sasl.mechanism OAUTHBEARER needs kafka.sasl.oauth.tokenUrl (with clientId and clientSecretSecret), projectedTokenAudience, tokenFile or tokenProvider" }}
{{- end }}
{{- end }}
{{- end }}
TASKFACTORY_TEMPORAL__ADDRESS: {{ required "temporal.address is required: the host:port of your Temporal frontend" $v.temporal.address | quote }}
TASKFACTORY_TEMPORAL__NAMESPACE: {{ $v.temporal.namespace | quote }}
TASKFACTORY_TEMPORAL__TLS: {{ ternary "true" "false" (or $v.temporal.tls.enabled (not (empty $v.temporal.apiKey.existingSecret))) | quote }}
TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE: {{ $v.temporal.orchestratorTaskQueue | quote }}
TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE: {{ $v.temporal.executorTaskQueue | quote }}
{{- if and $v.temporal.encryption.existingSecret $v.temporal.encryption.keyId }}
TASKFACTORY_TEMPORAL__ENCRYPTION_KEY_ID: {{ $v.temporal.encryption.keyId | quote }}
{{- end }}
TASKFACTORY_TOPICS__EVENTS: {{ $v.topics.events | quote }}
TASKFACTORY_TOPICS__RESULTS: {{ $v.topics.results | quote }}
TASKFACTORY_TOPICS__RUNS: {{ $v.topics.runs | quote }}
TASKFACTORY_TOPICS__DEAD_LETTER: {{ $v.topics.deadLetter | quote }}
TASKFACTORY_TOPICS__PARTITIONS: {{ $v.topics.partitions | quote }}
TASKFACTORY_TOPICS__REPLICATION_FACTOR: {{ $v.topics.replicationFactor | quote }}
TASKFACTORY_LOGGING__LEVEL: {{ $v.logging.level | quote }}
TASKFACTORY_LOGGING__FORMAT: {{ $v.logging.format | quote }}
{{- if $v.tracing.otlpEndpoint }}
TASKFACTORY_TRACING__OTLP_ENDPOINT: {{ $v.tracing.otlpEndpoint | quote }}
{{- end }}
TASKFACTORY_TRACING__SAMPLE_RATIO: {{ $v.tracing.sampleRatio | quote }}
TASKFACTORY_HTTP__HOST: "0.0.0.0"
TASKFACTORY_HTTP__PORT: {{ $v.http.port | quote }}
TASKFACTORY_DEFINITIONS_DIR: {{ $v.definitions.mountPath | quote }}
TASKFACTORY_DRAIN_SECONDS: {{ $v.drainSeconds | quote }}
{{- end -}}

{{/*
A component's Kafka values, (list root name own): its own credentials (components.<name>.kafka:
a SASL user Secret, an OAuth client, a client certificate) deep-merged over kafka.*, so each
component can be its own principal for the brokers' ACLs. Mechanism, TLS and the token
endpoint stay shared: the schema allows only credentials per component.
*/}}
{{- define "taskfactory.componentKafka" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $own := index . 2 | default dict -}}
{{- $k := $root.Values.kafka -}}
{{- if and (dig "sasl" dict $own) (not $k.sasl.enabled) }}
{{- fail (printf "components.%s.kafka.sasl needs kafka.sasl.enabled: a component's own SASL credentials replace the shared ones" $name) }}
{{- end }}
{{- if and (dig "tls" dict $own) (not $k.tls.enabled) }}
{{- fail (printf "components.%s.kafka.tls needs kafka.tls.enabled: a component's own client certificate replaces the shared one" $name) }}
{{- end }}
{{- include "taskfactory.deepMerge" (list $k $own) -}}
{{- end -}}

{{/* PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, from kafka.sasl.enabled and kafka.tls.enabled. */}}
{{- define "taskfactory.kafkaSecurityProtocol" -}}
{{- $v := .Values.kafka -}}
{{- if and $v.sasl.enabled $v.tls.enabled -}}SASL_SSL
{{- else if $v.sasl.enabled -}}SASL_PLAINTEXT
{{- else if $v.tls.enabled -}}SSL
{{- else -}}PLAINTEXT
{{- end -}}
{{- end -}}

{{/*
Secret-backed environment: every secret value is a secretKeyRef to a Secret the operator
created; the chart never renders a secret value.
*/}}
{{- define "taskfactory.secretEnv" -}}
{{- $k := .Values.kafka -}}
{{- $t := .Values.temporal -}}
{{- if and $k.sasl.enabled (ne $k.sasl.mechanism "OAUTHBEARER") }}
{{- $secret := required "kafka.sasl.existingSecret is required when kafka.sasl.enabled: the Secret holding the SASL user name and password" $k.sasl.existingSecret }}
- name: TASKFACTORY_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $k.sasl.usernameKey }}
# The password is a file of the Secret volume: re-read at each connect, never in the env.
- name: TASKFACTORY_KAFKA__SASL_PASSWORD_FILE
  value: /etc/taskfactory/kafka-sasl/{{ $k.sasl.passwordKey }}
{{- end }}
{{- if and $k.sasl.enabled (eq $k.sasl.mechanism "OAUTHBEARER") $k.sasl.oauth.tokenUrl }}
{{- $_ := required "kafka.sasl.oauth.clientSecretSecret is required with kafka.sasl.oauth.tokenUrl: the Secret holding the client secret" $k.sasl.oauth.clientSecretSecret }}
# The client id beside its secret: a component's own (components.<name>.kafka) wins over the ConfigMap's.
- name: TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_ID
  value: {{ $k.sasl.oauth.clientId | quote }}
- name: TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET_FILE
  value: /etc/taskfactory/kafka-oauth/{{ $k.sasl.oauth.clientSecretKey }}
{{- end }}
{{- if and $k.tls.enabled $k.tls.existingSecret }}
{{- if $k.tls.caKey }}
- name: TASKFACTORY_KAFKA__SSL_CAFILE
  value: /etc/taskfactory/kafka-tls/{{ $k.tls.caKey }}
{{- end }}
{{- if $k.tls.certKey }}
- name: TASKFACTORY_KAFKA__SSL_CERTFILE
  value: /etc/taskfactory/kafka-tls/{{ $k.tls.certKey }}
- name: TASKFACTORY_KAFKA__SSL_KEYFILE
  value: /etc/taskfactory/kafka-tls/{{ $k.tls.keyKey }}
{{- end }}
{{- end }}
{{- if $t.apiKey.existingSecret }}
- name: TASKFACTORY_TEMPORAL__API_KEY_FILE
  value: /etc/taskfactory/temporal-api-key/{{ $t.apiKey.key }}
{{- end }}
{{- if $t.encryption.existingSecret }}
- name: TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE
  value: /etc/taskfactory/temporal-encryption/{{ $t.encryption.key }}
{{- end }}
{{- if and $t.tls.enabled $t.tls.existingSecret }}
{{- if $t.tls.caKey }}
- name: TASKFACTORY_TEMPORAL__TLS_SERVER_CA
  value: /etc/taskfactory/temporal-tls/{{ $t.tls.caKey }}
{{- end }}
{{- if $t.tls.certKey }}
- name: TASKFACTORY_TEMPORAL__TLS_CLIENT_CERT
  value: /etc/taskfactory/temporal-tls/{{ $t.tls.certKey }}
- name: TASKFACTORY_TEMPORAL__TLS_CLIENT_KEY
  value: /etc/taskfactory/temporal-tls/{{ $t.tls.keyKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secrets mounted as files (volume name -> Secret name): SASL password, OAuth client secret, Temporal API key, encryption keyring. */}}
{{- define "taskfactory.secretVolumes" -}}
{{- $k := .Values.kafka -}}
{{- $t := .Values.temporal -}}
{{- if and $k.sasl.enabled (ne $k.sasl.mechanism "OAUTHBEARER") $k.sasl.existingSecret }}
kafka-sasl: {{ $k.sasl.existingSecret }}
{{- end }}
{{- if and $k.sasl.enabled (eq $k.sasl.mechanism "OAUTHBEARER") $k.sasl.oauth.tokenUrl $k.sasl.oauth.clientSecretSecret }}
kafka-oauth: {{ $k.sasl.oauth.clientSecretSecret }}
{{- end }}
{{- if $t.apiKey.existingSecret }}
temporal-api-key: {{ $t.apiKey.existingSecret }}
{{- end }}
{{- if $t.encryption.existingSecret }}
temporal-encryption: {{ $t.encryption.existingSecret }}
{{- end }}
{{- end -}}

{{/* Secret volumes from a map (volume name -> Secret name), files readable by the pod's group only. */}}
{{- define "taskfactory.secretFileVolumes" -}}
{{- range $name, $secret := . }}
- name: {{ $name }}
  secret:
    secretName: {{ $secret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Their mounts: read-only at /etc/taskfactory/<volume name>. */}}
{{- define "taskfactory.secretFileMounts" -}}
{{- range $name, $_ := . }}
- name: {{ $name }}
  mountPath: /etc/taskfactory/{{ $name }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes every taskfactory pod mounts: /tmp, definitions, TLS material from Secrets. */}}
{{- define "taskfactory.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: definitions
  configMap:
    name: {{ include "taskfactory.definitionsName" . }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- include "taskfactory.secretFileVolumes" (include "taskfactory.secretVolumes" . | fromYaml) }}
{{- $o := .Values.kafka.sasl.oauth }}
{{- if and .Values.kafka.sasl.enabled (eq .Values.kafka.sasl.mechanism "OAUTHBEARER") $o.projectedTokenAudience }}
- name: kafka-token
  projected:
    defaultMode: 0440
    sources:
      - serviceAccountToken:
          audience: {{ $o.projectedTokenAudience | quote }}
          expirationSeconds: {{ int $o.projectedTokenExpirationSeconds }}
          path: token
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "taskfactory.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
# A directory mount (no subPath), so the kubelet swaps in edited definitions without a restart.
- name: definitions
  mountPath: {{ .Values.definitions.mountPath }}
  readOnly: true
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/taskfactory/kafka-tls
  readOnly: true
{{- end }}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/taskfactory/temporal-tls
  readOnly: true
{{- end }}
{{- include "taskfactory.secretFileMounts" (include "taskfactory.secretVolumes" . | fromYaml) }}
{{- $o := .Values.kafka.sasl.oauth }}
{{- if and .Values.kafka.sasl.enabled (eq .Values.kafka.sasl.mechanism "OAUTHBEARER") $o.projectedTokenAudience }}
- name: kafka-token
  mountPath: /var/run/secrets/taskfactory/kafka-token
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* checksum/* pod annotations: a changed setting or definition rolls the pods. */}}
{{- define "taskfactory.checksums" -}}
checksum/config: {{ include "taskfactory.configData" . | sha256sum }}
{{- if and .Values.definitions.rolloutOnChange (not .Values.definitions.existingConfigMap) }}
checksum/definitions: {{ toYaml .Values.definitions.files | sha256sum }}
{{- end }}
{{- end -}}

{{/*
Deep merge of two maps, (list base override): maps merge key by key, anything else in the
override wins, including false and 0 (which sprig's mergeOverwrite would ignore).
*/}}
{{- define "taskfactory.deepMerge" -}}
{{- $base := deepCopy (index . 0) -}}
{{- range $k, $v := index . 1 -}}
{{- if and (kindIs "map" $v) (kindIs "map" (index $base $k)) -}}
{{- $_ := set $base $k (include "taskfactory.deepMerge" (list (index $base $k) $v) | fromYaml) -}}
{{- else -}}
{{- $_ := set $base $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $base -}}
{{- end -}}

{{/* A scalar as an environment value: whole numbers without an exponent, booleans lower-case. */}}
{{- define "taskfactory.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/*
Every enabled component as a list of contexts: {root, name, c}, where c is the component's
entry deep-merged over componentDefaults and c.service names the program it runs.
*/}}
{{- define "taskfactory.components" -}}
{{- $out := list -}}
{{- range $name, $values := .Values.components -}}
{{- if $values.enabled -}}
{{- $c := include "taskfactory.deepMerge" (list $.Values.componentDefaults $values) | fromYaml -}}
{{- $_ := set $c "service" (default $name $values.service) -}}
{{- $out = append $out (dict "name" $name "c" $c) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "items" $out) -}}
{{- end -}}

{{/* Environment of every taskfactory container: Secret references and extraEnv. */}}
{{- define "taskfactory.sharedEnv" -}}
{{ include "taskfactory.secretEnv" . }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A component's environment: its section settings (TASKFACTORY_<SERVICE>__<KEY>), the admin API's (orchestrators), the shared env, its extraEnv. */}}
{{- define "taskfactory.componentEnv" -}}
{{- $section := upper (replace "-" "_" .c.service) -}}
{{- range $key, $value := .c.settings }}
- name: {{ printf "TASKFACTORY_%s__%s" $section (upper $key) }}
  value: {{ include "taskfactory.envValue" $value | quote }}
{{- end }}
{{- if include "taskfactory.servesAdmin" . }}
{{ include "taskfactory.adminEnv" .root }}
{{- end }}
{{- if include "taskfactory.readsEgress" . }}
{{ include "taskfactory.egressEnv" . }}
{{- end }}
{{ include "taskfactory.sharedEnv" .root }}
{{- with .c.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* "true" when this component ({root, name, c}) serves the admin API: an orchestrator, with admin.enabled. */}}
{{- define "taskfactory.servesAdmin" -}}
{{- if and .root.Values.admin.enabled (eq .c.service "orchestrator") -}}true{{- end -}}
{{- end -}}

{{/* The admin API's token Secrets, mounted as files (volume name -> Secret name). */}}
{{- define "taskfactory.adminSecretVolumes" -}}
{{- with .Values.admin.tokenSecret.existingSecret }}
admin-token: {{ . }}
{{- end }}
{{- with .Values.admin.readTokenSecret.existingSecret }}
admin-read-token: {{ . }}
{{- end }}
{{- range $i, $p := .Values.admin.principals }}
admin-principal-{{ $i }}: {{ $p.tokenSecret.existingSecret }}
{{- end }}
{{- end -}}

{{/*
The admin API's environment. It binds 0.0.0.0 so the Service and port-forward reach it; every
route needs a bearer token, and the tokens are files of Secret volumes, never env values.
*/}}
{{- define "taskfactory.adminEnv" -}}
{{- $a := .Values.admin -}}
{{- if not (or $a.tokenSecret.existingSecret $a.readTokenSecret.existingSecret $a.principals) }}
{{- fail "admin.tokenSecret.existingSecret is required when admin.enabled: the Secret holding the admin API's bearer token (or admin.readTokenSecret.existingSecret for a read-only API, or admin.principals); without a token the API refuses every request" }}
{{- end }}
{{- if eq (int $a.port) (int .Values.http.port) }}
{{- fail (printf "admin.port must differ from http.port (both %d): the admin API and /metrics are separate servers" (int $a.port)) }}
{{- end -}}
- name: TASKFACTORY_ADMIN__ENABLED
  value: "true"
- name: TASKFACTORY_ADMIN__HOST
  value: "0.0.0.0"
- name: TASKFACTORY_ADMIN__PORT
  value: {{ include "taskfactory.envValue" $a.port | quote }}
- name: TASKFACTORY_ADMIN__MAX_REQUEST_BYTES
  value: {{ include "taskfactory.envValue" $a.maxRequestBytes | quote }}
{{- if $a.tokenSecret.existingSecret }}
- name: TASKFACTORY_ADMIN__ADMIN_TOKEN_FILE
  value: /etc/taskfactory/admin-token/{{ $a.tokenSecret.key }}
{{- end }}
{{- if $a.readTokenSecret.existingSecret }}
- name: TASKFACTORY_ADMIN__READ_TOKEN_FILE
  value: /etc/taskfactory/admin-read-token/{{ $a.readTokenSecret.key }}
{{- end }}
{{- with $a.principals }}
{{- $principals := list }}
{{- range $i, $p := . }}
{{- $file := printf "/etc/taskfactory/admin-principal-%d/%s" $i ($p.tokenSecret.key | default "token") }}
{{- $principals = append $principals (dict "name" $p.name "scope" ($p.scope | default "read") "groups" ($p.groups | default list) "token_file" $file) }}
{{- end }}
- name: TASKFACTORY_ADMIN__PRINCIPALS
  value: {{ toJson $principals | quote }}
{{- end }}
{{- end -}}

{{/* The distinct ports of kafka.bootstrapServers (host:port, comma-separated), as a YAML list. */}}
{{- define "taskfactory.kafkaPorts" -}}
{{- $ports := list -}}
{{- range splitList "," .Values.kafka.bootstrapServers -}}
{{- $ports = append $ports (include "taskfactory.addressPort" (list (trim .) 9092) | int) -}}
{{- end -}}
{{- toYaml ($ports | uniq) -}}
{{- end -}}

{{/* The port of a host:port address (list address default). */}}
{{- define "taskfactory.addressPort" -}}
{{- $address := index . 0 -}}
{{- if regexMatch ":[0-9]+$" $address -}}
{{- regexFind "[0-9]+$" $address -}}
{{- else -}}
{{- index . 1 -}}
{{- end -}}
{{- end -}}

{{/* "true" when this component ({root, name, c}) reads the task egress policy: executors and orchestrators. */}}
{{- define "taskfactory.readsEgress" -}}
{{- if has .c.service (list "executor" "orchestrator") -}}true{{- end -}}
{{- end -}}

{{/*
NetworkPolicy peers of an egress allow-list (componentDefaults.egress): every CIDR of
allowedHosts and allowedNetworks; and, when allowedHosts is empty or names a host (a
NetworkPolicy cannot match names), every public address, as the executor's own check allows.
*/}}
{{- define "taskfactory.taskPeers" -}}
{{- $cidr := "^[0-9a-fA-F:.]+/[0-9]+$" -}}
{{- $named := not .allowedHosts -}}
{{- range .allowedHosts -}}
{{- if regexMatch $cidr . }}
- ipBlock:
    cidr: {{ . }}
{{- else -}}
{{- $named = true -}}
{{- end -}}
{{- end -}}
{{- range .allowedNetworks }}
- ipBlock:
    cidr: {{ . }}
{{- end -}}
{{- if $named }}
- ipBlock:
    cidr: 0.0.0.0/0
    except: [0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/4]
- ipBlock:
    cidr: ::/0
    except: ["::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"]
{{- end -}}
{{- end -}}

{{/* A component's TASKFACTORY_EGRESS__* variables (executors and orchestrators), from its egress values. */}}
{{- define "taskfactory.egressEnv" -}}
{{- $e := .c.egress -}}
- name: TASKFACTORY_EGRESS__ALLOWED_SCHEMES
  value: {{ join "," $e.allowedSchemes | quote }}
- name: TASKFACTORY_EGRESS__ALLOWED_HOSTS
  value: {{ join "," $e.allowedHosts | quote }}
- name: TASKFACTORY_EGRESS__ALLOWED_NETWORKS
  value: {{ join "," $e.allowedNetworks | quote }}
- name: TASKFACTORY_EGRESS__REDIRECTS
  value: {{ $e.redirects | quote }}
{{- range $key, $name := dict "maxRedirects" "MAX_REDIRECTS" "maxResponseBytes" "MAX_RESPONSE_BYTES" "maxTimeoutSeconds" "MAX_TIMEOUT_SECONDS" }}
{{- $value := index $e $key }}
{{- if not (kindIs "invalid" $value) }}
- name: TASKFACTORY_EGRESS__{{ $name }}
  value: {{ include "taskfactory.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- end -}}
