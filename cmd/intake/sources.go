package main

import (
	"log/slog"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/config"
	"github.com/intake-dev/intake/internal/source/api"
	"github.com/intake-dev/intake/internal/source/database"
	"github.com/intake-dev/intake/internal/source/file"
	"github.com/intake-dev/intake/internal/source/filings"
)

// newSources builds the registry of every source type, configured by the
// operator. A source the operator has not configured (the file source
// without INTAKE_SOURCE_FILE_ROOT) is still registered, so that a job asking
// for it gets a clear 422 rather than "unknown source_type".
func newSources(cfg *config.Config, logger *slog.Logger) (intake.Sources, error) {
	fileSrc, err := file.New(file.Options{Root: cfg.SourceFileRoot, Logger: logger})
	if err != nil {
		return nil, openError("INTAKE_SOURCE_FILE_ROOT", err)
	}
	secrets := make(map[string]api.Secret, len(cfg.Secrets))
	for name, sec := range cfg.Secrets {
		secrets[name] = api.Secret{Value: sec.Value, Hosts: sec.Hosts}
	}
	apiSrc, err := api.New(api.Options{Allow: cfg.SourceHTTPAllow, Secrets: secrets, Logger: logger})
	if err != nil {
		return nil, openError("INTAKE_SOURCE_HTTP_ALLOW", err)
	}
	dbSrc, err := database.New(database.Options{Connections: cfg.DBConnections, Logger: logger})
	if err != nil {
		_ = apiSrc.Close()
		return nil, openError("INTAKE_SOURCE_DB_<NAME>_URL", err)
	}
	return intake.NewSources(
		filings.New(cfg.FilingsDelay),
		apiSrc,
		dbSrc,
		fileSrc,
	), nil
}
