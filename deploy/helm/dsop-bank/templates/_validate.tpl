{{/*
The rules a release must meet before anything is rendered, each failing with the value to fix.
Secrets are referenced by name only, so "fail closed" means: production renders nothing until
every Secret it needs is named, every listener has TLS and every address is https. The server
then checks the Secrets' content at start (a placeholder or short secret stops it,
internal/config).
*/}}
{{- define "dsop-bank.validate" -}}
{{- $v := .Values -}}
{{- $prod := eq $v.env "production" -}}
{{- if not $v.secrets.database.name -}}
{{- fail "secrets.database.name: name the Secret with the PostgreSQL URLs (serving-url, owner-url, import-url; deploy/postgres/roles.sql makes the roles): the replicas share one database" -}}
{{- end -}}
{{- if not $v.secrets.server.name -}}
{{- fail "secrets.server.name: name the Secret with the server secret, the same for every replica (kubectl create secret generic dsop-bank-secret --from-file=secret=./secret, 32 or more random bytes)" -}}
{{- end -}}
{{- if $prod -}}
{{- if not $v.secrets.tls.name -}}
{{- fail "secrets.tls.name: required in production: a kubernetes.io/tls Secret for the API, admin and console listeners (kubectl create secret tls dsop-bank-tls --cert=… --key=…)" -}}
{{- end -}}
{{- if not (hasPrefix "https://" (toString $v.settings.DSOP_BASE_URL)) -}}
{{- fail "settings.DSOP_BASE_URL: required in production: the https base URL registered in the API catalogue, e.g. https://api.bank.no/dsop/v2" -}}
{{- end -}}
{{- if and $v.settings.DSOP_KONKURSVARSEL_URL (not $v.secrets.konkursvarsel.name) -}}
{{- fail "secrets.konkursvarsel.name: DSOP_KONKURSVARSEL_URL is set: name the kubernetes.io/tls Secret with the bank's enterprise certificate for Konkursvarsel" -}}
{{- end -}}
{{- if $v.console.enabled -}}
{{- if not (hasPrefix "https://" $v.console.url) -}}
{{- fail "console.url: required in production with console.enabled: the https address browsers reach the console at (its session cookie is Secure only on https)" -}}
{{- end -}}
{{- if not (hasPrefix "https://" $v.console.oidcIssuer) -}}
{{- fail "console.oidcIssuer: required in production with console.enabled: the https issuer of the bank's OpenID Connect sign-on" -}}
{{- end -}}
{{- if not $v.console.oidcClientID -}}
{{- fail "console.oidcClientID: required in production with console.enabled: the console's client id at the bank's identity provider" -}}
{{- end -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.api) -}}
{{- fail "networkPolicy.api: name the peers allowed to the API (the bank's API gateway), or set networkPolicy.enabled=false: a port with no peers is closed" -}}
{{- end -}}
{{- end -}}
{{- if and $v.importJob.enabled (not $v.importJob.volume) -}}
{{- fail "importJob.volume: name the volume holding the bank data file (e.g. persistentVolumeClaim: {claimName: bank-data})" -}}
{{- end -}}
{{- end -}}
