package models

import (
	"strings"
	"testing"
)

func TestTicketTransitions(t *testing.T) {
	allowed := map[TicketStatus][]TicketStatus{
		TicketNew:      {TicketOpen, TicketPending, TicketResolved, TicketClosed},
		TicketOpen:     {TicketPending, TicketResolved, TicketClosed},
		TicketPending:  {TicketOpen, TicketResolved, TicketClosed},
		TicketResolved: {TicketOpen, TicketClosed},
		TicketClosed:   {},
	}
	for _, from := range AllTicketStatuses {
		for _, to := range AllTicketStatuses {
			want := false
			for _, a := range allowed[from] {
				want = want || a == to
			}
			if got := from.CanTransitionTo(to); got != want {
				t.Errorf("%s → %s: got %v, want %v", from, to, got, want)
			}
		}
	}
	// Nothing may go back to NEW, and nothing leaves CLOSED.
	for _, s := range AllTicketStatuses {
		if s.CanTransitionTo(TicketNew) {
			t.Errorf("%s → NEW must be refused", s)
		}
		if TicketClosed.CanTransitionTo(s) {
			t.Errorf("CLOSED → %s must be refused", s)
		}
	}
}

func TestGlobalIDs(t *testing.T) {
	gid := EncodeID(TypeCustomer, 42)
	if strings.Contains(gid, "42") {
		t.Errorf("global id %q shows the database id", gid)
	}
	typ, id, err := DecodeID(gid)
	if err != nil || typ != TypeCustomer || id != 42 {
		t.Fatalf("DecodeID(%q) = %q, %d, %v", gid, typ, id, err)
	}
	if _, err := DecodeIDOf(TypeTicket, gid); err == nil {
		t.Errorf("a customer id decoded as a ticket id")
	}
	for _, bad := range []string{"", "!!!", EncodeID("Customer", 0), "Q3VzdG9tZXI", "Q3VzdG9tZXI6LTE"} {
		if _, _, err := DecodeID(bad); err == nil {
			t.Errorf("DecodeID(%q) accepted a malformed id", bad)
		}
	}
}

func TestEnumUnmarshal(t *testing.T) {
	var r Role
	if err := r.UnmarshalGQL("AGENT"); err != nil || r != RoleAgent {
		t.Fatalf("got %q, %v", r, err)
	}
	if err := r.UnmarshalGQL("GOD"); err == nil {
		t.Errorf("unknown role accepted")
	}
	if err := r.UnmarshalGQL(3); err == nil {
		t.Errorf("non-string role accepted")
	}
}
