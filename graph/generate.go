// Package graph holds kefuhub's GraphQL schema (*.graphqls, one file per area)
// and the executor gqlgen generates from it. Nothing here is hand-written but
// the schema and this file.
package graph

//go:generate go -C .. tool gqlgen generate
