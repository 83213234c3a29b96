package models

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Global IDs are opaque to clients (Relay's object identification): the
// base64url of "Type:id". Clients must not build them; they only echo them.

// ErrBadGlobalID is returned for IDs that do not decode to a known type and id.
var ErrBadGlobalID = errors.New("invalid global id")

// EncodeID builds the global ID of the object of the given GraphQL type.
func EncodeID(typ string, id uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + strconv.FormatUint(id, 10)))
}

// DecodeID splits a global ID into its type name and database id.
func DecodeID(gid string) (typ string, id uint64, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(gid)
	if err != nil {
		return "", 0, ErrBadGlobalID
	}
	typ, num, ok := strings.Cut(string(raw), ":")
	if !ok || typ == "" {
		return "", 0, ErrBadGlobalID
	}
	id, err = strconv.ParseUint(num, 10, 64)
	if err != nil || id == 0 {
		return "", 0, ErrBadGlobalID
	}
	return typ, id, nil
}

// DecodeIDOf decodes gid and checks that it names an object of type typ.
func DecodeIDOf(typ, gid string) (uint64, error) {
	t, id, err := DecodeID(gid)
	if err != nil || t != typ {
		return 0, ErrBadGlobalID
	}
	return id, nil
}

// Type names used in global IDs; they equal the GraphQL type names.
const (
	TypeTenant       = "Tenant"
	TypeUser         = "User"
	TypeTeam         = "Team"
	TypeAPIToken     = "ApiToken"
	TypeCustomer     = "Customer"
	TypeIdentity     = "Identity"
	TypeChannel      = "Channel"
	TypeConversation = "Conversation"
	TypeMessage      = "Message"
	TypeTicket       = "Ticket"
	TypeAuditEvent   = "AuditEvent"
	TypeRawEvent     = "RawEvent"
	TypeTarget       = "Target"
	TypeDispatchRule = "DispatchRule"
	TypeDelivery     = "Delivery"
)
