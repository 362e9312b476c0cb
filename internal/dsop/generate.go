// Package dsop holds the data model of the DSOP Control API v2 (Accounts API 2.0.0), generated
// from openapi/dsop-v2.yaml. It is pure data: no HTTP, no storage. The bank data file reuses the
// Transaction schema, so the same types describe what the bank holds and what leaves the server.
package dsop

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen --config=cfg.yaml ../../openapi/dsop-v2.yaml
