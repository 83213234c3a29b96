// Package resolvers maps GraphQL operations onto the hub. Resolvers are thin:
// they decode arguments, call the hub and shape its answer; authorization,
// business rules and SQL live in the hub and the store.
package resolvers

import "github.com/kefuhub/kefuhub/hub"

// Resolver holds the dependencies every resolver shares.
type Resolver struct {
	Hub *hub.Hub
}
