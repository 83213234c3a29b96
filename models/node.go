package models

// Node is implemented by every object that has a global ID (Relay's Node).
type Node interface {
	IsNode()
	GlobalID() string
}

func (*Tenant) IsNode()       {}
func (*User) IsNode()         {}
func (*Team) IsNode()         {}
func (*APIToken) IsNode()     {}
func (*Customer) IsNode()     {}
func (*Identity) IsNode()     {}
func (*Channel) IsNode()      {}
func (*Conversation) IsNode() {}
func (*Message) IsNode()      {}
func (*Ticket) IsNode()       {}
func (*AuditEvent) IsNode()   {}
func (*RawEvent) IsNode()     {}
func (*Target) IsNode()       {}
func (*DispatchRule) IsNode() {}
func (*Delivery) IsNode()     {}
