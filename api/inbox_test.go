package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kefuhub/kefuhub/api"
	"github.com/kefuhub/kefuhub/hub"
	"github.com/kefuhub/kefuhub/models"
	"github.com/kefuhub/kefuhub/store"
)

// InboxQuery is what an agent console asks for on every refresh: a page of
// conversations with customer, assignee, team, last message and open
// ticket count.
const InboxQuery = `query Inbox($first: Int!) {
  conversations(first: $first, filter: {status: [OPEN, PENDING]}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id number subject status priority lastActivityAt waitingSince tags
      customer { id name phone }
      assignee { id name }
      team { id name }
      channel { id kind name }
      lastMessage { id text direction createdAt }
      openTicketCount
    }
  }
}`

// TestInboxStatementsDoNotGrow proves the inbox has no N+1: the number of
// SQL statements for 100 rows equals that for 10.
func TestInboxStatementsDoNotGrow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p, err := e.hub.Authenticate(ctx, e.adminA)
		if err != nil {
			t.Fatal(err)
		}
		actx := hub.WithPrincipal(ctx, p)
		fillInbox(t, e.hub, actx, 110)
		// The response cache would answer the repeat without SQL; this test
		// measures the query itself.
		handler := api.New(e.hub, api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ResponseCache: -1})

		count := func(first int) (int64, int) {
			body, _ := json.Marshal(map[string]any{"query": InboxQuery, "variables": map[string]any{"first": first}})
			req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.adminA)
			cctx, counter := store.CountStatements(req.Context())
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req.WithContext(cctx))
			var out struct {
				Data struct {
					Conversations struct {
						Nodes []struct {
							Customer        struct{ Name string }
							Assignee        *struct{ Name string }
							Team            *struct{ Name string }
							LastMessage     *struct{ Text string }
							OpenTicketCount int
						}
					}
				}
				Errors []any
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Errors) > 0 {
				t.Fatalf("inbox query failed: %v %s", err, rec.Body.Bytes())
			}
			rows := out.Data.Conversations.Nodes
			for _, r := range rows {
				if r.Customer.Name == "" || r.Assignee == nil || r.Team == nil || r.LastMessage == nil || r.OpenTicketCount != 1 {
					t.Fatalf("inbox row incomplete: %+v", r)
				}
			}
			return counter.Count(), len(rows)
		}
		count(10) // warm the token cache
		small, n10 := count(10)
		large, n100 := count(100)
		if n10 != 10 || n100 != 100 {
			t.Fatalf("got %d and %d rows, want 10 and 100", n10, n100)
		}
		t.Logf("inbox statements: %d for 10 rows, %d for 100 rows", small, large)
		if small != large {
			t.Errorf("statements grow with the page: %d for 10 rows, %d for 100", small, large)
		}
		if large > 12 {
			t.Errorf("inbox costs %d statements, want at most 12", large)
		}
	})
}

// fillInbox creates n open conversations, each with its own customer, an
// assignee, a team, a last message and one open ticket.
func fillInbox(t testing.TB, h *hub.Hub, ctx context.Context, n int) {
	t.Helper()
	ch, err := h.CreateChannel(ctx, models.CreateChannelInput{Kind: models.ChannelWeb, Name: "官网"})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := h.CreateUser(ctx, models.CreateUserInput{Name: "客服", Email: "agent@inbox.test", Role: models.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	team, err := h.CreateTeam(ctx, models.CreateTeamInput{Name: "售后"})
	if err != nil {
		t.Fatal(err)
	}
	agentID, teamID := agent.GlobalID(), team.GlobalID()
	for i := range n {
		c, err := h.CreateCustomer(ctx, models.CreateCustomerInput{Name: fmt.Sprintf("客户%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		conv, err := h.StartConversation(ctx, models.StartConversationInput{CustomerID: c.GlobalID(), ChannelID: ch.GlobalID(), Text: ptr("您好")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.AssignConversation(ctx, models.AssignConversationInput{ConversationID: conv.GlobalID(),
			AssigneeID: omit(&agentID), TeamID: omit(&teamID)}); err != nil {
			t.Fatal(err)
		}
		convID := conv.GlobalID()
		if _, err := h.CreateTicket(ctx, models.CreateTicketInput{Title: "工单", ConversationID: &convID}); err != nil {
			t.Fatal(err)
		}
	}
}
