package api_test

import "testing"

func TestSmokeCustomerConversationMessage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		cust := e.createCustomer(e.adminA, "李四")
		ch := e.createChannel(e.adminA, "WEB", "官网", nil)
		conv := e.startConversation(e.adminA, cust, ch)
		d := e.must(e.adminA, `mutation($in: SendMessageInput!) { sendMessage(input: $in) { message { id text direction deliveryStatus conversation { id } } userErrors { message } } }`,
			map[string]any{"in": map[string]any{"conversationId": conv, "text": "您好，请问有什么可以帮您？"}})
		// A WEB channel has no platform to deliver to: the widget reads the API.
		if got := str(d, "sendMessage", "message", "deliveryStatus"); got != "NONE" {
			t.Errorf("deliveryStatus = %q, want NONE", got)
		}
		d = e.must(e.adminA, `query($id: ID!) { node(id: $id) { ... on Conversation { number lastMessage { text } customer { name } firstResponseAt messages(first: 10) { totalCount nodes { text } } } } }`,
			map[string]any{"id": conv})
		if got := str(d, "node", "lastMessage", "text"); got != "您好，请问有什么可以帮您？" {
			t.Errorf("lastMessage.text = %q", got)
		}
		if got := get(d, "node", "messages", "totalCount"); got != float64(1) {
			t.Errorf("messages.totalCount = %v, want 1", got)
		}
		if got := str(d, "node", "customer", "name"); got != "李四" {
			t.Errorf("customer.name = %q", got)
		}
	})
}
