package seed

import "github.com/kefuhub/kefuhub/models"

// Word lists and text templates. Templates may use {order}, {product},
// {tracking}, {amount}, {city}, {agent} and {digits}; see fill.

type pinyinName struct{ han, pinyin string }

var surnames = []pinyinName{
	{"王", "wang"}, {"李", "li"}, {"张", "zhang"}, {"刘", "liu"}, {"陈", "chen"}, {"杨", "yang"},
	{"黄", "huang"}, {"赵", "zhao"}, {"吴", "wu"}, {"周", "zhou"}, {"徐", "xu"}, {"孙", "sun"},
	{"马", "ma"}, {"朱", "zhu"}, {"胡", "hu"}, {"郭", "guo"}, {"何", "he"}, {"高", "gao"},
	{"林", "lin"}, {"罗", "luo"}, {"郑", "zheng"}, {"梁", "liang"}, {"谢", "xie"}, {"宋", "song"},
	{"唐", "tang"}, {"许", "xu"}, {"韩", "han"}, {"冯", "feng"}, {"邓", "deng"}, {"曹", "cao"},
	{"彭", "peng"}, {"曾", "zeng"}, {"肖", "xiao"}, {"田", "tian"}, {"董", "dong"}, {"袁", "yuan"},
	{"潘", "pan"}, {"于", "yu"}, {"蒋", "jiang"}, {"蔡", "cai"}, {"余", "yu"}, {"杜", "du"},
	{"叶", "ye"}, {"程", "cheng"}, {"苏", "su"}, {"魏", "wei"}, {"吕", "lv"}, {"丁", "ding"},
	{"任", "ren"}, {"沈", "shen"}, {"欧阳", "ouyang"}, {"上官", "shangguan"},
}

var givenNames = []pinyinName{
	{"伟", "wei"}, {"芳", "fang"}, {"娜", "na"}, {"敏", "min"}, {"静", "jing"}, {"丽", "li"},
	{"强", "qiang"}, {"磊", "lei"}, {"军", "jun"}, {"洋", "yang"}, {"勇", "yong"}, {"艳", "yan"},
	{"杰", "jie"}, {"娟", "juan"}, {"涛", "tao"}, {"明", "ming"}, {"超", "chao"}, {"秀英", "xiuying"},
	{"霞", "xia"}, {"平", "ping"}, {"刚", "gang"}, {"桂英", "guiying"}, {"子涵", "zihan"}, {"浩然", "haoran"},
	{"欣怡", "xinyi"}, {"梓萱", "zixuan"}, {"宇轩", "yuxuan"}, {"雨桐", "yutong"}, {"思远", "siyuan"},
	{"佳怡", "jiayi"}, {"一诺", "yinuo"}, {"晨曦", "chenxi"}, {"俊杰", "junjie"}, {"婷婷", "tingting"},
	{"建国", "jianguo"}, {"晓东", "xiaodong"}, {"文博", "wenbo"}, {"雪梅", "xuemei"}, {"志强", "zhiqiang"},
	{"海燕", "haiyan"}, {"鹏飞", "pengfei"}, {"明轩", "mingxuan"}, {"诗涵", "shihan"}, {"天宇", "tianyu"},
	{"梦琪", "mengqi"}, {"嘉豪", "jiahao"}, {"若曦", "ruoxi"}, {"振华", "zhenhua"}, {"丹", "dan"},
}

var nicknames = []string{
	"小鱼儿", "阳光男孩", "Momo", "追风少年", "一只猫", "木子", "晴天", "Lucky", "大白", "橙子",
	"柠檬不萌", "深海", "Aimee", "北方的狼", "栗子", "安然", "七七", "Tony", "咸鱼翻身", "小太阳",
}

var agentNames = []string{
	"林晓雯", "陈思琪", "王浩", "赵雅婷", "刘子豪", "周梦洁", "孙悦", "黄家乐",
	"吴婧", "郑凯", "何雨欣", "马骁", "徐静怡", "朱文轩", "高倩", "罗一鸣",
}

var cities = []string{
	"杭州", "上海", "北京", "深圳", "广州", "成都", "南京", "武汉", "西安", "苏州",
	"重庆", "天津", "长沙", "郑州", "青岛", "厦门", "宁波", "合肥", "昆明", "沈阳",
}

var customerSources = []string{"淘宝", "微信小程序", "官网", "线下门店", "App", "抖音"}

var companies = []string{
	"杭州云帆商贸有限公司", "上海佳禾贸易有限公司", "深圳优品供应链有限公司",
	"成都蓉城百货商行", "广州新锐电子商务有限公司", "南京恒信礼品有限公司",
}

var phonePrefixes = []string{
	"130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
	"153", "155", "156", "158", "159", "166", "177", "180", "181", "182", "183", "185",
	"186", "187", "188", "189", "198", "199",
}

var pinyinMailDomains = []string{"163.com", "126.com", "foxmail.com", "sina.com", "outlook.com", "gmail.com"}

var products = []string{
	"无线蓝牙耳机", "智能手环", "空气炸锅", "羽绒服", "保温杯", "扫地机器人", "面霜", "运动鞋",
	"电动牙刷", "行李箱", "蚕丝被", "儿童书包", "咖啡机", "机械键盘", "婴儿纸尿裤", "破壁料理机",
}

var teamDefs = []struct{ name, description string }{
	{"售前咨询", "商品、价格、活动与优惠相关咨询"},
	{"售后服务", "退换货、退款、发票与账户问题"},
	{"物流查询", "发货、物流轨迹与签收异常"},
	{"投诉处理", "质量投诉与服务投诉，需主管跟进"},
}

const (
	teamPresale = iota
	teamAfterSale
	teamLogistics
	teamComplaint
)

func channelDefs() []struct {
	kind     models.ChannelKind
	name     string
	settings map[string]any
} {
	return []struct {
		kind     models.ChannelKind
		name     string
		settings map[string]any
	}{
		{models.ChannelWeComKF, "企业微信客服", map[string]any{"corpId": "ww8f3b2c1d0e9a7654", "openKfId": "wkAbCdEf0123456789", "welcomeMessage": "您好，欢迎咨询官方客服！"}},
		{models.ChannelWeChatOA, "公众号", map[string]any{"appId": "wx5d8e2f1a3b4c6d7e", "originalId": "gh_3f2a1b0c9d8e"}},
		{models.ChannelTaobao, "淘宝旗舰店", map[string]any{"shopName": "凯孚优选官方旗舰店", "sellerNick": "凯孚优选旗舰店"}},
		{models.ChannelApp, "官方App", map[string]any{"appKey": "kefuhub-demo-app", "platforms": []any{"ios", "android"}}},
		{models.ChannelEmail, "客服邮箱", map[string]any{"address": "service@demo.kefuhub.local", "imapHost": "imap.demo.kefuhub.local"}},
		{models.ChannelWeb, "官网在线咨询", map[string]any{"domain": "www.demo.kefuhub.local", "widgetColor": "#1677ff"}},
	}
}

// identityWeights is how often customers write from each channel kind.
var identityWeights = []struct {
	kind   models.ChannelKind
	weight int
}{
	{models.ChannelWeComKF, 30}, {models.ChannelTaobao, 25}, {models.ChannelWeChatOA, 15},
	{models.ChannelApp, 12}, {models.ChannelWeb, 10}, {models.ChannelEmail, 8},
}

const (
	catLogistics = "物流"
	catRefund    = "退款"
	catQuality   = "质量问题"
	catInvoice   = "发票"
)

var ticketCategories = []string{catLogistics, catRefund, catQuality, catInvoice}

type topic struct {
	name     string
	tag      string
	team     int
	category string // "" picks a random ticket category
	subjects []string
	opens    []string // the customer's first message
	replies  []string // agent answers
	follows  []string // customer follow-ups
}

var topics = []topic{
	{
		name: "物流查询", tag: "物流", team: teamLogistics, category: catLogistics,
		subjects: []string{"订单{order}物流查询", "快递一直没有更新", "什么时候发货", "催发货", "快递显示签收但没收到"},
		opens: []string{
			"你好，我的订单{order}已经三天了还没发货，能帮忙催一下吗？",
			"请问订单{order}到哪里了？物流一直显示在{city}中转站没动",
			"快递显示已签收，但是我根本没收到啊，单号{tracking}",
			"你好，我昨天下的单，今天能发货吗？比较着急用",
			"物流信息两天没更新了，单号是{tracking}，麻烦查一下",
		},
		replies: []string{
			"亲，已为您查询到订单{order}，包裹目前在{city}转运中心，预计1-2天送达哦",
			"非常抱歉让您久等了，我这边已经联系仓库加急处理，今天下午会安排发出",
			"已帮您联系快递公司核实，快递员反馈放在了小区快递柜，取件码会短信发送给您",
			"您的快递单号是{tracking}，可以在快递公司官网或小程序实时查看物流轨迹",
			"亲，由于近期{city}地区天气原因，配送可能会延迟1-2天，还请您谅解",
		},
		follows: []string{
			"好的，那大概什么时候能到？", "能不能帮我改成顺丰？我周末不在家", "快递柜里没有找到，能再帮我问问吗",
			"我这边着急用，麻烦尽快", "收到了，谢谢", "可以改一下收货地址吗？改到公司",
		},
	},
	{
		name: "退换货", tag: "退换货", team: teamAfterSale, category: catRefund,
		subjects: []string{"申请退货退款", "商品尺码不合适想换货", "退款什么时候到账", "七天无理由退货"},
		opens: []string{
			"你好，我买的{product}尺码不合适，想换大一号可以吗？订单号{order}",
			"收到的{product}有划痕，我要申请退货",
			"申请退款已经三天了，钱还没退回来，订单{order}",
			"请问七天无理由退货运费谁出？",
			"我想退掉订单{order}里的{product}，还没拆封",
		},
		replies: []string{
			"亲，支持7天无理由退换货的，您在订单页面点击「申请售后」选择换货即可",
			"已为您登记退货申请，请在7天内将商品寄回，寄回时请附上写有订单号的纸条",
			"退款已原路退回，金额{amount}元，银行卡一般1-3个工作日到账",
			"非常抱歉给您带来不好的体验，商品质量问题的退货运费由我们承担，您可以选择到付",
			"仓库已收到您寄回的商品，质检通过后24小时内为您退款",
		},
		follows: []string{
			"退货地址是哪里？", "运费险能赔多少？", "好的，我今天就寄回去", "已经寄了，单号{tracking}",
			"换货的话多久能发出来？",
		},
	},
	{
		name: "发票", tag: "发票", team: teamAfterSale, category: catInvoice,
		subjects: []string{"开具增值税专用发票", "发票抬头填错了", "电子发票在哪里下载", "申请纸质发票"},
		opens: []string{
			"你好，订单{order}需要开增值税专用发票，公司抬头怎么提交？",
			"发票抬头填错了，能重新开吗？订单号{order}",
			"请问电子发票在哪里下载？",
			"我们公司报销需要纸质发票，可以邮寄吗？",
		},
		replies: []string{
			"亲，您可以在「我的订单-申请开票」中填写公司名称和税号，专票还需要提供开户行及账号",
			"已为您作废原发票并重新开具，新发票会在1个工作日内发送到您的邮箱",
			"电子发票在订单详情页底部「查看发票」可以下载PDF",
			"纸质发票可以邮寄的，请提供收件地址和联系电话",
		},
		follows: []string{
			"税号是91330106MA2{digits}，麻烦尽快开", "邮箱是我注册时填的那个吗？", "好的，收到发票了",
			"专票大概多久能开好？",
		},
	},
	{
		name: "优惠券", tag: "优惠", team: teamPresale,
		subjects: []string{"优惠券无法使用", "满减活动咨询", "会员折扣问题", "补差价申请"},
		opens: []string{
			"我领的满300减50的券为什么用不了？",
			"请问{product}参加双十一活动吗？",
			"优惠券显示已过期，但我昨天才领的",
			"下单时没用上优惠券，能补差价吗？订单{order}",
		},
		replies: []string{
			"亲，该优惠券仅限指定商品使用，{product}不在活动范围内哦",
			"已为您补发一张{amount}元无门槛优惠券，有效期7天",
			"活动期间下单享受满减，还可以叠加会员95折，非常划算",
			"差价已经以优惠券形式返还到您的账户，请注意查收",
		},
		follows: []string{"那还有别的优惠吗？", "好的，我去看看", "为什么别人能用我不能用？", "券已经收到了，谢谢"},
	},
	{
		name: "商品咨询", tag: "售前", team: teamPresale,
		subjects: []string{"{product}规格咨询", "商品是否有货", "产品使用方法", "批量采购咨询"},
		opens: []string{
			"你好，{product}有现货吗？今天下单什么时候发？",
			"请问这款{product}适合送长辈吗？",
			"{product}和上一代有什么区别？",
			"能开发票吗？买十件有没有批发价？",
		},
		replies: []string{
			"亲，{product}目前有现货，下午4点前付款当天发货",
			"这款是我们今年的新款，升级了续航和材质，详细参数可以看详情页第三张图",
			"批量采购可以联系我们的企业客服，购买10件以上享9折",
			"非常适合的，这款是店里的爆款，好评率98%",
		},
		follows: []string{"那保修多久？", "有没有其他颜色？", "好的，我考虑一下", "那我现在下单", "赠品还有吗？"},
	},
	{
		name: "账户问题", tag: "账户", team: teamAfterSale,
		subjects: []string{"无法登录账户", "修改绑定手机号", "积分异常", "账户被冻结"},
		opens: []string{
			"App一直提示密码错误，登不上去",
			"我换手机号了，怎么修改绑定的手机？",
			"我的积分怎么少了2000分？",
			"账户被冻结了是怎么回事？",
		},
		replies: []string{
			"亲，请在登录页点击「忘记密码」，通过绑定手机验证码重置即可",
			"已为您提交手机号换绑申请，需要验证身份证后四位，请提供一下",
			"查询到您的积分于上月到期清零了，积分有效期为一年",
			"账户因异常登录被临时保护，已为您解除，建议尽快修改密码",
		},
		follows: []string{"身份证后四位是{digits}", "收不到验证码怎么办？", "可以了，谢谢", "积分能恢复吗？"},
	},
	{
		name: "质量投诉", tag: "投诉", team: teamComplaint, category: catQuality,
		subjects: []string{"商品质量投诉", "对服务态度不满", "收到的商品是坏的", "要求赔偿"},
		opens: []string{
			"收到的{product}用了两天就坏了，太失望了！订单{order}",
			"你们客服态度太差了，我要投诉",
			"第二次买了，又是破损的，你们怎么包装的？",
			"买的{product}跟图片差别太大，要求赔偿",
		},
		replies: []string{
			"非常抱歉给您带来这么不好的体验，我们非常重视，已经升级给主管处理",
			"亲，麻烦您拍一下商品问题部位的照片，我们核实后第一时间给您处理",
			"为表歉意，我们为您全额退款并补偿{amount}元无门槛券",
			"已记录您的反馈，我们会加强包装和质检，感谢您的监督",
		},
		follows: []string{"[图片]", "照片已经发了，你们看一下", "我要求退一赔三", "这个处理我能接受", "希望以后不要再出现这种问题"},
	},
}

// topicWeights parallels topics.
var topicWeights = []int{30, 20, 8, 10, 17, 7, 8}

var greetings = []string{
	"您好，我是客服{agent}，很高兴为您服务～",
	"亲，您好！这里是官方客服{agent}。",
	"您好，客服{agent}为您服务。",
}

var genericFollows = []string{"好的", "嗯嗯", "在吗？", "还在吗？怎么不回复了", "[图片]", "明白了", "麻烦快一点，谢谢"}

var genericReplies = []string{
	"亲，还在为您核实中，请稍等哦",
	"收到，马上为您处理",
	"请问还有其他可以帮您的吗？",
	"麻烦您提供一下订单号，我帮您查询",
	"已经帮您备注加急了，请放心",
}

var closings = []string{
	"问题已为您处理完毕，如有其他问题随时联系我们哦，祝您生活愉快～",
	"感谢您的耐心等待，本次服务就到这里，麻烦您给个五星好评哦",
	"不客气，有任何问题随时找我们，再见～",
}

var thanks = []string{"好的谢谢", "问题解决了，谢谢你", "辛苦了", "OK，谢谢"}

var notes = []string{
	"已联系仓库核实，等待回复",
	"客户情绪比较激动，注意安抚",
	"该客户是老客户，优先处理",
	"已提交工单，待财务处理退款",
	"转交物流组跟进",
	"疑似重复下单，需核对订单{order}",
	"已申请补偿券{amount}元，待主管审批",
}

type ticketTemplate struct{ titles, descriptions []string }

var ticketTemplates = map[string]ticketTemplate{
	catLogistics: {
		titles: []string{"订单{order}物流异常，需联系快递核实", "快递显示签收客户未收到（{tracking}）", "催发货：订单{order}超48小时未发出"},
		descriptions: []string{
			"客户反馈订单{order}（{product}）物流信息超过{digits}小时未更新，快递单号{tracking}。\n需求：联系快递公司核实包裹位置，并在24小时内回复客户。",
			"客户称快递{tracking}显示已签收但本人未收到，收货城市{city}。\n请物流组联系网点调取签收记录，必要时安排补发。",
		},
	},
	catRefund: {
		titles: []string{"订单{order}退款未到账", "退货退款申请待审核：{product}", "换货申请：订单{order}"},
		descriptions: []string{
			"客户申请退货退款，金额{amount}元，商品已寄回（{tracking}）。\n请仓库确认收货并尽快完成退款。",
			"客户反馈订单{order}退款超过3个工作日未到账，金额{amount}元。\n请财务核实退款流水并回复客户。",
		},
	},
	catQuality: {
		titles: []string{"{product}质量问题，客户要求赔偿", "批次质量反馈：{product}破损", "质量投诉升级：订单{order}"},
		descriptions: []string{
			"客户收到{product}后发现存在质量问题（破损/无法使用），已提供照片。\n处理建议：全额退款并补偿{amount}元优惠券，同时反馈品控部门。",
			"同一客户第二次反馈{product}破损，订单{order}。\n请主管跟进并排查包装与仓储环节。",
		},
	},
	catInvoice: {
		titles: []string{"订单{order}开具增值税专用发票", "发票抬头错误需重开", "纸质发票邮寄：订单{order}"},
		descriptions: []string{
			"客户需要为订单{order}开具增值税专用发票，金额{amount}元。\n公司名称及税号已在会话中提供，请财务在3个工作日内开具并邮寄。",
			"客户发票抬头填写错误，需作废后重开，订单{order}，金额{amount}元。\n新发票发送至客户预留邮箱。",
		},
	},
}

var customerTags = []struct {
	tag     string
	percent int
}{{"VIP", 12}, {"投诉倾向", 5}, {"批发", 5}}
