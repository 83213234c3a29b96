package taobao

import (
	"testing"
)

func FuzzDecodeConsume(f *testing.F) {
	for _, seed := range []string{
		`{"tmc_messages_consume_response":{"messages":{"tmc_message":[{"id":9007199254740993,"topic":"taobao_trade_TradeBuyerPay","content":"{\"tid\":4012345678901234567,\"oid\":4012345678901234567,\"buyer_nick\":\"小明\",\"buyer_open_uid\":\"AAF1\",\"seller_nick\":\"店\",\"payment\":\"128.00\",\"status\":\"WAIT_SELLER_SEND_GOODS\",\"type\":\"fixed\"}","pub_app_key":"12345678","pub_time":"2026-11-23 10:00:00","user_id":2200000000001,"user_nick":"店"}]}}}`,
		`{"tmc_messages_consume_response":{"messages":{"tmc_message":[{"id":5100300106180893741,"topic":"taobao_refund_RefundCreated","content":"{\"refund_id\":9007199254740995,\"tid\":1,\"oid\":2,\"refund_fee\":\"12.50\",\"refund_phase\":\"aftersale\",\"buyer_nick\":\"n\"}","pub_time":"2026-11-23 10:00:00"}]}}}`,
		`{"tmc_messages_consume_response":{"messages":{"tmc_message":{"id":"1","topic":"taobao_wangwang_ChatMessage","content":{"buyer_open_uid":"u","content":"你好","direction":"c2b"}}}}}`,
		`{"tmc_messages_consume_response":{"tmc_messages":{"tmc_message":[{"id":1,"topic":"taobao_trade_X","content":"[1,2]"},{"id":[],"topic":1}]}}}`,
		`{"tmc_messages_consume_response":{}}`,
		`{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count","sub_msg":"This ban will last for 71 more seconds"}}`,
		`{"error_response":{"code":"27","msg":"Invalid session"}}`,
		`{"tmc_messages_consume_response":{"messages":{"tmc_message":[{"id":1e400,"content":"{\"tid\":1e400,\"x\":-9223372036854775809}"}]}}}`,
		`<html>502</html>`,
		``,
		`null`,
		`{"tmc_messages_consume_response":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := DecodeConsume(body)
		if err != nil && len(evs) != 0 {
			t.Fatal("events with an error")
		}
		for _, ev := range evs {
			if !validID(ev.ExternalID) || ev.Sender.ExternalID == "" || ev.Kind == "" {
				t.Fatalf("bad event %+v", ev)
			}
		}
	})
}
