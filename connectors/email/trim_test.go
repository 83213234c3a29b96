package email

import "testing"

func TestTrimReply(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text is kept", "Hello,\n\nmy order is late.\nThanks", "Hello,\n\nmy order is late.\nThanks"},
		{"quoted lines are dropped", "Yes, please.\n> Shall we refund?\n>> Older", "Yes, please."},
		{"interleaved answers are kept", "> Size?\nL\n> Colour?\nRed", "L\nRed"},
		{
			"On ... wrote: and what follows",
			"Any news?\n\nOn Sat, Dec 7, 2024 at 10:00 AM Support <s@x.com> wrote:\n> We are checking.\nunquoted tail",
			"Any news?",
		},
		{
			"On ... wrote: wrapped over two lines (Gmail)",
			"Thanks!\n\nOn Sat, Dec 7, 2024 at 10:00 AM Support Team <\nsupport@shop.example> wrote:\n> text",
			"Thanks!",
		},
		{
			"在 ... 写道：",
			"好的，谢谢！\n\n在 2024年12月8日 16:00，客服 <support@shop.example> 写道：\n> 您的退款已经处理。",
			"好的，谢谢！",
		},
		{
			"... 于 ... 写道： (Gmail zh), name on the line before",
			"收到。\n\n客服 <support@shop.example>\n于2024年12月8日周日 16:00写道：\n> 已发货",
			"收到。",
		},
		{
			"於 ... 寫道： (traditional)",
			"謝謝。\n\n陳先生 <c@example.tw> 於 2024年12月8日 週日 下午4:00寫道：\n> 已出貨",
			"謝謝。",
		},
		{
			"prose with 写道 but no date is kept",
			"他在信中写道：\n东西坏了",
			"他在信中写道：\n东西坏了",
		},
		{
			"-----Original Message-----",
			"Please cancel.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: Order",
			"Please cancel.",
		},
		{
			"----- Original Message ----- (spaced)",
			"Cancel it.\n----- Original Message -----\nFrom: x",
			"Cancel it.",
		},
		{
			"QQ Mail 原始邮件 separator",
			"那我换大一号。\n\n------------------ 原始邮件 ------------------\n发件人: \"客服\"<s@x.com>;\n发送时间: 2024年12月10日\n\n建议您选择大一号。",
			"那我换大一号。",
		},
		{
			"QQ Mail separator with no-break spaces (from HTML)",
			"好的\n------------------\u00a0原始邮件\u00a0------------------\n旧内容",
			"好的",
		},
		{
			"Outlook header block with rule",
			"See attached.\n\n________________________________\nFrom: Support <s@x.com>\nSent: Monday, December 9, 2024 10:00\nTo: me\nSubject: Invoice\n\nold",
			"See attached.",
		},
		{
			"Outlook 中文 header block",
			"已付款。\n\n发件人: 客服 <s@x.com>\n发送时间: 2024年12月9日 10:00\n收件人: 我\n主题: 付款\n\n请付款",
			"已付款。",
		},
		{
			"a From: line alone is text",
			"From: my account page I cannot log in.\nHelp",
			"From: my account page I cannot log in.\nHelp",
		},
		{
			"signature after \"-- \"",
			"I cannot reset my password.\n\n-- \nDave Miller\nExample Org",
			"I cannot reset my password.",
		},
		{
			"signature after \"--\" (trailing space stripped by a client)",
			"Thanks\n--\nAnn",
			"Thanks",
		},
		{
			"a dashed rule is not a signature",
			"Order:\n---\nitem 1",
			"Order:\n---\nitem 1",
		},
		{"Sent from my iPhone", "On my way.\n\nSent from my iPhone", "On my way."},
		{"发自我的iPhone", "好的\n\n发自我的iPhone", "好的"},
		{
			"bottom-posting keeps the reply under the quote",
			"On Mon, Dec 9, 2024 at 9:00 AM Support <s@x.com> wrote:\n> Which size?\n\nXL please\n-- \nBob",
			"XL please",
		},
		{"only a quote gives nothing", "> just quoted\n> text", ""},
		{"CRLF line ends", "Hi\r\n> old\r\nthere", "Hi\nthere"},
		{"blank lines are squeezed", "\n\na\n\n\n\nb\n\n", "a\n\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TrimReply(tt.in); got != tt.want {
				t.Errorf("TrimReply(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
