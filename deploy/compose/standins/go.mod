// Test stand-ins for official images that have no Debian package: a
// Grafana that answers the health and provisioning endpoints, and the
// mongosh ping the mongo healthcheck runs. A module of its own so that
// nothing in intake's build depends on them. Never for production.
module github.com/intake-dev/intake/deploy/compose/standins

go 1.26

require (
	go.mongodb.org/mongo-driver/v2 v2.10.0
	go.yaml.in/yaml/v4 v4.0.0-rc.4
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/xdg-go/scram v1.4.0 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
	github.com/youmark/pkcs8 v0.0.0-20240726163527-a2c0da244d78 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
